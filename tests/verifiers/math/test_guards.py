"""Hostile answers must get a verdict quickly: no hang, no blow-up, no crash."""

from __future__ import annotations

import time

import pytest

from verifiers.math import cache_key, verify
from verifiers.verdict import Attempt, Status

LIMIT_S = 1.0


def timed(reference: str, completion: str, **options: object) -> tuple[str, float]:
    t0 = time.perf_counter()
    v = verify(Attempt(completion=completion, reference=reference, options=options))
    return v.status, time.perf_counter() - t0


@pytest.fixture(autouse=True, scope="module")
def _warm() -> None:
    # Import-time costs (mpmath, antlr) are not what these tests measure.
    verify(Attempt(completion="\\boxed{x^{1/2}}", reference="\\sqrt{x}"))
    verify(Attempt(completion="\\boxed{2\\ell}", reference="\\ell + \\ell"))


@pytest.mark.parametrize(
    ("reference", "answer", "expected"),
    [
        ("2^{2^{2^{2^{2^{2}}}}}", "2^{2^{2^{2^{2^{2}}}}}", Status.CORRECT),
        ("2^{2^{2^{2^{2^{2}}}}}", "2^{2^{2^{2^{2^{3}}}}}", Status.WRONG),
        ("5", "2^{2^{2^{2^{2^{2}}}}}", Status.WRONG),
        ("5", "1000000!", Status.WRONG),
        ("1000000!", "1000000!", Status.CORRECT),
        ("5", "(10^{10^{10}})!", Status.WRONG),
        ("5", "10^{10^{10^{10}}}", Status.WRONG),
        ("5", "9^{9^{9^{9^{9}}}} - 9^{9^{9^{9^{9}}}} + 5", Status.TIMEOUT),  # undecidable, not "wrong"
        ("1", "\\binom{10^{9}}{5 \\cdot 10^{8}}", Status.WRONG),
        ("0", "\\sin(10^{100})", Status.WRONG),
        ("5", "\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{5^{256}}}}}}}}}", Status.CORRECT),
    ],
)
def test_huge_values_get_a_verdict_fast(reference: str, answer: str, expected: Status) -> None:
    status, dt = timed(reference, f"\\boxed{{{answer}}}")
    assert dt < LIMIT_S
    assert status == expected


@pytest.mark.parametrize(
    "answer",
    [
        "{" * 5000 + "5" + "}" * 5000,
        "(" * 3000 + "1" + ")" * 3000,
        "\\frac{" * 400 + "1" + "}{2}" * 400,
        "\\sqrt{" * 1000 + "2" + "}" * 1000,
        "-" * 10000 + "1",
        "x^" * 3000 + "2",
        "1+" * 20000 + "1",
        "\\left(" * 2000 + "\\right)" * 2000,
    ],
)
def test_deep_or_long_input_never_hangs(answer: str) -> None:
    status, dt = timed("5", f"\\boxed{{{answer}}}")
    assert dt < LIMIT_S
    assert status in (Status.WRONG, Status.CORRECT, Status.TIMEOUT)


def test_deep_reference_is_undecided_not_a_crash() -> None:
    status, dt = timed("{" * 5000 + "5" + "}" * 5000, "\\boxed{5}")
    assert dt < LIMIT_S
    assert status in (Status.CORRECT, Status.UNPARSEABLE_REFERENCE)


def test_budget_exhaustion_is_a_timeout_verdict() -> None:
    many = ", ".join(f"\\sqrt{{{k}}} x + \\sin({k} y)" for k in range(2, 42))
    other = ", ".join(f"\\sqrt{{{k}}} x + \\sin({k} y)" for k in range(3, 43))
    status, dt = timed(many, f"\\boxed{{{other}}}", budget_s=0.01)
    assert status == Status.TIMEOUT
    assert dt < LIMIT_S


