"""Load on a real `aha serve`: many concurrent clients, per batch size, against the in-process engine.

Starts `aha serve` on a free loopback port, then for each batch size runs ``--clients`` concurrent clients
(threads, each with its own httpx connection) for ``--seconds`` and prints requests/s, items/s, p50 and p99
latency per request, errors (any non-200 or no answer) and wrong rewards (every item's right reward is known by
construction). The last columns are the in-process engine's items/s for the same kind of items with the same
number of concurrent callers, measured in the same run, and the HTTP share of it: what the network face costs.
A cell lasts ``--seconds`` plus the latency of its last requests (no new request starts after the clock). The
clients' own ceiling (``GET /healthz``) is printed first: a batch-1 row near it measures the client, not Aha.

Items are math completions with real-looking ``\\boxed{}`` answers (integers, fractions, decimals, surds,
polynomials, intervals; two in three right) against references in another form, so the checker does real work.
The cache is on, but every item is new, so nearly all are judged. When the service can run Python, a "mixed" row
adds one Python code item (stdin/stdout tests, right or wrong) in every eight.

    .venv/bin/python bench/load.py [--seconds 5] [--clients 32] [--batch-sizes 1,16,256] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.engine import Engine, build_engine  # noqa: E402
from service.models import ScoreRequest  # noqa: E402
from service.settings import Settings  # noqa: E402

THOUGHT = (
    "<think>Let me set this up carefully. First I rewrite the expression in a simpler form, then I check the "
    "edge cases one by one, and finally I verify the result by substituting it back. Case {k}: the computation "
    "goes through without surprises, so I can state the final answer.</think>\n"
)


def _math_forms(k: int) -> list[tuple[str, str, str]]:
    """(reference, right answer, wrong answer) in several styles, all depending on ``k`` so each item is new."""
    return [
        (str(k), f"{k:,}", str(k + 1)),
        (f"\\frac{{{k}}}{{{k + 1}}}", f"{k}/{k + 1}", f"{k + 1}/{k}"),
        # Wrong answers are off by a factor, not by 1: (k + 1) / 8 is within the float tolerance of k / 8 once k
        # is large, and sqrt(2k^2 + 2) within double precision of k sqrt(2).
        (f"\\frac{{{k}}}{{8}}", str(k / 8), str(k / 4)),
        (f"{k}\\sqrt{{2}}", f"\\sqrt{{{2 * k * k}}}", f"\\sqrt{{{k * k}}}"),
        (f"x^2 + {2 * k}x + {k * k}", f"(x + {k})^2", f"(x - {k})^2"),
        (f"[{k}, {k + 3})", f"[{k},{k + 3})", f"({k}, {k + 3}]"),
    ]


PYTHON_RIGHT = "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)"
PYTHON_WRONG = "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a - b)"


def math_item(n: int) -> tuple[dict[str, Any], float]:
    """The n-th math item and its right reward under the ``accuracy`` profile."""
    forms = _math_forms(1000 + n)
    reference, right, wrong = forms[n % len(forms)]
    correct = (n // len(forms)) % 3 != 0
    completion = THOUGHT.format(k=n) + f"So the answer is $\\boxed{{{right if correct else wrong}}}$."
    return {"id": f"m{n}", "task": "math", "completion": completion, "reference": reference}, float(correct)


def code_item(n: int) -> tuple[dict[str, Any], float]:
    """The n-th Python code item (a + b, right or wrong on purpose) and its right reward."""
    correct = n % 2 == 0
    a, b = n, 7
    reference = {
        "language": "python",
        "tests": [{"stdin": f"{a} {b}\n", "stdout": f"{a + b}\n"}, {"stdin": "40 2\n", "stdout": "42\n"}],
    }
    program = PYTHON_RIGHT if correct else PYTHON_WRONG
    completion = THOUGHT.format(k=n) + f"```python\n{program}\n# case {n}\n```"
    return {"id": f"c{n}", "task": "code", "completion": completion, "reference": reference}, float(correct)


ItemMaker = Callable[[int], tuple[dict[str, Any], float]]


def mixed_item(n: int) -> tuple[dict[str, Any], float]:
    """One code item in every eight, the rest math."""
    return code_item(n) if n % 8 == 7 else math_item(n)


def bodies(make: ItemMaker, batch: int, start: int) -> Iterator[tuple[dict[str, Any], dict[str, float]]]:
    """Request bodies of new items (numbered from ``start``) with the right reward of each item."""
    for first in itertools.count(start, batch):
        pairs = [make(n) for n in range(first, first + batch)]
        yield {"profile": "accuracy", "items": [p[0] for p in pairs]}, {p[0]["id"]: p[1] for p in pairs}


@dataclass
class Cell:
    """What one timed run measured."""

    requests: int = 0
    items: int = 0
    errors: int = 0
    wrong: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def record(self, latency: float, results: list[dict[str, Any]] | None, expected: dict[str, float]) -> None:
        """Count one request; ``results`` is None when it did not succeed."""
        self.latencies.append(latency)
        if results is None:
            self.errors += 1
            return
        self.requests += 1
        self.items += len(results)
        got = {r["id"]: r["reward"] for r in results}
        self.wrong += sum(1 for k, v in expected.items() if got.get(k) != v)

    def quantile_ms(self, q: float) -> float:
        """A latency quantile in milliseconds."""
        if len(self.latencies) < 2:
            return 1000 * (self.latencies[0] if self.latencies else float("nan"))
        return 1000 * statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q * 100) - 1]


async def _run_clients(clients: int, seconds: float, one: Callable[[], Any]) -> float:
    """Run ``clients`` coroutine loops of ``one()`` for ``seconds``; returns the elapsed time."""
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    async def loop() -> None:
        while time.perf_counter() < deadline:
            await one()

    await asyncio.gather(*(loop() for _ in range(clients)))
    return time.perf_counter() - started


def _run_threads(clients: int, seconds: float, one: Callable[[httpx.Client], None], url: str) -> float:
    """``clients`` threads, each with its own connection, calling ``one`` for ``seconds``; the elapsed time."""
    deadline = time.perf_counter() + seconds

    def loop() -> None:
        with httpx.Client(base_url=url, timeout=300) as client:
            while time.perf_counter() < deadline:
                one(client)

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def bench_http(url: str, make: ItemMaker, batch: int, clients: int, seconds: float, start: int) -> Cell:
    """``clients`` concurrent HTTP clients posting new batches for ``seconds``."""
    cell, source, lock = Cell(), bodies(make, batch, start), threading.Lock()
    httpx.post(url + "/v1/score", json=next(source)[0], timeout=300).raise_for_status()  # warm-up

    def one(client: httpx.Client) -> None:
        with lock:
            body, expected = next(source)
        # Encoded before, decoded after the clock: the latency is the service's, not the client's JSON code.
        content = json.dumps(body).encode()
        t = time.perf_counter()
        try:
            r = client.post("/v1/score", content=content, headers={"content-type": "application/json"})
        except httpx.HTTPError:
            with lock:
                cell.record(time.perf_counter() - t, None, expected)
            return
        latency = time.perf_counter() - t
        try:
            results = r.json()["results"] if r.status_code == 200 else None
        except (ValueError, KeyError):
            results = None
        with lock:
            cell.record(latency, results, expected)

    cell.seconds = _run_threads(clients, seconds, one, url)
    return cell


def client_ceiling(url: str, clients: int, seconds: float) -> float:
    """Requests/s of these clients on ``GET /healthz``: above it, a batch-1 figure measures the client."""
    done = [0]
    lock = threading.Lock()

    def one(client: httpx.Client) -> None:
        client.get("/healthz").raise_for_status()
        with lock:
            done[0] += 1

    elapsed = _run_threads(clients, seconds, one, url)
    return done[0] / elapsed


async def bench_engine(engine: Engine, make: ItemMaker, batch: int, clients: int, seconds: float, start: int) -> Cell:
    """The same load on the in-process engine: ``clients`` concurrent callers of ``Engine.score``."""
    cell, source = Cell(), bodies(make, batch, start)
    await engine.score(ScoreRequest(**next(source)[0]))

    async def one() -> None:
        body, expected = next(source)
        t = time.perf_counter()
        response = await engine.score(ScoreRequest(**body))
        cell.record(time.perf_counter() - t, [r.model_dump() for r in response.results], expected)

    cell.seconds = await _run_clients(clients, seconds, one)
    return cell


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int, log: IO[bytes]) -> tuple[subprocess.Popen, str]:
    """`aha serve` on a free loopback port, logging to ``log``, once /healthz answers (as bench/service_bench.py)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AHA_LOG_LEVEL": "warning", "AHA_WORKERS": str(workers)}
    env.pop("AHA_REDIS_URL", None)  # the in-process cache on both sides, so the comparison is like for like
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError("aha serve did not become healthy")


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM the server (it stops its own workers), then SIGKILL whatever is left of its process group."""
    try:
        server.send_signal(signal.SIGTERM)
        server.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def python_usable(url: str) -> bool:
    """Whether the service can judge Python code items."""
    ready = httpx.get(url + "/readyz", timeout=30).json()
    return bool(ready["tasks"]["code"]["usable"]) and "python" in ready["languages"]["usable"]


HEADER = (
    f"{'items':>6} {'batch':>6} {'clients':>7} {'req/s':>8} {'items/s':>9} {'p50 ms':>8} {'p99 ms':>9} "
    f"{'errors':>6} {'wrong':>5} {'in-proc items/s':>15} {'HTTP/in-proc':>12}"
)


def row(kind: str, batch: int, clients: int, http: Cell, local: Cell) -> str:
    """One line of the table."""
    http_ips, local_ips = http.items / http.seconds, local.items / local.seconds
    return (
        f"{kind:>6} {batch:>6} {clients:>7} {http.requests / http.seconds:>8,.1f} {http_ips:>9,.0f} "
        f"{http.quantile_ms(0.5):>8.1f} {http.quantile_ms(0.99):>9.1f} {http.errors:>6} "
        f"{http.wrong + local.wrong:>5} {local_ips:>15,.0f} {http_ips / local_ips:>12.2f}"
    )


async def run(args: argparse.Namespace, url: str, mixed: bool) -> None:
    """Measure every cell and print the table."""
    engine = build_engine(Settings(workers=args.workers, redis_url=None))
    start = itertools.count(0, 1_000_000)  # each cell numbers its items apart from all others: no cache hits
    try:
        ceiling = await asyncio.to_thread(client_ceiling, url, args.clients, min(args.seconds, 2.0))
        print(f"client ceiling: {ceiling:,.0f} requests/s on GET /healthz with these clients", flush=True)
        print(HEADER, flush=True)
        cells: list[tuple[str, ItemMaker, int]] = [("math", math_item, b) for b in args.batch_sizes]
        if mixed:
            cells += [("mixed", mixed_item, b) for b in args.mixed_batch_sizes]
        for kind, make, batch in cells:
            local = await bench_engine(engine, make, batch, args.clients, args.seconds, next(start))
            # In a thread: the engine's event loop keeps running (idle) while the HTTP clients block.
            http = await asyncio.to_thread(bench_http, url, make, batch, args.clients, args.seconds, next(start))
            print(row(kind, batch, args.clients, http, local), flush=True)
    finally:
        await engine.close()


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    """Parse flags, start the server, run the table, stop the server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per cell and side")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (and in-process callers)")
    parser.add_argument("--batch-sizes", type=_sizes, default=[1, 16, 256], help="comma-separated, e.g. 1,16,256")
    parser.add_argument("--mixed-batch-sizes", type=_sizes, default=[16], help="batch sizes of the mixed rows")
    parser.add_argument("--no-mixed", action="store_true", help="skip the rows with code items")
    parser.add_argument("--workers", type=int, default=1, help="verifier processes, on both sides")
    args = parser.parse_args()
    log = tempfile.NamedTemporaryFile(prefix="aha-load-", suffix=".log", delete=False)
    server, url = start_server(args.workers, log)
    try:
        mixed = not args.no_mixed and python_usable(url)
        print(f"aha serve at {url}, {args.workers} worker(s), {args.seconds:g} s per cell and side", flush=True)
        if not args.no_mixed and not mixed:
            print("the service cannot run Python: no mixed rows", flush=True)
        asyncio.run(run(args, url, mixed))
    finally:
        stop_server(server)
        log.close()
        if os.path.getsize(log.name):
            print(f"the server logged something: {log.name}", flush=True)
        else:
            os.unlink(log.name)


if __name__ == "__main__":
    main()
