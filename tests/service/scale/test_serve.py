"""Aha as a Ray Serve application on a real two-node Ray cluster: placement, HTTP and handle calls against the
in-process engine, the Redis cache shared by the replicas, and a node killed mid-run.

One deployment serves the whole module (Ray and Serve start slowly); the node is killed by the last test.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from ray import serve

from service.engine import build_engine
from service.integrations.client import AhaClient
from service.models import ScoreRequest
from service.scale.serve import APP_NAME, AhaHandleClient, ScoreRejected, ServeOptions, build_app
from service.settings import Settings
from tests.conftest import free_port
from tests.service.scale.conftest import TwoNodes, decided

pytestmark = pytest.mark.timeout(240)

GOOD = "<think>x</think><answer>\\boxed{{{}}}</answer>"
CODE = "<think>x</think><answer>```python\nprint(sum(map(int, input().split())))\n```</answer>"


def mixed_items() -> list[dict[str, Any]]:
    """Math right and wrong, format, a code item run in the replica's sandbox, and a bad item, in two groups."""
    items: list[dict[str, Any]] = []
    for i in range(6):
        answer = i if i % 3 else i + 1
        items.append(
            {"id": f"m{i}", "task": "math", "completion": GOOD.format(answer), "reference": str(i), "group": "a"}
        )
    items.append({"id": "f0", "task": "format", "completion": "<think>x</think><answer>y</answer>", "group": "b"})
    items.append({"id": "f1", "task": "format", "completion": "no tags", "group": "b"})
    tests = [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "5 6\n", "stdout": "11\n"}]
    items.append({"id": "c0", "task": "code", "completion": CODE, "reference": {"language": "python", "tests": tests}})
    items.append({"id": "x0", "task": "nope", "completion": "?"})
    return items


FIELDS = {"profile": "r1-zero", "advantage": "grpo", "use_cache": False}


@pytest.fixture(scope="module")
def expected() -> list[dict[str, Any]]:
    """The results of the in-process engine (the same defaults as a replica) for ``mixed_items``."""

    async def run() -> list[dict[str, Any]]:
        engine = build_engine(Settings(workers=1))
        try:
            await asyncio.to_thread(engine.pool.wait_ready, 60)
            response = await engine.score(ScoreRequest(items=mixed_items(), **FIELDS))
            return [r.model_dump(mode="json") for r in response.results]
        finally:
            await engine.close()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def deployed(two_nodes: TwoNodes, module_redis) -> Iterator[str]:
    """Aha with two replicas (one CPU each, at most one per node) sharing Redis; yields the HTTP URL."""
    port = free_port()
    # The proxy on the head only: both "nodes" are this machine, where two proxies could not share the port.
    serve.start(http_options={"host": "127.0.0.1", "port": port}, proxy_location="HeadOnly")
    env = {"AHA_REDIS_URL": module_redis.url, "AHA_MEMORY_CACHE_ITEMS": "0", "AHA_LOG_LEVEL": "warning"}
    # Half a CPU each: both replicas would fit on one node, so only max_replicas_per_node spreads them.
    options = ServeOptions(num_replicas=2, num_cpus=0.5, env=env, max_replicas_per_node=1, health_check_period_s=2)
    serve.run(build_app(options), name=APP_NAME, route_prefix="/")
    yield f"http://127.0.0.1:{port}"
    serve.delete(APP_NAME)


def test_the_replicas_run_on_different_nodes(deployed: str, two_nodes: TwoNodes) -> None:
    handle = AhaHandleClient().handle()
    seen: dict[str, set[int]] = {}
    for _ in range(60):
        where = handle.where.remote().result(timeout_s=30)
        seen.setdefault(where["node_id"], set()).add(where["pid"])
        if len(seen) == 2:
            break
    assert set(seen) == {two_nodes.node_id(two_nodes.head), two_nodes.node_id(two_nodes.worker)}


def test_http_through_serve_answers_as_the_in_process_engine(deployed: str, expected: list[dict[str, Any]]) -> None:
    with AhaClient(deployed) as client:
        results = client.score(mixed_items(), **FIELDS)["results"]
    assert decided(results) == decided(expected)
    by_id = {r["id"]: r for r in results}
    assert by_id["c0"]["status"] == "correct" and by_id["c0"]["details"]["accuracy"]["passed"] == 2  # sandbox ran
    assert by_id["x0"]["status"] == "invalid_item"
    ready = httpx.get(deployed + "/readyz", timeout=30)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["workers"] == 1  # AHA_WORKERS follows the replica's CPUs (at least one)
    bad = httpx.post(deployed + "/v1/score", json={"items": mixed_items(), "typo": 1}, timeout=30)
    assert bad.status_code == 422 and [e["loc"] for e in bad.json()["detail"]] == [["body", "typo"]]
    assert "aha_items_scored_total" in httpx.get(deployed + "/metrics", timeout=30).text


