"""Items per second through HTTP vs the in-process engine, for batches of 1, 64 and 1024 format items.

Both sides score the same requests (format items, cache off so every item is judged) in the same run; the table's
last column is HTTP throughput as a share of the in-process engine's, i.e. what the network face costs.

    .venv/bin/python bench/service_bench.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.engine import build_engine  # noqa: E402
from service.models import ScoreRequest  # noqa: E402
from service.settings import Settings  # noqa: E402

GOOD = "<think>Let me compute 17 * 3 step by step. 17 * 3 = 51.</think>\n<answer>\\boxed{51}</answer>"
BAD = "I think the answer is 51."


def make_body(batch: int, salt: int) -> dict:
    items = [
        {"id": f"{salt}-{i}", "task": "format", "completion": (GOOD if i % 3 else BAD) + f" {salt}-{i}", "group": "g"}
        for i in range(batch)
    ]
    return {"profile": "format", "items": items, "use_cache": False}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_engine(batch: int, seconds: float) -> float:
    engine = build_engine(Settings(workers=1))

    async def run() -> float:
        requests = [ScoreRequest(**make_body(batch, salt)) for salt in range(3)]
        await engine.score(requests[0])  # warm-up
        done, started, n = 0, time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            await engine.score(requests[n % 3])
            done += batch
            n += 1
        return done / (time.perf_counter() - started)

    try:
        return asyncio.run(run())
    finally:
        asyncio.run(engine.close())


def bench_http(url: str, batch: int, seconds: float) -> float:
    bodies = [make_body(batch, salt) for salt in range(3)]
    with httpx.Client(base_url=url, timeout=120) as client:
        client.post("/v1/score", json=bodies[0]).raise_for_status()
        done, started, n = 0, time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            r = client.post("/v1/score", json=bodies[n % 3])
            r.raise_for_status()
            done += batch
            n += 1
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell")
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AHA_LOG_LEVEL": "warning", "AHA_WORKERS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"{'batch':>6} {'in-process items/s':>19} {'HTTP items/s':>13} {'HTTP / in-process':>18}")
        for batch in (1, 64, 1024):
            local = bench_engine(batch, args.seconds)
            remote = bench_http(url, batch, args.seconds)
            print(f"{batch:>6} {local:>19,.0f} {remote:>13,.0f} {remote / local:>18.2f}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)


if __name__ == "__main__":
    main()
