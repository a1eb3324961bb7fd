"""The deployment files, parsed and cross-checked without an engine (tests/deploy runs them on a real one)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_wires_replicated_api_to_redis():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "api"}
    api = services["api"]
    assert api["build"] == "."
    assert api["environment"]["AHA_REDIS_URL"].startswith("redis://redis:6379")
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert api["deploy"]["replicas"] >= 2
    assert any(str(p).endswith(":8000") for p in api["ports"])
    assert "redis-server" in services["redis"]["command"]


def test_dockerfile_installs_what_run_installs_and_serves_the_exposed_port():
    dockerfile = (ROOT / "Dockerfile").read_text()
    run_script = (ROOT / "run").read_text()
    wanted = set(re.findall(r'"/usr/bin/[\w+-]+:([\w.+-]+)"', run_script)) - {"redis-server", "python3"}
    assert {"bubblewrap", "gcc", "rustc"} <= wanted, "the pattern no longer finds run's package table"
    installed = set(re.findall(r"[\w.+-]+", dockerfile.split("apt-get install", 1)[1].split("&&", 1)[0]))
    assert wanted <= installed, f"Dockerfile lacks {wanted - installed}"
    assert 'CMD ["aha", "serve", "--host", "0.0.0.0", "--port", "8000"]' in dockerfile
    assert "EXPOSE 8000" in dockerfile
    # the checkout is bound for the install step (never copied into a layer), pip's CA only as a build secret
    assert "RUN --mount=type=bind,target=/src,rw --mount=type=secret,id=ca" in dockerfile
    assert "pip install --no-cache-dir --disable-pip-version-check --no-deps /src" in dockerfile
    assert "COPY" not in dockerfile and "ca-certificates.crt" not in dockerfile.split("FROM", 1)[1]


def test_the_build_context_leaves_out_what_is_local():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", "**/__pycache__"} <= set(ignored)
    for needed in ("service", "verifiers", "sandboxes", "pyproject.toml", "README.md"):
        assert needed not in ignored


def test_the_image_and_the_stack_refuse_to_serve_keyless():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ENV AHA_REQUIRE_API_KEY=1" in dockerfile
    api = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]
    assert api["environment"]["AHA_API_KEYS"].startswith("${AHA_API_KEYS:?")
