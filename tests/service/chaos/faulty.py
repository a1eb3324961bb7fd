"""A verifier with bugs: cache_key raises on some inputs, verify raises or returns the wrong type on others."""

from verifiers.verdict import Attempt, Status, Verdict

NAME = "faulty"
VERSION = "1"


def cache_key(attempt: Attempt) -> str:
    if attempt.completion == "bad-key":
        raise KeyError("no key for you")
    return attempt.completion


def verify(attempt: Attempt) -> Verdict:
    if attempt.completion == "raise":
        raise ZeroDivisionError("boom")
    if attempt.completion == "wrong-type":
        return 1.0  # type: ignore[return-value]
    return Verdict(1.0, Status.CORRECT, "fine")
