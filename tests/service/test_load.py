"""A bounded loopback load test: 32 clients against a real `aha serve` for a few seconds.

Math and format items with known rewards, new ones, repeated ones (cache hits) and duplicates inside a batch
(de-duplication). A small ``AHA_MAX_QUEUE`` makes the service refuse some requests with 429: the clients wait the
``Retry-After`` and send the same request again, so every item must still be answered, with its right reward.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import httpx

CLIENTS = 32
RUN_S = 5.0
MAX_REQUESTS = 500  # per client: a bound besides the clock
MAX_ATTEMPTS = 30  # 429s one request may meet before the test gives up on it
MAX_QUEUE = 96  # items in flight before a 429; 32 clients with up to 16 items each go well past it
SIZES = [1, 16, 4, 9]
GOOD = "<think>Multiply {a} by 3: {a} * 3 = {p}.</think>\n<answer>\\boxed{{{ans}}}</answer>"
BAD = "{a} times 3 is \\boxed{{{ans}}}"


def items_for(key: int, size: int) -> tuple[list[dict], list[float]]:
    """A batch for ``key`` (equal keys give equal batches) and the reward each item must get under r1-zero."""
    items, rewards = [], []
    for i in range(size):
        j = i % 7  # items 7 apart are duplicates of each other: one verifier call answers both
        a, kind = key * 100 + j, (key + j) % 6
        right = kind in (0, 2)
        layout = GOOD if kind in (0, 1, 4) else BAD
        completion = layout.format(a=a, p=3 * a, ans=3 * a if right else 3 * a + 2)
        if kind < 4:  # math: accuracy + format
            items.append({"id": f"{key}-{i}", "task": "math", "completion": completion, "reference": str(3 * a)})
            rewards.append(float(right) + float(layout == GOOD))
        else:  # format only: no ground truth
            items.append({"id": f"{key}-{i}", "task": "format", "completion": completion})
            rewards.append(float(layout == GOOD))
    return items, rewards


@dataclass
class Tally:
    """What the clients saw, merged under a lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    items: int = 0
    rejected: int = 0
    cache_hits: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, items: int, rejected: int, cache_hits: int, problems: list[str]) -> None:
        """Merge one answered request."""
        with self.lock:
            self.requests += 1
            self.items += items
            self.rejected += rejected
            self.cache_hits += cache_hits
            self.problems += problems


def _score(client: httpx.Client, items: list[dict]) -> tuple[httpx.Response | None, int, list[str]]:
    """Post until the service takes the request: (last response, 429s met, problems)."""
    rejected, problems = 0, []
    for _ in range(MAX_ATTEMPTS):
        r = client.post("/v1/score", json={"profile": "r1-zero", "items": items})
        if r.status_code != 429:
            return r, rejected, problems
        rejected += 1
        retry_after = r.headers.get("Retry-After", "")
        if not retry_after.isdigit():
            problems.append(f"429 without a usable Retry-After: {retry_after!r}")
            return None, rejected, problems
        time.sleep(min(int(retry_after), 2))  # capped so that a long hint cannot outlast the test
    return None, rejected, [*problems, f"still 429 after {MAX_ATTEMPTS} attempts"]


def _client(url: str, client_no: int, deadline: float, tally: Tally) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(MAX_REQUESTS):
            if time.monotonic() > deadline:
                return
            key = 1000 * client_no + (n // 4 if n % 4 == 3 else n)  # every fourth request repeats an earlier one
            items, rewards = items_for(key, SIZES[n % len(SIZES)])
            try:
                r, rejected, problems = _score(client, items)
            except httpx.HTTPError as exc:
                tally.add(0, 0, 0, [f"no answer: {exc!r}"])
                continue
            if r is None or r.status_code != 200:
                tally.add(0, rejected, 0, [*problems, f"status {r and r.status_code}: {r and r.text[:200]}"])
                continue
            body = r.json()
            results = body["results"]
            if [x["id"] for x in results] != [x["id"] for x in items]:
                problems.append(f"request {key}: ids {[x['id'] for x in results]} for {[x['id'] for x in items]}")
            got = [x["reward"] for x in results]
            if got != rewards:
                problems.append(f"request {key}: rewards {got}, expected {rewards}")
            tally.add(len(results), rejected, body["stats"]["cache_hits"], problems)


def test_32_clients_get_every_reward_right(aha_server):
    server = aha_server({"AHA_WORKERS": "1", "AHA_MAX_QUEUE": str(MAX_QUEUE)})
    with server.client(timeout=30) as c:
        warm, _ = items_for(10**6, 16)
        c.post("/v1/score", json={"profile": "r1-zero", "items": warm}).raise_for_status()  # worker start-up
        tally, deadline = Tally(), time.monotonic() + RUN_S
        threads = [threading.Thread(target=_client, args=(server.url, i, deadline, tally)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "a client did not finish"
        health = c.get("/healthz")
        ready = c.get("/readyz").json()
        metrics = c.get("/metrics").text

    assert not tally.problems, f"{len(tally.problems)} problems, e.g. {tally.problems[:5]}"
    assert tally.requests > CLIENTS * 3, f"only {tally.requests} requests answered"
    assert tally.rejected > 0, "no 429: the admission path was not exercised"
    assert tally.cache_hits > 0, "no cache hit: the repeated requests were not served from the cache"
    assert health.status_code == 200
    assert ready["queue"]["depth"] == 0, ready["queue"]  # nothing left in flight: no item lost inside
    served = re.search(r"^aha_rejected_requests_total ([0-9.e+]+)$", metrics, re.M)
    assert served and float(served.group(1)) == tally.rejected  # every 429 the service sent, a client saw
