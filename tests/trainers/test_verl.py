"""verl 0.9's own reward loop, managers and SandboxFusion client, on the CPU, against a live Aha server."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.trainers.conftest import score_requests
from tests.trainers.tokenizer import save_tokenizer

verl = pytest.importorskip("verl", reason="verl is not installed here (it lives in the trainer env, .venv/trainers)")

from verl.experimental.reward_loop.reward_loop import RewardLoopWorker  # noqa: E402

from tests.trainers.verl_batch import AHA_MANAGER, make_batch, reward_config  # noqa: E402

GOOD = "<think>2+2</think><answer>4</answer>"
PROGRAM = "<think>add</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
FN_PROGRAM = "```python\ndef add(a, b):\n    return a + b\n```"
STDIO_GT = json.dumps({"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]})
FN_GT = json.dumps({"fn_name": "add", "inputs": ["1\n2", "3\n4"], "outputs": ["3", "[7]"]})

# (response, ground truth, extra_info, r1-zero score): right and wrong math, verl's code formats, an invalid item
# first (the one whose keys verl collects), and a format-only task.
SAMPLES = [
    (GOOD, "\\frac{", {}, 0.0),  # unparseable reference: undecided, must still carry every key
    (GOOD, "4", {}, 2.0),
    ("<think>x</think><answer>5</answer>", "4", {}, 1.0),
    (PROGRAM, STDIO_GT, {}, 1.0),  # code: the format misses <answer>, the program is right
    (FN_PROGRAM, FN_GT, {}, 1.0),
    (GOOD, None, {"task": "format"}, 1.0),
]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    return save_tokenizer(tmp_path_factory.mktemp("tok"))


def score_step(worker, data):
    """The reward step as a Ray reward worker runs it: ``compute_score_batch`` in the worker's own event loop."""
    return worker.loop.run_until_complete(worker.compute_score_batch(data))


def collect_like_verl(outputs):
    """What RewardLoopManager.compute_rm_score does with the workers' outputs (keys of the first sample)."""
    infos = [o.get("reward_extra_info", {}) for o in outputs]
    return {key: np.array([info[key] for info in infos]) for key in infos[0]}


def test_aha_reward_manager_scores_a_step_in_one_request(aha_url, tokenizer_dir):
    config = reward_config(tokenizer_dir, AHA_MANAGER, reward_kwargs={"url": aha_url, "profile": "r1-zero"})
    worker = RewardLoopWorker(config)
    data = make_batch(tokenizer_dir, SAMPLES)
    before = score_requests(aha_url)
    outputs = score_step(worker, data)
    assert score_requests(aha_url) - before == 1 and worker.reward_manager.requests == 1
    assert [o["reward_score"] for o in outputs] == [s[3] for s in SAMPLES]
    extra = collect_like_verl(outputs)  # no KeyError: every sample has the keys of the first
    assert list(extra["aha_undecided"]) == [1, 0, 0, 0, 0, 0]
    assert list(extra["aha_format"]) == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    rm_scores = worker.reward_manager.assemble_rm_scores(data, [o["reward_score"] for o in outputs])
    assert rm_scores.sum(dim=1).tolist() == [s[3] for s in SAMPLES]


def test_aha_reward_manager_fails_loudly_on_a_wrong_setting(aha_url, tokenizer_dir):
    config = reward_config(tokenizer_dir, AHA_MANAGER, reward_kwargs={"url": aha_url, "profil": "r1-zero"})
    with pytest.raises(ValueError, match="unknown Aha reward setting.*'profil'"):
        RewardLoopWorker(config)
    bad = {"url": aha_url, "profile": "r1-zero", "options": {"format": {"layot": "r1"}}}
    with pytest.raises(ValueError, match="'layot' for format"):
        RewardLoopWorker(reward_config(tokenizer_dir, AHA_MANAGER, reward_kwargs=bad))


@pytest.mark.parametrize("manager", ["naive", "dapo"])
def test_compute_score_through_verl_managers(aha_url, tokenizer_dir, manager):
    custom = {"path": "pkg://service.integrations.verl", "name": "compute_score",
              "reward_kwargs": {"url": aha_url, "profile": "r1-zero"}}
    config = reward_config(tokenizer_dir, {"source": "register", "name": manager}, custom)
    worker = RewardLoopWorker(config)
    outputs = score_step(worker, make_batch(tokenizer_dir, SAMPLES))
    assert [o["reward_score"] for o in outputs] == [s[3] for s in SAMPLES]
    assert set(collect_like_verl(outputs)) == {"score", "aha_undecided", "aha_accuracy", "aha_format"}