def test_a_handle_call_answers_as_the_in_process_engine(deployed: str, expected: list[dict[str, Any]]) -> None:
    client = AhaHandleClient()
    assert decided(client.score(mixed_items(), **FIELDS)["results"]) == decided(expected)
    assert decided(asyncio.run(client.ascore(mixed_items(), **FIELDS))["results"]) == decided(expected)
    with pytest.raises(ScoreRejected) as rejected:
        client.score(mixed_items(), profile="no-such-profile")
    assert rejected.value.status == 422 and "no-such-profile" in str(rejected.value.detail)
    with pytest.raises(ScoreRejected) as invalid:
        AhaHandleClient().handle().score.remote({"items": mixed_items(), "typo": 1}).result(timeout_s=30)
    assert invalid.value.status == 422 and [e["loc"] for e in invalid.value.detail] == [["typo"]]


def test_the_replicas_share_the_redis_cache(deployed: str, module_redis) -> None:
    # The replicas keep no cache of their own (AHA_MEMORY_CACHE_ITEMS=0): a cached verdict came through Redis.
    tag = uuid.uuid4().hex
    items = [
        {"id": f"r{i}", "task": "math", "completion": GOOD.format(f"{tag}{i}"), "reference": "7"} for i in range(8)
    ]
    handle = AhaHandleClient()
    first = handle.score(items)["results"]
    assert not any(r["cached"] for r in first)
    answered_by: set[str] = set()
    with AhaClient(deployed) as http:
        for _ in range(12):
            assert all(r["cached"] for r in http.score(items)["results"])
            assert all(r["cached"] for r in handle.score(items)["results"])
            answered_by.add(handle.handle().where.remote().result(timeout_s=30)["node_id"])
    assert len(answered_by) == 2  # both replicas were in play while every call found the verdicts
    assert redis.Redis.from_url(module_redis.url).dbsize() > 0


def test_a_node_killed_mid_run_loses_no_item(deployed: str, two_nodes: TwoNodes) -> None:
    batches, batch_size = 24, 48
    done: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def batch(client: str, n: int) -> list[dict[str, Any]]:
        # Distinct answers, half right: a wrong reward cannot pass for a right one.
        return [
            {
                "id": f"{client}-{n}-{i}",
                "task": "math",
                "completion": GOOD.format(i if i % 2 else i + 1000),
                "reference": str(i),
            }
            for i in range(batch_size)
        ]

    def check(client: str, n: int, results: list[dict[str, Any]]) -> None:
        assert [r["id"] for r in results] == [f"{client}-{n}-{i}" for i in range(batch_size)]
        assert [r["reward"] for r in results] == [1.0 if i % 2 else 0.0 for i in range(batch_size)]

    def run(client: str, score) -> None:
        try:
            for n in range(batches):
                check(client, n, score(batch(client, n))["results"])
                with lock:
                    done.append(n)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(f"{client}: {type(exc).__name__}: {exc}")

    http_a, http_b = AhaClient(deployed), AhaClient(deployed)
    handle = AhaHandleClient()
    threads = [
        threading.Thread(target=run, args=("http-a", lambda items: http_a.score(items, use_cache=False))),
        threading.Thread(target=run, args=("http-b", lambda items: http_b.score(items, use_cache=False))),
        threading.Thread(target=run, args=("handle", lambda items: handle.score(items, use_cache=False))),
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(done) < 12 and time.monotonic() < deadline and not failures:
        time.sleep(0.01)
    done_at_kill = len(done)
    two_nodes.cluster.remove_node(two_nodes.worker, allow_graceful=False)
    for thread in threads:
        thread.join(180)
    http_a.close()
    http_b.close()
    assert not failures, failures
    assert len(done) == 3 * batches, "a client stopped before its last batch"
    assert done_at_kill < 3 * batches - 6, "the node died after the run, not during it"
    # Only the head's replica is left, and it answers.
    nodes = {handle.handle().where.remote().result(timeout_s=30)["node_id"] for _ in range(6)}
    assert nodes == {two_nodes.node_id(two_nodes.head)}
