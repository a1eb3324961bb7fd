"""Issue 12: the hard answer shapes real models write, each with near-miss wrong cases beside the right ones.

`shapes.jsonl` rows: `shape`, `reference`, `completion`, `expected`, `source` (`<benchmark>:<id>` of a real
reference copied verbatim from the Qwen2.5-Math evaluation data — OlympiadBench, gaokao2023en, college_math,
cn_middle_school, each under its own licence — or `invented` for the issue's own examples), `note` (the reasoning
behind the label), and optional `prompt` and `options`.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from verifiers.math import cache_key, verify
from verifiers.verdict import Attempt, Status

CASES = [json.loads(line) for line in Path(__file__).with_name("shapes.jsonl").read_text().splitlines() if line]


def attempt(case: dict) -> Attempt:
    return Attempt(
        completion=case["completion"],
        reference=case["reference"],
        prompt=case.get("prompt"),
        options=case.get("options") or {},
    )


def test_every_shape_has_right_and_near_miss_cases() -> None:
    by_shape: dict[str, Counter[str]] = defaultdict(Counter)
    for c in CASES:
        by_shape[c["shape"]][c["expected"]] += 1
        assert c["source"] == "invented" or ":" in c["source"], c["id"]
        assert c["note"], c["id"]
    assert len(by_shape) == 11
    for shape, counts in by_shape.items():
        assert counts["correct"] and counts["wrong"], shape
    real = sum(1 for c in CASES if c["source"] != "invented")
    assert real >= 60


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_shape_case(case: dict) -> None:
    v = verify(attempt(case))
    assert v.status == case["expected"], (case["note"], v.reason, v.details)
    assert v.score == (1.0 if case["expected"] == "correct" else 0.0)
    # Timed once warm (the first call may import mpmath or latex2sympy); the bound is loose because the cores
    # are shared, so only a gross regression of the fast path shows here (bench/math_bench.py measures).
    t0 = time.perf_counter()
    verify(attempt(case))
    assert time.perf_counter() - t0 < 0.2


def test_rounding_rule_depends_on_context_and_option() -> None:
    def status(completion: str, prompt: str | None = None, **options: object) -> str:
        return verify(Attempt(completion=completion, reference="\\frac{500}{7}", prompt=prompt, options=options)).status

    # Default (issue 12): a correctly rounded decimal of at least 3 significant digits answers an exact value.
    assert status("\\boxed{71.43}") == Status.CORRECT
    assert status("\\boxed{71.42}") == Status.WRONG  # a wrong rounding
    assert status("\\boxed{71.4}") == Status.CORRECT  # 3 significant digits
    assert status("\\boxed{71}") == Status.WRONG  # an integer claims to be exact
    assert status("\\boxed{71.43}", rounded_decimals="never") == Status.WRONG
    assert status("\\boxed{71.43}", "Round to the nearest hundredth.", rounded_decimals="never") == Status.WRONG
    # "auto": only when something says the value is rounded.
    assert status("\\boxed{71.43}", rounded_decimals="auto") == Status.WRONG  # a bare decimal claims equality
    assert status("\\boxed{71.43}", "Round to the nearest hundredth.", rounded_decimals="auto") == Status.CORRECT
    assert status("\\boxed{\\approx 71.43}", rounded_decimals="auto") == Status.CORRECT
    assert status("\\boxed{71.42}", "Round to the nearest hundredth.", rounded_decimals="auto") == Status.WRONG


def test_cache_key_sees_the_lenient_options_and_whether_the_prompt_asks_for_rounding() -> None:
    base = Attempt(completion="\\boxed{71.43}", reference="\\frac{500}{7}", options={"rounded_decimals": "auto"})

    def variant(prompt: str | None = None, **options: object) -> Attempt:
        return Attempt(completion=base.completion, reference=base.reference, prompt=prompt, options=options)

    keys = {
        cache_key(base),
        cache_key(variant("Round to 2 decimals.", rounded_decimals="auto")),
        cache_key(variant()),
        cache_key(variant(rounded_decimals=False)),
        cache_key(variant(renaming=False)),
        cache_key(variant(sentence_number=False)),
    }
    assert len(keys) == 6
    assert cache_key(variant("What is 500/7?", rounded_decimals="auto")) == cache_key(base)
    # Outside "auto" the question does not change the verdict, so it does not split the cache.
    assert cache_key(variant("Round to 2 decimals.")) == cache_key(variant())


def test_lenient_rules_turn_off() -> None:
    def status(reference: str, completion: str, **options: object) -> str:
        return verify(Attempt(completion=completion, reference=reference, options=options)).status

    assert status("\\frac{\\pi}{4} + k\\pi", "\\boxed{\\frac{\\pi}{4} + n\\pi}") == Status.CORRECT
    assert status("\\frac{\\pi}{4} + k\\pi", "\\boxed{\\frac{\\pi}{4} + n\\pi}", renaming=False) == Status.WRONG
    assert status("12", "Final Answer: The smallest $k$ is 12.") == Status.CORRECT
    assert status("12", "Final Answer: The smallest $k$ is 12.", sentence_number=False) == Status.WRONG


def test_exact_numbers_are_compared_beyond_double_precision() -> None:
    assert verify(Attempt(completion="\\boxed{\\sqrt{2000000000002}}", reference="1000000\\sqrt{2}")).status == "wrong"
    assert verify(Attempt(completion="\\boxed{\\sqrt{2}\\cdot 10^6}", reference="1000000\\sqrt{2}")).status == "correct"
    assert verify(Attempt(completion="\\boxed{2^{0.5}}", reference="\\sqrt{2}")).status == "correct"


def test_malformed_lenient_options_fail_loudly() -> None:
    for key, bad in [("rounded_decimals", b) for b in ([1], {"a": 1}, "sometimes", 3, None)] + [
        ("renaming", "false"),
        ("sentence_number", 0),
    ]:
        attempt = Attempt(completion="\\boxed{\\approx 71.43}", reference="\\frac{500}{7}", options={key: bad})
        v = verify(attempt)
        assert v.status == Status.INVALID_REFERENCE and key in v.reason, (key, bad, v.reason)
        assert isinstance(cache_key(attempt), str)


@pytest.mark.parametrize(
    ("reference", "answer", "expected"),
    [
        # minerva_math 118 (its boxed answer), which now parses on the fast path
        (
            "\\frac{\\omega_{d}}{(s+\\sigma)^{2}+\\omega_{d}^{2}}",
            "\\frac{\\omega_d}{\\omega_d^2 + (s+\\sigma)^2}",
            "correct",
        ),
        ("\\frac{\\omega_{d}}{(s+\\sigma)^{2}+\\omega_{d}^{2}}", "\\frac{\\omega}{\\omega^2 + (s+\\sigma)^2}", "wrong"),
        # latex2sympy never reads a time: `1:58 am` (gaokao2023en 126) is not 1/58
        ("1:58 am", "\\frac{1}{58}", "unparseable_reference"),
        ("4:30", "\\frac{4}{30}", "unparseable_reference"),  # a time of day, not a ratio
        # college_math 445: `\\left|` opens a bar, so it may follow a factor (this cost latex2sympy 400 ms)
        ("2\\left|-3 n^{2}-1\\right|+2", "6n^2 + 4", "correct"),
        ("2\\left|-3 n^{2}-1\\right|+2", "6n^2 + 2", "wrong"),
        # college_math 2345: prose is never handed to latex2sympy (it read `Ciphertext` as a product of letters)
        ('Ciphertext: "ZRUJPZVAEJTWOXGJZV".', "C i p h e r t e x t", "unparseable_reference"),
    ],
)
def test_fast_parser_additions(reference: str, answer: str, expected: str) -> None:
    assert verify(Attempt(completion=f"\\boxed{{{answer}}}", reference=reference)).status == expected


def test_the_unknown_a_question_asks_for_splits_the_cache() -> None:
    def key(prompt: str | None) -> str:
        return cache_key(Attempt(completion="\\boxed{\\frac{12}{u}}", reference="uv = 12", prompt=prompt))

    assert key("Solve for $v$.") != key(None)
    assert key("Solve for $v$.") == key("Now solve the equation for v.")
    assert key("Find $v$ in terms of $u$, then solve for $u$.") == key(None)  # two unknowns name none
