"""A verifier that reports which modules its worker had loaded before the call (the reference names them)."""

import sys

from verifiers.verdict import Attempt, Status, Verdict

NAME = "modules"
VERSION = "1"


def cache_key(attempt: Attempt) -> str:
    return str(attempt.reference)


def verify(attempt: Attempt) -> Verdict:
    wanted = str(attempt.reference).split()
    return Verdict(1.0, Status.CORRECT, "reported", {"loaded": [m for m in wanted if m in sys.modules]})
