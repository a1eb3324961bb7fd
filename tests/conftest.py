"""Fixtures that start real servers: redis-server and the Aha HTTP service (uvicorn) on free ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RedisServer:
    """A redis-server child process."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def start_redis(directory: Path) -> RedisServer:
    """A throwaway redis-server on a free port, with no persistence, once it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run ./run test, which installs it")
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
    proc = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(proc, port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    pytest.fail("redis-server did not start")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A throwaway redis-server for one test."""
    server = start_redis(tmp_path)
    yield server
    server.kill()


@dataclass
class AhaServer:
    """A running `aha serve` process."""

    process: subprocess.Popen
    url: str
    log: Path

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)


def start_aha(tmp_path: Path, env: dict[str, str] | None = None) -> AhaServer:
    """Start the real service with `aha serve` on a free port and wait for /healthz."""
    port = free_port()
    log = tmp_path / f"aha-{port}.log"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "AHA_LOG_LEVEL": "warning", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=full_env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"aha serve exited early:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return AhaServer(proc, url, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_aha(AhaServer(proc, url, log))
    raise RuntimeError(f"aha serve did not become healthy:\n{log.read_text()}")


def stop_aha(server: AhaServer) -> None:
    """Stop the service and every worker it started."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(server.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def aha_server(tmp_path: Path) -> Iterator[Callable[..., AhaServer]]:
    """A factory: `aha_server(env={...})` starts a service; all are stopped at the end of the test."""
    started: list[AhaServer] = []

    def factory(env: dict[str, str] | None = None) -> AhaServer:
        server = start_aha(tmp_path, env)
        started.append(server)
        return server

    yield factory
    for server in started:
        stop_aha(server)
