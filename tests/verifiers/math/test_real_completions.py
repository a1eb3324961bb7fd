"""Agreement with a peer grader on 800 real model completions (issue 12 asks for >= 99.9%).

The peer is not ground truth: every disagreement is listed here with the reason the peer is wrong, so a new
disagreement fails the test and has to be reasoned about.
"""

from __future__ import annotations

import json
from pathlib import Path

from verifiers.math import verify
from verifiers.verdict import Attempt, Status

DATA = Path(__file__).parent / "data" / "qwen25_math_completions.jsonl"

# (problem, sample) -> why the peer grader's label is wrong
PEER_MISTAKES = {
    (72, 7): "the peer rejects a boxed 10000 against the reference 10{,}000",
}


def test_agreement_with_the_peer_grader_on_real_completions() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == 800
    disagreements = set()
    for row in rows:
        verdict = verify(Attempt(completion=row["completion"], reference=row["reference"], prompt=row["question"]))
        assert verdict.decided, (row["problem"], row["sample"], verdict.reason)
        if (verdict.status == Status.CORRECT) != row["peer_correct"]:
            disagreements.add((row["problem"], row["sample"]))
    assert disagreements == set(PEER_MISTAKES)
    # 799/800 agree with the peer as it is; with its one mistake corrected, all 800 agree with the labels
    assert 1 - len(disagreements - set(PEER_MISTAKES)) / len(rows) >= 0.999
