"""``aha score --ray``: a JSONL file scored on a Ray cluster with Ray Data, with what ``aha score`` promises.

read -> ``map_batches`` over an actor pool of engines -> write, streamed:

- **read**: the driver cuts the file into spans of whole lines (byte offset, first line number, first item index)
  in one pass; each read task decodes its span exactly as ``aha score`` reads the file (UTF-8 with replacement,
  universal newlines), so every line keeps the number its ``line-N`` id and error reasons name. Read tasks run on
  the driver's node, where the file is (it need not be on shared storage), and reserve no CPU (reading is cheap;
  the CPUs are the engines').
- **score**: each actor of the pool builds one ``Engine`` (its own verifier pool, sandbox and cache; Redis shared
  when ``AHA_REDIS_URL`` is set) and scores a batch as one request, parsing lines with the same ``parse_line`` as the
  in-process scorer, so a bad line gets the same ``invalid_item`` result.
- **write**: blocks come back in input order (``preserve_order``) and the driver appends them to the one output file
  as they arrive, flushing each batch: an interrupted run keeps every complete line, and the next run resumes after
  them (a torn last line is cut off), as ``aha score`` does. Ray Data's own writers make a directory of shards,
  which could neither resume by line nor give one file in input order.

Group advantages are computed over the whole file in a final pass (``finish_file``: a group may span batches and
actors), so the output equals the in-process ``aha score`` line for line, ``cached`` aside: that flag says whether
this run's cache already held the verdict, and which engine saw an item first depends on scheduling.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray
from ray.data import ActorPoolStrategy, DataContext, Datasource, ReadTask
from ray.data.block import BlockMetadata
from tqdm import tqdm

from service.cli.score import BatchOptions, finish_file, parse_line, resume_point
from service.engine import build_engine
from service.models import ScoreRequest
from service.scale import aha_environment
from service.settings import Settings

log = logging.getLogger("aha.scale.data")

# Lines per read task: large enough that a task's overhead is small, small enough to keep every actor busy early.
LINES_PER_SPAN = 4096


@dataclass(frozen=True)
class Span:
    """A run of whole lines of the input: where it starts and the numbering of its first line."""

    offset: int
    length: int
    first_line: int  # line number (1-based, every line counted, as aha score counts them) of the span's first line
    first_index: int  # index among non-blank lines (the output line it answers) of its first non-blank line
    items: int  # non-blank lines in the span


def _text_lines(chunk: bytes) -> list[str]:
    # The decoding and line splitting of `open(path, encoding="utf-8", errors="replace")`, which aha score uses.
    return list(io.TextIOWrapper(io.BytesIO(chunk), encoding="utf-8", errors="replace"))


def plan_spans(path: Path, lines_per_span: int = LINES_PER_SPAN) -> list[Span]:
    """Cut ``path`` into spans of about ``lines_per_span`` lines, each ending at a newline (or the file's end)."""
    spans: list[Span] = []
    offset, line_no, index = 0, 0, 0
    with path.open("rb") as f:
        while True:
            raw = [f.readline() for _ in range(lines_per_span)]
            chunk = b"".join(raw)
            if not chunk:
                break
            # Cut after b"\n" only: that byte is never inside a UTF-8 sequence nor between \r and \n, so decoding
            # spans one by one splits lines exactly as decoding the whole file would.
            lines = _text_lines(chunk)
            items = sum(1 for line in lines if line.strip())
            spans.append(Span(offset, len(chunk), line_no + 1, index, items))
            offset += len(chunk)
            line_no += len(lines)
            index += items
    return spans


def read_span(path: str, span: Span, skip: int) -> pa.Table:
    """The span's non-blank lines with index ``skip`` or more, as a table of (index, line_no, line)."""
    with open(path, "rb") as f:
        f.seek(span.offset)
        chunk = f.read(span.length)
    indexes: list[int] = []
    numbers: list[int] = []
    texts: list[str] = []
    index = span.first_index
    for line_no, line in enumerate(_text_lines(chunk), start=span.first_line):
        if not line.strip():
            continue
        if index >= skip:
            indexes.append(index)
            numbers.append(line_no)
            texts.append(line)
        index += 1
    return pa.table(
        {"index": pa.array(indexes, pa.int64()), "line_no": pa.array(numbers, pa.int64()), "line": texts},
        schema=pa.schema([("index", pa.int64()), ("line_no", pa.int64()), ("line", pa.string())]),
    )


class JsonlLines(Datasource):
    """The non-blank lines of a JSONL file from index ``skip`` on, one read task per span."""

    def __init__(self, path: Path, spans: list[Span], skip: int) -> None:
        super().__init__()
        self.path = str(path)
        self.spans = [s for s in spans if s.first_index + s.items > skip and s.items]
        self.skip = skip

    def estimate_inmemory_data_size(self) -> int | None:
        return sum(s.length for s in self.spans)

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: DataContext | None = None
    ) -> list[ReadTask]:
        tasks = []
        for span in self.spans:
            rows = span.first_index + span.items - max(self.skip, span.first_index)
            metadata = BlockMetadata(num_rows=rows, size_bytes=span.length, input_files=[self.path], exec_stats=None)
            tasks.append(
                ReadTask(lambda span=span: [read_span(self.path, span, self.skip)], metadata, per_task_row_limit=None)
            )
        return tasks


