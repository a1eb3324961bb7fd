"""Blind, independently labelled math corpus: every case's verdict status must equal its `expected` label.

The corpus (`corpus.jsonl`) was written without reading the math verifier or its own corpus, from the README's
contract only; see each case's `note` for the reason behind its label.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verifiers.math import verify
from verifiers.verdict import Attempt

CORPUS = Path(__file__).with_name("corpus.jsonl")
CASES = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
LABELS = {"correct", "wrong", "no_answer"}


def test_corpus_shape():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert len(CASES) >= 300
    for case in CASES:
        assert set(case) == {"id", "category", "reference", "completion", "expected", "note"}, case["id"]
        assert case["expected"] in LABELS, case["id"]
    by_category: dict[str, set[str]] = {}
    for case in CASES:
        by_category.setdefault(case["category"], set()).add(case["expected"])
    both = [cat for cat, labels in by_category.items() if {"correct", "wrong"} <= labels]
    assert len(both) >= 15, both


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_blind_case(case):
    verdict = verify(Attempt(completion=case["completion"], reference=case["reference"]))
    assert str(verdict.status) == case["expected"], (
        f"{case['id']}: expected {case['expected']}, got {verdict.status} ({verdict.reason}); "
        f"extracted={verdict.details.get('extracted')!r}; note: {case['note']}"
    )
