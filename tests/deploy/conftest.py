"""Deployment tests: the images, the compose stack and the containerised service on a real Docker engine.

They run under `./run test-docker`, which starts an engine when none answers, builds every image and sets
AHA_DOCKER_TESTS=1, DOCKER_HOST and AHA_COMPOSE (a Compose v2 command: `deploy/engine.sh compose`); anywhere else
they skip, saying so. The stack runs on the host's network (no bridge network here), on loopback ports of its own.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY = "deploy-test-key"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a Docker engine and the built images (./run test-docker)")


def docker_cli() -> str:
    """The docker client `deploy/engine.sh` uses (Debian's, when installed)."""
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the docker client against the test engine."""
    return subprocess.run([docker_cli(), *args], capture_output=True, text=True, timeout=timeout, check=check)


@pytest.fixture(scope="session")
def engine() -> str:
    """DOCKER_HOST of the engine `./run test-docker` prepared; skips outside it."""
    if os.environ.get("AHA_DOCKER_TESTS") != "1":
        pytest.skip("deployment tests run under ./run test-docker (a Docker engine and the built images)")
    host = os.environ.get("DOCKER_HOST", "")
    version = docker("version", "--format", "{{.Server.Version}}", check=False, timeout=20)
    assert version.returncode == 0, f"./run test-docker set DOCKER_HOST={host} but no engine answers: {version.stderr}"
    for image in ("aha", "aha-sandbox-python", "aha-test-redis"):
        assert docker("image", "inspect", image, check=False).returncode == 0, f"image {image} was not built"
    assert subprocess.run([*compose_cli(), "version"], capture_output=True).returncode == 0, "no Compose v2"
    return host


def compose_cli() -> list[str]:
    """The Compose v2 command `./run test-docker` found (`AHA_COMPOSE`), else `docker compose`."""
    return shlex.split(os.environ.get("AHA_COMPOSE", "")) or [docker_cli(), "compose"]


def cgroup_v1_host() -> bool:
    """Whether the host's memory and pids controllers are on cgroup v1 (what deploy/compose.cgroup-v1.yml is for)."""
    return Path("/sys/fs/cgroup/memory/cgroup.procs").exists() and Path("/sys/fs/cgroup/pids/cgroup.procs").exists()


@dataclass
class Stack:
    """A compose project brought up for a test: its API replicas' URLs and the compose command to reach it."""

    project: str
    file: Path
    urls: list[str]
    redis_port: int

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*compose_cli(), "-p", self.project, "-f", str(self.file), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check, cwd=ROOT)

    def container(self, service: str) -> str:
        """The id of the (one) container of `service`."""
        return self.compose("ps", "-q", service).stdout.split()[0]


def stack_file(replicas: int, files: list[str], env: dict[str, str], out: Path) -> Path:
    """The stack as docker-compose.yml (+ the cgroup v1 override) on the host network, as one merged file.

    `docker-compose config` merges the repository's files; the second replica is the merged `api` service itself
    on another port (host networking has no per-replica ports), so both replicas are exactly what compose says.
    """
    files = [*files, "tests/deploy/compose.hostnet.yml"]
    args = [a for f in files for a in ("-f", str(ROOT / f))]
    merged = subprocess.run(
        [*compose_cli(), "--project-directory", str(ROOT), *args, "config"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=60,
    )
    config = yaml.safe_load(merged.stdout)
    api = config["services"]["api"]
    api.pop("ports", None)  # published ports mean nothing on the host network (and Docker drops them)
    api.pop("build", None)  # `./run test-docker` built the image already
    for n in range(2, replicas + 1):
        port = env[f"AHA_TEST_API_PORT_{n}"]
        replica = copy.deepcopy(api)
        replica["command"][-1] = port
        replica["healthcheck"]["test"][-1] = replica["healthcheck"]["test"][-1].replace(
            env["AHA_TEST_API_PORT_1"], port
        )
        config["services"][f"api-{n}"] = replica
    config["services"]["redis"].pop("build", None)
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def wait_ready(url: str, timeout: float = 120) -> None:
    """Until `url`/readyz answers 200 (or fail with the last answer)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/readyz", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready after {timeout} s: {last}")


@contextlib.contextmanager
def stack(
    replicas: int = 2, files: list[str] | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Bring a stack up from `files` (default: docker-compose.yml with the cgroup delegation where the host has
    cgroup v1) on the host network, yield it once every replica is ready, take it down (containers, volumes)."""
    if files is None:
        files = ["docker-compose.yml"] + (["deploy/compose.cgroup-v1.yml"] if cgroup_v1_host() else [])
    ports = [free_port() for _ in range(replicas + 1)]
    env = {"AHA_API_KEYS": KEY, "AHA_TEST_REDIS_PORT": str(ports[0]), **(extra_env or {})}
    env.update({f"AHA_TEST_API_PORT_{n}": str(p) for n, p in enumerate(ports[1:], start=1)})
    workdir = Path(tempfile.mkdtemp(prefix="aha-stack-"))
    project = f"ahatest{os.getpid()}{ports[0]}"
    s = Stack(
        project,
        stack_file(replicas, files, env, workdir / "stack.yml"),
        [f"http://127.0.0.1:{p}" for p in ports[1:]],
        ports[0],
    )
    try:
        up = s.compose("up", "-d", "--no-build", check=False)
        assert up.returncode == 0, f"docker-compose up failed: {up.stderr[-2000:]}"
        for url in s.urls:
            wait_ready(url)
        yield s
    finally:
        logs = s.compose("logs", "--no-color", "--tail", "40", check=False).stdout
        down = s.compose("down", "-v", "--remove-orphans", "-t", "30", check=False)
        shutil.rmtree(workdir, ignore_errors=True)
        if down.returncode != 0:
            print(logs)
            raise AssertionError(f"docker-compose down failed: {down.stderr[-1000:]}")


@pytest.fixture(scope="module")
def compose_stack(engine: str) -> Iterator[Stack]:
    """Redis and two API replicas as docker-compose.yml says (with the cgroup v1 delegation where the host has v1)."""
    with stack(replicas=2) as s:
        yield s
