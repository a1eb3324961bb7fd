"""Faults injected into a real `aha serve`: a worker killed mid-call, the forkserver killed, SIGTERM under load.

Processes are found in /proc: the forkserver is the server's child running ``multiprocessing.forkserver``, the
workers are the forkserver's children, and everything the server started shares its process group.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from verifiers.verdict import UNDECIDED_STATUSES

ENV = {
    "AHA_CUSTOM_TASKS": json.dumps({"sleeper": "tests.service.chaos.sleeper"}),
    "AHA_WORKERS": "2",
    "AHA_ITEM_TIMEOUT_S": "30",
}


def _stat(pid: int) -> list[str] | None:
    # Fields after the command name: state, ppid, pgrp, ...
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def processes() -> dict[int, list[str]]:
    """Every live (non-zombie) process with its /proc stat fields."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] != "Z":
                found[int(entry.name)] = stat
    return found


def children(pid: int) -> list[int]:
    return [p for p, stat in processes().items() if int(stat[1]) == pid]


def forkserver_of(server_pid: int) -> int:
    for pid in children(server_pid):
        try:
            if b"multiprocessing.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    pytest.fail("the server has no forkserver child")


def group(pgid: int) -> list[int]:
    return [p for p, stat in processes().items() if int(stat[2]) == pgid]


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def math_item(n: int, right: bool = True) -> dict:
    answer = n if right else n + 1
    return {
        "id": f"m{n}",
        "task": "math",
        "reference": str(n),
        "completion": f"<think>count</think><answer>\\boxed{{{answer}}}</answer>",
    }


def code_item(name: str) -> dict:
    program = "import time\ntime.sleep(0.2)\nprint(int(input()) + 1)"
    tests = [{"stdin": "41\n", "stdout": "42\n"}]
    return {"id": name, "task": "code", "completion": f"```python\n{program}\n```", "reference": {"tests": tests}}


def expected(item: dict) -> float:
    if item["task"] == "code":
        return 1.0
    return 1.0 if item["completion"].endswith(f"\\boxed{{{item['reference']}}}</answer>") else 0.0


def run_cgroups() -> list[Path]:
    """Every per-run cgroup of the sandbox on this host (`aha-run-<pid>-<id>`)."""
    from sandboxes.cgroups import detect

    setup = detect()
    parents = {p for p in (setup.memory_parent, setup.pids_parent, setup.cpuacct_parent) if p is not None}
    return [d for parent in parents for d in parent.glob("aha-run-*")]


def assert_scored_right(items: list[dict], results: list[dict]) -> None:
    assert [r["id"] for r in results] == [i["id"] for i in items]
    for item, result in zip(items, results, strict=True):
        assert result["reward"] == expected(item), result
        assert result["status"] == ("correct" if expected(item) else "wrong")


def sleeper_item(pidfile: Path) -> dict:
    return {"id": "sleeper", "task": "sleeper", "completion": "zzz", "reference": str(pidfile)}


def read_pid(path: Path, timeout: float = 20) -> int:
    wait_until(path.exists, timeout, "the sleeper verifier to start")
    return int(path.read_text())


def score(server, items: list[dict], timeout: float = 60) -> dict:
    with server.client(timeout) as c:
        r = c.post("/v1/score", json={"profile": "accuracy", "items": items, "use_cache": False})
    assert r.status_code == 200, r.text
    return r.json()


def test_worker_killed_mid_call_costs_its_item_only(aha_server, tmp_path):
    server = aha_server(ENV)
    pidfile = tmp_path / "pid"
    maths = [math_item(11), math_item(12, right=False), math_item(13)]
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(score, server, [sleeper_item(pidfile), *maths])
        os.kill(read_pid(pidfile), signal.SIGKILL)
        out = pending.result(timeout=30)
    killed, *rest = out["results"]
    assert killed["status"] == "verifier_error" and killed["reward"] is None, killed
    assert "killed by signal 9" in killed["reason"]  # not out_of_memory: no OOM kill happened
    assert_scored_right(maths, rest)
    later = [math_item(21), math_item(22, right=False)]
    assert_scored_right(later, score(server, later)["results"])


