"""Aha on Ray Serve against plain ``aha serve``, in one run on this machine: what a second replica adds, what Serve's
proxy costs, and what a handle call saves over HTTP.

A real two-node Ray cluster (``ray.cluster_utils.Cluster``: a head and a worker node, one CPU each, on loopback)
runs two applications side by side, one with one replica and one with two (one per node), half a CPU each so
both fit; plain ``aha serve`` runs beside them. Every service and replica has one verifier worker
(``AHA_WORKERS=1``) and no cache (every item is judged). Cells are interleaved over ``--rounds`` rounds and the
median is printed. Two kinds of item, every reward checked (``wrong``):

- math: ``--clients`` callers (threads) sending batches of ``--batch`` math items from bench/load.py (real-looking
  answers in several forms, two in three right) for ``--seconds``; then one-item requests one after another (the
  latency column). CPU-bound: on this 2-core machine one worker already takes a core;
- waiting code: ``--code-clients`` callers sending batches of ``--code-batch`` Python items whose programs wait 50 ms
  in the sandbox: bound by the replicas' verifier workers, not by the CPU, as test suites that wait often are.

Ratios are against cells of the same run:

- replicas 2 / 1: Serve over HTTP with two replicas (one per node) against one;
- Serve / plain: one replica through Serve's HTTP proxy against ``aha serve`` with one worker, the same batches;
- handle / HTTP: the deployment handle (``AhaHandleClient``) against Serve's HTTP on the same replicas.

This machine is shared and noisy, so throughput moves with whatever else runs on it (the ``machine busy`` column:
the whole machine's CPU use during the cell). ``CPU ms/item`` is steadier: the CPU time of the service's own
processes (``aha serve`` and its workers; for Serve every Ray process: GCS, raylets, controller, proxy, the
replicas of both applications and their pools) per item answered.

    .venv/bin/python bench/ray_bench.py [--seconds 5] [--clients 8] [--batch 64] [--latency-seconds 2]
"""

from __future__ import annotations

import os

# Every Ray process on loopback, and the head's one HTTP proxy spreading requests over both nodes' replicas instead
# of preferring its own node's (see tests/service/scale/conftest.py); set before Ray is imported.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING"] = "0"

import argparse  # noqa: E402
import itertools  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ray  # noqa: E402
from load import free_port, math_item, start_server, stop_server  # noqa: E402
from ray import serve  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from service.integrations.client import AhaClient  # noqa: E402
from service.scale.serve import AhaHandleClient, ServeOptions, build_app  # noqa: E402

Score = Callable[[list[dict[str, Any]]], dict[str, Any]]


@dataclass
class Cell:
    """Items answered, wrong rewards and latencies of one measurement."""

    items: int = 0
    wrong: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    busy: float = 0.0  # share of the machine's CPU time spent (all processes) during the cell
    client_cpu: float = 0.0  # CPU seconds of this process (the clients) per wall second
    service_cpu: float = 0.0  # CPU seconds the service's processes used during the cell

    @property
    def cpu_ms_per_item(self) -> float:
        return self.service_cpu * 1000 / self.items if self.items else float("nan")

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")


WAIT_S = 0.05
WAITING_RIGHT = "import time\ntime.sleep({wait})\nprint(int(input()) + 1)"
WAITING_WRONG = "import time\ntime.sleep({wait})\nprint(int(input()) + 2)"


def waiting_item(n: int) -> tuple[dict[str, Any], float]:
    """A Python item whose program waits ``WAIT_S`` before it answers (right two times in three): its cost is a
    verifier worker's time, not CPU, like a test suite that waits on I/O or sleeps between cases."""
    right = n % 3 != 0
    program = (WAITING_RIGHT if right else WAITING_WRONG).format(wait=WAIT_S)
    completion = f"<think>wait, then add one</think>\n```python\n{program}\n```"
    reference = {"language": "python", "tests": [{"stdin": f"{n}\n", "stdout": f"{n + 1}\n"}]}
    return {"id": f"w{n}", "task": "code", "completion": completion, "reference": reference}, float(right)


@dataclass
class Items:
    """New items of one kind for every batch of the run (never one seen before: the cache could not help)."""

    make: Callable[[int], tuple[dict[str, Any], float]]
    counter: itertools.count = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def batch(self, size: int) -> tuple[list[dict[str, Any]], list[float]]:
        """``size`` new items and their right rewards."""
        with self.lock:
            start = next(self.counter) * size
        pairs = [self.make(n) for n in range(start, start + size)]
        return [item for item, _ in pairs], [reward for _, reward in pairs]


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> set[int]:
    return {
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and int(stat[1]) == pid
    }


