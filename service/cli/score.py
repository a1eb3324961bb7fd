"""Scoring a JSONL file: ``aha score in.jsonl -o out.jsonl``.

Each input line is one item of the ``POST /v1/score`` contract. Each output line is that item's result, in input
order, so a file scored here gets exactly the rewards a trainer would get. A line that is not JSON or not a valid
item gets an ``invalid_item`` result of its own; nothing is dropped. The run is resumable: lines already in the
output are kept and scoring continues after them. Group advantages are computed over the whole file at the end
(a group may span batches), by rewriting the output once.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tqdm import tqdm

from service.advantages import group_advantages
from service.models import ItemResult, ScoreItem, ScoreRequest
from service.settings import Settings

Scorer = Callable[[list[dict[str, Any]], dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class BatchOptions:
    """Request-level fields applied to every batch, plus how to batch."""

    profile: str = "accuracy"
    weights: Mapping[str, float] = field(default_factory=dict)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    advantage: str = "grpo"
    batch_size: int = 256
    use_cache: bool = True

    def request_fields(self) -> dict[str, Any]:
        """Fields of each score request (advantages are done over the whole file instead)."""
        fields: dict[str, Any] = {"profile": self.profile, "advantage": "none", "use_cache": self.use_cache}
        if self.weights:
            fields["weights"] = dict(self.weights)
        if self.options:
            fields["options"] = {k: dict(v) for k, v in self.options.items()}
        return fields


def _invalid(line_no: int, item_id: str | None, reason: str) -> dict[str, Any]:
    result = ItemResult(
        id=item_id or f"line-{line_no}", reward=None, components={}, status="invalid_item", reason=reason, details={}
    )
    return result.model_dump()


def parse_line(line_no: int, line: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(item, None) for a valid line, (None, invalid result) otherwise."""
    try:
        raw = json.loads(line)
    except ValueError as exc:
        return None, _invalid(line_no, None, f"line {line_no}: not valid JSON: {exc}")
    if not isinstance(raw, dict):
        return None, _invalid(line_no, None, f"line {line_no}: expected a JSON object")
    raw.setdefault("id", f"line-{line_no}")
    try:
        ScoreItem.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return None, _invalid(line_no, str(raw.get("id")), f"line {line_no}: {where}: {first['msg']}")
    return raw, None


class ResumeMismatch(ValueError):
    """The output holds results of another input or other request fields: resuming would mix two runs."""


def run_record_path(out_path: Path) -> Path:
    """Where a run records what its output answers (beside the output)."""
    return out_path.with_name(out_path.name + ".run.json")


def _run_identity(in_path: Path, opts: BatchOptions) -> dict[str, Any]:
    # What the output's lines depend on: the input (its path and its first MiB, so an edited or other file at the
    # same path is told apart) and the request fields; not the batch size or the cache, which change no result.
    with in_path.open("rb") as f:
        head = hashlib.sha256(f.read(1 << 20)).hexdigest()
    fields = {k: v for k, v in opts.request_fields().items() if k != "use_cache"}
    return {"input": str(in_path.resolve()), "input_head_sha256": head, "request": fields, "advantage": opts.advantage}


def resume_point(in_path: Path, out_path: Path, opts: BatchOptions) -> int:
    """How many results ``out_path`` already holds for this input and these options (0 for a new output, whose run
    is recorded); ``ResumeMismatch`` when it holds another run's results or no record says whose they are."""
    record = run_record_path(out_path)
    identity = _run_identity(in_path, opts)
    if not out_path.exists() or out_path.stat().st_size == 0:
        record.write_text(json.dumps(identity, sort_keys=True))
        return completed_lines(out_path)
    try:
        recorded = json.loads(record.read_text())
    except (OSError, ValueError):
        raise ResumeMismatch(
            f"{out_path} exists but {record.name} does not say which input and options it answers; "
            "pass --no-resume to start over"
        ) from None
    differs = sorted(k for k in identity if recorded.get(k) != identity[k])
    if differs:
        raise ResumeMismatch(
            f"{out_path} holds the results of another run (its {', '.join(differs)} differ); "
            "pass --no-resume to start over, or another --output"
        )
    return completed_lines(out_path)


def completed_lines(out_path: Path) -> int:
    """Complete result lines already in the output; a torn last line (a killed run) is cut off."""
    if not out_path.exists():
        return 0
    good, offset = 0, 0
    with out_path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                json.loads(raw)
            except ValueError:
                break
            good += 1
            offset += len(raw)
    with out_path.open("r+b") as f:
        f.truncate(offset)
    return good


def _lines(path: Path, skip: int) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            if line_no > skip and line.strip():
                yield line_no, line


