"""`POST /run_code` against a real uvicorn server, driven by the sandbox-fusion package's own client."""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from fastapi import FastAPI

from sandboxes import available_languages
from service.api.errors import install_error_handlers
from service.api.run_code import router
from service.settings import Settings

pytestmark = pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing")


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """A real uvicorn server with the `/run_code` router, the app's error handlers, and its settings where the app
    keeps them (no body guard: what reaches the route is what the client sent, lone surrogates included)."""
    app = FastAPI()
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(router)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(5)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve(Settings()) as url:
        yield url


def test_sandbox_fusion_client(server: str) -> None:
    from sandbox_fusion import RunCodeRequest, RunStatus, run_code

    resp = run_code(RunCodeRequest(code="print(input()[::-1])", stdin="abc", language="python"), endpoint=server)
    assert resp.status == RunStatus.Success
    assert resp.run_result.stdout == "cba\n" and resp.run_result.return_code == 0


def test_verl_style_payload_compile_error_timeout_and_files(server: str) -> None:
    # what verl's sandbox_fusion utils send, memory_limit_MB included
    base = {"compile_timeout": 10, "run_timeout": 2, "memory_limit_MB": 256, "stdin": "", "files": {}}
    r = requests.post(f"{server}/run_code", json={**base, "code": "while True: pass", "language": "python"}).json()
    assert r["status"] == "Failed" and r["run_result"]["status"] == "TimeLimitExceeded"
    if "cpp" in available_languages():
        r = requests.post(f"{server}/run_code", json={**base, "code": "int main({", "language": "cpp"}).json()
        assert r["status"] == "Failed" and r["compile_result"]["return_code"] != 0 and r["run_result"] is None
    files = {"data.txt": base64.b64encode(b"hello").decode()}
    prog = "s = open('data.txt').read()\nopen('out.txt', 'w').write(s.upper())\nprint(s)"
    r = requests.post(
        f"{server}/run_code",
        json={**base, "code": prog, "language": "python", "files": files, "fetch_files": ["out.txt", "../x"]},
    ).json()
    assert r["status"] == "Success", r
    assert base64.b64decode(r["files"]["out.txt"]) == b"HELLO" and "../x" not in r["files"]
    r = requests.post(f"{server}/run_code", json={**base, "code": "x", "language": "cobol"})
    assert r.status_code == 422 or r.json()["status"] == "SandboxError"
