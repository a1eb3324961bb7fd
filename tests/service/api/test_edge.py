"""What every request passes through, against the real service: body limits and timeouts, lone surrogates, deep
nesting, parse failures as 422, strict types, and no host detail leaking out (red-team rows 2, 7, 8, 17, 18)."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from service.api.guard import repair_surrogates

ITEM = {"task": "math", "completion": "\\boxed{4}", "reference": "4"}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    from tests.conftest import start_aha, stop_aha

    srv = start_aha(
        tmp_path_factory.mktemp("edge"),
        {"AHA_MAX_BODY_BYTES": "100000", "AHA_REQUEST_READ_TIMEOUT_S": "2", "AHA_WORKERS": "1"},
    )
    yield srv.url
    stop_aha(srv)


def post_raw(url: str, path: str, body: bytes) -> httpx.Response:
    return httpx.post(url + path, content=body, headers={"content-type": "application/json"}, timeout=60)


def scores_right(url: str) -> None:
    r = httpx.post(url + "/v1/score", json={"items": [ITEM]}, timeout=60)
    assert r.status_code == 200 and r.json()["results"][0]["reward"] == 1.0


def test_a_chunked_body_over_the_limit_is_413(server):
    def chunks() -> Iterator[bytes]:
        yield b'{"items": [{"task": "format", "completion": "'
        for _ in range(30):
            yield b"x" * 10_000
        yield b'"}]}'

    # A generator body goes out with Transfer-Encoding: chunked and no Content-Length.
    r = httpx.post(server + "/v1/score", content=chunks(), headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413 and "exceeds the limit of 100000" in r.json()["detail"]
    scores_right(server)


def test_a_body_that_trickles_in_is_cut_off(server):
    host, port = server.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(
            b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
        )
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 15
    scores_right(server)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/score", {"items": [{**ITEM, "id": "\ud800", "completion": "\\boxed{4} \udfff"}]}),
        ("/v1/score", {"items": [{**ITEM, "reference": "\ud83d"}]}),
        ("/v1/score", {"items": [{"task": "\udc00", "completion": "x"}]}),
        ("/get_reward", {"query": ["\\boxed{4}\ud800"], "labels": ["4"]}),
        ("/run_code", {"code": "print('\\ud800')", "language": "py\ud800"}),
    ],
)
def test_lone_surrogates_are_never_a_server_error(server, path, body):
    raw = json.dumps(body)  # ensure_ascii writes the lone surrogates as \udXXX escapes, as JSON allows
    assert "\\ud" in raw
    r = post_raw(server, path, raw.encode())
    assert r.status_code in (200, 422), (r.status_code, r.text)
    r.json()
    scores_right(server)


def test_surrogate_repair_keeps_pairs_and_escaped_text():
    assert repair_surrogates(rb'"\ud83d\ude00"') == rb'"\ud83d\ude00"'  # a real pair: 😀
    assert repair_surrogates(rb'"a\ud800b"') == rb'"a\ufffdb"'
    assert repair_surrogates(rb'"\udc00\ud800"') == rb'"\ufffd\ufffd"'  # low then high: no pair
    assert repair_surrogates(rb'"\\ud800"') == rb'"\\ud800"'  # an escaped backslash: the text \ud800
    assert repair_surrogates(rb'"\\\ud800"') == rb'"\\\ufffd"'


def nested(depth: int) -> object:
    value: object = "4"
    for _ in range(depth - 1):
        value = [value]
    return value


def test_deep_nesting_costs_only_its_item_and_scoring_goes_on(server):
    # 500 levels used to kill the pool's scheduler thread for good: every later verifier call failed.
    deep = nested(500)
    items = [ITEM, {**ITEM, "reference": deep}, {"task": "code", "completion": "x", "reference": {"tests": deep}}]
    r = httpx.post(server + "/v1/score", json={"items": items}, timeout=60)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[0]["reward"] == 1.0
    for result in results[1:]:
        assert result["status"] == "invalid_item" and "nested deeper than the limit of 64" in result["reason"]
    r = httpx.post(server + "/get_reward", json={"query": ["\\boxed{4}", "\\boxed{4}"], "labels": ["4", deep]})
    assert r.status_code == 200 and r.json()["rewards"] == [1.0, 0.0] and r.json()["extra_logs"]["aha_undecided"][1]
    deep_options = {"items": [ITEM], "options": {"format": {"x": nested(100)}}}
    r = httpx.post(server + "/v1/score", json=deep_options, timeout=60)
    assert r.status_code == 422 and "nested deeper" in r.text
    for _ in range(3):
        scores_right(server)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"items": [{"task": "format", "completion": "\xff\xfe"}]}', "not valid UTF-8"),
        (
            b'{"items": [{"task": "format", "completion": "x", "reference": ' + b"[" * 5000 + b"]" * 5000 + b"}]}",
            "nested too deeply",
        ),
        (b'{"items": [{"task": "math", "completion": "x", "reference": ' + b"9" * 5000 + b"}]}", "cannot be read"),
        (b'{"items": [{"task": "format", "completion": "x"}], "use_cache": 0}', "use_cache"),
        (b'{"items": [{"task": "format", "completion": "x", "length": "12"}]}', "length"),
        (b'{"items": [{"task": "format", "completion": "x"}], "weights": {"format": "1"}}', "weights"),
    ],
)
def test_unparseable_or_loosely_typed_bodies_are_422_saying_why(server, body, fragment):
    r = post_raw(server, "/v1/score", body)
    assert r.status_code == 422, (r.status_code, r.text)
    assert fragment in r.text
    assert isinstance(r.json()["detail"], str | list)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/run_code", '{"code": %s, "language": "python"}'),
        ("/v1/score", '{"items": [{"task": "math", "completion": "x", "reference": "1"}], "weights": %s}'),
        ("/v1/score", '{"items": [{"task": "math", "completion": %s, "reference": "1"}]}'),
        ("/get_reward", '{"query": %s}'),
    ],
)
def test_a_wrongly_typed_field_nested_just_under_the_parser_limit_is_422(server, path, template):
    # The 422 echoes the input; json.dumps of ~960 levels used to raise RecursionError inside the handler (a 500).
    for depth in (950, 965, 975):
        r = post_raw(server, path, (template % ("[" * depth + "]" * depth)).encode())
        assert r.status_code == 422, (depth, r.status_code, r.text[:200])


def test_run_code_refuses_loose_types(server):
    r = httpx.post(server + "/run_code", json={"code": "print(1)", "language": "python", "memory_limit_MB": False})
    assert r.status_code == 422


def test_nothing_of_the_host_leaks_and_docs_need_no_cdn(server):
    ready = httpx.get(server + "/readyz", timeout=60).text
    assert not re.search(r'"/(usr|work|root|sys|home|tmp|dev|opt)/', ready) and "/usr/bin" not in ready
    docs = httpx.get(server + "/docs").text
    assert "cdn" not in docs.lower() and "/docs-static/swagger-ui-bundle.js" in docs
    js = httpx.get(server + "/docs-static/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    metrics = httpx.get(server + "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")


def test_connections_that_send_no_headers_in_time_are_closed(server):
    # uvicorn alone held such connections for ever: a few hundred of them were a denial of service (slowloris).
    host, port = server.removeprefix("http://").split(":")
    idle = socket.create_connection((host, int(port)), timeout=30)
    partial = socket.create_connection((host, int(port)), timeout=30)
    partial.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    for conn in (idle, partial):
        with conn:
            assert conn.recv(100) == b""  # closed by the server, no reply
    assert time.monotonic() - started < 15
    scores_right(server)
