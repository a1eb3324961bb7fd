"""The real HTTP service (uvicorn on a free port): contract, bad input, deadlines, backpressure, operations."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from verifiers.verdict import CaseVerdict, Status

CHAOS = json.dumps(
    {"hang": "tests.service.chaos.hang", "hog": "tests.service.chaos.hog", "echo": "tests.service.chaos.echo"}
)
GOOD = "<think>reasoning</think><answer>42</answer>"


@pytest.fixture
def server(aha_server):
    return aha_server(
        {
            "AHA_CUSTOM_TASKS": CHAOS,
            "AHA_ITEM_TIMEOUT_S": "2",
            "AHA_WORKER_MEMORY_MB": "768",
            "AHA_WORKERS": "2",
            "AHA_MAX_COMPLETION_CHARS": "100000",
        }
    )


def test_score_follows_the_wire_contract(server):
    body = {
        "profile": "format",
        "items": [
            {"id": "q1-s0", "task": "format", "completion": GOOD, "group": "q1"},
            {"id": "q1-s1", "task": "format", "completion": "no tags at all", "group": "q1"},
            {"id": "e", "task": "echo", "completion": "7", "reference": "7"},
        ],
        "weights": {"accuracy": 1.0},
    }
    with server.client() as c:
        r = c.post("/v1/score", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    results = data["results"]
    assert [x["id"] for x in results] == ["q1-s0", "q1-s1", "e"]
    assert results[0]["reward"] == 1.0 and results[0]["status"] == "correct"
    assert results[1]["reward"] == 0.0 and results[1]["status"] == "wrong"
    # format weight 1 + accuracy weight 1 on the echo task; the format task has no accuracy component
    assert results[2]["components"] == {"format": 0.0, "accuracy": 1.0}
    assert results[2]["reward"] == 1.0
    assert results[0]["advantage"] > 0 > results[1]["advantage"]
    assert results[2]["advantage"] is None  # no group
    assert set(results[0]) >= {"id", "reward", "components", "status", "reason", "details", "advantage", "cached"}
    assert data["stats"]["items"] == 3


def test_bad_items_get_their_own_error_and_the_rest_is_scored(server):
    items = [
        {"task": "format", "completion": GOOD},
        {"task": "no-such-task", "completion": GOOD},
        {"task": "echo", "completion": "1"},  # needs a reference
        {"task": "format", "completion": "x" * 3_000_000},  # several MB
        {"task": "format", "completion": GOOD, "options": {"bogus": {}}},
        {"task": "format", "completion": GOOD},
    ]
    with server.client() as c:
        r = c.post("/v1/score", json={"profile": "format", "items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [
        "correct",
        "invalid_item",
        "invalid_item",
        "invalid_item",
        "invalid_item",
        "correct",
    ]
    assert "unknown task 'no-such-task'" in results[1]["reason"]
    assert "needs a reference" in results[2]["reason"]
    assert "limit is 100000" in results[3]["reason"]
    assert all(x["reward"] is None for x in results[1:5])


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": [{"completion": "x"}]}, "task"),
        ({"items": [{"task": "format", "completion": "x"}], "profile": "nope"}, "unknown profile"),
        ({"items": [{"task": "format", "completion": "x"}], "weights": {"speed": 1}}, "unknown component"),
        ({"items": [{"task": "format", "completion": "x"}], "advantage": "sideways"}, "advantage"),
        ({"items": [{"task": "format", "completion": "x", "surprise": 1}]}, "surprise"),
    ],
)
def test_malformed_requests_are_422_saying_what_is_wrong(server, body, fragment):
    with server.client() as c:
        r = c.post("/v1/score", json=body)
    assert r.status_code == 422
    assert fragment in r.text


def test_non_json_body_is_422(server):
    with server.client() as c:
        r = c.post("/v1/score", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_hanging_and_memory_eating_verifiers_cost_only_their_items(server):
    items = [
        {"id": "ok1", "task": "format", "completion": GOOD},
        {"id": "hang", "task": "hang", "completion": "a", "reference": "x"},
        {"id": "hog", "task": "hog", "completion": "b", "reference": "x"},
        {"id": "echo", "task": "echo", "completion": "5", "reference": "5"},
        {"id": "ok2", "task": "format", "completion": "bad"},
    ]
    started = time.monotonic()
    with server.client() as c:
        r = c.post("/v1/score", json={"profile": "accuracy", "weights": {"format": 0.5}, "items": items})
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    by_id = {x["id"]: x for x in r.json()["results"]}
    assert by_id["hang"]["status"] == "timeout" and by_id["hang"]["reward"] is None
    assert by_id["hog"]["status"] in {"out_of_memory", "verifier_error"} and by_id["hog"]["reward"] is None
    assert by_id["echo"]["status"] == "correct"
    assert by_id["ok1"]["reward"] == 0.5 and by_id["ok2"]["reward"] == 0.0
    assert elapsed < 2 + 10, f"batch took {elapsed:.1f}s with a 2 s item deadline"
    # The pool replaced the killed worker: the service still scores afterwards.
    with server.client() as c:
        again = c.post("/v1/score", json={"items": [{"task": "echo", "completion": "9", "reference": "9"}]})
    assert again.json()["results"][0]["status"] == "correct"
    with server.client() as c:
        metrics = c.get("/metrics").text
    assert 'aha_timeouts_total{verifier="tests.service.chaos.hang"} 1.0' in metrics


def test_the_event_loop_stays_free_while_a_verifier_hangs(server):
    result: dict = {}

    def slow() -> None:
        with server.client() as c:
            result["r"] = c.post("/v1/score", json={"items": [{"task": "hang", "completion": "z", "reference": 1}]})

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    with server.client() as c:
        assert c.get("/healthz").status_code == 200
    assert time.monotonic() - started < 0.5
    t.join(30)
    assert result["r"].json()["results"][0]["status"] == "timeout"


def test_identical_items_are_judged_once_and_then_cached(server):
    items = [{"id": str(i), "task": "echo", "completion": "3", "reference": "3", "group": "g"} for i in range(8)]
    with server.client() as c:
        first = c.post("/v1/score", json={"items": items}).json()
        second = c.post("/v1/score", json={"items": items}).json()
    assert first["stats"]["unique_jobs"] == 1 and first["stats"]["verified"] == 1
    assert not any(x["cached"] for x in first["results"])
    assert second["stats"]["cache_hits"] == 1 and second["stats"]["verified"] == 0
    assert all(x["cached"] and x["reward"] == 1.0 for x in second["results"])
    assert all(x["advantage"] == 0.0 for x in second["results"])  # identical rewards: no advantage


def test_full_queue_answers_429_with_retry_after(aha_server):
    server = aha_server(
        {"AHA_CUSTOM_TASKS": CHAOS, "AHA_ITEM_TIMEOUT_S": "3", "AHA_MAX_QUEUE": "2", "AHA_WORKERS": "1"}
    )
    holder: dict = {}

    def occupy() -> None:
        with server.client() as c:
            holder["r"] = c.post(
                "/v1/score", json={"items": [{"task": "hang", "completion": str(i), "reference": 1} for i in range(2)]}
            )

    t = threading.Thread(target=occupy)
    t.start()
    time.sleep(0.5)
    with server.client() as c:
        r = c.post("/v1/score", json={"profile": "format", "items": [{"task": "format", "completion": GOOD}]})
        metrics = c.get("/metrics").text
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert "aha_queue_depth 2.0" in metrics
    t.join(30)
    assert holder["r"].status_code == 200
    with server.client() as c:
        after = c.post("/v1/score", json={"profile": "format", "items": [{"task": "format", "completion": GOOD}]})
    assert after.json()["results"][0]["status"] == "correct"


def test_operations_endpoints(server):
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz").json()
        c.post("/v1/score", json={"profile": "format", "items": [{"task": "format", "completion": GOOD}]})
        metrics = c.get("/metrics").text
        openapi = c.get("/openapi.json").json()
        docs = c.get("/docs")
    assert ready["status"] == "ready"
    assert ready["tasks"]["format"]["usable"] is True
    assert ready["tasks"]["echo"]["usable"] is True
    assert ready["cache"] == {"kind": "memory", "usable": True, "items": ready["cache"]["items"]}
    assert {"components", "languages", "sandbox", "workers", "queue"} <= set(ready)
    assert ready["tasks"]["math"]["usable"] and ready["tasks"]["code"]["usable"]
    assert ready["components"]["language"]["usable"] is True
    assert ready["components"]["language"]["model"]["path"].endswith("lid.176.ftz")
    assert "python" in ready["languages"]["usable"]
    assert ready["sandbox"]["backend"] == "bwrap" and ready["sandbox"]["usable"] is True
    assert 'aha_items_scored_total{status="correct",task="format"}' in metrics
    assert "aha_request_seconds_bucket" in metrics and "aha_cache_misses_total" in metrics
    assert "/v1/score" in openapi["paths"]
    assert docs.status_code == 200


def test_oversized_body_is_refused_before_parsing(aha_server):
    server = aha_server({"AHA_MAX_BODY_BYTES": "1000"})
    with server.client() as c:
        r = c.post("/v1/score", json={"items": [{"task": "format", "completion": "y" * 5000}]})
    assert r.status_code == 413
    assert "limit of 1000" in r.text


def test_too_many_items_is_422(aha_server):
    server = aha_server({"AHA_MAX_ITEMS": "3"})
    with server.client() as c:
        r = c.post("/v1/score", json={"items": [{"task": "format", "completion": GOOD}] * 4})
    assert r.status_code == 422
    assert "limit of 3" in r.text


def test_many_concurrent_requests_all_answered(server):
    def call(i: int) -> httpx.Response:
        with server.client() as c:
            return c.post("/v1/score", json={"items": [{"task": "echo", "completion": str(i), "reference": str(i)}]})

    responses: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda i=i: responses.append(call(i))) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(responses) == 20
    assert all(r.status_code == 200 and r.json()["results"][0]["reward"] == 1.0 for r in responses)


def test_the_schema_lists_every_item_status_and_per_test_verdict(server):
    with server.client() as c:
        schemas = c.get("/openapi.json").json()["components"]["schemas"]
    assert set(schemas["ItemStatus"]["enum"]) == {s.value for s in Status} | {"invalid_item", "scored"}
    assert set(schemas["CaseVerdict"]["enum"]) == {v.value for v in CaseVerdict}
