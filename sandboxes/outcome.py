"""What both backends do the same at the end of a run: cap what it wrote, and judge how it ended.

A backend pumps the program's streams its own way (pipes for bwrap, Docker's multiplexed socket) into a `Captured`,
then hands its exit code, accounting and OOM evidence to `classify`: the statuses mean the same on every backend.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandboxes.types import Limits, RunResult, RunStatus

# Messages runtimes print when an allocation fails under RLIMIT_AS / -Xmx, so that case reads as memory_limit.
OOM_MARKERS = (
    b"MemoryError",
    b"std::bad_alloc",
    b"java.lang.OutOfMemoryError",
    b"fatal error: runtime: out of memory",
    b"memory allocation of",
    b"JavaScript heap out of memory",
    b"Cannot allocate memory",
)

WALL = "wall"  # `Captured.killed_reason` when the wall clock ran out
OUTPUT = "output"  # ... when stdout went past its cap


@dataclass
class Captured:
    """What a run wrote, each stream capped, and why we stopped it if we did (`WALL`, `OUTPUT` or "")."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    killed_reason: str = ""

    def take_stdout(self, chunk: bytes, cap: int) -> bool:
        """Keep `chunk` of stdout up to `cap` bytes in all; False when it went past (the run is to be killed)."""
        room = cap - len(self.stdout)
        self.stdout += chunk[:room]
        if len(chunk) > room:
            self.stdout_truncated = True
            self.killed_reason = OUTPUT
            return False
        return True

    def take_stderr(self, chunk: bytes, cap: int) -> None:
        """Keep `chunk` of stderr up to `cap` bytes in all; the rest is dropped (and the stream still drained, so the
        program is never blocked on it)."""
        room = cap - len(self.stderr)
        self.stderr += chunk[: max(0, room)]
        if len(chunk) > room:
            self.stderr_truncated = True


def classify(
    out: Captured,
    limits: Limits,
    *,
    exit_code: int | None,
    wall_s: float,
    cpu_s: float,
    peak_memory_bytes: int | None,
    oom_killed: Callable[[], bool],
    no_exit: Callable[[], str],
    cpu_known: bool = True,
) -> RunResult:
    """The `RunResult` of a run, by the rules every backend shares.

    `exit_code` is as bwrap and docker report it (128+N for a child killed by signal N), None when the sandbox gave
    none; `oom_killed` says whether the memory limit killed something in the run (asked only when it matters);
    `no_exit` is the reason of the sandbox error when there is no exit code and no OOM kill to explain it.
    """
    common: dict[str, Any] = {
        "stdout": bytes(out.stdout),
        "stderr": bytes(out.stderr),
        "stdout_truncated": out.stdout_truncated,
        "stderr_truncated": out.stderr_truncated,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "peak_memory_bytes": peak_memory_bytes,
    }
    if out.killed_reason == WALL:
        return RunResult(RunStatus.TIME_LIMIT, reason=f"wall time limit {limits.wall_s:g}s", **common)
    if out.killed_reason == OUTPUT:
        return RunResult(RunStatus.OUTPUT_LIMIT, reason=f"stdout over {limits.output_bytes} bytes", **common)
    if exit_code is None:
        if oom_killed():
            # the memory limit took the sandbox's own process (a tmpfs full of files is charged to no process)
            return RunResult(RunStatus.MEMORY_LIMIT, reason=f"memory limit {limits.memory_mb} MiB", **common)
        return RunResult(RunStatus.SANDBOX_ERROR, reason=no_exit(), **common)
    if exit_code == 0:
        return RunResult(RunStatus.OK, exit_code=0, **common)
    return failed_exit(exit_code, limits, common, oom_killed=oom_killed(), cpu_known=cpu_known)


def failed_exit(
    code: int, limits: Limits, common: Mapping[str, Any], *, oom_killed: bool, cpu_known: bool = True
) -> RunResult:
    """The `RunResult` of a non-zero exit.

    `common` holds the fields every result carries (output, times, peak memory), of which `stderr` and `cpu_s` are
    read here.
    """
    stderr: bytes = common["stderr"]
    sig = code - 128 if code > 128 else None
    exit_code = None if sig else code
    if (
        oom_killed
        or (sig is None and any(m in stderr for m in OOM_MARKERS))
        or (sig == signal.SIGABRT and b"bad_alloc" in stderr)
    ):
        return RunResult(
            RunStatus.MEMORY_LIMIT,
            exit_code=exit_code,
            signal=sig,
            reason=f"memory limit {limits.memory_mb} MiB",
            **common,
        )
    # SIGXCPU is the kernel's at the CPU limit (RLIMIT_CPU); a cgroup's figure for the same run can read a few
    # percent lower under contention (seen: 0.93 s at a 1 s limit), so it is not asked for. A SIGKILL is the hard
    # CPU limit only with the CPU time to show for it (it may also be the wall clock or the OOM killer).
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_known and common["cpu_s"] >= limits.cpu_s * 0.95):
        return RunResult(RunStatus.TIME_LIMIT, signal=sig, reason=f"CPU time limit {limits.cpu_s:g}s", **common)
    if sig == signal.SIGXFSZ:
        return RunResult(
            RunStatus.OUTPUT_LIMIT, signal=sig, reason=f"file size limit {limits.file_size_mb} MiB", **common
        )
    return RunResult(RunStatus.RUNTIME_ERROR, exit_code=exit_code, signal=sig, **common)