class EngineActor:
    """One actor of the pool: an engine of its own, scoring one batch of lines as one request.

    It has no ``__del__`` closing the engine: Ray Data ends its actors only once every batch is answered, so no
    sandbox run is left to sweep, and the pool's processes die with the actor (workers with their forkserver, the
    forkserver when the actor's end of its pipe closes); what an interrupted run leaves in program dirs is swept by
    the next run, as after any killed worker. Closing the engine in ``__del__`` made teardown slower and raced
    multiprocessing's resource tracker, which Ray had already ended.
    """

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self.engine = build_engine(Settings())
        self.loop = asyncio.new_event_loop()
        self.engine.pool.wait_ready(60)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Results (JSON text, as ``aha score`` writes them) of a batch of (index, line_no, line) rows."""
        parsed = [
            parse_line(n, line) for n, line in zip(batch["line_no"].to_pylist(), batch["line"].to_pylist(), strict=True)
        ]
        items = [item for item, _ in parsed if item is not None]
        scored: Iterator[Any] = iter(())
        if items:
            response = self.loop.run_until_complete(self.engine.score(ScoreRequest(items=items, **self.fields)))
            scored = iter(response.results)
        results = [
            json.dumps(next(scored).model_dump() if item is not None else invalid, ensure_ascii=False)
            for item, invalid in parsed
        ]
        return pa.table({"index": batch["index"], "result": pa.array(results, pa.string())})


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide ``aha score --ray`` runs."""

    address: str | None = None  # a running cluster; None starts a local one
    actors: int | None = None  # engine actors; None = one per ``cpus_per_actor`` CPUs of the cluster
    cpus_per_actor: float = 1.0  # CPUs each actor reserves; its verifier pool gets that many workers


def _connect(address: str | None) -> bool:
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
        return False
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", logging_level=logging.WARNING)
    return True


def score_file_ray(
    in_path: Path, out_path: Path, opts: BatchOptions, ray_opts: RayOptions, progress: bool = True
) -> dict[str, Any]:
    """Score ``in_path`` into ``out_path`` on a Ray cluster; the output and summary are those of ``score_file``."""
    done = resume_point(in_path, out_path, opts)
    spans = plan_spans(in_path)
    total = sum(s.items for s in spans)
    started = _connect(ray_opts.address)
    try:
        if done < total:
            _score_rest(in_path, out_path, opts, ray_opts, spans, done, total, progress)
    finally:
        if started:
            ray.shutdown()
    summary = finish_file(in_path, out_path, opts.advantage)
    summary["resumed_from"] = done
    return summary


def _score_rest(
    in_path: Path,
    out_path: Path,
    opts: BatchOptions,
    ray_opts: RayOptions,
    spans: list[Span],
    done: int,
    total: int,
    progress: bool,
) -> None:
    context = DataContext.get_current()
    context.execution_options.preserve_order = True  # output line i answers input line i
    context.enable_progress_bars = False  # ours below counts written lines, which is what resuming goes by
    cpus = ray.cluster_resources().get("CPU", 1.0)
    actors = ray_opts.actors or max(1, int(cpus // ray_opts.cpus_per_actor))
    env = aha_environment()
    env.setdefault("AHA_WORKERS", str(max(1, int(ray_opts.cpus_per_actor))))
    # The driver's node, where the input file is (Ray Data pins its own local:// reads the same way).
    here = {"ray.io/node-id": ray.get_runtime_context().get_node_id()}
    dataset = ray.data.read_datasource(JsonlLines(in_path, spans, done), num_cpus=0, label_selector=here).map_batches(
        EngineActor,
        batch_size=opts.batch_size,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=actors),
        num_cpus=ray_opts.cpus_per_actor,
        fn_constructor_kwargs={"fields": opts.request_fields()},
        runtime_env={"env_vars": env},
    )
    expected = done
    with (
        out_path.open("a", encoding="utf-8") as out,
        tqdm(total=total, initial=done, unit="item", disable=not progress, desc="scoring") as bar,
    ):
        for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            indexes, results = batch["index"].to_pylist(), batch["result"].to_pylist()
            for index, result in zip(indexes, results, strict=True):
                # preserve_order is what makes this hold; were it ever broken, stop rather than misnumber lines.
                if index != expected:
                    raise RuntimeError(f"Ray Data returned item {index} where item {expected} was due")
                out.write(result + "\n")
                expected += 1
            out.flush()
            bar.update(len(indexes))
    if expected != total:
        raise RuntimeError(f"Ray Data returned {expected - done} results for {total - done} items")
