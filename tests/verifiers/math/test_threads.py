"""verify is pure and thread-safe: concurrent calls give the same verdicts as sequential ones."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from verifiers.math import verify
from verifiers.verdict import Attempt

CORPUS = Path(__file__).with_name("corpus.jsonl")


def test_concurrent_verdicts_match_sequential() -> None:
    cases = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    # Include items that reach the latex2sympy fallback and the mpmath path.
    cases += [
        {"reference": "2\\ell", "completion": "\\boxed{\\ell + \\ell}"},
        {"reference": "3\\hbar", "completion": "\\boxed{\\hbar + \\hbar}"},
        {"reference": "1000000!", "completion": "\\boxed{1000000!}"},
        {"reference": "e^{-50}", "completion": "\\boxed{2e^{-50}}"},
    ]
    attempts = [Attempt(completion=c["completion"], reference=c["reference"]) for c in cases]
    sequential = [verify(a).to_dict() for a in attempts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda a: verify(a).to_dict(), attempts * 2))
    assert concurrent == sequential * 2


def test_works_outside_the_main_thread() -> None:
    # Math-Verify's SIGALRM timeouts silently score 0 here; this verifier uses no signals.
    out: list[str] = []
    attempt = Attempt(completion="\\boxed{\\frac{\\sqrt{2}}{2}}", reference="\\frac{1}{\\sqrt{2}}")
    t = threading.Thread(target=lambda: out.append(verify(attempt).status))
    t.start()
    t.join(10)
    assert out == ["correct"]
