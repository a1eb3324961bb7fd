"""Run slots shared by every process on the host: `fcntl` locks on N slot files.

The engine judges from several worker processes and the server runs `/run_code` itself, so an in-process
semaphore would not bound the machine. A lock held by a process that dies is released by the kernel, so a
killed worker never leaks a slot.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

# Threads of this process waiting for a slot wake up as soon as one of ours is released; releases by other
# processes are still found by polling.
_RELEASED = threading.Condition()


class SlotTimeout(Exception):
    """No slot became free within the wait limit."""


@contextlib.contextmanager
def run_slot(n: int, root: Path, timeout_s: float = 600.0) -> Iterator[int]:
    """Hold one of `n` machine-wide slots (lock files in `root`) for the duration; yields the slot index."""
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    deadline = time.monotonic() + timeout_s
    fds: dict[int, int] = {}
    delay = 0.001
    try:
        while True:
            order = list(range(n))
            random.shuffle(order)  # spread contention instead of everyone fighting over slot 0
            for i in order:
                if i not in fds:
                    fds[i] = os.open(Path(root) / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                try:
                    fcntl.flock(fds[i], fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield i
                finally:
                    fcntl.flock(fds[i], fcntl.LOCK_UN)
                    with _RELEASED:
                        _RELEASED.notify()
                return
            if time.monotonic() > deadline:
                raise SlotTimeout(f"no sandbox slot free after {timeout_s:.0f}s ({n} slots)")
            with _RELEASED:
                _RELEASED.wait(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.004)  # short: a slot freed by another process must not sit idle
    finally:
        for fd in fds.values():
            os.close(fd)
