"""OpenRLHF's /get_reward: where the response starts, missing labels, and logs that keep every component."""

from __future__ import annotations

import httpx
import pytest

from service.api.openrlhf import PromptNotFound, split_response

PROMPT = (
    "<|im_start|>user\nWhat is 2+2? Example: <think>1+1</think><answer>2</answer><|im_end|>\n<|im_start|>assistant\n"
)
GOOD = "<think>2+2</think><answer>4</answer>"


def test_prompt_found_without_exact_spacing_or_with_its_head_cut():
    respaced = PROMPT.replace("\n<|im_start|>assistant\n", " <|im_start|> assistant\n")
    assert split_response(respaced + GOOD + "<|im_end|>", PROMPT) == GOOD
    long_prompt = "A long question. " * 100 + PROMPT
    truncated = long_prompt[-1000:] + GOOD  # OpenRLHF keeps the last tokens of an over-long prompt
    assert split_response(truncated, long_prompt) == GOOD


def test_prompt_not_in_query_raises():
    with pytest.raises(PromptNotFound):
        split_response("something else entirely " + GOOD, PROMPT)


def test_prompt_not_in_query_is_undecided_not_scored_whole(url):
    queries = ["another prompt: " + PROMPT[:30] + GOOD, PROMPT + GOOD]
    body = {"query": queries, "prompts": [PROMPT] * 2, "labels": ["4"] * 2}
    r = httpx.post(url + "/get_reward", params={"profile": "r1-zero"}, json=body, timeout=30)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["rewards"] == [0.0, 2.0]
    assert data["extra_logs"]["aha_undecided"] == [1.0, 0.0]
    assert data["extra_logs"]["aha_format"] == [0.0, 1.0] and data["extra_logs"]["aha_accuracy"] == [0.0, 1.0]


def test_worked_example_in_prompt_earns_nothing(url):
    # The example in the prompt is right; the model's own answer is wrong.
    body = {"query": [PROMPT + "<think>x</think><answer>5</answer>"], "prompts": [PROMPT], "labels": ["2"]}
    data = httpx.post(url + "/get_reward", json=body, timeout=30).json()
    assert data["rewards"] == [0.0] and data["extra_logs"]["aha_undecided"] == [0.0]


def test_deepseek_end_token_keeps_the_format_reward(url):
    body = {"query": [PROMPT + GOOD + "<｜end▁of▁sentence｜>"], "prompts": [PROMPT], "labels": ["4"]}
    data = httpx.post(url + "/get_reward", params={"profile": "r1-zero"}, json=body, timeout=30).json()
    assert data["rewards"] == [2.0]


def test_no_labels_is_a_422_not_silent_zeros(url):
    for body in ({"query": [GOOD]}, {"query": [GOOD, GOOD], "labels": [None, None]}):
        r = httpx.post(url + "/get_reward", json=body, timeout=30)
        assert r.status_code == 422 and "needs references" in r.json()["detail"], r.text
    typo = httpx.post(url + "/get_reward", params={"task": "maths"}, json={"query": [GOOD], "labels": ["4"]})
    assert typo.status_code == 422 and "unknown task 'maths'; known: code, format, math" in typo.text
    fmt = httpx.post(url + "/get_reward", params={"task": "format", "profile": "format"}, json={"query": [GOOD]})
    assert fmt.status_code == 200 and fmt.json()["rewards"] == [1.0]


def test_undecided_items_keep_every_component_log(url):
    body = {"query": [GOOD, GOOD], "labels": ["4", "\\frac{"]}
    data = httpx.post(url + "/get_reward", params={"profile": "r1-zero"}, json=body, timeout=30).json()
    assert set(data["extra_logs"]) == {"aha_undecided", "aha_accuracy", "aha_format"}
    assert all(len(v) == 2 for v in data["extra_logs"].values())


@pytest.mark.parametrize(
    ("query", "response"),
    [
        ("<|im_start|>user\nQ \\boxed{4}<|im_end|>\n<|im_start|>assistant\nI am not sure.<|im_end|>", "I am not sure."),
        ("<｜User｜>Q \\boxed{4}<｜Assistant｜><think>x</think> 5<｜end▁of▁sentence｜>", "<think>x</think> 5"),
        (
            "<|start_header_id|>user<|end_header_id|>\n\nQ \\boxed{4}<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nIt is 5<|eot_id|>",
            "It is 5",
        ),
        ("<start_of_turn>user\nQ \\boxed{4}<end_of_turn>\n<start_of_turn>model\nIt is 5<end_of_turn>", "It is 5"),
        ("[INST] Q \\boxed{4} [/INST] It is 5</s>", " It is 5"),
        ("\\boxed{4}", "\\boxed{4}"),  # no template: the query is the response
    ],
)
def test_without_prompts_the_response_follows_the_last_assistant_turn(query, response):
    # Red team R2-F05: without `prompts` the whole query was scored, so the prompt's worked example earned reward.
    assert split_response(query, None) == response


def test_a_worked_example_earns_nothing_without_prompts_either(url):
    query = "<|im_start|>user\nExample: 2+2 = \\boxed{4}. Now compute 1+3.<|im_end|>\n"
    query += "<|im_start|>assistant\nI am not sure."
    data = httpx.post(url + "/get_reward", json={"query": [query + "<|im_end|>"], "labels": ["4"]}, timeout=30).json()
    assert data["rewards"] == [0.0]
