"""The vocabulary of running untrusted code: limits in, a `RunResult` out, and the `Sandbox` protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sandboxes.config import SandboxSettings


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
    settings: SandboxSettings  # what it was built with (its program dirs belong under `settings.work_dir`)

    def run(self, spec: RunSpec) -> RunResult:  # pragma: no cover - protocol
        """Run `spec.argv` isolated, within `spec.limits`, and report how it ended. Never raises."""
        ...