def test_killed_forkserver_is_rebuilt_and_scoring_continues(aha_server, tmp_path):
    server = aha_server(ENV)
    first = [math_item(31), math_item(32, right=False)]
    assert_scored_right(first, score(server, first)["results"])
    forkserver = forkserver_of(server.process.pid)
    workers = children(forkserver)
    assert workers
    with server.client() as c:
        # /readyz carries the pool's health once the app wires VerifierPool.health() in; until then it cannot say.
        wired = "pool" in c.get("/readyz").json()
    pidfile = tmp_path / "pid"
    red = None
    with ThreadPoolExecutor(1) as pool, server.client() as c:
        pending = pool.submit(score, server, [sleeper_item(pidfile)])
        read_pid(pidfile)
        os.kill(forkserver, signal.SIGKILL)  # what the OOM killer does to the biggest idle process
        started = time.monotonic()
        while wired and red is None and time.monotonic() - started < 5:
            readiness = c.get("/readyz")
            red = readiness if readiness.status_code == 503 else None
        in_flight = pending.result(timeout=30)["results"][0]
    assert in_flight["status"] == "verifier_error" and in_flight["reward"] is None, in_flight
    assert time.monotonic() - started < 15  # answered when the pool died, not at the 30 s deadline
    later = [math_item(41), math_item(42, right=False), math_item(43)]
    assert_scored_right(later, score(server, later)["results"])
    assert forkserver_of(server.process.pid) != forkserver
    wait_until(lambda: not set(workers) & set(processes()), 10, "the old workers to die with their forkserver")
    if wired:
        assert red is not None, "/readyz stayed green with the forkserver dead"
        assert red.json()["pool"]["healthy"] is False and red.json()["status"] == "not_ready"
        with server.client() as c:
            readiness = c.get("/readyz")
        assert readiness.status_code == 200, readiness.text
        assert readiness.json()["pool"]["healthy"] and readiness.json()["pool"]["rebuilds"] >= 1


def test_sigterm_under_load_exits_cleanly(aha_server, tmp_path):
    # The sandbox's uid must reach the work dir (pytest's tmp dirs are the test runner's only).
    work = Path(tempfile.mkdtemp(prefix="aha-faults-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    work.chmod(0o711)
    try:
        _sigterm_under_load(aha_server, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _sigterm_under_load(aha_server, work: Path) -> None:
    server = aha_server({**ENV, "AHA_SANDBOX_WORK_DIR": str(work)})
    answers: list[tuple[list[dict], httpx.Response]] = []
    stop = threading.Event()

    def client(k: int) -> None:
        with server.client(30) as c:
            for n in range(10_000):
                if stop.is_set():
                    return
                items = [math_item(1_000_000 * (k + 1) + 100 * n + i, right=i % 3 != 0) for i in range(8)]
                items.append(code_item(f"c{k}-{n}"))  # sandbox runs in flight too: program dirs, cgroups
                try:
                    r = c.post("/v1/score", json={"profile": "accuracy", "items": items})
                except httpx.HTTPError:
                    return  # the server went away under us: an unanswered request is fine
                answers.append((items, r))

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: len(answers) >= 6, 60, "the load to get going")
    ours = set(group(server.process.pid))  # the server and its workers: who may own a per-run cgroup
    server.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    server.process.wait(timeout=30)
    exit_s = time.monotonic() - started
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert exit_s < 20
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: -15 is a clean exit too.
    assert server.process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in server.log.read_text(), server.log.read_text()[-3000:]
    for items, r in answers:
        assert r.status_code == 200, r.text  # no 500 on the way down
        for item, result in zip(items, r.json()["results"], strict=True):
            if result["status"] in UNDECIDED_STATUSES:
                assert result["reward"] is None  # an honest "could not judge" is truthful
            else:
                assert result["reward"] == expected(item), result
    wait_until(lambda: not group(server.process.pid), 10, "every process of the server's group to exit")
    assert list(work.iterdir()) == []
    assert not [d for d in run_cgroups() if int(d.name.split("-")[2]) in ours], "per-run cgroups left behind"