@pytest.mark.parametrize(
    "completion",
    [
        "x" * 1_000_000,
        "\\boxed{" * 200_000,
        "{" * 1_000_000,
        "answer" + " " * 1_000_000 + "is",
        "the answer is " * 70_000,
        "\\boxed{1}" + " " * 1_000_000 + "\\boxed{2}",
        "$" * 1_000_000,
        "**" * 500_000,
        "<answer>" * 100_000,
        "answer: (" * 100_000,
    ],
)
def test_cache_key_is_fast_on_huge_completions(completion: str) -> None:
    attempt = Attempt(completion=completion, reference="B")
    t0 = time.perf_counter()
    key = cache_key(attempt)
    assert isinstance(key, str)
    assert time.perf_counter() - t0 < 0.25
    attempt = Attempt(completion=completion, reference="5")
    t0 = time.perf_counter()
    cache_key(attempt)
    verify(attempt)
    assert time.perf_counter() - t0 < LIMIT_S


def test_cache_key_is_sub_millisecond_for_normal_inputs() -> None:
    attempt = Attempt(
        completion="<think>" + "Let me think about it. " * 300 + "</think> The answer is $\\boxed{\\frac{3}{4}}$.",
        reference="\\frac{3}{4}",
    )
    cache_key(attempt)
    t0 = time.perf_counter()
    for _ in range(100):
        cache_key(attempt)
    assert (time.perf_counter() - t0) / 100 < 1e-3


@pytest.mark.parametrize("reference", [float("nan"), float("inf"), float("-inf"), "NaN", " nan "])
def test_a_missing_value_as_reference_is_undecided_not_wrong(reference):
    # NaN/Infinity arrive as JSON numbers (Python's parser takes them) or as "nan" from a data frame: no answer
    # can be judged against them, so the item must be skipped, never scored 0.
    for answer in ("\\boxed{0}", "\\boxed{NaN}", "\\boxed{\\infty}"):
        v = verify(Attempt(completion=answer, reference=reference))
        assert v.status == Status.UNPARSEABLE_REFERENCE and not v.decided


@pytest.mark.parametrize(
    ("reference", "answer", "expected"),
    [
        ("0", "\\boxed{1e999999999}", Status.WRONG),  # a billion-digit rational: must not hang, must not dodge
        ("1e400", "\\boxed{1.5e-999999}", Status.WRONG),  # was an OverflowError: a null reward for a wrong answer
        ("1e400", "\\boxed{1e400}", Status.CORRECT),
        ("1e999999999", "\\boxed{3}", Status.UNPARSEABLE_REFERENCE),
        ("10^{999999999}", "\\boxed{1e999999999}", Status.WRONG),
    ],
)
def test_huge_exponents_get_a_quick_truthful_verdict(reference, answer, expected):
    status, seconds = timed(reference, answer)
    assert status == expected and seconds < LIMIT_S


@pytest.mark.parametrize("pairs", [15, 20, 47])
@pytest.mark.parametrize(("opening", "closing"), [("(", ")"), ("{", "}"), ("\\left(", "\\right)")])
def test_deeply_nested_wrong_answers_are_wrong_quickly(pairs, opening, closing):
    # Past the fast parser's depth, latex2sympy's fallback backtracked for seconds: a timeout (null reward) for a
    # wrong answer, and a killed worker each time.
    status, seconds = timed("3", "\\boxed{" + opening * pairs + "7" + closing * pairs + "}")
    assert status == Status.WRONG and seconds < LIMIT_S


def test_cache_keys_cannot_collide_through_a_prefix_or_a_separator():
    from verifiers.math import MAX_REFERENCE_CHARS

    long_ref = "1" * MAX_REFERENCE_CHARS
    assert cache_key(Attempt("\\boxed{1}", long_ref)) != cache_key(Attempt("\\boxed{1}", long_ref + "2"))
    assert verify(Attempt("\\boxed{1}", long_ref + "2")).status == Status.UNPARSEABLE_REFERENCE
    assert cache_key(Attempt("\\boxed{1\x1f2}", "3")) != cache_key(Attempt("\\boxed{1}", "2\x1f3"))
