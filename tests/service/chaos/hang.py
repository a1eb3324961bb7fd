"""A verifier that never returns: the engine must kill it at the deadline."""

from verifiers.verdict import Attempt, Verdict

NAME = "hang"
VERSION = "1"


def cache_key(attempt: Attempt) -> str:
    return attempt.completion


def verify(attempt: Attempt) -> Verdict:
    while True:  # a C-level loop would be as bad; a pure spin is the simplest stand-in for a stuck sympy call
        pass
