"""The labelled corpus: every case must get exactly its expected status."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from verifiers.math import verify
from verifiers.verdict import Attempt, Status

CORPUS = Path(__file__).with_name("corpus.jsonl")
CASES = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
EXPECTED = {"correct", "wrong", "no_answer", "unparseable_reference"}


def test_corpus_shape() -> None:
    assert len(CASES) >= 400
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    assert {c["expected"] for c in CASES} == EXPECTED
    assert {c["source_style"] for c in CASES} >= {"MATH", "GSM8K", "AIME", "AMC", "olympiad"}
    by_cat: dict[str, Counter[str]] = defaultdict(Counter)
    for c in CASES:
        by_cat[c["category"]][c["expected"]] += 1
    # Every answer category has both equivalent and near-miss wrong cases.
    for cat, counts in by_cat.items():
        if cat != "unparseable_reference":
            assert counts["correct"] and counts["wrong"], cat


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict) -> None:
    v = verify(Attempt(completion=case["completion"], reference=case["reference"]))
    assert v.status == case["expected"], (v.reason, v.details)
    assert v.score == (1.0 if case["expected"] == "correct" else 0.0)
    assert v.decided == (v.status != Status.UNPARSEABLE_REFERENCE)
    json.dumps(v.to_dict())
