"""Trainer-facing faces against a real server: the client, TRL reward functions, verl compute_score, OpenRLHF."""

from __future__ import annotations

import asyncio
import json
import pickle

import httpx
import pytest

from service.api.openrlhf import split_response
from service.integrations import verl
from service.integrations.client import AhaClient, RetryPolicy, ScoreError
from service.integrations.trl import AhaReward, AsyncAhaReward
from tests.conftest import free_port

CHAOS = json.dumps({"echo": "tests.service.chaos.echo", "hang": "tests.service.chaos.hang"})
GOOD = "<think>r</think><answer>4</answer>"


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from tests.conftest import start_aha, stop_aha

    server = start_aha(tmp_path_factory.mktemp("aha"), {"AHA_CUSTOM_TASKS": CHAOS, "AHA_ITEM_TIMEOUT_S": "1"})
    yield server.url
    stop_aha(server)


def test_client_scores_and_raises_on_client_errors(url):
    with AhaClient(url) as client:
        out = client.score([{"task": "echo", "completion": "1", "reference": "1"}])
        assert out["results"][0]["reward"] == 1.0
        with pytest.raises(ScoreError, match="422"):
            client.score([{"task": "echo", "completion": "1"}], profile="nope")


def test_client_retries_connection_errors_then_gives_up():
    dead = f"http://127.0.0.1:{free_port()}"
    client = AhaClient(dead, retry=RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02))
    with pytest.raises(ScoreError, match="failed 3 times; last: ConnectError"):
        client.score([{"task": "format", "completion": GOOD}])


def test_retry_policy_honours_retry_after():
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=30)
    busy = httpx.Response(429, headers={"Retry-After": "7"})
    assert 7 <= policy.delay(1, busy) <= 7.25
    assert 1.0 <= policy.delay(3, httpx.Response(503)) <= 2.0  # 0.5 * 2**2, with jitter in [0.5, 1]


def test_trl_reward_function_standard_and_conversational(url):
    reward = AhaReward(url, task="echo", reference_column="answer")
    assert reward.__name__ == "aha_echo_accuracy"
    rewards = reward(
        prompts=["p1", "p1", "p2"],
        completions=["4", "5", "x"],
        completion_ids=[[1], [2], [3]],
        answer=["4", "4", "x"],
        trainer_state=None,
        log_extra=print,
    )
    assert rewards == [1.0, 0.0, 1.0]
    chat = AhaReward(url, task="format", profile="format", reference_column=None)
    out = chat(
        prompts=[[{"role": "user", "content": "hi"}]] * 2,
        completions=[[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": "no"}]],
    )
    assert out == [1.0, 0.0]


def test_trl_reward_function_returns_none_for_undecided_items(url):
    reward = AhaReward(url, task="hang", reference_column="answer")
    assert reward(prompts=["p"], completions=["c"], answer=["a"]) == [None]


def test_trl_reward_functions_pickle_and_async(url):
    reward = AsyncAhaReward(url, task="echo", reference_column="answer", component="accuracy")
    assert asyncio.run(reward(prompts=["p"], completions=["2"], answer=["2"])) == [1.0]
    clone = pickle.loads(pickle.dumps(reward))  # the async trainer ships reward functions to another process
    assert asyncio.run(clone(prompts=["p"], completions=["3"], answer=["2"])) == [0.0]
    sync_clone = pickle.loads(pickle.dumps(AhaReward(url, task="echo", reference_column="answer")))
    assert sync_clone(prompts=["p"], completions=["2"], answer=["2"]) == [1.0]


def test_verl_compute_score_single_and_batch(url, monkeypatch):
    monkeypatch.setenv("AHA_URL", url)
    single = verl.compute_score("my/data", "8", "8", {"task": "echo"})
    assert single["score"] == 1.0 and single["aha_undecided"] == 0 and single["aha_accuracy"] == 1.0
    batch = verl.compute_score_batch(["d", "d"], ["8", "9"], ["8", "8"], [{"task": "echo"}, {"task": "echo"}])
    assert [b["score"] for b in batch] == [1.0, 0.0]
    undecided = verl.compute_score("d", "x", "y", {"task": "hang"})
    assert undecided["score"] == 0.0 and undecided["aha_undecided"] == 1


def test_verl_task_inference():
    assert verl.task_of({"tests": []}, None) == "code"
    assert verl.task_of('{"language": "python", "tests": []}', None) == "code"
    assert verl.task_of('{"inputs": ["1"], "outputs": ["1"]}', None) == "code"
    assert verl.task_of({"inputs": ["1"], "outputs": ["1"], "fn_name": "f"}, None) == "code"
    assert verl.task_of("\\frac{1}{2}", None) == "math"
    assert verl.task_of("x", {"task": "format"}) == "format"


def test_openrlhf_get_reward(url):
    prompt = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    body = {"query": [prompt + "4<|im_end|>", prompt + "5<|im_end|>"], "prompts": [prompt, prompt], "labels": ["4"] * 2}
    r = httpx.post(url + "/get_reward", params={"task": "echo"}, json=body, timeout=30)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["rewards"] == [1.0, 0.0] and data["scores"] == [1.0, 0.0]
    assert data["extra_logs"]["aha_accuracy"] == [1.0, 0.0]
    assert data["extra_logs"]["aha_undecided"] == [0.0, 0.0]
    bad = httpx.post(url + "/get_reward", json={"query": ["a"], "labels": ["1", "2"]}, timeout=30)
    assert bad.status_code == 422 and "labels has 2 entries" in bad.text


def test_openrlhf_response_split():
    assert split_response("PROMPT answer<|im_end|>", "PROMPT") == " answer"
    assert split_response("<s>PROMPT x</s>", "PROMPT") == " x"
    assert split_response("no prompt here<|endoftext|>\n", None) == "no prompt here"
    assert split_response("keep <|im_end|> inside", "") == "keep <|im_end|> inside"
    # DeepSeek-R1's end token has full-width bars and U+2581 (a perfect r1-zero answer lost its format reward)
    assert split_response("P<think>r</think><answer>4</answer><｜end▁of▁sentence｜>", "P") == (
        "<think>r</think><answer>4</answer>"
    )
    assert split_response("x<|eot_id|>\n<|end_of_text|>", None) == "x"
    assert split_response("x<end_of_turn>\n<eos>", None) == "x"
