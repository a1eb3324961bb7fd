"""Misspelt option keys fail loudly (a 422 for request options, invalid_item for item options), naming the valid
keys; /get_reward and /run_code are timed in aha_request_seconds."""

from __future__ import annotations

import httpx

from service.components import Registry

GOOD = "<think>r</think><answer>4</answer>"


def test_misspelt_request_option_is_a_422_naming_the_valid_keys(url):
    item = {"task": "math", "completion": "x" * 6000 + "\\boxed{4}", "reference": "4"}
    body = {"profile": "dapo", "options": {"overlong": {"max_len": 4096}}, "items": [item]}
    r = httpx.post(url + "/v1/score", json=body, timeout=30)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "'max_len'" in detail and "overlong" in detail and "buffer, max_length, penalty_factor" in detail
    spelt = {**body, "options": {"overlong": {"max_length": 4096, "buffer": 512}}}
    ok = httpx.post(url + "/v1/score", json=spelt, timeout=30).json()["results"][0]
    assert ok["components"]["overlong"] == -1.0 and ok["reward"] == 0.0  # 6,009 characters is past 4,096


def test_misspelt_item_option_is_invalid_item_and_the_rest_is_scored(url):
    items = [
        {"task": "math", "completion": GOOD, "reference": "4", "options": {"format": {"layot": "r1"}}},
        {"task": "math", "completion": GOOD, "reference": "4", "options": {"accuracy": {"float_rel_tol": 1e-3}}},
        {"task": "math", "completion": GOOD, "reference": "4", "options": {"accuracy": {"stop_at_first_failure": 1}}},
    ]
    results = httpx.post(url + "/v1/score", json={"profile": "r1-zero", "items": items}, timeout=30).json()["results"]
    assert results[0]["status"] == "invalid_item" and "'layot'" in results[0]["reason"]
    assert "answer_tags, layout, strict, think_prefilled, think_tags" in results[0]["reason"]
    assert results[1]["reward"] == 2.0
    # a code verifier's option on a math item is a misspelling too
    assert results[2]["status"] == "invalid_item" and "for task 'math'" in results[2]["reason"]


def test_accuracy_keys_of_every_task_are_valid_in_request_options():
    registry = Registry.load()
    assert registry.unknown_options({"accuracy": {"stop_at_first_failure": True, "require_boxed": True}}) is None
    assert "'stop_at_first'" in registry.unknown_options({"accuracy": {"stop_at_first": True}})
    assert registry.unknown_options({"accuracy": {"stop_at_first_failure": True}}, task="code") is None
    assert registry.unknown_options({"cosine": {"max_length": 10, "exceed_value": -1}}) is None


def test_get_reward_and_run_code_are_timed(url):
    reward = httpx.post(url + "/get_reward", json={"query": ["4"], "labels": ["4"]}, timeout=30)
    assert reward.status_code == 200, reward.text
    httpx.post(url + "/run_code", json={"code": "print(1)", "language": "python"}, timeout=60)
    metrics = httpx.get(url + "/metrics", timeout=10).text
    assert 'aha_request_seconds_count{endpoint="/get_reward"} 1.0' in metrics
    assert 'aha_request_seconds_count{endpoint="/run_code"} 1.0' in metrics