def test_legacy_batch_reward_manager_one_request(aha_url, tokenizer_dir):
    from verl.workers.reward_manager.batch import BatchRewardManager

    from service.integrations.verl import compute_score_batch

    manager = BatchRewardManager(
        tokenizer=__import__("transformers").AutoTokenizer.from_pretrained(tokenizer_dir),
        num_examine=0,
        compute_score=compute_score_batch,
        url=aha_url,
        profile="r1-zero",
    )
    before = score_requests(aha_url)
    out = manager(make_batch(tokenizer_dir, SAMPLES), return_dict=True)
    assert score_requests(aha_url) - before == 1
    assert out["reward_tensor"].sum(dim=1).tolist() == [s[3] for s in SAMPLES]
    assert out["reward_extra_info"]["aha_undecided"] == [1, 0, 0, 0, 0, 0]


def test_verl_sandbox_fusion_client_against_run_code(aha_url):
    import threading

    from verl.utils.reward_score import sandbox_fusion

    # verl's client counts a 429 as a failed test instead of retrying: its max_concurrent (this semaphore) must not
    # exceed the server's /run_code concurrency (AHA_RUN_CODE_CONCURRENCY; half the sandbox slots by default).
    one = threading.Semaphore(1)
    tests = {"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]}
    url = aha_url + "/run_code"
    right, _ = sandbox_fusion.compute_score(url, one, 1024, PROGRAM, tests, continuous=True)
    wrong, _ = sandbox_fusion.compute_score(url, one, 1024, PROGRAM.replace("+", "-"), tests, continuous=True)
    assert (right, wrong) == (1.0, 0.0)


def test_reward_loop_manager_on_ray(aha_url, tokenizer_dir):
    """verl's RewardLoopManager with a real Ray reward worker: its compute_rm_score collects the extra keys of the
    first sample (an undecided one here) from every sample."""
    ray = pytest.importorskip("ray")
    from verl.experimental.reward_loop.reward_loop import RewardLoopManager

    config = reward_config(tokenizer_dir, AHA_MANAGER, reward_kwargs={"url": aha_url, "profile": "r1-zero"})
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": "."}})
    try:
        manager = RewardLoopManager(config)
        data = make_batch(tokenizer_dir, SAMPLES)
        before = score_requests(aha_url)
        out = manager.compute_rm_score(data)
        assert score_requests(aha_url) - before == 1
        # verl's streaming reward, as its agent loop calls it: one remote call per finished rollout
        worker = manager.reward_loop_workers[0]
        before = score_requests(aha_url)
        streamed = ray.get([worker.compute_score.remote(data[i : i + 1]) for i in range(len(data))])
        assert [s["reward_score"] for s in streamed] == [s[3] for s in SAMPLES]
        assert score_requests(aha_url) - before < len(SAMPLES)  # rollouts finishing together share a request
    finally:
        ray.shutdown()
    assert out.batch["rm_scores"].sum(dim=1).tolist() == [s[3] for s in SAMPLES]
    assert out.meta_info["reward_extra_keys"] == ["score", "aha_undecided", "aha_accuracy", "aha_format"]
    assert out.non_tensor_batch["aha_undecided"].tolist() == [1, 0, 0, 0, 0, 0]


def test_aha_reward_manager_raises_in_every_sample_when_the_server_is_gone(tokenizer_dir):
    from service.integrations.client import RetryPolicy, ScoreError
    from tests.conftest import free_port

    dead = {"url": f"http://127.0.0.1:{free_port()}", "profile": "r1-zero"}
    worker = RewardLoopWorker(reward_config(tokenizer_dir, AHA_MANAGER, reward_kwargs=dead))
    worker.reward_manager.retry = RetryPolicy(attempts=2, base_delay_s=0.01)
    with pytest.raises(ScoreError, match="failed 2 times"):  # a loud step failure, no sample left waiting
        score_step(worker, make_batch(tokenizer_dir, SAMPLES[:2]))
