"""Every verdict of the seeded corpus (`verdict_corpus`: the test corpora, the bench's chains of thought and a few
thousand random mixtures) is the one recorded in `verdicts.jsonl.gz`: the speed work of issue 13 changes no score,
status, reason or detail. A verdict meant to change is recorded again (see `verdict_corpus`'s docstring)."""

from __future__ import annotations

import json

from verifiers.language import verify

from .verdict_corpus import attempts, recorded, verdict_record


def test_every_verdict_is_the_recorded_one() -> None:
    cases = attempts()
    expected = recorded()
    assert len(cases) == len(expected), "the corpus changed: record it again (see verdict_corpus)"
    changed = []
    for (name, attempt), want in zip(cases, expected, strict=True):
        got = json.loads(json.dumps(verdict_record(name, attempt, verify(attempt)), ensure_ascii=False))
        assert got["name"] == want["name"] and got["input"] == want["input"], f"the corpus changed at {name}"
        if got != want:
            changed.append((name, want, got))
    assert not changed, f"{len(changed)} verdicts changed, first: {changed[0]}"
