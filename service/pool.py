"""Verifier worker processes with a hard per-call deadline.

Pebble's ``ProcessPool`` kills the worker that runs past its timeout and starts a fresh one, which is exactly the
guarantee the engine needs: a stuck sympy call or a runaway allocation costs one item, never the batch and never
the event loop. Workers are forked from a forkserver that has pre-imported the verifiers, so a replacement worker
is ready in milliseconds and inherits none of the server's threads.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import resource
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout

from pebble import ProcessExpired, ProcessPool

from verifiers.verdict import Attempt, Status, Verdict

log = logging.getLogger("aha.pool")


def _init_worker(memory_mb: int, preload: Sequence[str]) -> None:
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


def call_verifier(module_path: str, attempt: Attempt) -> dict:
    """Run ``module.verify(attempt)`` inside a worker and return the verdict as a dict.

    Exceptions become verdicts here, so what crosses the process boundary is always plain data.
    """
    try:
        module = importlib.import_module(module_path)
        verdict = module.verify(attempt)
    except MemoryError:
        return Verdict(0.0, Status.OUT_OF_MEMORY, "verifier ran out of memory").to_dict()
    except RecursionError:
        return Verdict(0.0, Status.VERIFIER_ERROR, "verifier hit the recursion limit").to_dict()
    except Exception as exc:  # noqa: BLE001 - any verifier bug is reported on its item only
        return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier raised {type(exc).__name__}: {exc}"[:300]).to_dict()
    if not isinstance(verdict, Verdict):
        return Verdict(0.0, Status.VERIFIER_ERROR, f"verifier returned {type(verdict).__name__}").to_dict()
    return verdict.to_dict()


class VerifierPool:
    """A pool of verifier processes; ``await pool.run(module, attempt, timeout)`` never outlives ``timeout``."""

    def __init__(self, workers: int, memory_mb: int, preload: Sequence[str] = ()) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))
        self._pool = ProcessPool(
            max_workers=workers,
            context=context,
            initializer=_init_worker,
            initargs=(memory_mb, tuple(preload)),
        )
        self.workers = workers

    async def run(self, module_path: str, attempt: Attempt, timeout: float) -> Verdict:
        """Judge ``attempt`` with ``module_path`` in a worker, killing the worker after ``timeout`` seconds."""
        future = self._pool.schedule(call_verifier, args=(module_path, attempt), timeout=timeout)
        try:
            data = await asyncio.wrap_future(future)
        except FutureTimeout:
            return Verdict(0.0, Status.TIMEOUT, f"verifier exceeded its {timeout:g} s deadline; worker replaced")
        except ProcessExpired as exc:
            status = Status.OUT_OF_MEMORY if exc.exitcode in (-9, 137) else Status.VERIFIER_ERROR
            return Verdict(0.0, status, f"verifier process died (exit code {exc.exitcode}); worker replaced")
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. an attempt that cannot be pickled
            return Verdict(0.0, Status.VERIFIER_ERROR, f"could not run verifier: {type(exc).__name__}: {exc}"[:300])
        return Verdict.from_dict(data)

    def close(self) -> None:
        """Stop the workers (used at server shutdown)."""
        self._pool.stop()
        self._pool.join(timeout=5)
