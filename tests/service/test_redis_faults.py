"""Redis faults under load, against a real `aha serve` and a real redis-server: Redis killed, Redis frozen.

Scoring must not care: every item gets its known reward (the same with the cache, without it and while it is
dying), no request fails, `/readyz` says the cache is unusable while it is, and a frozen Redis costs a request at
most a few socket timeouts (``AHA_REDIS_TIMEOUT_S``), never a hang.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

import httpx

CLIENTS = 16
BATCH = 8
MAX_REQUESTS = 2000  # per client: the loops stop on their own even if the clock did not stop them
TIMEOUT_S = 0.25  # AHA_REDIS_TIMEOUT_S of the service under test
GOOD = "<think>Add {a} and {b}: {a} + {b} = {s}.</think>\n<answer>\\boxed{{{ans}}}</answer>"
BAD = "Adding {a} and {b} gives \\boxed{{{ans}}}."
# (layout, answer right?) -> reward under the r1-zero profile (accuracy + format).
KINDS = [(GOOD, True, 2.0), (GOOD, False, 1.0), (BAD, True, 1.0), (BAD, False, 0.0)]


def math_items(base: int, n: int) -> tuple[list[dict], dict[str, float]]:
    """``n`` math items whose references start at ``base``, with the reward each one must get."""
    items, expected = [], {}
    for i in range(n):
        layout, right, reward = KINDS[i % len(KINDS)]
        a, b = base + i, 7
        answer = a + b if right else a + b + 1
        item_id = f"{base}-{i}"
        completion = layout.format(a=a, b=b, s=a + b, ans=answer)
        items.append({"id": item_id, "task": "math", "completion": completion, "reference": str(a + b)})
        expected[item_id] = reward
    return items, expected


@dataclass
class Outcome:
    """One request of the load: when it started, how long it took, and what was wrong with its answer."""

    started: float
    seconds: float
    status: int  # HTTP status; -1 when the client got no answer at all
    problems: list[str]
    cache_hits: int


def _client(url: str, client_no: int, stop: threading.Event, out: list[Outcome]) -> None:
    # Half the requests repeat one batch (cache hits while Redis serves), half are new (judged, then stored).
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(MAX_REQUESTS):
            if stop.is_set():
                return
            base = 1_000_000 * (client_no + 1) + (0 if n % 2 else 1000 * (n + 1))
            items, expected = math_items(base, BATCH)
            started = time.monotonic()
            try:
                r = client.post("/v1/score", json={"profile": "r1-zero", "items": items})
            except httpx.HTTPError as exc:
                out.append(Outcome(started, time.monotonic() - started, -1, [repr(exc)], 0))
                continue
            seconds = time.monotonic() - started
            if r.status_code != 200:
                out.append(Outcome(started, seconds, r.status_code, [r.text[:200]], 0))
                continue
            body = r.json()
            got = {res["id"]: res["reward"] for res in body["results"]}
            problems = [f"{k}: {got.get(k)} != {v}" for k, v in expected.items() if got.get(k) != v]
            if len(body["results"]) != len(items):
                problems.append(f"{len(body['results'])} results for {len(items)} items")
            out.append(Outcome(started, seconds, 200, problems, body["stats"]["cache_hits"]))


class Load:
    """CLIENTS threads scoring against the service until stopped (or MAX_REQUESTS each)."""

    def __init__(self, url: str) -> None:
        self.stop = threading.Event()
        self.outcomes: list[Outcome] = []
        self.threads = [
            threading.Thread(target=_client, args=(url, i, self.stop, self.outcomes), daemon=True)
            for i in range(CLIENTS)
        ]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads), "a load client did not stop"


def _assert_truthful(outcomes: list[Outcome]) -> None:
    assert len(outcomes) > CLIENTS * 4, "the load did not run"
    failed = [o for o in outcomes if o.status != 200]
    assert not failed, f"{len(failed)} requests failed, e.g. {failed[:3]}"
    wrong = [p for o in outcomes for p in o.problems]
    assert not wrong, f"{len(wrong)} wrong or lost rewards, e.g. {wrong[:5]}"


def _warm_up(client: httpx.Client) -> None:
    # The first math items load the verifier in the worker process: that start-up is not a Redis delay.
    items, _ = math_items(10**8 + 1000, BATCH)
    client.post("/v1/score", json={"profile": "r1-zero", "items": items}).raise_for_status()


def _env(redis_url: str) -> dict[str, str]:
    return {
        "AHA_REDIS_URL": redis_url,
        "AHA_WORKERS": "1",
        "AHA_REDIS_TIMEOUT_S": str(TIMEOUT_S),
        "AHA_REDIS_RETRY_S": "1",  # short, so that the cache is tried again (and fails again) during the outage
    }


def test_redis_killed_under_load(aha_server, redis_server):
    server = aha_server(_env(redis_server.url))
    with server.client(timeout=10) as c:
        _warm_up(c)
        with Load(server.url) as load:
            time.sleep(1.5)
            killed_at = time.monotonic()
            redis_server.kill()
            down_reports = []
            for _ in range(3):
                time.sleep(0.6)
                down_reports.append(c.get("/readyz").json()["cache"])
        assert c.get("/healthz").status_code == 200
    _assert_truthful(load.outcomes)
    before = [o for o in load.outcomes if o.started + o.seconds < killed_at]
    after = [o for o in load.outcomes if o.started > killed_at]
    assert sum(o.cache_hits for o in before) > 0, "the cache was never used while Redis served"
    assert len(after) > CLIENTS, "too little load after the kill"
    assert sum(o.cache_hits for o in after) == 0, "hits with Redis dead can only be made up"
    assert all(r["usable"] is False and "error" in r for r in down_reports), down_reports
    assert "Redis cache unavailable" in server.log.read_text()


def test_redis_frozen_under_load(aha_server, redis_server):
    server = aha_server(_env(redis_server.url))
    pid = redis_server.process.pid
    frozen = False
    try:
        with server.client(timeout=10) as c:
            _warm_up(c)
            with Load(server.url) as load:
                time.sleep(1.0)
                started = time.monotonic()
                c.get("/readyz").raise_for_status()
                normal_readyz_s = time.monotonic() - started
                time.sleep(0.5)
                frozen_at = time.monotonic()
                os.kill(pid, signal.SIGSTOP)
                frozen = True
                time.sleep(0.5)
                started = time.monotonic()
                frozen_report = c.get("/readyz").json()["cache"]
                readyz_s = time.monotonic() - started
                time.sleep(2.5)
                thawed_at = time.monotonic()
                os.kill(pid, signal.SIGCONT)
                frozen = False
                time.sleep(1.5)
            thawed_report = c.get("/readyz").json()["cache"]  # a good ping switches the cache back on at once
            items, expected = math_items(10**8, BATCH)  # references no load client used
            first = c.post("/v1/score", json={"profile": "r1-zero", "items": items}).json()
            again = c.post("/v1/score", json={"profile": "r1-zero", "items": items}).json()
    finally:
        if frozen:
            os.kill(pid, signal.SIGCONT)
    _assert_truthful(load.outcomes)
    normal = [o.seconds for o in load.outcomes if o.started + o.seconds < frozen_at]
    during = [o.seconds for o in load.outcomes if frozen_at < o.started < thawed_at]
    assert normal and len(during) > CLIENTS, "too little load"
    # A request waits on Redis at most for a read (get), a write (set) and a connection drop, each bounded by the
    # socket timeout; everything else is the ordinary latency of this loaded machine.
    bound = max(normal) + 4 * TIMEOUT_S
    assert max(during) < bound, f"a request took {max(during):.2f} s with Redis frozen (bound {bound:.2f} s)"
    assert frozen_report["usable"] is False and "Timeout" in frozen_report["error"], frozen_report
    assert readyz_s < normal_readyz_s + 4 * TIMEOUT_S  # one ping, bounded by the socket timeout
    assert thawed_report["usable"] is True
    assert [r["reward"] for r in first["results"]] == list(expected.values())
    assert again["stats"]["cache_hits"] == first["stats"]["verified"] > 0, (first["stats"], again["stats"])
