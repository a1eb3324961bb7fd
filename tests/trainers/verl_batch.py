"""verl inputs built as verl's rollout and config leave them: a DataProto batch and a reward-loop config."""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import OmegaConf
from verl import DataProto

AHA_MANAGER = {
    "source": "importlib",
    "name": "AhaRewardManager",
    "module": {"path": "pkg://service.integrations.verl_manager", "name": "custom_reward_manager"},
}


def make_batch(tokenizer_dir, samples, prompt="<｜User｜>Solve.<｜Assistant｜>"):
    """A DataProto as verl's rollout leaves it: left-padded prompts, right-padded responses, one mask.

    ``samples`` are tuples (response, ground truth, extra_info, …)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    prompts = [tok(prompt, add_special_tokens=False)["input_ids"] for _ in samples]
    responses = [tok(s[0], add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for s in samples]
    p_len, r_len = max(map(len, prompts)), max(map(len, responses))
    pad = tok.pad_token_id
    prompt_t = torch.tensor([[pad] * (p_len - len(p)) + p for p in prompts])
    response_t = torch.tensor([r + [pad] * (r_len - len(r)) for r in responses])
    mask = torch.tensor(
        [
            [0] * (p_len - len(p)) + [1] * (len(p) + len(r)) + [0] * (r_len - len(r))
            for p, r in zip(prompts, responses, strict=True)
        ]
    )
    return DataProto.from_dict(
        tensors={"prompts": prompt_t, "responses": response_t, "attention_mask": mask,
                 "input_ids": torch.cat([prompt_t, response_t], dim=1)},
        non_tensors={
            "data_source": np.array(["test"] * len(samples), dtype=object),
            "reward_model": np.array([{"ground_truth": s[1], "style": "rule"} for s in samples], dtype=object),
            "extra_info": np.array([dict(s[2]) for s in samples], dtype=object),
        },
    )


def reward_config(tokenizer_dir, manager: dict, custom_fn: dict | None = None, reward_kwargs: dict | None = None):
    reward = {
        "num_workers": 1,
        "custom_reward_function": custom_fn or {"path": None, "name": "compute_score"},
        "reward_manager": manager,
        "reward_model": {"enable": False},
        "sandbox_fusion": {"url": None},
    }
    if reward_kwargs is not None:
        reward["reward_kwargs"] = reward_kwargs
    return OmegaConf.create(
        {"actor_rollout_ref": {"model": {"path": str(tokenizer_dir), "tokenizer_path": None}}, "reward": reward}
    )
