"""Math verifier: is the final answer of a completion equivalent to the reference?

Answer region: with a thought (a `</think>`, a `<think>`, or a prompt that pre-filled the opening tag), the text
after the last `</think>`, cut where a new `<think>` is opened, and in it the last `<answer>` block if any; a thought
that is never closed means no answer, and an `<answer>` block inside the thought never counts. Without a thought,
the last `<answer>` block, else the whole completion.
Extraction, in order, inside the answer region:
the last balanced `\\boxed{}`/`\\fbox{}` (adjacent boxes form a list), a GSM8K `#### x` line,
"the (final) answer is ...", `Answer: ...`, a multiple-choice letter (when the reference is a letter A-E, or an
AMC-style `\\textbf{(A) }5`, where the letter or the value both count; a second letter, `C or D`, is a hedge and
wrong), the last `**bold**`, and, for a short answer region, its last `$...$` span or the whole region. Words after
a number are dropped as a unit unless they join alternatives (`3 or four`). An answer longer than 2000 characters
once its runs of spacing are collapsed is wrong: it is never judged by a prefix.

Equivalence: exact rational arithmetic first (integers, decimals, fractions, mixed numbers, roots and powers of
rationals), then structure (tuples ordered, sets and answer lists unordered, intervals with bracket types and
unions, matrices, equations up to a non-zero factor, inequalities including flipped ones, `x = 3` vs `3`), then
numeric identity testing at fixed sample points, generic ones then large-magnitude ones, with relative tolerances
(mpmath when doubles are not enough); the answer may not use a variable the reference does not have (against a
constant `3`, `\\max(x, 3)` is wrong). A unit after a number is dropped with its exponent (`12\\text{ cm}^2` is
12), a currency sign or unit does not hide thousands separators (`\\$1,200` is 1200), and numbers side by side
(`2 6`) are not a product (only a mixed number `2\\frac{1}{2}` joins two numbers).
LaTeX the fast parser does not know goes through latex2sympy2_extended (SLL prediction), behind size guards.

Hard shapes (issue 12), all with near misses in `tests/verifiers/math/shapes.jsonl`:
- exact values are exact: two exact expressions that agree in doubles are confirmed at 200 bits
  (`\\sqrt{2000000000002}` is not `1000000\\sqrt{2}`);
- rounded decimals (`rounded_decimals`): a decimal with at least 3 significant digits that is the exact reference
  correctly rounded at its own number of decimals (`71.43` for 500/7, `8.33\\%` for 1/12; never `71.42`, never
  `3.3` for 10/3, never an integer) is correct; `rounded_decimals="auto"` asks for a sign that the value is rounded
  first, `"never"` turns the rule off;
- labels: `a = 4, b = 9`, `(x, y, z) = (3, 1, 2)`, `x = y = \\frac{1}{3}`, `Max: 10, Min: 2`, `u(1) = 0`, `AB = 4`
  stand for their values against an unlabelled side, and labels must agree when both sides have them;
- dummy variables (`renaming`): a function's argument (`g(t) = 3t - 1` for `g(x) = 3x - 1`), an integer
  parameter (k, n, m, j), the free parameter of a point; never onto a name the other side already uses;
- sets: set-builder `\\{x \\mid ...\\}` (and, or, `\\setminus` points), `x < 2 or x = 4`, `x \\ne 1`,
  `2 \\le |w| \\le 3`, `t \\in S` and a reference `condition : interval` compare as sets of values; a list of
  overlapping conditions is ambiguous and matches nothing;
- units: a number with a unit of the right kind but not the one asked for (by the reference's own unit, else
  "in km/h", "how many feet" in the question) is wrong: `\\frac{600}{7}\\text{ m/s}` for a speed asked in km/h;
- words (`sentence_number`): ordinals, `28 percent`, units, and a sentence stating exactly one value with no
  hedging or bounding word (`The smallest $k$ is 12.`; no substring matching of word answers);
- `\\pm` in sets, lists and points; thousands written `12 345`, `12,\\!345`; ratios `10:3` (not `4:30`);
- chains `x = 2 + 3 = 5` (every step must equal the value); an equation against its solved form (`uv = 12` vs
  `v = \\frac{12}{u}`: the same solutions), and a bare value of the unknown the question names (`solve for v`);
- damaged text (form feeds and tabs that were `\\f` and `\\t`, `\\neq` split by a newline, doubled backslashes, HTML,
  full-width and circled characters) is repaired on both sides before parsing.

Options (`Attempt.options`):
- `float_rel_tol` (float, default 0: off): relative tolerance used only when a side contains a decimal literal;
  without it a decimal is the exact value it writes (`2^{1009} - 1.0` is not `2^{1009}`), and rounding is judged
  by the rounding rules (a rounded answer: `rounded_decimals`; a rounded reference: `12.5663706` for `4\\pi`).
- `budget_s` (float, default 1.0): internal time budget; when it runs out the verdict is `timeout`.
- `require_boxed` (bool, default False): only a `\\boxed{}` answer counts; anything else is `no_answer`.
- `rounded_decimals` ("always"/true default, "auto", "never"/false): when a correctly rounded decimal counts;
  "auto" accepts it only when the question asks for a rounding, the answer says `\\approx`, or the reference
  gives `exact \\approx decimal`.
- `renaming` (bool, default True) and `sentence_number` (bool, default True): false turns those rules off.
- `think_tags` (`[open, close]`, default `<think>`/`</think>`) and `think_prefilled` (the prompt ended with the
  opening tag; inferred from the prompt when absent), as the format verifier reads them.

Thread-safe and signal-free: the only shared state is immutable tables and a bounded LRU cache of parsed
references (pure function of the reference string, frozen results).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from verifiers.math.bridge import parse_with_latex2sympy
from verifiers.math.compare import Ctx, equivalent
from verifiers.math.evaluate import Budget, BudgetExceeded, Undecidable, free_symbols
from verifiers.math.extract import (
    MAX_ANSWER_CHARS,
    TOO_LONG,
    Extracted,
    extract_answer,
    mc_letter,
    normalized_text,
    reference_answer,
    reference_choice,
    reference_mc_letter,
)
from verifiers.math.nodes import Node, Text
from verifiers.math.parse import MAX_INPUT_CHARS, AmbiguousAnswer, ParseError, parse
from verifiers.math.repair import repair
from verifiers.math.sentence import sentence_value
from verifiers.math.units import asked_unit, unit_conflict, without_unit
from verifiers.protocol import VerifierDefaults
from verifiers.tags import THINK_TAGS, tag_pair, think_prefilled
from verifiers.verdict import Attempt, Status, Verdict

NAME = "math"
VERSION = "1.2.2"

# Imported by the worker pool before it forks: the fallback parser is loaded once, not per worker.
PRELOAD = ("verifiers.math.warm",)

DEFAULT_FLOAT_REL_TOL = 0.0
DEFAULT_BUDGET_S = 1.0
MAX_REFERENCE_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class Options:
    """Validated per-request options. A malformed value raises ValueError (the verdict is then
    `invalid_reference`, never a silent default); which keys exist is the service's check."""

    float_rel_tol: float = DEFAULT_FLOAT_REL_TOL
    budget_s: float = DEFAULT_BUDGET_S
    require_boxed: bool = False
    rounded_decimals: str = "always"
    renaming: bool = True
    sentence_number: bool = True

    @staticmethod
    def from_mapping(raw: Mapping[str, Any] | None) -> Options:
        """Read the options this verifier supports from `Attempt.options`; raises ValueError on a bad value."""
        if not raw:
            return _DEFAULT_OPTIONS
        tol = _number(raw, "float_rel_tol", DEFAULT_FLOAT_REL_TOL, 0.0, 0.5)  # 1.0 would accept any number
        budget = _number(raw, "budget_s", DEFAULT_BUDGET_S, 0.01, 30.0)
        rounding = raw.get("rounded_decimals", "always")
        if isinstance(rounding, bool):
            rounding = "always" if rounding else "never"
        if rounding not in ("auto", "always", "never"):
            raise ValueError(f"rounded_decimals must be 'always', 'auto', 'never', true or false, not {rounding!r}")
        flags = []
        for key, default in (("require_boxed", False), ("renaming", True), ("sentence_number", True)):
            value = raw.get(key, default)
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false, not {value!r}")
            flags.append(value)
        return Options(tol, budget, flags[0], rounding, flags[1], flags[2])


