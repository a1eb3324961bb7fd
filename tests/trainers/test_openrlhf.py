"""OpenRLHF's own remote-reward request (SingleTurnAgentExecutor), its decode and its query, against /get_reward."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from tests.trainers.tokenizer import DEEPSEEK_EOS, build_tokenizer

pytest.importorskip("openrlhf", reason="OpenRLHF is not installed here (it lives in the trainer env, .venv/trainers)")
from openrlhf.utils.agent import SingleTurnAgentExecutor  # noqa: E402

GOOD = "<think>2+2 is 4</think><answer>4</answer>"
EXAMPLE = "Example: <think>1+1</think><answer>2</answer>\n"


@dataclass
class _Params:
    """The part of vLLM's SamplingParams the executor reads."""

    max_tokens: int | None = 64
    logprobs: int | None = None


@dataclass
class _Completion:
    token_ids: list[int]
    finish_reason: str = "stop"
    logprobs: None = None


@dataclass
class _Output:
    outputs: list[_Completion]


class ScriptedEngine:
    """Stands in for the vLLM engine (not under test): answers each prompt with a fixed response, ending in EOS."""

    def __init__(self, tokenizer, response: str) -> None:
        self.ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]

    async def generate(self, prompt_token_ids, params, multi_modal_data=None):
        return _Output([_Completion(list(self.ids))])


def run(url: str, prompt: str, label, response: str, **query) -> dict:
    tok = build_tokenizer(eos=DEEPSEEK_EOS)
    params = "&".join(f"{k}={v}" for k, v in {"task": "math", **query}.items())
    executor = SingleTurnAgentExecutor(remote_rm_url=f"{url}/get_reward?{params}")
    chat = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    out = asyncio.run(executor.execute(chat, label, _Params(), 512, tok, ScriptedEngine(tok, response)))
    return out


def test_perfect_r1_zero_answer_with_deepseek_end_token_gets_both_rewards(aha_url):
    # The template pre-fills "<think>\n"; OpenRLHF decodes prompt + response with special tokens.
    out = run(aha_url, "What is 2+2?", "4", GOOD.removeprefix("<think>"), profile="r1-zero")
    assert out["reward"] == [2.0] and out["extra_logs"]["aha_format"] == [1.0]


def test_worked_example_in_the_prompt_earns_nothing(aha_url):
    out = run(aha_url, EXAMPLE + "What is 1+1?", "2", "I do not know</think><answer>3</answer>", profile="r1-zero")
    assert out["reward"] == [1.0] and out["extra_logs"]["aha_accuracy"] == [0.0]  # format only


def test_prompt_that_does_not_survive_the_decode_is_undecided_not_scored_whole(aha_url):
    # "é" is not in the tokenizer's vocabulary: the decoded query no longer holds the prompt verbatim. Scoring the
    # whole query would find the example's <answer>2</answer> after the model's unclosed thought.
    out = run(aha_url, "Café: " + EXAMPLE + "What is 1+1?", "2", "no idea", profile="r1-zero")
    assert out["reward"] == [0.0] and out["extra_logs"]["aha_undecided"] == [1.0]


def test_no_label_fails_loudly_instead_of_zero(aha_url, caplog):
    caplog.set_level("INFO")
    out = run(aha_url, "What is 2+2?", None, GOOD)
    # OpenRLHF retries the 422, logs it and leaves the reward unset: no made-up 0.0 reaches training.
    assert out["reward"] is None
    assert "422" in caplog.text or "Failed to fetch reward" in caplog.text
