"""Benchmark: Aha's math verifier against Math-Verify on the labelled corpus, in one run.

    .venv/bin/python bench/math_bench.py [--corpus tests/verifiers/math/corpus.jsonl] [--deadline 2.0]
        [--shapes tests/verifiers/math/shapes.jsonl] [--no-http] [--workers 2]

For each checker: precision and recall (positive class = "correct"), accuracy against the labels, items per
second, p50/p99/max latency (warm: one untimed warm-up pass first), the number of items over the deadline, and
the throughput ratio. The same table, and the accuracy of both checkers shape by shape, on the corpus of the hard
answer shapes of issue 12 (rounded decimals, labels, dummy variables, set-builder sets, words and units, ±,
thousands separators, chains, damaged references; each with near misses). Math-Verify (a benchmark-only
dependency) uses SIGALRM timeouts, so everything runs in the main thread. Aha is measured twice: with its
bounded reference cache cleared before every item (each verdict parses its reference from scratch) and with the
cache warm (a GRPO group sharing one reference). A third time through HTTP: the same pairs posted to a real
`aha serve` on a loopback port (`--workers` processes, batches of 128, `use_cache: false`, after one warm-up pass,
so the workers' reference caches are warm); the ratio against Math-Verify in one process is the issue's measure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import start_server, stop_server  # noqa: E402
from verifiers.math import _reference, verify  # noqa: E402
from verifiers.verdict import Attempt  # noqa: E402

HTTP_BATCH = 128


@dataclass
class Result:
    """The outcome of one checker over the corpus."""

    name: str
    statuses: list[str]
    latencies: list[float]


def load(path: Path) -> list[dict]:
    """Read the JSONL corpus."""
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def aha_status(item: dict) -> str:
    """Aha's status for one corpus item (with its prompt and options when it has them)."""
    attempt = Attempt(
        completion=item["completion"],
        reference=item["reference"],
        prompt=item.get("prompt"),
        options=item.get("options") or {},
    )
    return verify(attempt).status


def aha_status_cold(item: dict) -> str:
    """Aha's status with the reference cache emptied first (no reuse between items)."""
    _reference.cache_clear()
    return aha_status(item)


def math_verify_status(item: dict) -> str:
    """Math-Verify's verdict mapped onto Aha's statuses (its defaults; the reference wrapped in $...$)."""
    from math_verify import parse as mv_parse
    from math_verify import verify as mv_verify

    ref = item["reference"]
    gold_text = ref if ("$" in ref or "\\boxed" in ref or "####" in ref) else f"${ref}$"
    gold = mv_parse(gold_text)
    if not gold:
        return "unparseable_reference"
    pred = mv_parse(item["completion"])
    if not pred:
        return "no_answer"
    return "correct" if mv_verify(gold, pred) else "wrong"


def run(name: str, fn: Callable[[dict], str], items: list[dict]) -> Result:
    """One untimed warm-up pass, then a timed pass."""
    for item in items:
        fn(item)
    statuses, latencies = [], []
    for item in items:
        t0 = time.perf_counter()
        statuses.append(fn(item))
        latencies.append(time.perf_counter() - t0)
    return Result(name, statuses, latencies)


def run_http(url: str, items: list[dict]) -> Result:
    """The same pairs through `POST /v1/score` of a real `aha serve` (no result cache, batches of HTTP_BATCH),
    one untimed warm-up pass first; each item's latency is its batch's time shared out evenly."""
    body_items = [
        {
            "id": str(i),
            "task": "math",
            "completion": it["completion"],
            "reference": it["reference"],
            **({"prompt": it["prompt"]} if it.get("prompt") else {}),
            **({"options": {"accuracy": it["options"]}} if it.get("options") else {}),
        }
        for i, it in enumerate(items)
    ]
    statuses: list[str] = []
    latencies: list[float] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for timed in (False, True):
            for k in range(0, len(body_items), HTTP_BATCH):
                chunk = body_items[k : k + HTTP_BATCH]
                t0 = time.perf_counter()
                r = client.post("/v1/score", json={"items": chunk, "use_cache": False, "advantage": "none"})
                r.raise_for_status()
                took = time.perf_counter() - t0
                if timed:
                    statuses += [res["status"] for res in r.json()["results"]]
                    latencies += [took / len(chunk)] * len(chunk)
    return Result("aha over HTTP", statuses, latencies)


