"""The Redis cache against a real redis-server: shared hits across replicas, and life after Redis dies."""

from __future__ import annotations

import json

import redis

CHAOS = json.dumps({"echo": "tests.service.chaos.echo"})


def _items(n: int, answer: str = "4") -> list[dict]:
    return [{"id": f"s{i}", "task": "echo", "completion": answer, "reference": "4", "group": "q"} for i in range(n)]


def test_repeated_item_is_served_from_redis_across_replicas(aha_server, redis_server):
    env = {"AHA_REDIS_URL": redis_server.url, "AHA_CUSTOM_TASKS": CHAOS, "AHA_WORKERS": "1"}
    first, second = aha_server(env), aha_server(env)
    with first.client() as c:
        cold = c.post("/v1/score", json={"items": _items(4)}).json()
        ready = c.get("/readyz").json()
    assert ready["cache"]["kind"] == "redis" and ready["cache"]["usable"] is True
    assert cold["stats"]["verified"] == 1 and not any(r["cached"] for r in cold["results"])
    keys = redis.Redis.from_url(redis_server.url).keys("aha:v1:*")
    assert len(keys) == 1
    with second.client() as c:  # another replica: the verdict comes from the shared Redis
        warm = c.post("/v1/score", json={"items": _items(4)}).json()
    assert warm["stats"]["cache_hits"] == 1 and warm["stats"]["verified"] == 0
    assert all(r["cached"] and r["reward"] == 1.0 for r in warm["results"])


def test_scoring_survives_redis_dying_mid_run(aha_server, redis_server):
    server = aha_server(
        {"AHA_REDIS_URL": redis_server.url, "AHA_CUSTOM_TASKS": CHAOS, "AHA_WORKERS": "1", "AHA_REDIS_RETRY_S": "60"}
    )
    with server.client() as c:
        assert c.post("/v1/score", json={"items": _items(2)}).json()["results"][0]["reward"] == 1.0
        redis_server.kill()
        after = c.post("/v1/score", json={"items": _items(3, "4") + _items(1, "5")})
        ready = c.get("/readyz").json()
    assert after.status_code == 200
    results = after.json()["results"]
    assert [r["reward"] for r in results] == [1.0, 1.0, 1.0, 0.0]
    assert not any(r["cached"] for r in results)  # Redis is gone: nothing can come from it
    assert ready["cache"]["usable"] is False and "error" in ready["cache"]
    assert "Redis cache unavailable" in server.log.read_text()
