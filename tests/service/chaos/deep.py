"""A verifier whose verdict details are nested too deep to pickle: the worker must still answer."""

from verifiers.verdict import Attempt, Status, Verdict

NAME = "deep"
VERSION = "1"


def cache_key(attempt: Attempt) -> str:
    return attempt.completion


def verify(attempt: Attempt) -> Verdict:
    nested: object = 1
    for _ in range(5000):
        nested = [nested]
    return Verdict(1.0, Status.CORRECT, "deep", {"nested": nested})