def pct(xs: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of xs."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def report(res: Result, items: list[dict], deadline: float) -> dict[str, float]:
    """Print one checker's row and return its numbers."""
    labels = [it["expected"] for it in items]
    tp = sum(1 for s, y in zip(res.statuses, labels, strict=True) if s == "correct" and y == "correct")
    fp = sum(1 for s, y in zip(res.statuses, labels, strict=True) if s == "correct" and y != "correct")
    fn = sum(1 for s, y in zip(res.statuses, labels, strict=True) if s != "correct" and y == "correct")
    acc = sum(1 for s, y in zip(res.statuses, labels, strict=True) if s == y) / len(items)
    total = sum(res.latencies)
    row = {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "accuracy": acc,
        "items_per_s": len(items) / total,
        "p50_ms": statistics.median(res.latencies) * 1e3,
        "p99_ms": pct(res.latencies, 0.99) * 1e3,
        "max_ms": max(res.latencies) * 1e3,
        "over_deadline": sum(1 for t in res.latencies if t > deadline),
        "false_pos": fp,
        "false_neg": fn,
    }
    print(
        f"{res.name:<22} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['accuracy']:>8.3f} "
        f"{row['items_per_s']:>10.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['max_ms']:>9.2f} "
        f"{row['over_deadline']:>6d} {fp:>4d} {fn:>4d}"
    )
    return row


def compare(items: list[dict], deadline: float, show_misses: bool, key: str, url: str | None) -> None:
    """Run Aha (cold and warm reference cache, and through HTTP when `url` is given) and Math-Verify on
    `items`; print the table and, per `key` (category or shape), the accuracy of each checker."""
    print(f"corpus: {len(items)} items {dict(Counter(it['expected'] for it in items))}; deadline {deadline}s")
    results = [
        run("aha (ref cache cold)", aha_status_cold, items),
        run("math-verify", math_verify_status, items),
        run("aha (ref cache warm)", aha_status, items),
    ]
    if url is not None:
        results.append(run_http(url, items))
    print(
        f"\n{'checker':<22} {'precision':>9} {'recall':>7} {'accuracy':>8} {'items/s':>10} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>9} {'>ddl':>6} {'FP':>4} {'FN':>4}"
    )
    rows = {r.name: report(r, items, deadline) for r in results}
    mv = rows["math-verify"]["items_per_s"]
    print()
    for name in [r.name for r in results if r.name != "math-verify"]:
        print(f"throughput ratio {name} / math-verify: {rows[name]['items_per_s'] / mv:.1f}x")
    print(f"\naccuracy by {key} (aha cold | math-verify):")
    for cat in sorted({it[key] for it in items}):
        idx = [i for i, it in enumerate(items) if it[key] == cat]
        a = sum(1 for i in idx if results[0].statuses[i] == items[i]["expected"]) / len(idx)
        m = sum(1 for i in idx if results[1].statuses[i] == items[i]["expected"]) / len(idx)
        print(f"  {cat:<24} {len(idx):>4} items   aha {a:>6.3f}   math-verify {m:>6.3f}")
    if show_misses:
        for res in (results[0], results[1]):
            print(f"\nmisses of {res.name}:")
            for it, st in zip(items, res.statuses, strict=True):
                if st != it["expected"]:
                    print(f"  {it['id']}: expected {it['expected']}, got {st}; ref={it['reference']!r:.50}")


def main() -> None:
    """Run both checkers on the labelled corpus and on the shape corpus and print the comparisons."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "tests/verifiers/math/corpus.jsonl")
    ap.add_argument("--shapes", type=Path, default=ROOT / "tests/verifiers/math/shapes.jsonl")
    ap.add_argument("--deadline", type=float, default=2.0, help="per-item deadline in seconds")
    ap.add_argument("--show-misses", action="store_true", help="list every item a checker gets wrong")
    ap.add_argument("--no-http", action="store_true", help="skip the pass through a real `aha serve`")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the served engine")
    args = ap.parse_args()
    t_start = time.perf_counter()
    server, url = None, None
    log = tempfile.TemporaryFile()
    if not args.no_http:
        server, url = start_server(args.workers, log)
        print(f"aha serve at {url} with {args.workers} workers (batches of {HTTP_BATCH}, no result cache)\n")
    try:
        print("== labelled corpus")
        compare(load(args.corpus), args.deadline, args.show_misses, "category", url)
        print("\n== hard answer shapes (issue 12)")
        compare(load(args.shapes), args.deadline, args.show_misses, "shape", url)
    finally:
        if server is not None:
            stop_server(server)
    print(f"\nbench wall time {time.perf_counter() - t_start:.1f}s")


if __name__ == "__main__":
    main()
