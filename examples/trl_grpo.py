"""GRPO with TRL and Aha rewards: accuracy + R1-Zero format on a math dataset.

    ./run serve &                      # Aha on 127.0.0.1:8000
    python examples/trl_grpo.py --model Qwen/Qwen2.5-0.5B-Instruct --max-steps 100

``--model`` is a hub id or a local directory (the test suite runs this file on a tiny local model). The dataset
is conversational (``prompt`` messages) with the reference in ``solution``.
"""

from __future__ import annotations

import argparse

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from service.integrations.trl import AhaReward

SYSTEM = "Think in <think></think>, then give the final answer in <answer></answer>."
PROBLEMS = [("What is 2+2?", "4"), ("What is 3*5?", "15"), ("What is 10-7?", "3"), ("What is 12/4?", "3")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--max-completion-length", type=int, default=256)
    parser.add_argument("--output-dir", default="grpo-aha")
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model)
    data = Dataset.from_dict(
        {
            "prompt": [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}] for q, _ in PROBLEMS],
            "solution": [a for _, a in PROBLEMS],
        }
    )
    rewards = [
        # tokenizer=: the prompt is rendered as TRL renders it, so a template that opens <think> is seen
        AhaReward(args.url, task="math", profile="r1-zero", reference_column="solution", tokenizer=tokenizer),
        # one component alone, logged as its own column (Aha's cache judges it once for both)
        AhaReward(args.url, task="math", profile="r1-zero", component="accuracy", tokenizer=tokenizer),
    ]
    config = GRPOConfig(
        output_dir=args.output_dir, max_steps=args.max_steps, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=args.max_completion_length, logging_steps=1, report_to="none", save_strategy="no",
        reward_weights=[1.0, 0.0],  # train on the r1-zero reward; the accuracy column is for the logs
        use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available(),
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=rewards, args=config, train_dataset=data, processing_class=tokenizer
    )
    trainer.train()
    print({k: v for k, v in trainer.state.log_history[-1].items() if k.startswith("rewards/")})


if __name__ == "__main__":
    main()