def service_cpu(roots: Callable[[], set[int]], exclude: Callable[[], set[int]]) -> float:
    """CPU seconds used so far by the processes under ``roots()`` (themselves included), less those under
    ``exclude()``: the service's own cost, which the other work on this shared machine does not change."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(stat[1])
            times[int(entry.name)] = sum(int(v) for v in stat[11:15]) / os.sysconf("SC_CLK_TCK")

    def under(pid: int, tops: set[int]) -> bool:
        while pid > 1:
            if pid in tops:
                return True
            pid = parents.get(pid, 1)
        return False

    tops, skip = roots(), exclude()
    return sum(t for pid, t in times.items() if under(pid, tops) and not under(pid, skip))


def measure(
    make_scorer: Callable[[], tuple[Score, Callable[[], None]]],
    items_of: Items,
    clients: int,
    size: int,
    seconds: float,
    cost: Callable[[], float] = lambda: 0.0,
) -> Cell:
    """``clients`` threads, each with its own scorer, sending batches of ``size`` until ``seconds`` have passed;
    ``cost()`` is the CPU seconds the service has used so far."""
    cell = Cell()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def one() -> None:
        score, close = make_scorer()
        try:
            while time.monotonic() < stop_at:
                items, rewards = items_of.batch(size)
                started = time.perf_counter()
                results = score(items)["results"]
                elapsed = time.perf_counter() - started
                wrong = sum(r["reward"] != want for r, want in zip(results, rewards, strict=True))
                with lock:
                    cell.items += len(results)
                    cell.wrong += wrong
                    cell.latencies.append(elapsed)
        finally:
            close()

    started, busy_before, client_before, cost_before = time.monotonic(), machine_busy(), time.process_time(), cost()
    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cell.seconds = time.monotonic() - started
    busy_after = machine_busy()
    cell.busy = (busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1)
    cell.client_cpu = (time.process_time() - client_before) / cell.seconds
    cell.service_cpu = cost() - cost_before
    return cell


def machine_busy() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def http(url: str) -> Callable[[], tuple[Score, Callable[[], None]]]:
    def make() -> tuple[Score, Callable[[], None]]:
        client = AhaClient(url)
        return (lambda items: client.score(items, use_cache=False)), client.close

    return make


def handle(app: str) -> Callable[[], tuple[Score, Callable[[], None]]]:
    def make() -> tuple[Score, Callable[[], None]]:
        client = AhaHandleClient(app_name=app)
        return (lambda items: client.score(items, use_cache=False)), (lambda: None)

    return make


def deploy(app: str, replicas: int) -> None:
    """Application ``app`` at ``/app``: ``replicas`` replicas, at most one per node, one verifier worker each and
    no cache. Half a CPU each, so that the one-replica and the two-replica applications fit on two one-CPU nodes
    side by side and their cells can be interleaved (an idle replica costs next to nothing)."""
    env = {"AHA_WORKERS": "1", "AHA_MEMORY_CACHE_ITEMS": "0", "AHA_LOG_LEVEL": "warning"}
    options = ServeOptions(num_replicas=replicas, num_cpus=0.5, env=env, max_replicas_per_node=1)
    serve.run(build_app(options), name=app, route_prefix=f"/{app}")
    where = AhaHandleClient(app_name=app).handle().where
    nodes = {where.remote().result(timeout_s=60)["node_id"] for _ in range(20 * replicas)}
    if len(nodes) != replicas:
        raise RuntimeError(f"{replicas} replicas answered from {len(nodes)} nodes")


LABELS = {
    "plain": "aha serve (1 worker)",
    "serve 1 http": "Serve, 1 replica, HTTP",
    "serve 1 handle": "Serve, 1 replica, handle",
    "serve 2 http": "Serve, 2 replicas, HTTP",
    "serve 2 handle": "Serve, 2 replicas, handle",
}


def report(kind: str, cells: dict[str, Cell], latency: bool) -> None:
    """The table of one kind of item, and its ratios."""
    header = f"{kind:<26}{'items/s':>10}{'p50 ms':>10}{'1-item p50 ms' if latency else '':>15}{'wrong':>7}"
    print(header + f"{'CPU ms/item':>13}{'machine busy':>14}")
    for key, label in LABELS.items():
        cell = cells[f"{kind} {key}"]
        one = cells.get(f"{kind} {key} latency")
        wrong = cell.wrong + (one.wrong if one else 0)
        print(
            f"{label:<26}{cell.items_per_s:>10,.1f}{cell.p50_ms:>10.1f}{f'{one.p50_ms:.2f}' if one else '':>15}"
            f"{wrong:>7}{cell.cpu_ms_per_item:>13.3f}{cell.busy:>14.0%}"
        )

    def ratio(a: str, b: str, what: str = "items_per_s", suffix: str = "") -> str:
        value = getattr(cells[f"{kind} {a}{suffix}"], what) / getattr(cells[f"{kind} {b}{suffix}"], what)
        return f"{value:.2f}"

    print(
        f"  items/s, replicas 2 / 1: HTTP {ratio('serve 2 http', 'serve 1 http')}, "
        f"handle {ratio('serve 2 handle', 'serve 1 handle')}"
    )
    print(
        f"  items/s, Serve HTTP / plain aha serve {ratio('serve 1 http', 'plain')}, "
        f"handle / Serve HTTP {ratio('serve 1 handle', 'serve 1 http')}"
    )
    print(
        f"  CPU per item, Serve HTTP / plain {ratio('serve 1 http', 'plain', 'cpu_ms_per_item')}, "
        f"handle / Serve HTTP {ratio('serve 1 handle', 'serve 1 http', 'cpu_ms_per_item')}"
    )
    if latency:
        print(
            f"  1-item latency, Serve HTTP / plain {ratio('serve 1 http', 'plain', 'p50_ms', ' latency')}, "
            f"handle / Serve HTTP {ratio('serve 1 handle', 'serve 1 http', 'p50_ms', ' latency')}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8, help="callers of the math cells")
    parser.add_argument("--batch", type=int, default=64, help="items per request of the math cells")
    parser.add_argument("--code-clients", type=int, default=4, help="callers of the waiting-code cells")
    parser.add_argument("--code-batch", type=int, default=4, help="items per request of the waiting-code cells")
    parser.add_argument("--latency-seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are printed")
    args = parser.parse_args()
    kinds = [
        ("math", Items(math_item), args.clients, args.batch, True),
        ("waiting code", Items(waiting_item), args.code_clients, args.code_batch, False),
    ]
    rounds: dict[str, list[Cell]] = {}

    def run(name: str, make: Callable[[], tuple[Score, Callable[[], None]]], cost: Callable[[], float]) -> None:
        for kind, items, clients, size, latency in kinds:
            make()[0](items.batch(size)[0])  # one warm-up request: connections, handle lookup, first imports
            cells = rounds.setdefault(f"{kind} {name}", [])
            cells.append(measure(make, items, clients, size, args.seconds, cost))
            if latency:
                one = measure(make, items, 1, 1, args.latency_seconds)
                rounds.setdefault(f"{kind} {name} latency", []).append(one)

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}, shutdown_at_exit=True
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR")
    log = tempfile.TemporaryFile()
    server, plain_url = start_server(1, log)

    def plain_cost() -> float:
        return service_cpu(lambda: {server.pid}, set)

    def ray_cost() -> float:
        # Ray's processes (GCS, raylets and the workers under them: controller, proxy, replicas, verifier pools)
        # are this process's children, as the plain server is.
        me = os.getpid()
        return service_cpu(lambda: _children(me) - {server.pid}, set)

    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port}, proxy_location="HeadOnly")
        deploy("one", 1)
        deploy("two", 2)
        serve_url = f"http://127.0.0.1:{port}"
        # Interleaved, so that the machine's drift (other work on it) falls on every cell alike.
        for _ in range(args.rounds):
            run("plain", http(plain_url), plain_cost)
            for app, replicas in (("one", 1), ("two", 2)):
                run(f"serve {replicas} http", http(f"{serve_url}/{app}"), ray_cost)
                run(f"serve {replicas} handle", handle(app), ray_cost)
        serve.shutdown()
    finally:
        stop_server(server)
        log.close()
        ray.shutdown()
        cluster.shutdown()
    medians = {name: sorted(cells, key=lambda c: c.items_per_s)[len(cells) // 2] for name, cells in rounds.items()}
    print(
        f"{args.seconds:g} s per cell, cache off, one verifier worker per service or replica, median of "
        f"{args.rounds} interleaved rounds; math: {args.clients} clients x {args.batch} items, waiting code: "
        f"{args.code_clients} clients x {args.code_batch} items (programs that wait {WAIT_S * 1000:.0f} ms)"
    )
    for kind, *_, latency in kinds:
        report(kind, medians, latency)


if __name__ == "__main__":
    main()
