"""A verifier that allocates memory without bound: the engine must contain it to its item."""

from verifiers.verdict import Attempt, Verdict

NAME = "hog"
VERSION = "1"


def cache_key(attempt: Attempt) -> str:
    return attempt.completion


def verify(attempt: Attempt) -> Verdict:
    blocks = []
    while True:
        blocks.append(bytearray(64 * 1024 * 1024))
