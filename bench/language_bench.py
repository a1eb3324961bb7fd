"""Throughput of the language-consistency verifier: completions per second on one core.

Builds realistic chains of thought of about 2,000 and 20,000 characters (English prose with inline and display
LaTeX and a code block, a Chinese CoT with the same math, and an English/Chinese mix) and scores each repeatedly
in this single process, so the figure is per core. The target from issue 5 is more than 2,000 completions per
second for 2,000-character CoTs.

Run: `.venv/bin/python bench/language_bench.py [--seconds 2]`
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from verifiers.language import verify  # noqa: E402
from verifiers.language.model import get_model  # noqa: E402
from verifiers.verdict import Attempt  # noqa: E402

TARGET_PER_S = 2000

_EN = [
    "Let me start by reading the problem carefully and writing down what we know. ",
    "We need the sum $S_n = \\sum_{k=1}^{n} \\frac{1}{k(k+1)}$ for every positive integer n. ",
    "Using partial fractions, $\\frac{1}{k(k+1)} = \\frac{1}{k} - \\frac{1}{k+1}$, so the sum telescopes.\n",
    "$$S_n = 1 - \\frac{1}{n+1} = \\frac{n}{n+1}$$\n",
    "Wait, I think I made a mistake in the previous step, so let me check the calculation again. ",
    "With n = 3 we get 1/2 + 1/6 + 1/12 = 9/12 = 3/4, which matches 3/(3+1).\n",
    "```python\nprint(sum(1 / (k * (k + 1)) for k in range(1, 4)))\n```\n",
    "That means the answer should be the closed form we found, so the limit as n grows is 1. ",
]
_ZH = [
    "首先我们仔细阅读题目，把已知条件都写下来。",
    "我们要求 $S_n = \\sum_{k=1}^{n} \\frac{1}{k(k+1)}$ 的值。",
    "利用裂项，$\\frac{1}{k(k+1)} = \\frac{1}{k} - \\frac{1}{k+1}$，所以求和可以相消。\n",
    "$$S_n = 1 - \\frac{1}{n+1}$$\n",
    "等一下，我觉得上一步算错了，让我重新检查一下计算过程。",
    "当 n = 3 时，1/2 + 1/6 + 1/12 = 3/4，与公式一致。\n",
    "```python\nprint(sum(1 / (k * (k + 1)) for k in range(1, 4)))\n```\n",
    "这说明答案应该是我们求出的闭式，当 n 趋于无穷时极限为 1。",
]


def _cot(parts: list[str], chars: int) -> str:
    out: list[str] = []
    size = 0
    i = 0
    while size < chars:
        out.append(parts[i % len(parts)])
        size += len(out[-1])
        i += 1
    return "".join(out)[:chars]


def _mixed(chars: int) -> str:
    return _cot([p for pair in zip(_EN, _ZH, strict=True) for p in pair], chars)


def _rates(attempt: Attempt, seconds: float, rounds: int) -> list[float]:
    """Completions per second in each of `rounds` rounds of `seconds / rounds` each."""
    verify(attempt)  # warm-up (the model is already loaded)
    rates = []
    for _ in range(rounds):
        n = 0
        start = time.perf_counter()
        deadline = start + seconds / rounds
        while True:
            for _ in range(10):
                verify(attempt)
            n += 10
            now = time.perf_counter()
            if now >= deadline:
                rates.append(n / (now - start))
                break
    return sorted(rates)


def main() -> None:
    """Print completions/s for each CoT kind and size, and whether the 2,000-character target is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per measurement (median and best shown)")
    args = parser.parse_args()
    get_model()
    print(f"language verifier, one process (one core), {args.seconds:g} s per measurement in {args.rounds} rounds")
    print(f"{'cot':<10}{'chars':>8}{'median/s':>11}{'best/s':>9}{'ms each':>9}  score")
    worst_2k = float("inf")
    for chars in (2_000, 20_000):
        for kind, lang, text in (
            ("english", "en", _cot(_EN, chars)),
            ("chinese", "zh", _cot(_ZH, chars)),
            ("mixed", "zh", _mixed(chars)),
        ):
            attempt = Attempt(completion=f"<think>\n{text}\n</think>\nThe answer is 1.", language=lang)
            rates = _rates(attempt, args.seconds, args.rounds)
            rate = rates[len(rates) // 2]
            score = verify(attempt).score
            print(f"{kind:<10}{chars:>8}{rate:>11,.0f}{rates[-1]:>9,.0f}{1000 / rate:>9.3f}  {score:.3f}")
            if chars == 2_000:
                worst_2k = min(worst_2k, rate)
    verdict = "meets" if worst_2k > TARGET_PER_S else "MISSES"
    print(f"2,000-char CoTs: slowest median {worst_2k:,.0f}/s {verdict} the target of {TARGET_PER_S:,}/s per core")


if __name__ == "__main__":
    main()
