"""Math verifier: is the final answer of a completion equivalent to the reference?

Extraction, in order, inside the answer region (the last `<answer>` block, else the text after the last
`</think>`, else the whole completion; nothing when a `<think>` block is never closed):
the last balanced `\\boxed{}`/`\\fbox{}` (adjacent boxes form a list), a GSM8K `#### x` line,
"the (final) answer is ...", `Answer: ...`, a multiple-choice letter (when the reference is a letter A-E, or an
AMC-style `\\textbf{(A) }5`, where the letter or the value both count),
the last `**bold**`, and, for a short answer region, its last `$...$` span or the whole region.

Equivalence: exact rational arithmetic first (integers, decimals, fractions, mixed numbers, roots and powers of
rationals), then structure (tuples ordered, sets and answer lists unordered, intervals with bracket types and
unions, matrices, equations up to a non-zero factor, inequalities including flipped ones, `x = 3` vs `3`), then
numeric identity testing at fixed sample points with relative tolerances (mpmath when doubles are not enough).
LaTeX the fast parser does not know goes through latex2sympy2_extended, behind size guards.

Options (`Attempt.options`):
- `float_rel_tol` (float, default 1e-6): relative tolerance used only when a side contains a decimal literal.
- `budget_s` (float, default 1.0): internal time budget; when it runs out the verdict is `timeout`.
- `require_boxed` (bool, default False): only a `\\boxed{}` answer counts; anything else is `no_answer`.

Thread-safe and signal-free: the only shared state is immutable tables and a bounded LRU cache of parsed
references (pure function of the reference string, frozen results).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from verifiers.math.bridge import parse_with_latex2sympy
from verifiers.math.compare import Ctx, equivalent
from verifiers.math.evaluate import Budget, BudgetExceeded, Undecidable
from verifiers.math.extract import (
    extract_answer,
    mc_letter,
    normalized_text,
    reference_answer,
    reference_choice,
    reference_mc_letter,
)
from verifiers.math.nodes import Node
from verifiers.math.parse import MAX_INPUT_CHARS, ParseError, parse
from verifiers.verdict import Attempt, Status, Verdict

NAME = "math"
VERSION = "1.0.0"

DEFAULT_FLOAT_REL_TOL = 1e-6
DEFAULT_BUDGET_S = 1.0
MAX_REFERENCE_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class Options:
    """Validated per-request options (unknown keys are ignored, bad values fall back to the defaults)."""

    float_rel_tol: float = DEFAULT_FLOAT_REL_TOL
    budget_s: float = DEFAULT_BUDGET_S
    require_boxed: bool = False

    @staticmethod
    def from_mapping(raw: Mapping[str, Any] | None) -> Options:
        """Read the options this verifier supports from `Attempt.options`."""
        if not raw:
            return _DEFAULT_OPTIONS
        tol = raw.get("float_rel_tol", DEFAULT_FLOAT_REL_TOL)
        budget = raw.get("budget_s", DEFAULT_BUDGET_S)
        boxed = raw.get("require_boxed", False)
        if not isinstance(tol, int | float) or isinstance(tol, bool) or not (0 <= tol < 1) or math.isnan(tol):
            tol = DEFAULT_FLOAT_REL_TOL
        if not isinstance(budget, int | float) or isinstance(budget, bool) or not (0.01 <= budget <= 30):
            budget = DEFAULT_BUDGET_S
        return Options(float(tol), float(budget), boxed is True)


_DEFAULT_OPTIONS = Options()


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference answer, parsed once."""

    text: str
    letter: str | None
    node: Node | None
    error: str | None


# Bounded cache of a pure function of an immutable string, returning a frozen value: safe to share between
# threads, and it makes a GRPO group (many completions, one reference) parse its reference once.
@lru_cache(maxsize=4096)
def _reference(raw: str) -> Reference:
    text = reference_answer(raw)
    if not text:
        return Reference(text, None, None, "empty reference")
    letter = reference_mc_letter(text)
    if letter is not None:
        # `\textbf{(A) }5`: the letter or the value both count.
        choice = reference_choice(text)
        node = _parse_any(choice[1])[0] if choice is not None else None
        return Reference(text, letter, node, None)
    node, err = _parse_any(text)
    return Reference(text, None, node, err)


def _parse_any(text: str) -> tuple[Node | None, str | None]:
    try:
        return parse(text), None
    except ParseError as e:
        if len(text) > MAX_INPUT_CHARS:
            return None, str(e)
        node = parse_with_latex2sympy(text)
        return (node, None) if node is not None else (None, str(e))
    except RecursionError:
        return None, "expression nested too deeply"


