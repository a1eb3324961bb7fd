"""API keys against the real service: every route but /healthz needs one, sent the ways real clients send it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import requests

from service.api.auth import accepted, digest, is_loopback, key_digests, presented_key, read_key_file
from service.integrations.client import AhaClient, ScoreError
from tests.conftest import ROOT

KEY = "aha-test-key-0123456789"
OTHER = "second-key-abcdef"
ITEM = {"task": "math", "completion": "\\boxed{4}", "reference": "4"}


@pytest.fixture
def keyed(aha_server, tmp_path: Path):
    key_file = tmp_path / "keys"
    key_file.write_text(f"# operators' keys\nsha256:{hashlib.sha256(OTHER.encode()).hexdigest()}\n\n")
    return aha_server({"AHA_API_KEYS": KEY, "AHA_API_KEYS_FILE": str(key_file)})


def test_every_route_but_healthz_needs_a_key(keyed):
    with httpx.Client(base_url=keyed.url, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        for method, path in [
            ("POST", "/v1/score"),
            ("GET", "/readyz"),
            ("GET", "/metrics"),
            ("GET", "/docs"),
            ("GET", "/openapi.json"),
            ("POST", "/run_code"),
            ("POST", "/get_reward"),
        ]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Token {KEY}"}):
                r = c.request(method, path, headers=headers, json={"items": [ITEM]})
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
                assert KEY not in r.text and "wrong" not in r.text  # a 401 names no key
        for key in (KEY, OTHER):  # a plain key from AHA_API_KEYS, and a hashed one from the key file
            r = c.post("/v1/score", json={"items": [ITEM]}, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200 and r.json()["results"][0]["reward"] == 1.0


def test_schema_declares_the_bearer_scheme(keyed):
    schema = httpx.get(keyed.url + "/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert schema["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert schema["paths"]["/v1/score"]["post"]["security"] == [{"bearer": []}]
    assert schema["paths"]["/healthz"]["get"]["security"] == []
    assert "401" in schema["paths"]["/v1/score"]["post"]["responses"]


def test_clients_send_the_key(keyed, monkeypatch):
    with AhaClient(keyed.url, api_key=KEY) as client:
        assert client.score([ITEM])["results"][0]["reward"] == 1.0
    monkeypatch.setenv("AHA_API_KEY", OTHER)
    with AhaClient(keyed.url) as client:
        assert client.score([ITEM])["results"][0]["reward"] == 1.0
    monkeypatch.delenv("AHA_API_KEY")
    with AhaClient(keyed.url) as client, pytest.raises(ScoreError, match="401"):
        client.score([ITEM])


def test_url_only_clients_pass_the_key_as_basic_auth(keyed):
    # OpenRLHF's remote reward client and SandboxFusion's take only a URL; requests turns its userinfo into Basic.
    host = keyed.url.removeprefix("http://")
    r = requests.post(f"http://aha:{KEY}@{host}/get_reward", json={"query": ["\\boxed{4}"], "labels": ["4"]})
    assert r.status_code == 200 and r.json()["rewards"] == [1.0]
    assert requests.post(f"http://aha:nope@{host}/get_reward", json={"query": ["x"]}).status_code == 401
    from sandbox_fusion import RunCodeRequest, RunStatus, run_code

    resp = run_code(RunCodeRequest(code="print(6*7)", language="python"), endpoint=f"http://aha:{KEY}@{host}")
    assert resp.status == RunStatus.Success and resp.run_result.stdout == "42\n"


def test_cli_score_url_takes_the_key(keyed, tmp_path: Path):
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps(ITEM) + "\n")
    out = tmp_path / "out.jsonl"
    base = [sys.executable, "-m", "service.cli", "score", str(data), "-o", str(out), "--url", keyed.url, "-q"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([*base, "--api-key", KEY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(out.read_text().splitlines()[0])["reward"] == 1.0
    out.unlink()
    refused = subprocess.run(base, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "401" in refused.stderr


def test_run_code_can_be_switched_off(aha_server):
    server = aha_server({"AHA_RUN_CODE": "0"})
    with server.client() as c:
        assert c.post("/run_code", json={"code": "print(1)", "language": "python"}).status_code == 404
        assert "/run_code" not in c.get("/openapi.json").json()["paths"]
        assert c.post("/v1/score", json={"items": [ITEM]}).json()["results"][0]["reward"] == 1.0


def _serve(env: dict[str, str], host: str = "127.0.0.1") -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", host, "--port", "1"]
    full = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env}
    return subprocess.run(cmd, cwd=ROOT, env=full, capture_output=True, text=True, timeout=60)


def test_wrong_key_configuration_fails_loudly(tmp_path: Path):
    required = _serve({"AHA_REQUIRE_API_KEY": "1"})
    assert required.returncode != 0 and "AHA_REQUIRE_API_KEY" in required.stderr
    missing = _serve({"AHA_API_KEYS_FILE": str(tmp_path / "absent")})
    assert missing.returncode != 0 and "cannot read the API key file" in missing.stderr
    bad = tmp_path / "bad"
    bad.write_text("sha256:1234\n")
    malformed = _serve({"AHA_API_KEYS_FILE": str(bad)})
    assert malformed.returncode != 0 and "64 hex digits" in malformed.stderr


def test_key_parsing_and_comparison(tmp_path: Path):
    assert presented_key(f"Bearer {KEY}") == KEY and presented_key(f"bearer   {KEY} ") == KEY
    assert presented_key("Basic " + __import__("base64").b64encode(f"u:{KEY}".encode()).decode()) == KEY
    assert presented_key("Basic !!!") is None and presented_key("Bearer") is None and presented_key("") is None
    digests = key_digests([KEY], None)
    assert accepted(KEY, digests) and not accepted(KEY + "x", digests) and not accepted(None, digests)
    assert not accepted(KEY, ())
    f = tmp_path / "k"
    f.write_text(f"sha256:{digest(OTHER).hex()}\nplain\n")
    assert read_key_file(str(f)) == [digest(OTHER), digest("plain")]
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.3.2.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.1.2.3")
