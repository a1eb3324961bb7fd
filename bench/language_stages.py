"""Where the language verifier's time goes on 20,000-character chains of thought: CPU milliseconds per CoT in
each stage (strip, pieces, word counts with fastText), on the same CoTs as `bench/language_bench.py`.

Run: `.venv/bin/python bench/language_stages.py [--chars 20000] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import language_bench as lb  # noqa: E402

from verifiers.language import decide, text  # noqa: E402
from verifiers.language.model import get_model  # noqa: E402


def main() -> None:
    """Print the per-stage CPU time per CoT for English, Chinese and mixed thoughts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = get_model()
    kinds = (
        ("english", "en", lambda seed: lb._cot(lb._EN, args.chars, seed)),
        ("chinese", "zh", lambda seed: lb._cot(lb._ZH, args.chars, seed)),
        ("mixed", "zh", lambda seed: lb._mixed(args.chars, seed)),
    )
    for kind, target, make in kinds:
        cots = [make(seed) for seed in range(lb.VARIANTS)]
        same = frozenset({target})
        spent = [0.0, 0.0, 0.0]
        for round_ in range(args.rounds + 1):  # the first round warms the caches and is not counted
            for cot in cots:
                t0 = time.process_time()
                stripped = text.strip_non_language(cot)
                t1 = time.process_time()
                parts = text.pieces(stripped)
                t2 = time.process_time()
                decide.word_counts(model, parts, same, target)
                t3 = time.process_time()
                if round_:
                    spent = [spent[0] + t1 - t0, spent[1] + t2 - t1, spent[2] + t3 - t2]
        ms = [1000 * s / (args.rounds * len(cots)) for s in spent]
        print(
            f"{kind:<8} strip {ms[0]:.3f} ms  pieces {ms[1]:.3f} ms  word_counts {ms[2]:.3f} ms"
            f"  total {sum(ms):.3f} ms -> {1000 / sum(ms):,.0f}/s"
        )


if __name__ == "__main__":
    main()