def _reference_string(reference: Any) -> str | None:
    if isinstance(reference, str):
        return reference
    if isinstance(reference, bool) or reference is None:
        return None
    if isinstance(reference, int | float):
        return repr(reference)
    return None


def cache_key(attempt: Attempt) -> str:
    """The extracted answer, the reference and the options that matter: all the verdict depends on."""
    try:
        opts = Options.from_mapping(attempt.options)
        ref = _reference_string(attempt.reference)
        ref_text = "" if ref is None else ref[:MAX_REFERENCE_CHARS]
        mc = reference_mc_letter(reference_answer(ref_text)) is not None if ref is not None else False
        found = extract_answer(attempt.completion, mc=mc, require_boxed=opts.require_boxed)
        answer = "\x00none" if found is None else found.text
        return f"{answer}\x1f{ref_text}\x1f{opts.float_rel_tol!r}\x1f{opts.budget_s!r}\x1f{opts.require_boxed}"
    except Exception:  # noqa: BLE001 - must never raise: fall back to a key of the whole attempt
        return f"\x00raw\x1f{attempt.completion!r}\x1f{attempt.reference!r}\x1f{sorted(map(str, attempt.options))}"


def budget_s(attempt: Attempt) -> float:
    """Wall time the engine should allow: the internal budget plus a margin for process overhead."""
    return Options.from_mapping(attempt.options).budget_s + 1.0


def _verdict(status: Status, reason: str, details: dict[str, Any]) -> Verdict:
    score = 1.0 if status == Status.CORRECT else 0.0
    return Verdict(score=score, status=str(status), reason=reason, details=details)


def verify(attempt: Attempt) -> Verdict:
    """Judge the completion's final answer against the reference."""
    try:
        return _verify(attempt)
    except Exception as e:  # noqa: BLE001 - a bug here must be reported, not crash the worker
        return _verdict(Status.VERIFIER_ERROR, f"math verifier error: {type(e).__name__}", {"extracted": None})


def _verify(attempt: Attempt) -> Verdict:
    start = time.monotonic()
    opts = Options.from_mapping(attempt.options)
    budget = Budget(start + opts.budget_s)
    raw_ref = _reference_string(attempt.reference)
    if raw_ref is None or len(raw_ref) > MAX_REFERENCE_CHARS:
        return _verdict(Status.UNPARSEABLE_REFERENCE, "reference is not a math answer string", {"extracted": None})
    ref = _reference(raw_ref)
    found = extract_answer(attempt.completion, mc=ref.letter is not None, require_boxed=opts.require_boxed)
    details: dict[str, Any] = {"extracted": None if found is None else found.text[:200], "reference": ref.text[:200]}
    if not ref.text:
        return _verdict(Status.UNPARSEABLE_REFERENCE, "reference is empty", details)
    if found is None:
        why = "no boxed answer" if opts.require_boxed else "no final answer found"
        return _verdict(Status.NO_ANSWER, why, details)
    answer = found.text
    if ref.letter is not None:
        letter = mc_letter(answer)
        details["choice"] = letter
        if letter is None and ref.node is not None:
            return _judge(ref.node, answer, opts, budget, details)
        if letter is None:
            return _verdict(Status.WRONG, f"answer is not a choice letter (expected {ref.letter})", details)
        ok = letter.upper() == ref.letter
        return _verdict(Status.CORRECT if ok else Status.WRONG, f"choice {letter} vs {ref.letter}", details)
    if normalized_text(answer) == normalized_text(ref.text):
        return _verdict(Status.CORRECT, "answer matches the reference exactly", details)
    if ref.node is None:
        return _verdict(Status.UNPARSEABLE_REFERENCE, f"cannot parse reference: {ref.error}", details)
    return _judge(ref.node, answer, opts, budget, details)


def _judge(ref_node: Node, answer: str, opts: Options, budget: Budget, details: dict[str, Any]) -> Verdict:
    ans_node, err = _parse_any(answer)
    if ans_node is None:
        return _verdict(Status.WRONG, f"cannot parse answer: {err}", details)
    ctx = Ctx(float_rel_tol=opts.float_rel_tol, budget=budget)
    try:
        ok = equivalent(ref_node, ans_node, ctx)
    except BudgetExceeded:
        return _verdict(Status.TIMEOUT, f"no verdict within the {opts.budget_s:g} s budget", details)
    except Undecidable as e:
        return _verdict(Status.TIMEOUT, f"no verdict: {e}", details)
    except RecursionError:
        return _verdict(Status.TIMEOUT, "expression nested too deeply to compare", details)
    if ok:
        return _verdict(Status.CORRECT, "answer is equivalent to the reference", details)
    return _verdict(Status.WRONG, "answer is not equivalent to the reference", details)
