"""Evaluation metrics over k samples per problem: ``aha grade samples.jsonl``.

Each input line is a ``/v1/score`` item whose ``group`` names the problem (and an optional ``source`` names the
data set). Lines are scored by the same engine as training (accuracy profile), then per problem with n samples of
which c are correct:

- pass@1 is c / n (pass@1 averaged over the n samples);
- pass@k is the unbiased estimator 1 − C(n − c, k) / C(n, k) (Chen et al., 2021), for each requested k ≤ n;
- cons@k is majority voting over the extracted answers of the first k samples, where answers that the math
  verifier finds equivalent count as one vote; ties go to the answer seen first. A problem's vote is correct when
  the winning answer's samples were judged correct. Only tasks whose verdicts carry an extracted answer (math)
  have cons@k.

Undecided samples (reward null: timeout, unparseable reference, …) count as not correct and are reported.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any

from service.cli.score import BatchOptions, ResumeMismatch, engine_scorer, http_scorer, score_file
from service.settings import Settings

Equivalent = Callable[[str, str], bool]


@dataclass
class Sample:
    """One graded sample."""

    correct: bool
    decided: bool
    answer: str | None


@dataclass
class Problem:
    """All samples of one problem."""

    source: str
    samples: list[Sample] = field(default_factory=list)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator for n samples with c correct."""
    if k > n:
        raise ValueError(f"k={k} exceeds the {n} samples")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def majority_correct(samples: Sequence[Sample], equivalent: Equivalent) -> bool | None:
    """Whether the majority answer (equivalent answers pooled) is correct; None when no sample has an answer."""
    clusters: list[list[Sample]] = []
    representatives: list[str] = []
    for sample in samples:
        if sample.answer is None:
            continue
        for rep, cluster in zip(representatives, clusters, strict=True):
            if rep == sample.answer or equivalent(sample.answer, rep):
                cluster.append(sample)
                break
        else:
            representatives.append(sample.answer)
            clusters.append([sample])
    if not clusters:
        return None
    best = max(clusters, key=len)  # max keeps the first of equal sizes: the answer seen first wins a tie
    return sum(s.correct for s in best) * 2 > len(best)


def math_equivalent(a: str, b: str) -> bool:
    """Two extracted answers are the same answer for the math verifier."""
    from verifiers.math import verify
    from verifiers.verdict import Attempt

    return verify(Attempt(f"\\boxed{{{a}}}", reference=b)).status == "correct"


def collect(items: Iterable[dict[str, Any]], results: Iterable[dict[str, Any]]) -> dict[str, Problem]:
    """Samples by problem, from input items and their results (same order)."""
    problems: dict[str, Problem] = {}
    for item, result in zip(items, results, strict=True):
        group = item.get("group")
        if group is None:
            group = str(item.get("id", len(problems)))
        source = str(item.get("source") or "all")
        problem = problems.setdefault(str(group), Problem(source))
        accuracy = result.get("details", {}).get("accuracy", {})
        answer = accuracy.get("extracted") if isinstance(accuracy, dict) else None
        problem.samples.append(
            Sample(correct=result["status"] == "correct", decided=result["reward"] is not None, answer=answer)
        )
    return problems


def report(problems: dict[str, Problem], ks: Sequence[int], equivalent: Equivalent) -> dict[str, Any]:
    """Per-source and overall metrics."""
    by_source: dict[str, list[Problem]] = defaultdict(list)
    for problem in problems.values():
        by_source[problem.source].append(problem)
    tables = {source: _metrics(ps, ks, equivalent) for source, ps in sorted(by_source.items())}
    if len(tables) > 1:
        tables["all"] = _metrics(list(problems.values()), ks, equivalent)
    return {"ks": list(ks), "sources": tables}


def _metrics(problems: list[Problem], ks: Sequence[int], equivalent: Equivalent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "problems": len(problems),
        "samples": sum(len(p.samples) for p in problems),
        "undecided": sum(1 for p in problems for s in p.samples if not s.decided),
        "pass@1": _mean([sum(s.correct for s in p.samples) / len(p.samples) for p in problems]),
    }
    for k in ks:
        eligible = [p for p in problems if len(p.samples) >= k]
        out[f"pass@{k}"] = _mean([pass_at_k(len(p.samples), sum(s.correct for s in p.samples), k) for p in eligible])
        votes = [majority_correct(p.samples[:k], equivalent) for p in eligible]
        decided = [float(v) for v in votes if v is not None]
        out[f"cons@{k}"] = _mean(decided) if decided else None
    return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def format_table(rep: dict[str, Any]) -> str:
    """The report as a plain text table."""
    ks = rep["ks"]
    names = ["problems", "samples", "undecided", "pass@1", *(f"pass@{k}" for k in ks), *(f"cons@{k}" for k in ks)]
    columns = list(dict.fromkeys(names))  # pass@1 once, even when k=1 is asked for
    header = f"{'source':<24}" + "".join(f"{c:>11}" for c in columns)
    lines = [header]
    for source, row in rep["sources"].items():
        cells = []
        for c in columns:
            v = row.get(c)
            cells.append(f"{'-':>11}" if v is None else f"{v:>11.4f}" if isinstance(v, float) else f"{v:>11}")
        lines.append(f"{source[:24]:<24}" + "".join(cells))
    return "\n".join(lines)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Non-blank lines of a JSONL file; a line that is not an object becomes an empty object (an invalid item)."""
    rows = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = {}
            rows.append(value if isinstance(value, dict) else {})
    return rows


def run(args: argparse.Namespace) -> int:
    """``aha grade``: pass@k and cons@k over k samples per problem."""
    in_path = Path(args.input)
    scored = Path(args.scored) if args.scored else in_path.with_suffix(".graded.jsonl")
    ks = sorted({int(k) for k in args.k.split(",") if k.strip()})
    if any(k < 1 for k in ks):
        raise SystemExit("aha grade: every k must be >= 1")
    scorer, close = http_scorer(args.url, args.api_key) if args.url else engine_scorer(Settings())
    try:
        score_file(in_path, scored, scorer, BatchOptions(profile="accuracy", advantage="none"), not args.quiet)
    except ResumeMismatch as exc:
        raise SystemExit(f"aha grade: {exc}; or another --scored") from exc
    finally:
        close()
    rep = report(collect(read_jsonl(in_path), read_jsonl(scored)), ks, math_equivalent)
    print(format_table(rep))
    if args.report:
        Path(args.report).write_text(json.dumps(rep, indent=2))
    return 0
