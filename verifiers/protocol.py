"""What a verifier module offers the engine.

A verifier is a module (or object) with:
- `NAME: str` and `VERSION: str` (bump VERSION whenever a verdict could change: it is part of the cache key);
- `cache_key(attempt: Attempt) -> str`: a cheap, deterministic string of exactly what the verdict depends on
  (for math: the extracted answer and the reference; for code: the extracted program and the reference), so a GRPO
  group that repeats an answer is judged once. It must run in well under a millisecond for a bounded input and
  never raise;
- `verify(attempt: Attempt) -> Verdict`: the judgement. Pure: no global mutable state, no signals, thread-safe.
- optionally `budget_s(attempt: Attempt) -> float`: how many seconds of wall time a verdict may need (a code item
  with 50 tests needs more than a math item). The engine's hard per-item deadline is the smaller of this and its
  configured maximum; without it the engine's default per-item deadline applies.
- optionally `SANDBOXED: bool`: true when a call runs programs (seconds, not milliseconds); the engine then lets
  fewer such calls queue in the pool at once, so they cannot hold other requests' quick items for long.
"""

from __future__ import annotations

from typing import Protocol

from verifiers.verdict import Attempt, Verdict


class Verifier(Protocol):
    """Structural type of a verifier module."""

    NAME: str
    VERSION: str

    def cache_key(self, attempt: Attempt) -> str:  # pragma: no cover - protocol
        """The part of the attempt the verdict depends on."""
        ...

    def verify(self, attempt: Attempt) -> Verdict:  # pragma: no cover - protocol
        """Judge the attempt."""
        ...