def _number(raw: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = raw.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not (low <= value <= high):
        raise ValueError(f"{key} must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


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
    text = reference_answer(repair(raw))
    if not text:
        return Reference(text, None, None, "empty reference")
    letter = reference_mc_letter(text)
    if letter is not None:
        # `\textbf{(A) }5`: the letter or the value both count.
        choice = reference_choice(text)
        node = _parse_any(choice[1])[0] if choice is not None else None
        return Reference(text, letter, node, None)
    node, err = _parse_any(text, reference=True)
    if node is not None and free_symbols(node):
        # `576\\pi\\;m^{2}`: a unit written as bare letters, not a variable, when the value without it is a number
        bare = without_unit(repair(text))
        if bare is not None and bare.strip():
            plain, _ = _parse_any(bare, reference=True)
            if plain is not None and not free_symbols(plain):
                node = plain
    return Reference(text, None, node, err)


MAX_FALLBACK_DEPTH = 8


def _bracket_depth(text: str) -> int:
    """The deepest nesting of (), [] and {} in ``text`` (unbalanced closers are ignored)."""
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}" and depth:
            depth -= 1
    return deepest


def _parse_any(text: str, reference: bool = False) -> tuple[Node | None, str | None]:
    try:
        return parse(text, reference), None
    except AmbiguousAnswer as e:
        return None, str(e)
    except ParseError as e:
        if len(text) > MAX_INPUT_CHARS or _bracket_depth(text) > MAX_FALLBACK_DEPTH:
            # latex2sympy's parser backtracks exponentially in nesting: 20 nested pairs took seconds, and a wrong
            # answer that times out earns a null reward instead of its 0
            return None, str(e)
        node = parse_with_latex2sympy(text)
        return (node, None) if node is not None else (None, str(e))
    except RecursionError:
        return None, "expression nested too deeply"


def _reference_string(reference: Any) -> str | None:
    if isinstance(reference, str):
        # "nan" is what a missing value becomes when a data frame is written out, never a problem's answer
        return None if reference.strip().lower() == "nan" else reference
    if isinstance(reference, bool) or reference is None:
        return None
    if isinstance(reference, float) and not math.isfinite(reference):
        return None  # NaN or infinity as a JSON number: a missing value upstream, not an answer to compare with
    if isinstance(reference, int | float):
        return repr(reference)
    return None


def _think(attempt: Attempt) -> tuple[tuple[str, str], bool]:
    """The thought tags (`think_tags`, default `<think>`/`</think>`) and whether the prompt pre-filled the opening
    tag (`think_prefilled`, else inferred from the prompt), as the format verifier reads them; raises ValueError
    on a malformed option."""
    raw = attempt.options or {}
    think = tag_pair(raw.get("think_tags"), THINK_TAGS, "think_tags")
    return think, think_prefilled(raw, attempt.prompt, think[0])


def _extract(attempt: Attempt, mc: bool, opts: Options) -> Extracted | None:
    think, prefilled = _think(attempt)
    return extract_answer(attempt.completion, mc=mc, require_boxed=opts.require_boxed, think=think, prefilled=prefilled)


def cache_key(attempt: Attempt) -> str:
    """The extracted answer, the reference and the options that matter: all the verdict depends on."""
    try:
        opts = Options.from_mapping(attempt.options)
        ref = _reference_string(attempt.reference)
        if ref is not None and len(ref) > MAX_REFERENCE_CHARS:
            ref = None  # judged unparseable whatever the answer (never cached): no prefix may stand for it
        ref_text = "" if ref is None else ref
        mc = reference_mc_letter(reference_answer(ref_text)) is not None if ref is not None else False
        think, prefilled = _think(attempt)
        found = _extract(attempt, mc, opts)
        if found is None:
            answer = "\x00none"
        elif found.source == TOO_LONG:
            answer = "\x00too_long"
        else:
            answer = found.text
        # JSON, so no field's text can pass for a separator and shift the others
        fields = [answer, ref_text, ref is None, opts.float_rel_tol, opts.budget_s, opts.require_boxed]
        # the prompt matters only through the variable and the unit it asks for and (in "auto" mode) whether it
        # asks for a rounded value
        asks = opts.rounded_decimals == "auto" and _asks_rounded(attempt.prompt)
        fields += [opts.rounded_decimals, opts.renaming, opts.sentence_number, asks, _asked_unknown(attempt.prompt)]
        fields.append(asked_unit(attempt.prompt))  # "in feet" and "in meters" judge `12\\text{ m}` differently
        return json.dumps([*fields, think, prefilled], default=repr)
    except Exception:  # noqa: BLE001 - must never raise: fall back to a key of the whole attempt
        return (
            f"\x00raw\x1f{attempt.completion!r}\x1f{attempt.reference!r}\x1f{attempt.prompt!r}"
            f"\x1f{sorted(map(str, attempt.options))}"
        )


def budget_s(attempt: Attempt) -> float:
    """Wall time the engine should allow: the internal budget plus a margin for process overhead."""
    try:
        return Options.from_mapping(attempt.options).budget_s + 1.0
    except ValueError:
        return DEFAULT_BUDGET_S + 1.0  # the verdict will be invalid_reference, at once


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
    try:
        opts = Options.from_mapping(attempt.options)
        _think(attempt)
    except ValueError as exc:
        return _verdict(Status.INVALID_REFERENCE, f"bad math options: {exc}", {"extracted": None})
    budget = Budget(start + opts.budget_s)
    raw_ref = _reference_string(attempt.reference)
    if raw_ref is None or len(raw_ref) > MAX_REFERENCE_CHARS:
        return _verdict(Status.UNPARSEABLE_REFERENCE, "reference is not a math answer string", {"extracted": None})
    ref = _reference(raw_ref)
    found = _extract(attempt, ref.letter is not None, opts)
    details: dict[str, Any] = {"extracted": None if found is None else found.text[:200], "reference": ref.text[:200]}
    if not ref.text:
        return _verdict(Status.UNPARSEABLE_REFERENCE, "reference is empty", details)
    if found is None:
        why = "no boxed answer" if opts.require_boxed else "no final answer found"
        return _verdict(Status.NO_ANSWER, why, details)
    if found.source == TOO_LONG:
        # Judged whole or not at all: a prefix of a padded answer is not the answer.
        return _verdict(Status.WRONG, f"answer longer than {MAX_ANSWER_CHARS} characters", details)
    answer = found.text
    if ref.letter is not None:
        letter = mc_letter(answer)
        details["choice"] = letter
        if letter is None and ref.node is not None:
            return _judge(ref, answer, opts, budget, details, attempt.prompt)
        if letter is None:
            return _verdict(Status.WRONG, f"answer is not a choice letter (expected {ref.letter})", details)
        ok = letter.upper() == ref.letter
        return _verdict(Status.CORRECT if ok else Status.WRONG, f"choice {letter} vs {ref.letter}", details)
    if normalized_text(answer) == normalized_text(ref.text):
        return _verdict(Status.CORRECT, "answer matches the reference exactly", details)
    if ref.node is None:
        return _verdict(Status.UNPARSEABLE_REFERENCE, f"cannot parse reference: {ref.error}", details)
    return _judge(ref, answer, opts, budget, details, attempt.prompt)


# A question that asks for a rounded value: then a correctly rounded decimal answers it.
_ASKS_ROUNDED_RE = re.compile(
    r"\b(?:nearest|decimals?|round(?:ed|ing)?|significant (?:figures|digits)|approximat\w*|estimate\w*)\b",
    re.IGNORECASE,
)
_APPROX_MARKS = ("\\approx", "≈", "\\simeq")
_LEADING_APPROX_RE = re.compile(r"^\s*(?:\\approx|≈|\\simeq|\\sim)\s*")
_LABEL_APPROX_RE = re.compile(r"^\s*([A-Za-z](?:_\{?\w+\}?)?)\s*(?:\\approx|≈|\\simeq)\s*")


def _rounding_allowed(opts: Options, ref_text: str, answer: str, prompt: Any) -> bool:
    """Whether a decimal may stand for an exact value it rounds: always (the default) or never when the option
    says so; in "auto" mode when something says the value is rounded: the reference gives its rounding
    (`\\frac{1+\\sqrt{5}}{2} \\approx 1.618`), the answer says it is approximate (`\\approx 71.43`), or the
    question asks for a rounded value ("to the nearest hundredth", "as a decimal"); there a bare `0.333` against
    1/3 is read as a claim of equality, which is false."""
    if opts.rounded_decimals != "auto":
        return opts.rounded_decimals == "always"
    if any(m in ref_text or m in answer for m in _APPROX_MARKS):
        return True
    return _asks_rounded(prompt)


def _asks_rounded(prompt: Any) -> bool:
    return isinstance(prompt, str) and _ASKS_ROUNDED_RE.search(prompt[-2000:]) is not None


# The one variable a question asks for: "solve for $v$", "$v$ in terms of $u$", "express $v$ as ...".
_UNKNOWN_RE = re.compile(
    r"\bsolve\b[^.?!\n]{0,40}?\bfor\s+\$?\s*([A-Za-z])\s*\$?(?![\w(])"
    r"|(?<![\w\\])\$?\s*([A-Za-z])\s*\$?\s+(?:in terms of|as a function of)\b"
    r"|\bexpress\s+\$?\s*([A-Za-z])\s*\$?\s+(?:as|in|using)\b",
    re.IGNORECASE,
)


def _asked_unknown(prompt: Any) -> str | None:
    """The variable the question asks for, when it names exactly one (else None)."""
    if not isinstance(prompt, str):
        return None
    names = {next(g for g in m.groups() if g) for m in _UNKNOWN_RE.finditer(prompt[-2000:])}
    return names.pop() if len(names) == 1 else None


def _judge(ref: Reference, answer: str, opts: Options, budget: Budget, details: dict[str, Any], prompt: Any) -> Verdict:
    answer = repair(answer)
    conflict = unit_conflict(answer, repair(ref.text), prompt)
    if conflict is not None:
        return _verdict(Status.WRONG, conflict, details)
    verdict = _judge_repaired(ref, answer, opts, budget, details, prompt)
    if verdict.status == Status.WRONG:
        # `576\\pi \\text{ square meters}`: a unit the parser does not drop, when it is the one asked for
        bare = without_unit(answer)
        if bare is not None and bare.strip():
            again = _judge_repaired(ref, bare, opts, budget, details, prompt)
            if again.status == Status.CORRECT:
                return again
    return verdict


def _judge_repaired(
    ref: Reference, answer: str, opts: Options, budget: Budget, details: dict[str, Any], prompt: Any
) -> Verdict:
    assert ref.node is not None
    ref_node = ref.node
    rounding = _rounding_allowed(opts, ref.text, answer, prompt)
    answer = _LEADING_APPROX_RE.sub("", answer)
    if rounding:
        answer = _LABEL_APPROX_RE.sub(r"\1 = ", answer)  # `M \approx 0.3977`: the label's rounded value
    ctx = Ctx(
        float_rel_tol=opts.float_rel_tol,
        budget=budget,
        rounded_decimals=rounding,
        renaming=opts.renaming,
        unknown=_asked_unknown(prompt),
    )
    ans_node, err = _parse_any(answer)
    stated = sentence_value(answer) if opts.sentence_number and _WORDY_RE.search(answer) else None
    if stated is not None and stated != answer and not isinstance(ref_node, Text):
        # `The smallest $k$ is 12.`: judged as written first; the one value the sentence states is a second try
        as_written = (False, None)
        if ans_node is not None and not isinstance(ans_node, Text):
            as_written = _equal(ref_node, ans_node, ctx, details, opts.budget_s)
        if as_written[1] is not None:
            return as_written[1]
        if not as_written[0]:
            stated_node = _parse_any(stated)[0]
            if stated_node is not None:
                ok, verdict = _equal(ref_node, stated_node, ctx, details, opts.budget_s)
                if verdict is not None:
                    return verdict
                if ok:
                    details["stated"] = stated[:200]
                    return _verdict(Status.CORRECT, "the sentence states a value equivalent to the reference", details)
                return _verdict(Status.WRONG, "answer is not equivalent to the reference", details)
    if ans_node is None:
        return _verdict(Status.WRONG, f"cannot parse answer: {err}", details)
    ok, verdict = _equal(ref_node, ans_node, ctx, details, opts.budget_s)
    if verdict is not None:
        return verdict
    if ok:
        return _verdict(Status.CORRECT, "answer is equivalent to the reference", details)
    return _verdict(Status.WRONG, "answer is not equivalent to the reference", details)


# A word of three letters or more that is not a command: the answer may be a sentence.
_WORDY_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")


def _equal(
    ref_node: Node, ans_node: Node, ctx: Ctx, details: dict[str, Any], budget_s: float
) -> tuple[bool, Verdict | None]:
    """Compare two parsed values; the verdict is set when no comparison could be made (time, depth)."""
    try:
        return equivalent(ref_node, ans_node, ctx), None
    except BudgetExceeded:
        return False, _verdict(Status.TIMEOUT, f"no verdict within the {budget_s:g} s budget", details)
    except Undecidable as e:
        return False, _verdict(Status.TIMEOUT, f"no verdict: {e}", details)
    except RecursionError:
        return False, _verdict(Status.TIMEOUT, "expression nested too deeply to compare", details)


class MathVerifier(VerifierDefaults):
    """The math verifier as the engine registers it (see `verifiers.protocol`)."""

    label = "verifiers.math"
    version = VERSION
    preload = PRELOAD
    # The module's own functions: one implementation, reached as methods.
    cache_key = staticmethod(cache_key)
    verify = staticmethod(verify)
    budget_s = staticmethod(budget_s)
