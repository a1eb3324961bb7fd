"""OpenRLHF's own remote-reward request against Aha's /get_reward.

In an OpenRLHF run (``openrlhf.cli.train_ppo_ray``) the reward server is one flag, plus the dataset's label key::

    --remote_rm_url "http://127.0.0.1:8000/get_reward?task=math&profile=r1-zero" --label_key solution

Run: ``python examples/openrlhf_reward.py [--url http://127.0.0.1:8000]``: it sends two queries the way OpenRLHF's
``SingleTurnAgentExecutor`` does (prompt + response decoded with special tokens, the prompt, the label).
"""

from __future__ import annotations

import argparse
import asyncio

from openrlhf.utils.agent import SingleTurnAgentExecutor

PROMPT = "<｜User｜>What is 2+2?<｜Assistant｜><think>\n"  # DeepSeek-R1's template opens the thought
END = "<｜end▁of▁sentence｜>"
RESPONSES = ["2+2 is 4</think><answer>4</answer>" + END, "hmm</think><answer>5</answer>" + END]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    executor = SingleTurnAgentExecutor(remote_rm_url=f"{args.url}/get_reward?task=math&profile=r1-zero")
    queries = [PROMPT + r for r in RESPONSES]
    answers = asyncio.run(executor._fetch_rewards_via_http(queries, [PROMPT] * len(queries), ["4"] * len(queries)))
    for answer in answers:
        print(answer["rewards"], answer["extra_logs"])


if __name__ == "__main__":
    main()
