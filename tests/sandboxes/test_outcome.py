"""What both backends share at the end of a run: capped output and one classification of how it ended."""

from __future__ import annotations

import signal

from sandboxes import Limits, RunStatus
from sandboxes.outcome import OUTPUT, WALL, Captured, classify

LIMITS = Limits(cpu_s=2, wall_s=4, memory_mb=64, output_bytes=10)


def _classify(out: Captured, exit_code: int | None, *, oom: bool = False, cpu_s: float = 0.1):
    return classify(
        out,
        LIMITS,
        exit_code=exit_code,
        wall_s=0.5,
        cpu_s=cpu_s,
        peak_memory_bytes=None,
        oom_killed=lambda: oom,
        no_exit=lambda: "no exit",
    )


def test_caps() -> None:
    out = Captured()
    assert out.take_stdout(b"12345", 10) and out.take_stdout(b"67890", 10)
    assert not out.take_stdout(b"x", 10)
    assert bytes(out.stdout) == b"1234567890" and out.stdout_truncated and out.killed_reason == OUTPUT
    out.take_stderr(b"e" * 8, 5)
    out.take_stderr(b"more", 5)
    assert bytes(out.stderr) == b"eeeee" and out.stderr_truncated


def test_classification() -> None:
    assert _classify(Captured(), 0).status == RunStatus.OK
    assert _classify(Captured(killed_reason=WALL), None).status == RunStatus.TIME_LIMIT
    assert _classify(Captured(killed_reason=OUTPUT), 0).status == RunStatus.OUTPUT_LIMIT
    missing = _classify(Captured(), None)
    assert missing.status == RunStatus.SANDBOX_ERROR and missing.reason == "no exit"
    assert _classify(Captured(), None, oom=True).status == RunStatus.MEMORY_LIMIT
    assert _classify(Captured(), 128 + signal.SIGKILL, oom=True).status == RunStatus.MEMORY_LIMIT
    assert _classify(Captured(), 128 + signal.SIGKILL, cpu_s=1.99).status == RunStatus.TIME_LIMIT
    assert _classify(Captured(), 128 + signal.SIGKILL).status == RunStatus.RUNTIME_ERROR
    assert _classify(Captured(), 128 + signal.SIGXCPU).status == RunStatus.TIME_LIMIT
    assert _classify(Captured(), 128 + signal.SIGXFSZ).status == RunStatus.OUTPUT_LIMIT
    err = _classify(Captured(stderr=bytearray(b"MemoryError")), 1)
    assert err.status == RunStatus.MEMORY_LIMIT and err.exit_code == 1
    plain = _classify(Captured(), 3)
    assert (plain.status, plain.exit_code, plain.signal) == (RunStatus.RUNTIME_ERROR, 3, None)
