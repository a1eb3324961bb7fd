"""A request of long completions does not stall the event loop: other requests and /healthz are answered meanwhile
(red team: a repetition-scored batch held every request of the server, /healthz included, for its whole run)."""

from __future__ import annotations

import threading
import time

import httpx


def test_a_heavy_in_process_batch_leaves_the_server_responsive(aha_server):
    server = aha_server({"AHA_WORKERS": "1"})
    text = "a b c d e f g " * 70_000  # ~1M characters, ~490k words
    body = {
        "items": [{"task": "format", "completion": text + str(i)} for i in range(12)],
        "weights": {"repetition": 1.0, "format": 0.0},
        "options": {"repetition": {"ngram_size": 64}},
        "use_cache": False,
    }
    out: dict = {}

    def heavy() -> None:
        started = time.monotonic()
        out["r"] = httpx.post(server.url + "/v1/score", json=body, timeout=300)
        out["s"] = time.monotonic() - started

    worker = threading.Thread(target=heavy)
    worker.start()
    time.sleep(1.0)
    worst = 0.0
    while worker.is_alive() and len(out) == 0:
        started = time.monotonic()
        assert httpx.get(server.url + "/healthz", timeout=60).status_code == 200
        worst = max(worst, time.monotonic() - started)
        time.sleep(0.2)
    worker.join(300)
    assert out["r"].status_code == 200
    rewards = [r["reward"] for r in out["r"].json()["results"]]
    assert all(r is not None and -1.0 <= r < -0.9 for r in rewards), rewards[:3]
    assert out["s"] > 2.0, "the batch was too quick to show anything"
    assert worst < 1.0, f"/healthz took {worst:.2f} s while the batch ran for {out['s']:.1f} s"
