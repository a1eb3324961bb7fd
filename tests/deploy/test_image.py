"""The API image on a real engine: what it holds, and a /readyz that tells the truth when runs cannot work."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import free_port
from tests.deploy import probe
from tests.deploy.conftest import KEY, docker, wait_ready

pytestmark = pytest.mark.docker


def grants(systempaths: bool = True) -> list[str]:
    """What docker-compose.yml grants the API service, as `docker run` flags (optionally with /proc masked)."""
    opts = ["seccomp=unconfined", "apparmor=unconfined", "no-new-privileges"]
    if systempaths:
        opts.append("systempaths=unconfined")
    caps = ["--cap-drop", "ALL", "--cap-add", "SETUID", "--cap-add", "SETGID", "--cap-add", "KILL"]
    return [f for o in opts for f in ("--security-opt", o)] + caps


BWRAP_FLAGS = grants()


@contextlib.contextmanager
def api_container(*flags: str) -> Iterator[str]:
    """The aha image serving on a loopback port of the host network with `flags`; yields its URL."""
    port = free_port()
    cid = docker(
        "run", "-d", "--rm", "--network", "host", "-e", f"AHA_API_KEYS={KEY}", *flags,
        "aha", "aha", "serve", "--host", "127.0.0.1", "--port", str(port),
    ).stdout.strip()  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        docker("rm", "-f", cid, check=False)


def _sandbox(url: str) -> dict:
    return httpx.get(f"{url}/readyz", headers={"Authorization": f"Bearer {KEY}"}, timeout=30).json()["sandbox"]


def test_the_image_holds_the_package_not_the_checkout_nor_the_build_secret(engine: str):
    where = docker("run", "--rm", "aha", "python", "-c", "import sandboxes; print(sandboxes.__file__)").stdout
    assert where.startswith("/opt/aha/lib/python3.11/site-packages/sandboxes/")
    assert docker("run", "--rm", "aha", "sh", "-c", 'test -z "$(find /run/secrets /src -mindepth 1)"').returncode == 0
    history = docker("history", "--no-trunc", "aha").stdout
    assert "BEGIN CERTIFICATE" not in history and "PIP_CERT=/run/secrets/ca" in history
    version = docker("run", "--rm", "aha", "python", "--version").stdout
    assert version.startswith("Python 3.11.")  # Debian 12's own


def test_a_container_that_masks_proc_is_reported_unusable_not_usable(engine: str):
    with api_container(*grants(systempaths=False)) as url:
        sandbox = _sandbox(url)
        assert sandbox["usable"] is False and "Can't mount proc" in sandbox["reason"], sandbox
        result = probe.score(url, KEY, [probe.code_item("p", "python", probe.SUM_PROGRAMS["python"])])[0]
        assert result["reward"] is None and result["status"] == "sandbox_error"  # undecided, never a made-up 0


def test_program_dirs_on_dockers_noexec_dev_shm_are_reported(engine: str):
    with api_container(*BWRAP_FLAGS, "-e", "AHA_SANDBOX_WORK_DIR=/dev/shm/aha-work") as url:
        sandbox = _sandbox(url)
        assert sandbox["usable"] is False and "noexec" in sandbox["reason"], sandbox
        # the silent wrong reward: a correct C program judged wrong because /box/main could not start
        result = probe.score(url, KEY, [probe.code_item("c", "c", probe.SUM_PROGRAMS["c"])])[0]
        assert result["reward"] is None and result["status"] == "sandbox_error", result


def test_plain_docker_run_with_the_compose_grants_judges_right(engine: str):
    t = time.monotonic()
    with api_container(*BWRAP_FLAGS) as url:
        assert _sandbox(url)["usable"] is True
        pairs = probe.correctness_items()
        assert probe.mismatches(pairs, probe.score(url, KEY, [item for item, _ in pairs])) == []
    assert time.monotonic() - t < 300
