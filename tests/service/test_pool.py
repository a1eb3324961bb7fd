"""The verifier pool with real worker processes: what it cannot send, dead pebble threads, a killed forkserver,
workers killed by signals, and shutdown with calls in flight. No part of the pool is mocked."""

from __future__ import annotations

import asyncio
import multiprocessing.forkserver
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.pool import VerifierPool, _death_verdict, call_verifier, oom_kills
from verifiers.protocol import ModuleVerifier
from verifiers.verdict import Attempt, Status

ECHO = "tests.service.chaos.echo"
HANG = "tests.service.chaos.hang"
SLEEPER = "tests.service.chaos.sleeper"
PRELOAD = (ECHO, HANG, SLEEPER)


def deep(levels: int) -> object:
    """A value nested ``levels`` lists deep, like a 1 KB JSON reference of 500 ``[``."""
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def forkserver_pid() -> int:
    """The pid of this process's multiprocessing forkserver (the parent of every worker)."""
    pid = multiprocessing.forkserver._forkserver._forkserver_pid
    assert pid is not None
    return pid


def children(pid: int) -> list[int]:
    """Pids whose parent is ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


async def read_pid(path: Path, timeout: float = 15) -> int:
    """The pid the sleeper verifier wrote once it runs."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "the sleeper verifier never started"
        await asyncio.sleep(0.02)
    return int(path.read_text())


@pytest.fixture
def pool() -> Iterator[VerifierPool]:
    p = VerifierPool(workers=2, memory_mb=1024, preload=PRELOAD)
    yield p
    p.close()


def test_pool_starts_in_the_background_and_says_when_it_is_ready(pool):
    assert pool.wait_ready(60)
    health = pool.health()
    assert health == {**health, "healthy": True, "reason": "ok", "rebuilds": 0, "generation": 1, "workers": 2}
    pool.close()
    assert not pool.wait_ready(1) and pool.health()["reason"] == "the pool is closed"


def test_attempt_too_deep_to_pickle_costs_that_call_only(pool):
    # Finding 1: pebble pickled the attempt in its scheduler thread; RecursionError there killed the thread, the
    # call never returned and every later call failed.
    async def scenario():
        bad = await asyncio.wait_for(pool.run(ModuleVerifier(ECHO), Attempt("1", deep(500)), 5), 15)
        good = await asyncio.wait_for(pool.run(ModuleVerifier(ECHO), Attempt("1", "1"), 5), 15)
        return bad, good

    bad, good = asyncio.run(scenario())
    assert bad.status == Status.VERIFIER_ERROR and "RecursionError" in bad.reason
    assert good.status == Status.CORRECT
    assert pool.health()["healthy"] and pool.health()["rebuilds"] == 0


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread we kill
def test_dead_pebble_thread_is_detected_and_the_pool_rebuilt(pool):
    async def scenario():
        assert (
            await asyncio.wait_for(pool.run(ModuleVerifier(ECHO), Attempt("1", "1"), 5), 30)
        ).status == Status.CORRECT
        in_flight = asyncio.ensure_future(pool.run(ModuleVerifier(HANG), Attempt("spin"), 30))
        await asyncio.sleep(0.3)
        # The failure of finding 1, produced for real inside pebble: its scheduler thread dies of RecursionError
        # pickling an argument. VerifierPool.run never hands pebble such a value, so go to the pebble pool itself.
        pool._gen.pool.schedule(call_verifier, args=(ModuleVerifier(ECHO), Attempt("1", deep(500))))
        started = time.monotonic()
        verdict = await asyncio.wait_for(in_flight, 15)
        return verdict, time.monotonic() - started

    verdict, waited = asyncio.run(scenario())
    assert verdict.status == Status.VERIFIER_ERROR and "pool failed" in verdict.reason, verdict
    assert waited < 10  # answered when the pool was found dead, not at the 30 s deadline
    wait_until(lambda: pool.health()["healthy"], 30, "the rebuilt pool")
    health = pool.health()
    assert health["rebuilds"] >= 1 and "pebble" in health["last_failure"]
    assert asyncio.run(pool.run(ModuleVerifier(ECHO), Attempt("2", "2"), 5)).status == Status.CORRECT


