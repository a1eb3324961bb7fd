"""Throughput of the language-consistency verifier: completions per second on one core.

Builds realistic chains of thought of about 2,000 and 20,000 characters (English prose with inline and display
LaTeX and a code block, a Chinese CoT with the same math, and an English/Chinese mix) and scores each repeatedly
in this single process, so the figure is per core: completions per second of this process's CPU time (the
machine's other load does not count against it; wall-clock rates are shown too). Each kind cycles through 32
variants with the sentences in a different order, and every occurrence of a sentence has two pairs of
neighbouring words (characters in Chinese) swapped and a digit changed at seeded random places, so no two calls
in a row score the same text and a text seldom repeats a line: the figure is that of distinct chains of thought,
as in a training run, not of a cache. The word-vector cache is warm, as it is in a training run, whose vocabulary
repeats. Targets (issues 5 and 13): at least 2,000 completions per second for 2,000-character CoTs and 1,500 for
20,000.

Run: `.venv/bin/python bench/language_bench.py [--seconds 2]`
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from verifiers.language import verify  # noqa: E402
from verifiers.language.model import get_model  # noqa: E402
from verifiers.verdict import Attempt  # noqa: E402

TARGET_PER_S = 2000
TARGET_20K_PER_S = 1500
VARIANTS = 32

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


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _vary(part: str, rng: random.Random) -> str:
    """`part` with two pairs of neighbouring Han characters (or, without Han, plain words) swapped and one digit
    changed at seeded random places, so a sentence or formula that recurs in a long CoT is a different line each
    time while its words stay the same."""
    for _ in range(2):
        han = [i for i in range(len(part) - 1) if _is_han(part[i]) and _is_han(part[i + 1])]
        if han:
            i = rng.choice(han)
            part = part[:i] + part[i + 1] + part[i] + part[i + 2 :]
            continue
        words = part.split(" ")
        plain = [i for i in range(len(words) - 1) if words[i].isalpha() and words[i + 1].isalpha()]
        if plain:
            i = rng.choice(plain)
            words[i], words[i + 1] = words[i + 1], words[i]
            part = " ".join(words)
    digits = [i for i, c in enumerate(part) if c.isdigit()]
    if digits:
        i = rng.choice(digits)
        part = part[:i] + str(rng.randrange(10)) + part[i + 1 :]
    return part


def _cot(parts: list[str], chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    if seed:
        parts = rng.sample(parts, len(parts))
    out: list[str] = []
    size = 0
    i = 0
    while size < chars:
        out.append(_vary(parts[i % len(parts)], rng))
        size += len(out[-1])
        i += 1
    return "".join(out)[:chars]


def _mixed(chars: int, seed: int = 0) -> str:
    return _cot([p for pair in zip(_EN, _ZH, strict=True) for p in pair], chars, seed)


def _rates(attempts: list[Attempt], seconds: float, rounds: int) -> tuple[list[float], list[float]]:
    """Completions per CPU second and per wall second in each of `rounds` rounds of `seconds / rounds` each."""
    for attempt in attempts:
        verify(attempt)  # warm-up (the model is already loaded)
    cpu_rates, wall_rates = [], []
    for _ in range(rounds):
        n = 0
        wall0, cpu0 = time.perf_counter(), time.process_time()
        deadline = wall0 + seconds / rounds
        while True:
            for attempt in attempts:
                verify(attempt)
            n += len(attempts)
            now = time.perf_counter()
            if now >= deadline:
                cpu_rates.append(n / max(time.process_time() - cpu0, 1e-9))
                wall_rates.append(n / (now - wall0))
                break
    return sorted(cpu_rates), sorted(wall_rates)


def main() -> None:
    """Print completions/s for each CoT kind and size, and whether the targets are met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per measurement (median and best shown)")
    args = parser.parse_args()
    get_model()
    print(f"language verifier, one process (one core), {args.seconds:g} s per measurement in {args.rounds} rounds")
    print(f"{'cot':<10}{'chars':>8}{'cpu med/s':>11}{'cpu best/s':>11}{'wall med/s':>11}{'ms cpu':>8}  score")
    worst = {2_000: float("inf"), 20_000: float("inf")}
    for chars in (2_000, 20_000):
        for kind, lang, make in (
            ("english", "en", lambda seed, c=chars: _cot(_EN, c, seed)),
            ("chinese", "zh", lambda seed, c=chars: _cot(_ZH, c, seed)),
            ("mixed", "zh", lambda seed, c=chars: _mixed(c, seed)),
        ):
            attempts = [
                Attempt(completion=f"<think>\n{make(seed)}\n</think>\nThe answer is 1.", language=lang)
                for seed in range(VARIANTS)
            ]
            cpu, wall = _rates(attempts, args.seconds, args.rounds)
            rate = cpu[len(cpu) // 2]
            score = verify(attempts[0]).score
            print(
                f"{kind:<10}{chars:>8}{rate:>11,.0f}{cpu[-1]:>11,.0f}{wall[len(wall) // 2]:>11,.0f}"
                f"{1000 / rate:>8.3f}  {score:.3f}"
            )
            worst[chars] = min(worst[chars], rate)
    for chars, target in ((2_000, TARGET_PER_S), (20_000, TARGET_20K_PER_S)):
        verdict = "meets" if worst[chars] >= target else "MISSES"
        print(f"{chars:,}-char CoTs: slowest median {worst[chars]:,.0f}/s per CPU second {verdict} {target:,}/s")


if __name__ == "__main__":
    main()
