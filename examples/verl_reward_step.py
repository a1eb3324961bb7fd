"""One verl reward step through Aha: verl 0.9's own RewardLoopWorker with AhaRewardManager, on the CPU.

In a verl run the same manager is set by these overrides of ``python -m verl.trainer.main_ppo``::

    reward.num_workers=1 \\
    reward.reward_manager.source=importlib \\
    reward.reward_manager.name=AhaRewardManager \\
    reward.reward_manager.module.path=pkg://service.integrations.verl_manager \\
    +reward.reward_kwargs.url=http://127.0.0.1:8000 \\
    +reward.reward_kwargs.profile=r1-zero

Run: ``python examples/verl_reward_step.py --tokenizer PATH_OR_HUB_ID [--url http://127.0.0.1:8000]``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl import DataProto
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

SAMPLES = [  # (response, ground truth): math, and code in verl's own inputs/outputs format
    ("<think>2+2</think><answer>4</answer>", "4"),
    ("<think>guess</think><answer>5</answer>", "4"),
    ("```python\nprint(sum(map(int, input().split())))\n```", json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})),
]


def batch(tokenizer) -> DataProto:
    """Prompts and responses as verl's rollout leaves them (left- and right-padded, one attention mask)."""
    prompt = tokenizer("Solve:", add_special_tokens=False)["input_ids"]
    responses = [tokenizer(r, add_special_tokens=False)["input_ids"] for r, _ in SAMPLES]
    width = max(map(len, responses))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return DataProto.from_dict(
        tensors={
            "prompts": torch.tensor([prompt] * len(SAMPLES)),
            "responses": torch.tensor([r + [pad] * (width - len(r)) for r in responses]),
            "attention_mask": torch.tensor([[1] * (len(prompt) + len(r)) + [0] * (width - len(r)) for r in responses]),
        },
        non_tensors={
            "data_source": np.array(["example"] * len(SAMPLES), dtype=object),
            "reward_model": np.array([{"ground_truth": g} for _, g in SAMPLES], dtype=object),
            "extra_info": np.array([{} for _ in SAMPLES], dtype=object),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    config = OmegaConf.create(
        {
            "actor_rollout_ref": {"model": {"path": args.tokenizer, "tokenizer_path": None}},
            "reward": {
                "num_workers": 1,
                "custom_reward_function": {"path": None, "name": "compute_score"},
                "reward_manager": {
                    "source": "importlib",
                    "name": "AhaRewardManager",
                    "module": {"path": "pkg://service.integrations.verl_manager"},
                },
                "reward_model": {"enable": False},
                "reward_kwargs": {"url": args.url, "profile": "r1-zero"},
            },
        }
    )
    worker = RewardLoopWorker(config)
    data = batch(AutoTokenizer.from_pretrained(args.tokenizer))
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    for (response, _), out in zip(SAMPLES, outputs, strict=True):
        print(f"{out['reward_score']:4.1f}  {json.dumps(out['reward_extra_info'])}  {response[:40]!r}")
    print(f"requests sent: {worker.reward_manager.requests}")


if __name__ == "__main__":
    main()
