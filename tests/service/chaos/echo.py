"""A well-behaved custom verifier: correct when the completion equals the reference."""

from verifiers.verdict import Attempt, Status, Verdict

NAME = "echo"
VERSION = "1"


def cache_key(attempt: Attempt) -> str:
    return f"{attempt.completion}\0{attempt.reference}"


def verify(attempt: Attempt) -> Verdict:
    if attempt.completion.strip() == str(attempt.reference).strip():
        return Verdict(1.0, Status.CORRECT, "equal", {"pid_marker": True})
    return Verdict(0.0, Status.WRONG, "different")