def score_file(in_path: Path, out_path: Path, scorer: Scorer, opts: BatchOptions, progress: bool = True) -> dict:
    """Score ``in_path`` into ``out_path`` with ``scorer`` (in-process engine or HTTP); returns a summary."""
    total = sum(1 for _ in _lines(in_path, 0))
    done = resume_point(in_path, out_path, opts)
    fields = opts.request_fields()
    bar = tqdm(total=total, initial=done, unit="item", disable=not progress, desc="scoring")
    with out_path.open("a", encoding="utf-8") as out:
        pending: list[tuple[dict | None, dict | None]] = []

        def flush() -> None:
            items = [item for item, _ in pending if item is not None]
            scored = iter(scorer(items, fields)) if items else iter(())
            for item, invalid in pending:
                out.write(json.dumps(next(scored) if item is not None else invalid, ensure_ascii=False) + "\n")
            out.flush()
            bar.update(len(pending))
            pending.clear()

        # Skip by count of non-blank lines already answered, so blank lines do not shift the resume point.
        for index, (line_no, line) in enumerate(_lines(in_path, 0)):
            if index < done:
                continue
            pending.append(parse_line(line_no, line))
            if len(pending) >= opts.batch_size:
                flush()
        if pending:
            flush()
    bar.close()
    summary = finish_file(in_path, out_path, opts.advantage)
    summary["resumed_from"] = done
    return summary


def finish_file(in_path: Path, out_path: Path, mode: str) -> dict[str, Any]:
    """Group advantages over the whole file (a group may span batches), written into the output once; the run's
    summary (items, status counts)."""
    groups: list[str | None] = []
    for _, line in _lines(in_path, 0):
        try:
            raw = json.loads(line)
            groups.append(raw.get("group") if isinstance(raw, dict) else None)
        except ValueError:
            groups.append(None)
    rewards: list[float | None] = []
    statuses: dict[str, int] = {}
    with out_path.open(encoding="utf-8") as f:
        for line in f:
            result = json.loads(line)
            rewards.append(result["reward"])
            statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    if mode != "none" and any(g is not None for g in groups):
        advantages = group_advantages(rewards, groups[: len(rewards)], mode)
        tmp = out_path.with_suffix(out_path.suffix + ".tmp")
        with out_path.open(encoding="utf-8") as src, tmp.open("w", encoding="utf-8") as dst:
            for line, advantage in zip(src, advantages, strict=True):
                result = json.loads(line)
                result["advantage"] = advantage
                dst.write(json.dumps(result, ensure_ascii=False) + "\n")
        os.replace(tmp, out_path)
    scored = [r for r in rewards if r is not None]
    return {
        "items": len(rewards),
        "statuses": statuses,
        "mean_reward": sum(scored) / len(scored) if scored else None,
    }


def engine_scorer(settings: Any) -> tuple[Scorer, Callable[[], None]]:
    """A scorer running the engine in this process, and its closer."""
    from service.engine import build_engine

    engine = build_engine(settings)
    loop = asyncio.new_event_loop()

    def score(items: list[dict[str, Any]], fields: dict[str, Any]) -> list[dict[str, Any]]:
        response = loop.run_until_complete(engine.score(ScoreRequest(items=items, **fields)))
        return [r.model_dump() for r in response.results]

    def close() -> None:
        loop.run_until_complete(engine.close())
        loop.close()

    return score, close


def http_scorer(url: str, api_key: str | None = None) -> tuple[Scorer, Callable[[], None]]:
    """A scorer calling a running service (with ``api_key``, else ``AHA_API_KEY``), and its closer."""
    from service.integrations.client import AhaClient

    client = AhaClient(url, api_key=api_key)

    def score(items: list[dict[str, Any]], fields: dict[str, Any]) -> list[dict[str, Any]]:
        return client.score(items, **fields)["results"]

    return score, client.close


def run(args: argparse.Namespace) -> int:
    """``aha score``: score a JSONL file in-process or through a running service."""
    in_path = Path(args.input)
    out_path = Path(args.output) if args.output else in_path.with_suffix(".scored.jsonl")
    if not args.resume:
        out_path.unlink(missing_ok=True)
        run_record_path(out_path).unlink(missing_ok=True)
    opts = BatchOptions(
        profile=args.profile,
        weights=args.weights or {},
        options=args.options or {},
        advantage=args.advantage,
        batch_size=args.batch_size,
        use_cache=not args.no_cache,
    )
    try:
        resume_point(in_path, out_path, opts)  # refuse another run's output before any engine starts
        if getattr(args, "ray", False):
            summary = _score_ray(args, in_path, out_path, opts)
        else:
            scorer, close = http_scorer(args.url, args.api_key) if args.url else engine_scorer(Settings())
            try:
                summary = score_file(in_path, out_path, scorer, opts, progress=not args.quiet)
            finally:
                close()
    except ResumeMismatch as exc:
        raise SystemExit(f"aha score: {exc}") from exc
    print(json.dumps({"output": str(out_path), **summary}))
    return 0


def _score_ray(args: argparse.Namespace, in_path: Path, out_path: Path, opts: BatchOptions) -> dict[str, Any]:
    """``aha score --ray``: the same output from an actor pool of engines on a Ray cluster (service/scale/data.py)."""
    from service.scale import RayMissing, require_ray

    if args.url:
        raise SystemExit("aha score: --ray scores on the cluster's own engines; it does not take --url")
    try:
        require_ray("aha score --ray")
    except RayMissing as exc:
        raise SystemExit(f"aha score: {exc}") from exc
    from service.scale.data import RayOptions, score_file_ray

    ray_opts = RayOptions(address=args.ray_address, actors=args.ray_actors, cpus_per_actor=args.ray_actor_cpus)
    return score_file_ray(in_path, out_path, opts, ray_opts, progress=not args.quiet)
