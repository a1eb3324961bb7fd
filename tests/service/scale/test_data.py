"""``aha score --ray`` on a real two-node Ray cluster: a 100,000-line file, interrupted and resumed, equals the
in-process ``aha score`` line for line.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.service.scale.conftest import TwoNodes, decided

LINES = 100_000
GOOD = "<think>x</think><answer>\\boxed{{{}}}</answer>"


def write_input(path: Path) -> int:
    """Math (right, wrong, repeated) and format items in groups of 8, which batches of 256 cut through, with the
    lines ``aha score`` answers on their own: blank lines, broken JSON, invalid items, a line without an id, a
    carriage return alone (a line break to universal newlines) and bytes that are not UTF-8. Returns the number of
    non-blank lines (the output's length)."""
    rng = random.Random(16)
    raw: list[bytes] = []
    for i in range(LINES):
        group = f"g{i // 8}"
        if i % 997 == 0:
            raw.append(b"")  # blank: no output line
        if i % 5000 == 1:
            raw.append(b"{broken json")
            continue
        if i % 5000 == 2:
            raw.append(json.dumps({"id": f"bad{i}", "task": "math", "completion": "x"}).encode())  # no reference
            continue
        if i % 5000 == 3:
            # Universal newlines read a lone \r as a line break: two items on one \n-terminated line.
            left = {"task": "format", "completion": "<think>a</think><answer>b</answer>", "group": group}
            right = {"id": f"cr{i}", "task": "format", "completion": "no", "group": group}
            raw.append(json.dumps(left).encode() + b"\r" + json.dumps(right).encode())
            continue
        if i % 5000 == 4:
            raw.append(b'{"id": "u%d", "task": "format", "completion": "caf\xff"}' % i)  # read as U+FFFD
            continue
        if i % 2:
            answer = rng.choice([str(rng.randint(1, 9)), "\\frac{1}{2}", "0.5", "x"])
            item = {"id": f"m{i}", "task": "math", "completion": GOOD.format(answer), "reference": "\\frac{1}{2}"}
        else:
            completion = rng.choice(["<think>a</think><answer>b</answer>", "<think>a</think>", "no tags"])
            item = {"id": f"f{i}", "task": "format", "completion": completion}
        if i % 7777 == 5:
            del item["id"]  # its result is named line-N, after the line's number
        raw.append(json.dumps({**item, "group": group}).encode())
    path.write_bytes(b"\n".join(raw) + b"\n")
    with path.open(encoding="utf-8", errors="replace") as f:
        return sum(1 for line in f if line.strip())


def aha_score(*args: str, quiet: bool = True, **popen: Any) -> subprocess.Popen:
    command = [sys.executable, "-m", "service.cli", "score", *(["-q"] if quiet else []), *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AHA_LOG_LEVEL": "warning", "AHA_WORKERS": "1"}
    return subprocess.Popen(command, cwd=ROOT, env=env, text=True, **popen)


def finished(proc: subprocess.Popen, timeout: float) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    summary["stderr"] = err
    return summary


def lines_in(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def results(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            result = json.loads(line)
            # `cached` says whether this run's cache held the verdict already, which depends on which engine of
            # the pool saw an item first; everything the verdict says must be the same.
            result.pop("cached")
            yield decided(result)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_100k_lines_interrupted_and_resumed_equal_the_in_process_scorer(two_nodes: TwoNodes, tmp_path: Path) -> None:
    src, local, scaled = tmp_path / "in.jsonl", tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    total = write_input(src)
    args = ("--profile", "r1-zero")
    # The in-process reference runs beside the Ray run; each has one verifier worker.
    reference = aha_score(str(src), "-o", str(local), *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ray_args = (str(src), "-o", str(scaled), *args, "--ray", "--ray-address", two_nodes.address)
    first = aha_score(*ray_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while lines_in(scaled) < total // 5 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the Ray run ended before it could be interrupted: " + first.communicate()[1][-2000:]
    first.send_signal(signal.SIGKILL)
    first.communicate()
    written = lines_in(scaled)
    assert 0 < written < total
    resumed = finished(aha_score(*ray_args, quiet=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE), 300)
    assert 0 < resumed["resumed_from"] <= written  # a torn last line is cut off, nothing before it redone
    assert f"{total}/{total}" in resumed["stderr"]  # the progress bar counted to the end
    expected = finished(reference, 300)
    assert expected["items"] == resumed["items"] == total
    assert expected["statuses"] == resumed["statuses"] and expected["mean_reward"] == resumed["mean_reward"]
    assert lines_in(local) == lines_in(scaled) == total
    for n, (want, got) in enumerate(zip(results(local), results(scaled), strict=True), start=1):
        assert got == want, f"output line {n}"
    statuses = expected["statuses"]  # 20 broken lines and 20 items without a reference; the rest scored
    assert statuses["invalid_item"] == 40 and statuses["correct"] > 10_000 and statuses["wrong"] > 10_000


@pytest.mark.timeout(180)
def test_aha_serve_ray_joins_the_cluster_serves_and_leaves_on_sigterm(two_nodes: TwoNodes, tmp_path: Path) -> None:
    # After the file test: its actors have given the nodes' CPUs back. `aha serve --ray` joins by address, deploys
    # two replicas, serves the HTTP contract, and on SIGTERM removes its application from the cluster it joined.
    import httpx
    from ray import serve

    from service.integrations.client import AhaClient
    from tests.conftest import free_port

    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    command = ["serve", "--ray", "--ray-address", two_nodes.address, "--port", str(port), "--replicas", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AHA_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", *command, "--replica-cpus", "0.5"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("aha serve --ray did not become ready:\n" + (tmp_path / "serve.log").read_text()[-3000:])
        items = [{"id": "a", "task": "math", "completion": GOOD.format("\\frac{2}{4}"), "reference": "0.5"}]
        with AhaClient(url) as client:
            assert client.score(items)["results"][0]["status"] == "correct"
        assert "aha" in serve.status().applications
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(60)
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert "aha" not in serve.status().applications
