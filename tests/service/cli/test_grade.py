"""`aha grade`: pass@1, unbiased pass@k, cons@k with equivalent answers pooled, per-source tables."""

from __future__ import annotations

import json
import subprocess
import sys
from math import comb

import pytest

from service.cli.grade import Sample, majority_correct, math_equivalent, pass_at_k
from tests.conftest import ROOT


def test_pass_at_k_matches_the_estimator():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 4) == pytest.approx(1 - comb(7, 4) / comb(10, 4))
    assert pass_at_k(5, 2, 4) == 1.0  # fewer than k wrong samples: some k-subset always holds a correct one
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_majority_vote_pools_equivalent_answers():
    same = lambda a, b: a.replace(" ", "") == b.replace(" ", "")  # noqa: E731 - a stand-in equivalence
    samples = [
        Sample(False, True, "3"),
        Sample(True, True, "1/2"),
        Sample(True, True, "1 / 2"),
        Sample(False, True, "3"),
        Sample(True, True, "1/2"),
    ]
    assert majority_correct(samples, same) is True
    assert majority_correct(samples[:4], same) is False  # a 2-2 tie goes to the answer seen first ("3")
    assert majority_correct([Sample(False, True, None)], same) is None


def test_math_equivalence_used_for_votes():
    assert math_equivalent("0.5", "\\frac{1}{2}")
    assert not math_equivalent("0.5", "\\frac{1}{3}")


def test_grade_cli_end_to_end(tmp_path):
    rows = []
    answers = {"p1": ["\\frac12", "0.5", "1/3", "2"], "p2": ["7", "8", "8", "8"], "p3": ["4", "4", "4", "4"]}
    refs = {"p1": "1/2", "p2": "7", "p3": "4"}
    for problem, outs in answers.items():
        for i, out in enumerate(outs):
            rows.append(
                {
                    "id": f"{problem}-{i}",
                    "task": "math",
                    "group": problem,
                    "source": "aime" if problem != "p3" else "gsm8k",
                    "completion": f"Thus the answer is $\\boxed{{{out}}}$.",
                    "reference": refs[problem],
                }
            )
    src = tmp_path / "samples.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report_path = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "grade", str(src), "--k", "1,4", "--report", str(report_path), "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pass@4" in proc.stdout and "aime" in proc.stdout
    rep = json.loads(report_path.read_text())
    aime, gsm, overall = rep["sources"]["aime"], rep["sources"]["gsm8k"], rep["sources"]["all"]
    # p1: 2 of 4 correct; p2: 1 of 4 correct
    assert aime["pass@1"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert aime["pass@4"] == 1.0
    # cons@4: p1's majority is {1/2, 0.5} (pooled, correct); p2's majority is 8 (wrong)
    assert aime["cons@4"] == pytest.approx(0.5)
    assert aime["cons@1"] == 1.0  # the first samples alone: \\frac12 (correct) and 7 (correct)
    assert gsm["pass@1"] == 1.0 and gsm["cons@4"] == 1.0
    assert overall["problems"] == 3 and overall["samples"] == 12 and overall["undecided"] == 0
