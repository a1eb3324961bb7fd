"""A verifier that takes a fixed time per call (the completion says how long), as a sandboxed code item would."""

import time

from verifiers.verdict import Attempt, Status, Verdict

NAME = "slow"
VERSION = "1"
SANDBOXED = True  # stands in for a code item: slow calls


def cache_key(attempt: Attempt) -> str:
    return f"{attempt.completion}\0{attempt.reference}"


def verify(attempt: Attempt) -> Verdict:
    time.sleep(float(attempt.completion.split()[0]))
    return Verdict(1.0, Status.CORRECT, "slept")
