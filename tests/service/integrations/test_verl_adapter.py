"""verl's compute_score functions without verl: settings, keys, code ground truth, client reuse (live server)."""

from __future__ import annotations

import json

import pytest

from service.integrations import verl

PROGRAM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"profil": "r1"}, "unknown Aha reward setting.*'profil'.*valid: url, profile"),
        ({"profile": "r2"}, "unknown profile 'r2'"),
        ({"weights": {"fmt": 1.0}}, "unknown component 'fmt'"),
        ({"options": {"overlong": {"max_len": 10}}}, "'max_len' for overlong"),
    ],
)
def test_wrong_reward_kwargs_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        verl.compute_score("d", "x", "1", None, **kwargs)


def test_verl_code_ground_truth_scores_and_keys_are_fixed(url):
    gt = json.dumps({"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]})
    kwargs = {"url": url, "profile": "r1-zero", "reward_router_address": None}  # verl's own kwarg is left alone
    right = verl.compute_score("codecontests", PROGRAM, gt, {}, **kwargs)
    assert right == {"score": 1.0, "aha_undecided": 0, "aha_accuracy": 1.0, "aha_format": 0.0}
    undecided = verl.compute_score("d", PROGRAM, "\\frac{", {}, **kwargs)
    assert set(undecided) == set(right) and undecided["aha_undecided"] == 1
    fmt = verl.compute_score("d", "<think>a</think><answer>b</answer>", None, {"task": "format"}, **kwargs)
    assert set(fmt) == set(right) and fmt["score"] == 1.0


def test_client_is_reused_across_calls(url):
    first = verl._client(verl.settings_from({"url": url}))
    verl.compute_score("d", "\\boxed{2}", "2", None, url=url)
    assert verl._client(verl.settings_from({"url": url})) is first


def test_numpy_values_from_parquet_rows_are_sent_as_json(url):
    np = pytest.importorskip("numpy")
    gt = {"inputs": np.array(["1 2\n"], dtype=object), "outputs": np.array(["3\n"], dtype=object)}
    out = verl.compute_score_batch(["d"], [PROGRAM], [gt], [{"index": np.int64(3)}], url=url)
    assert out[0]["score"] == 1.0


def test_set_up_errors_stop_the_step(url):
    from service.integrations.client import RewardSetupError

    with pytest.raises(RewardSetupError, match="unknown task 'maths'"):
        verl.compute_score("d", "\\boxed{4}", "4", {"task": "maths"}, url=url)
    with pytest.raises(RewardSetupError, match="needs a reference"):
        verl.compute_score_batch(["d"], ["\\boxed{4}"], [None], None, url=url)
