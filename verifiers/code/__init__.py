"""Code accuracy: run the completion's program against the reference's tests in the sandbox.

The reference: {"language": "python", "tests": [...], "fn_name"?, "time_limit_s"?, "memory_limit_mb"?,
"compare"?: "whitespace"|"exact"|"float", "score"?: "fraction"|"all", "abs_tol"?, "rel_tol"?,
"stop_at_first_failure"?}; a test is {"stdin", "stdout"}, {"args", "expected"} (with fn_name) or {"code"}.
See docs/code.md.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sandboxes import Sandbox, SandboxSettings, get_sandbox
from verifiers.code.extract import extract_program
from verifiers.code.judge import judge, test_wall_s, to_verdict
from verifiers.code.reference import Reference, ReferenceError_, parse_reference, reference_recipe
from verifiers.protocol import VerifierDefaults
from verifiers.tags import THINK_TAGS, think_prefilled
from verifiers.verdict import Attempt, Status, Verdict

NAME = "code"
VERSION = "1.1.5"
SANDBOXED = True  # its calls run programs: slow, so the engine lets fewer of them queue at once

__all__ = ["NAME", "VERSION", "budget_s", "cache_key", "verify", "extract_program", "parse_reference"]

_COMPILE_BUDGET_S = 30.0
_SLACK_S = 15.0
_ANSWER_MARGIN_S = 3.0


def _reference(attempt: Attempt) -> Reference:
    raw: Any = attempt.reference
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ReferenceError_(f"reference is not valid JSON: {exc}") from None
    if isinstance(raw, dict) and attempt.options.get("stop_at_first_failure") is not None:
        raw = {**raw, "stop_at_first_failure": attempt.options["stop_at_first_failure"]}  # checked as a bool below
    return parse_reference(raw)


def _prefilled(attempt: Attempt) -> bool:
    # The prompt opened the thought (a template that ends with <think>): the completion starts inside it.
    return think_prefilled({}, attempt.prompt, THINK_TAGS[0])


def cache_key(attempt: Attempt) -> str:
    """Hash of the extracted program and the canonical reference (never raises)."""
    try:
        raw = attempt.reference
        if isinstance(raw, str | bytes):
            raw = json.loads(raw)
        # The program is extracted as the verdict extracts it, with the recipe the reference names as its parser
        # reads it (a `"language": null` is python); an invalid reference judges every completion alike, so its
        # key needs no program.
        try:
            recipe = reference_recipe(raw) if isinstance(raw, dict) else None
        except ReferenceError_:
            recipe = None
        program = extract_program(attempt.completion, recipe, _prefilled(attempt)) if recipe is not None else None
        stop = attempt.options.get("stop_at_first_failure")
        blob = json.dumps([program, raw, stop], sort_keys=True, separators=(",", ":"), default=repr)
    except Exception:  # a key must always come back; an odd attempt gets a key of its raw text
        blob = repr((attempt.completion, attempt.reference))
    return hashlib.sha256(blob.encode("utf-8", "replace")).hexdigest()


def budget_s(attempt: Attempt) -> float:
    """Wall seconds the whole judgement may need: compile + every test's limits + slack."""
    try:
        ref = _reference(attempt)
    except Exception:
        return _SLACK_S
    per_test = test_wall_s(ref.time_limit_s) + 0.5
    compile_s = _COMPILE_BUDGET_S if ref.recipe.compile is not None else 0.0
    return compile_s + per_test * len(ref.tests) + _SLACK_S


def verify(attempt: Attempt, sandbox: Sandbox | None = None) -> Verdict:
    """Judge the completion's program against the reference's tests in `sandbox` (the caller's; without one, a
    sandbox of the environment's settings, built for this call: `CodeVerifier` is given the service's)."""
    try:
        ref = _reference(attempt)
    except ReferenceError_ as exc:
        return Verdict(0.0, Status.INVALID_REFERENCE, str(exc))
    program = extract_program(attempt.completion, ref.recipe, _prefilled(attempt))
    if program is None:
        return Verdict(0.0, Status.NO_ANSWER, f"no {ref.recipe.name} code block found", {"language": ref.recipe.name})
    try:
        # Stop a few seconds short of the engine's kill, so what was judged is answered, not lost to a timeout.
        deadline = time.monotonic() + attempt.deadline_s - _ANSWER_MARGIN_S if attempt.deadline_s else None
        outcome = judge(ref, program, sandbox or get_sandbox(), deadline=deadline)
    except Exception as exc:  # our bug, not the program's fault
        return Verdict(0.0, Status.SANDBOX_ERROR, f"{type(exc).__name__}: {exc}"[:300])
    return to_verdict(ref, outcome, program)


@dataclass(frozen=True)
class CodeVerifier(VerifierDefaults):
    """The code verifier as the engine registers it, with the sandbox settings the service was started with."""

    sandbox: SandboxSettings | None = None
    label = "verifiers.code"
    version = VERSION
    sandboxed = SANDBOXED
    # The module's own functions: one implementation, reached as methods.
    cache_key = staticmethod(cache_key)

    def verify(self, attempt: Attempt) -> Verdict:
        """See `verify`: in the sandbox of these settings."""
        return verify(attempt, get_sandbox(settings=self.sandbox))

    budget_s = staticmethod(budget_s)
