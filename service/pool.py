"""Verifier worker processes with a hard per-call deadline, and a pool that heals itself.

Pebble's ``ProcessPool`` kills the worker that runs past its timeout and starts a fresh one, which is exactly the
guarantee the engine needs: a stuck sympy call or a runaway allocation costs one item, never the batch and never
the event loop. Workers are forked from a forkserver that has pre-imported the verifiers, so a replacement worker
is ready in milliseconds and inherits none of the server's threads.

Pebble itself is fragile at the edges: an argument it cannot pickle in its scheduler thread kills that thread, and
a dead forkserver (the OOM killer's favourite target: it is big and idle) puts the pool in an error state for good.
So arguments and results cross the process boundary as bytes pickled here, never by pebble; a watchdog thread
checks the pool (pebble's threads, its status, the forkserver) and replaces a broken one with a fresh pool on a
fresh forkserver; and every call still waiting on a pool that died is answered with an undecided verdict.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import importlib
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import resource
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebble import ProcessExpired, ProcessPool

from verifiers.protocol import Verifier
from verifiers.verdict import Attempt, Status, Verdict

log = logging.getLogger("aha.pool")

_PR_SET_PDEATHSIG = 1
_WATCH_INTERVAL_S = 0.25
_MAX_BACKOFF_S = 5.0
_SHORT_LIFE_S = 10.0  # a pool that dies sooner than this is rebuilt with a growing pause, not in a tight loop
_TEARDOWN_WAIT_S = 5.0


class PoolDied(Exception):
    """The pool a call was waiting on stopped working; the call will never be answered by it."""


def _die_with_parent(forkserver_pid: int | None) -> None:
    # A worker outliving its forkserver is an orphan nobody watches: it keeps reading the dead pool's pipes and a
    # stuck one spins forever. The kernel kills it with its parent instead.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if forkserver_pid is not None and os.getppid() != forkserver_pid:
        os._exit(1)  # the forkserver died between our fork and the prctl


def _init_worker(memory_mb: int, preload: Sequence[str], forkserver_pid: int | None = None) -> None:
    _die_with_parent(forkserver_pid)
    # Soft limit only: a sandboxed child (compilers, the JVM) may raise it again, while a verifier that
    # allocates without bound gets a MemoryError here instead of pushing the host into swap.
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a broken optional verifier must not kill the worker
            log.debug("could not preload %s", module, exc_info=True)


def call_verifier(verifier: Verifier, attempt: Attempt) -> dict:
    """Run ``verifier.verify(attempt)`` (inside a worker, or inline) and return the verdict as a dict.

    Exceptions become verdicts here, so what crosses the process boundary is always plain data.
    """
    try:
        verdict = verifier.verify(attempt)
    except MemoryError:
        return Verdict(0.0, Status.OUT_OF_MEMORY, "verifier ran out of memory").to_dict()
    except RecursionError:
        return Verdict(0.0, Status.VERIFIER_ERROR, "verifier hit the recursion limit").to_dict()
    except Exception as exc:  # noqa: BLE001 - any verifier bug is reported on its item only
        return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier raised {type(exc).__name__}: {exc}"[:300]).to_dict()
    if not isinstance(verdict, Verdict):
        return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier returned {type(verdict).__name__}").to_dict()
    if verdict.status not in _STATUSES:  # one vocabulary: the API lists every status an item can have
        why = f"verifier returned an unknown status {verdict.status!r:.50}"
        return Verdict(0.0, Status.VERIFIER_ERROR, why).to_dict()
    return verdict.to_dict()


_STATUSES = frozenset(s.value for s in Status)


def _error(reason: str, status: str = Status.VERIFIER_ERROR) -> dict:
    return Verdict(0.0, status, reason[:300]).to_dict()


def call_pickled(payload: bytes) -> bytes:
    """Worker side of ``VerifierPool.run``: unpickle ``(verifier, attempt)``, judge, pickle the verdict dict.

    Pebble only ever moves bytes, so nothing a verifier receives or returns can break pebble's threads.
    """
    try:
        verifier, attempt = pickle.loads(payload)
        result = call_verifier(verifier, attempt)
    except MemoryError:
        result = _error("verifier ran out of memory", Status.OUT_OF_MEMORY)
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a verifier must not reach pebble either
        result = _error(f"verifier raised {type(exc).__name__}: {exc}")
    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return pickle.dumps(_error("verifier ran out of memory", Status.OUT_OF_MEMORY))
    except Exception as exc:  # noqa: BLE001 - e.g. details nested too deep to pickle
        return pickle.dumps(_error(f"verifier returned a verdict that cannot be sent back: {type(exc).__name__}"))


def _oom_counter_file() -> Path | None:
    # The memory cgroup counts OOM kills of its own processes (global OOM included); /proc/vmstat counts the whole
    # host, which in a container also sees the neighbours' kills, so it is only the fallback.
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    candidates: list[Path] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "":
            candidates += [Path("/sys/fs/cgroup", rel, "memory.events"), Path("/sys/fs/cgroup/memory.events")]
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory")
            candidates += [base / rel / "memory.oom_control", base / "memory.oom_control"]
    candidates.append(Path("/proc/vmstat"))
    for candidate in candidates:
        if _read_oom_kills(candidate) is not None:
            return candidate
    return None


def _read_oom_kills(path: Path) -> int | None:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


_OOM_FILE = _oom_counter_file()


def oom_kills() -> int | None:
    """The kernel's OOM-kill counter for this process's memory cgroup (or the host), None when unreadable."""
    return _read_oom_kills(_OOM_FILE) if _OOM_FILE is not None else None


def _death_verdict(exitcode: int | None, oom_before: int | None) -> Verdict:
    if exitcode is not None and exitcode < 0:
        signum = -exitcode
        oom_after = oom_kills()
        if signum == signal.SIGKILL and oom_before is not None and oom_after is not None and oom_after > oom_before:
            return Verdict(0.0, Status.OUT_OF_MEMORY, "verifier process was killed by the kernel's OOM killer")
        return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier process was killed by signal {signum}; worker replaced")
    return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier process exited with code {exitcode}; worker replaced")


def _child_alive(pid: int) -> bool:
    # WNOWAIT: look without reaping, so multiprocessing's own ensure_running() still sees the death and restarts.
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False  # already reaped: multiprocessing noticed first and started another forkserver


def _forkserver_pid() -> int | None:
    # multiprocessing keeps one forkserver per interpreter; its pid is private, so tolerate it being absent.
    return getattr(getattr(multiprocessing.forkserver, "_forkserver", None), "_forkserver_pid", None)


@dataclass(eq=False)
class _Generation:
    """One pebble pool and the forkserver it forks from; replaced as a whole when any part of it dies."""

    number: int
    pool: ProcessPool | None = None
    forkserver_pid: int | None = None
    started: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)
    started_at: float | None = None
    death: str | None = None
    calls: set[concurrent.futures.Future[Any]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def live(self) -> bool:
        return self.death is None and self.started.done() and self.started.exception() is None

    def track(self, outcome: concurrent.futures.Future[Any]) -> bool:
        """Remember an in-flight call; False when the generation already died."""
        with self.lock:
            if self.death is not None:
                return False
            self.calls.add(outcome)
        outcome.add_done_callback(self._forget)
        return True

    def _forget(self, outcome: concurrent.futures.Future[Any]) -> None:
        with self.lock:
            self.calls.discard(outcome)

    def kill(self, reason: str) -> bool:
        """Mark dead and fail every call still waiting on it; False when it was dead already."""
        with self.lock:
            if self.death is not None:
                return False
            self.death = reason
            calls, self.calls = list(self.calls), set()
        for outcome in calls:
            _settle(outcome, exception=PoolDied(reason))
        return True


def _settle(
    outcome: concurrent.futures.Future[Any], result: Any = None, exception: BaseException | None = None
) -> None:
    # Two parties may answer one call (the worker and the watchdog); the first one wins.
    try:
        if exception is not None:
            outcome.set_exception(exception)
        else:
            outcome.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass


def _relay(source: concurrent.futures.Future[Any], outcome: concurrent.futures.Future[Any]) -> None:
    if source.cancelled():  # only we cancel pebble futures, and then nobody waits for the outcome any more
        _settle(outcome, exception=PoolDied("the call was cancelled"))
    elif source.exception() is not None:
        _settle(outcome, exception=source.exception())
    else:
        _settle(outcome, result=source.result())


def _stop_pool(pool: ProcessPool) -> None:
    # The workers of a pool we drop have nothing worth finishing; SIGKILL them (after stop(), so pebble does not
    # replace them) rather than wait out pebble's terminate-then-wait, seconds for each worker stuck in C code.
    try:
        pool.stop()
    except Exception:  # noqa: BLE001
        log.debug("stopping a pebble pool failed", exc_info=True)
    manager = getattr(pool, "_pool_manager", None)
    workers = getattr(getattr(manager, "worker_manager", None), "workers", {})
    for process in list(workers.values()):
        try:
            process.kill()
        except (OSError, ValueError, AttributeError):
            pass
    try:
        pool.join()
    except Exception:  # noqa: BLE001 - a half-dead pebble pool may fail on the way down; it is discarded anyway
        log.debug("stopping a pebble pool failed", exc_info=True)


class VerifierPool:
    """A pool of verifier processes; ``await pool.run(module, attempt, timeout)`` never outlives ``timeout``.

    The pool starts in the background and rebuilds itself when its pebble pool or forkserver dies; ``health()``
    says whether it can work right now.
    """

    def __init__(self, workers: int, memory_mb: int, preload: Sequence[str] = (), start_wait_s: float = 60.0) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(preload))
        self.workers = workers
        self._memory_mb = memory_mb
        self._preload = tuple(preload)
        self._start_wait_s = start_wait_s
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._gen = _Generation(1)
        self._rebuilds = 0
        self._last_failure = ""
        self._teardowns: list[threading.Thread] = []
        self._watchdog = threading.Thread(target=self._watch, name="aha-pool-watchdog", daemon=True)
        self._watchdog.start()

    # -- calls ----------------------------------------------------------------------------------------------------

    async def run(self, verifier: Verifier, attempt: Attempt, timeout: float) -> Verdict:
        """Judge ``attempt`` with ``verifier`` in a worker, killing the worker after ``timeout`` seconds.

        Never raises for a verifier's or the pool's failure: those become undecided verdicts (timeout,
        out_of_memory, verifier_error) for this call only. A call waits at most ``start_wait_s`` for the pool to
        start or be rebuilt, and a call in flight when the pool dies is answered at once.
        """
        try:
            # Pickled here, in the caller's thread: a value pebble's scheduler thread could not pickle (a reference
            # nested 500 deep) used to kill that thread and with it every later call.
            payload = pickle.dumps((verifier, attempt), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - RecursionError, PicklingError, TypeError...
            return Verdict(0.0, Status.VERIFIER_ERROR, f"the attempt cannot be sent to a worker: {_describe(exc)}")
        gen = await self._live_generation()
        if isinstance(gen, str):
            return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier pool unavailable: {gen}"[:300])
        assert gen.pool is not None
        oom_before = oom_kills()
        try:
            future = gen.pool.schedule(call_pickled, args=(payload,), timeout=timeout)
        except RuntimeError as exc:  # pebble refuses: its pool is in an error state
            reason = self._fault(gen) or f"pebble pool refused the call: {exc}"
            self._declare_dead(gen, reason)
            return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier pool failed ({reason}); it is being rebuilt"[:300])
        outcome: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        if not gen.track(outcome):
            future.cancel()
            return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier pool failed ({gen.death}); it is being rebuilt")
        future.add_done_callback(lambda f: _relay(f, outcome))
        try:
            data = await asyncio.wrap_future(outcome)
        except FutureTimeout:
            return Verdict(0.0, Status.TIMEOUT, f"verifier exceeded its {timeout:g} s deadline; worker replaced")
        except ProcessExpired as exc:
            reason = self._fault(gen)
            if reason is not None:
                self._declare_dead(gen, reason)
                return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier pool failed during the call ({reason})"[:300])
            return _death_verdict(exc.exitcode, oom_before)
        except PoolDied as exc:
            return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier pool failed during the call ({exc})"[:300])
        except BrokenProcessPool as exc:
            reason = self._fault(gen) or f"pebble pool broke: {exc}"
            self._declare_dead(gen, reason)
            return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier pool failed during the call ({reason})"[:300])
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - anything else pebble may raise stays on this item
            return Verdict(0.0, Status.VERIFIER_ERROR, f"could not run verifier: {_describe(exc)}")
        try:
            return Verdict.from_dict(pickle.loads(data))
        except Exception as exc:  # noqa: BLE001
            return Verdict(0.0, Status.VERIFIER_ERROR, f"unreadable verdict from the worker: {_describe(exc)}")

    async def _live_generation(self) -> _Generation | str:
        # Waits out a start or a rebuild (the watchdog does them); gives up at once when starting failed and the
        # watchdog is backing off, so callers get an answer instead of queueing on a pool that cannot work.
        deadline = time.monotonic() + self._start_wait_s
        while True:
            if self._closed.is_set():
                return "the pool is closed"
            gen = self._gen
            if gen.live:
                return gen
            if gen.started.done() and gen.started.exception() is not None:
                return f"workers could not start: {_describe(gen.started.exception())}"
            if time.monotonic() > deadline:
                return gen.death or "workers are still starting"
            await asyncio.sleep(0.02)

    # -- health ---------------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Whether the pool can run verifiers now: ``healthy``, ``reason``, ``rebuilds``, ``generation``, ``workers``.

        Checked live (pebble's threads and status, the forkserver), so a death shows up before the watchdog acts.
        """
        gen = self._gen
        if self._closed.is_set():
            healthy, reason = False, "the pool is closed"
        elif gen.death is not None:
            healthy, reason = False, f"rebuilding: {gen.death}"
        elif not gen.started.done():
            healthy, reason = False, "starting" if gen.number == 1 else f"rebuilding: {self._last_failure}"
        elif gen.started.exception() is not None:
            healthy, reason = False, f"workers could not start: {_describe(gen.started.exception())}"
        else:
            fault = self._fault(gen)
            if fault is not None:
                self._wake.set()
            healthy, reason = fault is None, fault or "ok"
        return {
            "healthy": healthy,
            "reason": reason,
            "rebuilds": self._rebuilds,
            "generation": gen.number,
            "workers": self.workers,
            "last_failure": self._last_failure or None,
        }

    def wait_ready(self, timeout: float) -> bool:
        """Block until the pool can run verifiers (True) or ``timeout`` seconds pass (False); for server startup."""
        deadline = time.monotonic() + timeout
        while not self.health()["healthy"]:
            if time.monotonic() > deadline or self._closed.is_set():
                return False
            time.sleep(0.02)
        return True

    def _fault(self, gen: _Generation) -> str | None:
        """What is broken in a started generation, or None."""
        pool = gen.pool
        if pool is None:
            return "no pebble pool"
        # The forkserver first: its death is the root cause of pebble's error state that follows it.
        if gen.forkserver_pid is not None and not _child_alive(gen.forkserver_pid):
            return f"forkserver process {gen.forkserver_pid} died"
        if not pool.active:  # pebble turns ERROR when one of its threads died or it gave up on its workers
            dead = [t.name for t in getattr(pool, "_loops", ()) if not t.is_alive()]
            return f"pebble pool stopped working (threads ended: {', '.join(dead) or 'none'})"
        return None

    def _declare_dead(self, gen: _Generation, reason: str) -> None:
        if gen.kill(reason):
            log.error("verifier pool generation %d failed: %s", gen.number, reason)
            self._last_failure = reason
        self._wake.set()

    # -- the watchdog -----------------------------------------------------------------------------------------

    def _watch(self) -> None:
        backoff = 0.0
        while not self._closed.is_set():
            gen = self._gen
            if gen.pool is None or gen.death is not None:
                if gen.death is not None:  # a replacement, not the first start
                    lived = time.monotonic() - gen.started_at if gen.started_at is not None else 0.0
                    backoff = 0.0 if lived > _SHORT_LIFE_S else min(_MAX_BACKOFF_S, max(0.5, 2 * backoff))
                    if backoff and self._closed.wait(backoff):
                        return
                self._start_generation(gen)
                continue
            fault = self._fault(gen) if gen.live else None
            if fault is not None:
                self._declare_dead(gen, fault)
                continue
            self._wake.wait(_WATCH_INTERVAL_S)
            self._wake.clear()

    def _start_generation(self, old: _Generation) -> _Generation:
        """Replace ``old`` (never started, dead, or failed to start) with a started generation."""
        gen = old if old.pool is None and old.death is None else _Generation(old.number + 1)
        if gen is not old:
            old.kill(old.death or "replaced")
            self._rebuilds += 1
            if old.pool is not None:
                self._teardown(old.pool)
        with self._lock:
            if self._closed.is_set():
                return old
            self._gen = gen
        try:
            # Restarts the forkserver when it died (multiprocessing checks with waitpid); a live one is kept.
            multiprocessing.forkserver.ensure_running()
            gen.forkserver_pid = _forkserver_pid()
            gen.pool = ProcessPool(
                max_workers=self.workers,
                context=self._context,
                initializer=_init_worker,
                initargs=(self._memory_mb, self._preload, gen.forkserver_pid),
            )
            if not gen.pool.active:  # starts pebble's threads and forks the workers
                raise RuntimeError("pebble pool did not start")
        except Exception as exc:  # noqa: BLE001 - e.g. fork failing under memory pressure; retried with backoff
            log.error("could not start verifier workers: %s", _describe(exc))
            self._last_failure = f"could not start workers: {_describe(exc)}"
            gen.started.set_exception(exc)
            gen.kill(self._last_failure)
            return gen
        gen.started_at = time.monotonic()
        gen.started.set_result(None)
        if gen.number > 1:
            log.warning("verifier pool rebuilt (generation %d)", gen.number)
        with self._lock:
            closed = self._closed.is_set()
        if closed:  # close() ran while we were starting and may have missed this pool
            gen.kill("the pool is closed")
            _stop_pool(gen.pool)
        return gen

    def _teardown(self, pool: ProcessPool) -> None:
        thread = threading.Thread(target=_stop_pool, args=(pool,), name="aha-pool-teardown", daemon=True)
        thread.start()
        self._teardowns = [t for t in self._teardowns if t.is_alive()] + [thread]

    # -- shutdown -------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the workers (used at server shutdown); calls still waiting get a verifier_error verdict."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        self._wake.set()
        self._watchdog.join(timeout=_TEARDOWN_WAIT_S)
        gen = self._gen
        gen.kill("the pool is closed")
        if gen.pool is not None:
            self._teardown(gen.pool)
        deadline = time.monotonic() + _TEARDOWN_WAIT_S
        for thread in self._teardowns:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


def _describe(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}"[:250]
