"""A verifier that announces its worker's pid in the file named by the reference, then sleeps: fault tests kill it."""

import os
import time
from pathlib import Path

from verifiers.verdict import Attempt, Status, Verdict

NAME = "sleeper"
VERSION = "1"


def cache_key(attempt: Attempt) -> str:
    return f"{attempt.completion}\0{attempt.reference}"


def verify(attempt: Attempt) -> Verdict:
    path = Path(str(attempt.reference))
    path.with_suffix(".tmp").write_text(str(os.getpid()))
    path.with_suffix(".tmp").rename(path)  # atomic: the test never reads a half-written pid
    time.sleep(120)
    return Verdict(1.0, Status.CORRECT, "slept")
