"""Issue 12's hard answer shapes on a corpus written blind: `blind_shapes.jsonl` (362 cases, 333 of them built on
142 real references of OlympiadBench, college_math, gaokao2023en, cn_middle_school, gaokao_math_cloze, AIME 2024
and AMC 2023 from the Qwen2.5-Math evaluation data, each under its own licence) was written by an engineer who had
not read the checker, labelled by reasoning, with near misses beside the right answers.

The cases the checker still gets wrong are listed with the reason (strict xfails: one that starts passing fails
here, so the list stays true). A new miss fails the test.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from verifiers.math import verify
from verifiers.verdict import Attempt

CASES = [
    json.loads(line) for line in Path(__file__).with_name("blind_shapes.jsonl").read_text().splitlines() if line
]

def attempt(case: dict) -> Attempt:
    return Attempt(completion=case["completion"], reference=case["reference"], prompt=case.get("prompt"))


KNOWN_MISSES = {
    "b-052": "word labels without a colon (`\\text{distance } 5`) against letter labels",
    "b-059": "word labels with a currency word after each value",
    "b-070": "word labels without a colon (`\\text{minimum } 1`)",
    "b-074": "a textual reference (`$\\max$ at $x=2$, min at $x=4$`)",
    "b-076": "a textual reference (`$\\min$ at $x=-1, \\max$ at $x=1$`)",
    "b-095": "set-builder sets of integer multiples (`\\{x | x = 3k, k \\in \\mathbb{Z}\\}`) are not read",
    "b-096": "set-builder sets of integer multiples are not read",
    "b-097": "set-builder sets of integer multiples are not read",
    "b-098": "set-builder sets of integer multiples are not read (the reference is unparseable, so undecided)",
    "b-099": "set-builder sets of integer multiples are not read (the reference is unparseable, so undecided)",
    "b-116": "the answer uses the problem's n where the reference uses its N = 2^n",
    "b-136": "a reference list of conditions (`x >= -3, x != 0`) is not read as their intersection",
    "b-144": "conditions on P(0) (a function value as the variable) against a set",
    "b-163": "a unit of another scale (m for a question in km) with no unit asked for in words",
    "b-173": "a sentence with the bounding word 'next' is not read as stating its number",
    "b-222": "`x \\ne 5 and x \\ne -5` against `x \\ne \\pm 5`",
    "b-279": "`\\log` read as the natural logarithm, where this chain means base 10",
}


def test_the_corpus_is_labelled_both_ways_shape_by_shape() -> None:
    by_shape: dict[str, Counter[str]] = {}
    for case in CASES:
        by_shape.setdefault(case["shape"], Counter())[case["expected"]] += 1
    assert len(CASES) == len({c["id"] for c in CASES}) >= 300
    assert all(counts["correct"] and counts["wrong"] for counts in by_shape.values())
    assert set(KNOWN_MISSES) <= {c["id"] for c in CASES}


def test_recall_and_specificity_on_the_blind_corpus() -> None:
    positives = [c for c in CASES if c["expected"] == "correct"]
    negatives = [c for c in CASES if c["expected"] != "correct"]

    def status(case: dict) -> str:
        return verify(attempt(case)).status

    recall = sum(status(c) == "correct" for c in positives) / len(positives)
    specificity = sum(status(c) != "correct" for c in negatives) / len(negatives)
    # issue 12's targets on its held-out set: recall >= 0.90 at specificity >= 0.99
    assert recall >= 0.90, recall
    assert specificity >= 0.99, specificity


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN_MISSES[c["id"]], strict=True))
        if c["id"] in KNOWN_MISSES
        else c
        for c in CASES
    ],
    ids=[c["id"] for c in CASES],
)
def test_blind_case(case: dict) -> None:
    verdict = verify(attempt(case))
    assert verdict.status == case["expected"], (case["note"], verdict.reason, verdict.details)
