"""verl's reward step through the Aha adapter: per-sample path against the batch path, in one run.

Run in the trainer environment (it imports verl): `.venv/trainers/bin/python bench/verl_bench.py [--samples 1024]`.
Both paths go through verl 0.9's own ``RewardLoopWorker.compute_score_batch`` on one DataProto of math samples
(half right, half wrong), against one live Aha server started here:

- per-sample: verl's ``naive`` manager calling ``service.integrations.verl.compute_score`` once per sample from its
  thread pool (a reused HTTP client);
- batch: ``AhaRewardManager``, one ``/v1/score`` request for the worker's samples;
- for reference, the per-sample path with a new HTTP client per call (what the adapter did before it kept one).

Every completion carries a nonce per path, so neither path is served from the other's cache entries.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from verl.experimental.reward_loop.reward_loop import RewardLoopWorker  # noqa: E402

from tests.conftest import start_aha, stop_aha  # noqa: E402
from tests.trainers.conftest import score_requests  # noqa: E402
from tests.trainers.tokenizer import save_tokenizer  # noqa: E402
from tests.trainers.verl_batch import AHA_MANAGER, make_batch, reward_config  # noqa: E402


def compute_score_fresh_client(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """``compute_score`` with a new HTTP client per call (verl loads this file by path as the reward function)."""
    from service.integrations import verl
    from service.integrations.client import AhaClient

    settings = verl.settings_from(kwargs)
    with AhaClient(settings.url, timeout_s=settings.timeout_s) as client:
        response = client.score([verl.item(0, solution_str, ground_truth, extra_info, settings)], **settings.request())
    return verl.as_verl(response["results"][0], settings.components)


def samples(n: int, nonce: str) -> list[tuple[str, str, dict, float]]:
    """Math samples: even ones right (r1-zero 2.0), odd ones wrong (format only, 1.0)."""
    out = []
    for i in range(n):
        answer = i if i % 2 == 0 else i + 1
        out.append((f"<think>{nonce} {i}</think><answer>{answer}</answer>", str(i), {}, 2.0 if i % 2 == 0 else 1.0))
    return out


def run(worker: RewardLoopWorker, tokenizer_dir: Path, n: int, nonce: str, url: str) -> tuple[float, int, bool]:
    rows = samples(n, nonce)
    data = make_batch(tokenizer_dir, rows)
    before = score_requests(url)
    started = time.perf_counter()
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    seconds = time.perf_counter() - started
    right = [o["reward_score"] for o in outputs] == [r[3] for r in rows]
    return seconds, score_requests(url) - before, right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1024)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="verl-bench-"))
    tokenizer_dir = save_tokenizer(work / "tok")
    server = start_aha(work)
    try:
        kwargs = {"url": server.url, "profile": "r1-zero"}
        custom = {"path": "pkg://service.integrations.verl", "name": "compute_score", "reward_kwargs": kwargs}
        naive = {"source": "register", "name": "naive"}
        fresh = {**custom, "path": str(Path(__file__).resolve()), "name": "compute_score_fresh_client"}
        configs = {
            "per-sample (naive + compute_score)": reward_config(tokenizer_dir, naive, custom),
            "batch (AhaRewardManager)": reward_config(tokenizer_dir, AHA_MANAGER, reward_kwargs=kwargs),
            "per-sample, new client per call": reward_config(tokenizer_dir, naive, fresh),
        }
        paths = {name: RewardLoopWorker(config) for name, config in configs.items()}
        for i, worker in enumerate(paths.values()):
            run(worker, tokenizer_dir, 16, f"warm-{i}", server.url)  # connections, imports, worker pools
        rows = []
        for i, (name, worker) in enumerate(paths.items()):
            seconds, requests, right = run(worker, tokenizer_dir, args.samples, f"path-{i}", server.url)
            rows.append((name, seconds, requests, right))
    finally:
        stop_aha(server)
    print(f"verl reward step, {args.samples} samples, r1-zero, one Aha server on 127.0.0.1")
    print(f"{'path':38} {'seconds':>8} {'ms/sample':>10} {'requests':>9} {'rewards right':>14}")
    for name, seconds, requests, right in rows:
        print(f"{name:38} {seconds:8.3f} {1000 * seconds / args.samples:10.3f} {requests:9d} {str(right):>14}")
    print(f"ratio per-sample / batch: {rows[0][1] / rows[1][1]:.1f}x; new client per call / batch: "
          f"{rows[2][1] / rows[1][1]:.1f}x")


if __name__ == "__main__":
    main()
