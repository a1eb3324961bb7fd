"""The shared vocabulary of every verifier: what goes in (`Attempt`) and what comes out (`Verdict`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Why a verdict has the score it has. Statuses in `UNDECIDED_STATUSES` mean "could not judge"."""

    CORRECT = "correct"
    WRONG = "wrong"
    PARTIAL = "partial"
    NO_ANSWER = "no_answer"
    UNPARSEABLE_REFERENCE = "unparseable_reference"
    INVALID_REFERENCE = "invalid_reference"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    SANDBOX_ERROR = "sandbox_error"
    VERIFIER_ERROR = "verifier_error"
    UNAVAILABLE = "unavailable"


# A verdict with one of these statuses is not a judgement of the completion: the engine reports it and gives the
# item no reward (null), so a trainer can skip it instead of learning from a silent 0.
UNDECIDED_STATUSES: frozenset[str] = frozenset(
    {
        Status.UNPARSEABLE_REFERENCE,
        Status.INVALID_REFERENCE,
        Status.TIMEOUT,
        Status.OUT_OF_MEMORY,
        Status.SANDBOX_ERROR,
        Status.VERIFIER_ERROR,
        Status.UNAVAILABLE,
    }
)



class CaseVerdict(StrEnum):
    """What happened to one test of a code item: `details.accuracy.tests[].verdict`."""

    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    RUNTIME_ERROR = "runtime_error"
    TIME_LIMIT = "time_limit"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    COMPILE_ERROR = "compile_error"
    SKIPPED = "skipped"  # not run: an earlier test failed and the reference stops at the first failure
    SANDBOX_ERROR = "sandbox_error"  # ours or the reference's setup, never the program's
    REFERENCE_INCOMPLETE = "reference_incomplete"  # the reference's test needs a helper it does not define


@dataclass(frozen=True)
class Attempt:
    """One completion to judge, with everything a verifier may use.

    `reference` is whatever the task's reference is (a string for math, a dict for code, None for format).
    `options` carries per-request verifier options (for example format tag names or a float tolerance).
    `deadline_s`, when set, is the wall time the caller grants this judgement (the engine's hard deadline): a
    verifier that runs out of it should answer for what it has rather than be killed. It is not part of the verdict
    and never of the cache key.
    """

    completion: str
    reference: Any = None
    prompt: str | None = None
    language: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    deadline_s: float | None = None


@dataclass(frozen=True)
class Verdict:
    """The judgement of one attempt by one verifier.

    `score` is the component value (usually in [0, 1]); `status` is a `Status` value; `reason` is one line a human
    can read; `details` is JSON-serialisable (extracted answer, per-test results, ...).
    """

    score: float
    status: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        """True when the verifier judged the completion (its score means something)."""
        return self.status not in UNDECIDED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, the one the cache stores and the workers send back."""
        return {"score": self.score, "status": str(self.status), "reason": self.reason, "details": self.details}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Inverse of `to_dict`."""
        return cls(
            score=float(data["score"]),
            status=str(data["status"]),
            reason=str(data["reason"]),
            details=dict(data.get("details") or {}),
        )