def test_killed_forkserver_is_replaced_and_the_call_in_flight_is_answered(pool):
    # Finding 2: the OOM killer takes the forkserver; the pool must notice, say so, and come back on its own.
    async def scenario():
        assert (
            await asyncio.wait_for(pool.run(ModuleVerifier(ECHO), Attempt("1", "1"), 5), 30)
        ).status == Status.CORRECT
        old = forkserver_pid()
        workers = children(old)
        in_flight = asyncio.ensure_future(pool.run(ModuleVerifier(HANG), Attempt("spin"), 30))
        await asyncio.sleep(0.3)
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while pool.health()["healthy"]:  # red while it cannot work: a rebuild takes far longer than this poll
            assert time.monotonic() < deadline, "health() stayed green with the forkserver dead"
            await asyncio.sleep(0.005)
        started = time.monotonic()
        verdict = await asyncio.wait_for(in_flight, 15)
        waited = time.monotonic() - started
        later = await asyncio.wait_for(pool.run(ModuleVerifier(ECHO), Attempt("2", "2"), 5), 60)
        return old, workers, verdict, waited, later

    old, workers, verdict, waited, later = asyncio.run(scenario())
    assert verdict.status == Status.VERIFIER_ERROR, verdict
    assert waited < 10
    assert later.status == Status.CORRECT
    health = pool.health()
    assert health["healthy"] and health["rebuilds"] >= 1, health
    assert forkserver_pid() != old
    # The old workers died with their forkserver instead of living on as orphans (a spinning one forever).
    assert workers
    wait_until(lambda: not any(alive(pid) for pid in workers), 5, "the old workers to die")


def test_worker_killed_by_a_signal_is_not_called_out_of_memory(pool, tmp_path):
    # Finding 3: exit code -9 was taken to mean OOM; without an OOM kill it is just a killed process.
    pidfile = tmp_path / "pid"

    async def scenario():
        call = asyncio.ensure_future(pool.run(ModuleVerifier(SLEEPER), Attempt("s", str(pidfile)), 30))
        os.kill(await read_pid(pidfile), signal.SIGKILL)
        return await asyncio.wait_for(call, 15)

    verdict = asyncio.run(scenario())
    assert verdict.status == Status.VERIFIER_ERROR, verdict
    assert "killed by signal 9" in verdict.reason
    assert asyncio.run(pool.run(ModuleVerifier(ECHO), Attempt("1", "1"), 5)).status == Status.CORRECT


def test_verifier_exit_and_unsendable_verdict_stay_on_their_call(pool):
    async def scenario():
        exits = await asyncio.wait_for(pool.run(ModuleVerifier("tests.service.chaos.exits"), Attempt("x"), 5), 30)
        deep_verdict = await asyncio.wait_for(pool.run(ModuleVerifier("tests.service.chaos.deep"), Attempt("x"), 5), 30)
        good = await asyncio.wait_for(pool.run(ModuleVerifier(ECHO), Attempt("1", "1"), 5), 30)
        return exits, deep_verdict, good

    # SystemExit used to come out of the pool into the caller, where it stops an event loop.
    exits, deep_verdict, good = asyncio.run(scenario())
    assert exits.status == Status.VERIFIER_ERROR and "SystemExit" in exits.reason
    assert deep_verdict.status == Status.VERIFIER_ERROR and "cannot be sent back" in deep_verdict.reason
    assert good.status == Status.CORRECT
    assert pool.health()["rebuilds"] == 0


def test_close_answers_the_calls_still_waiting(tmp_path):
    pool = VerifierPool(workers=1, memory_mb=1024, preload=PRELOAD)
    pidfile = tmp_path / "pid"

    async def scenario():
        call = asyncio.ensure_future(pool.run(ModuleVerifier(SLEEPER), Attempt("s", str(pidfile)), 30))
        worker = await read_pid(pidfile)
        started = time.monotonic()
        await asyncio.to_thread(pool.close)
        return worker, await asyncio.wait_for(call, 10), time.monotonic() - started

    worker, verdict, waited = asyncio.run(scenario())
    assert verdict.status == Status.VERIFIER_ERROR and "closed" in verdict.reason
    assert waited < 10
    assert not alive(worker)
    assert pool.health()["healthy"] is False


def test_only_a_counted_oom_kill_makes_a_sigkill_out_of_memory():
    now = oom_kills()
    if now is None:
        pytest.skip("neither the memory cgroup nor /proc/vmstat has an oom_kill counter here")
    assert _death_verdict(-9, now).status == Status.VERIFIER_ERROR
    assert _death_verdict(-9, now - 1).status == Status.OUT_OF_MEMORY  # one OOM kill during the call
    assert _death_verdict(-15, now - 1).status == Status.VERIFIER_ERROR  # the OOM killer only sends SIGKILL
    assert "exited with code 1" in _death_verdict(1, now).reason


def test_workers_fork_with_the_math_fallback_parser_loaded() -> None:
    # The registry asks for the math verifier's warm-up module, and a worker has the fallback parser (sympy and
    # latex2sympy, ~1 s to load) before its first call, so no first hard answer of a worker pays for it.
    from service.components import Registry

    assert "verifiers.math.warm" in Registry.load().pool_modules()
    wanted = "latex2sympy2_extended.latex2sympy2 sympy"
    pool = VerifierPool(1, 2048, ("verifiers.math", "verifiers.math.warm", "tests.service.chaos.modules"))
    try:
        assert pool.wait_ready(60)
        verdict = asyncio.run(
            pool.run(ModuleVerifier("tests.service.chaos.modules"), Attempt(completion="", reference=wanted), 30)
        )
        assert verdict.details["loaded"] == wanted.split()
    finally:
        pool.close()
