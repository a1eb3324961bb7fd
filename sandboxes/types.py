"""The vocabulary of running untrusted code: limits in, a `RunResult` out, and the `Sandbox` protocol."""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class RunStatus(StrEnum):
    """How a run ended. Only `SANDBOX_ERROR` is our fault; the others describe the program."""

    OK = "ok"  # exited with status 0
    RUNTIME_ERROR = "runtime_error"  # non-zero exit or killed by a signal it brought on itself
    TIME_LIMIT = "time_limit"  # CPU or wall limit reached, killed
    MEMORY_LIMIT = "memory_limit"  # the memory limit killed it (or it died of an allocation failure)
    OUTPUT_LIMIT = "output_limit"  # wrote more stdout than the cap, killed
    SANDBOX_ERROR = "sandbox_error"  # the sandbox itself failed: no judgement of the program


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run. Sizes in MiB unless the name says bytes."""

    cpu_s: float = 10.0
    wall_s: float = 20.0
    memory_mb: int = 512
    pids: int = 64
    output_bytes: int = 1 << 20  # per stream; stdout past it kills the run, stderr past it is dropped
    file_size_mb: int = 64
    open_files: int = 256
    stack_mb: int = 256
    tmpfs_mb: int = 128


@dataclass(frozen=True)
class RunResult:
    """What one sandboxed run did."""

    status: RunStatus
    exit_code: int | None = None
    signal: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_memory_bytes: int | None = None
    reason: str = ""  # why, for sandbox_error and limits; empty otherwise

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (outputs decoded leniently)."""
        return {
            "status": str(self.status),
            "exit_code": self.exit_code,
            "signal": self.signal,
            "stdout": self.stdout.decode("utf-8", "replace"),
            "stderr": self.stderr.decode("utf-8", "replace"),
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "wall_s": round(self.wall_s, 4),
            "cpu_s": round(self.cpu_s, 4),
            "peak_memory_bytes": self.peak_memory_bytes,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Mount:
    """A host directory made visible inside the sandbox at `target`."""

    source: Path
    target: str
    writable: bool = False


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs. `box` is the program's directory, mounted at `/box`."""

    argv: Sequence[str]
    box: Path | None = None
    box_writable: bool = False
    cwd: str = "/tmp"
    stdin: bytes = b""
    env: Mapping[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    language: str | None = None  # selects toolchain mounts (bwrap) or the image (docker)


class Sandbox(Protocol):
    """A place to run untrusted programs. Implementations must be safe to call from many threads."""

    name: str

    def run(self, spec: RunSpec) -> RunResult:  # pragma: no cover - protocol
        """Run `spec.argv` isolated, within `spec.limits`, and report how it ended. Never raises."""
        ...


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


def failed_exit(
    code: int, limits: Limits, common: Mapping[str, Any], *, oom_killed: bool, cpu_known: bool = True
) -> RunResult:
    """The `RunResult` of a non-zero exit, by the rules both backends share.

    `code` is the exit code as bwrap and docker report it (128+N for a child killed by signal N); `common` holds the
    fields every result carries (output, times, peak memory), of which `stderr` and `cpu_s` are read here.
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
