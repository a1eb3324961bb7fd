"""A verifier that calls sys.exit(): SystemExit must stay in the worker, not come out of the pool in the server."""

import sys

from verifiers.verdict import Attempt, Verdict

NAME = "exits"
VERSION = "1"


def cache_key(attempt: Attempt) -> str:
    return attempt.completion


def verify(attempt: Attempt) -> Verdict:
    sys.exit(3)
