"""The failure cases of Math-Verify and the Qwen grader named in the issue, and the API contract."""

from __future__ import annotations

import json

import pytest

import verifiers.math as mathv
from verifiers.math import cache_key, verify
from verifiers.verdict import Attempt, Status


def status(reference: str, completion: str, **options: object) -> str:
    return verify(Attempt(completion=completion, reference=reference, options=options)).status


@pytest.mark.parametrize(
    ("reference", "answer", "expected"),
    [
        ("\\frac{1}{2^{98}}", "1/2^99", "wrong"),  # Math-Verify accepts it
        ("\\frac{1}{2^{98}}", "\\frac{1}{2^{99}}", "wrong"),
        ("2\\cdot10^{-20}", "10^{-20}", "wrong"),  # Math-Verify accepts it
        ("4\\sqrt{2}", "4\\sqrt(2)", "correct"),  # Math-Verify reads 4
        ("4", "4\\sqrt(2)", "wrong"),
        ("3x - y + 13 = 0", "3*x-1*y+13=0", "correct"),  # Math-Verify turns it into 0
        ("0", "3*x-1*y+13=0", "wrong"),
        ("10000", "10001", "wrong"),  # Qwen accepts it
        ("5", "500", "wrong"),  # Qwen accepts it
        ("5\\%", "0.05", "correct"),
        ("5\\%", "5", "correct"),
        ("0.05", "5", "wrong"),
        ("10^{-30}", "0", "wrong"),  # never chop tiny values to 0
    ],
)
def test_named_failures(reference: str, answer: str, expected: str) -> None:
    assert status(reference, f"\\boxed{{{answer}}}") == expected


def test_float_tolerance_is_relative_and_configurable() -> None:
    # Rounding is off here so that only the tolerance decides.
    assert status("\\pi", "\\boxed{3.1416}", rounded_decimals="never") == "wrong"
    assert status("\\pi", "\\boxed{3.1416}", float_rel_tol=1e-4, rounded_decimals="never") == "correct"
    assert status("1", "\\boxed{1.001}", float_rel_tol=1e-2) == "correct"
    # Tolerance never applies between exact values.
    assert status("10000", "\\boxed{10001}", float_rel_tol=1e-2) == "wrong"
    assert status("1e-12", "\\boxed{2e-12}") == "wrong"


def test_contract() -> None:
    assert mathv.NAME == "math"
    assert isinstance(mathv.VERSION, str) and mathv.VERSION
    v = verify(Attempt(completion="\\boxed{2}", reference="2"))
    assert (v.score, v.status) == (1.0, Status.CORRECT)
    assert v.details["extracted"] == "2"
    assert json.loads(json.dumps(v.to_dict()))["details"]["reference"] == "2"
    v = verify(Attempt(completion="no idea", reference="2"))
    assert (v.score, v.status, v.details["extracted"]) == (0.0, Status.NO_ANSWER, None)
    v = verify(Attempt(completion="\\boxed{2}", reference=None))
    assert v.status == Status.UNPARSEABLE_REFERENCE and not v.decided
    assert verify(Attempt(completion="\\boxed{3}", reference=3)).status == Status.CORRECT
    assert mathv.budget_s(Attempt(completion="", reference="1")) > 1.0


def test_cache_key_depends_only_on_what_the_verdict_depends_on() -> None:
    a = Attempt(completion="<think>long way</think> so \\boxed{1/2}", reference="\\frac12")
    b = Attempt(completion="<think>another way</think> thus $\\boxed{1/2}$.", reference="\\frac12")
    c = Attempt(completion="<think>x</think> \\boxed{1/3}", reference="\\frac12")
    d = Attempt(completion="<think>x</think> \\boxed{1/2}", reference="\\frac13")
    e = Attempt(completion=a.completion, reference="\\frac12", options={"float_rel_tol": 0.1})
    assert cache_key(a) == cache_key(b)
    assert len({cache_key(a), cache_key(c), cache_key(d), cache_key(e)}) == 4
    # Never raises, even on odd inputs.
    assert isinstance(cache_key(Attempt(completion="x", reference={"odd": 1}, options={"float_rel_tol": "?"})), str)


def test_bad_options_fail_loudly() -> None:
    # A malformed value is never replaced by a default in silence: the item is undecided and says why.
    for options in (
        {"float_rel_tol": "nope"},
        {"float_rel_tol": -1},
        {"float_rel_tol": float("nan")},
        {"budget_s": 1e9},
        {"require_boxed": "yes"},
        {"think_tags": ["<t>"]},
        {"think_prefilled": 1},
    ):
        v = verify(Attempt(completion="\\boxed{2}", reference="2", options=options))
        assert v.status == "invalid_reference" and not v.decided, options
        assert v.reason.startswith("bad math options: ") and next(iter(options)) in v.reason, v.reason
    assert status("2", "\\boxed{2}", budget_s=30, float_rel_tol=0, require_boxed=True) == "correct"
