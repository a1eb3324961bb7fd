"""The sandbox's settings: one validated tree; a malformed value fails with its name, never becomes a default."""

from __future__ import annotations

import pytest

from sandboxes import SandboxConfigError, SandboxSettings, get_sandbox, isolation_report
from sandboxes.docker import DockerSettings, image_for
from service.settings import Settings


def test_defaults_and_empty_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AHA_SANDBOX_SLOTS", "AHA_SANDBOX_WARM", "AHA_SANDBOX_BACKEND", "AHA_SANDBOX_UID_BASE"):
        monkeypatch.setenv(name, "")  # empty means the default, as before
    s = SandboxSettings.from_env()
    assert s.slots >= 1 and s.warm is True and s.backend == "bwrap" and s.uid_base == 61000
    monkeypatch.setenv("AHA_SANDBOX_BACKEND", " Docker ")
    monkeypatch.setenv("AHA_SANDBOX_WARM", "off")
    s = SandboxSettings.from_env()
    assert s.backend == "docker" and s.warm is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AHA_SANDBOX_SLOTS", "many"),
        ("AHA_SANDBOX_SLOTS", "0"),
        ("AHA_SANDBOX_WARM", "maybe"),
        ("AHA_SANDBOX_CGROUPS", "2"),
        ("AHA_SANDBOX_BACKEND", "podman"),
        ("AHA_SANDBOX_COMPILE_TIMEOUT_S", "-1"),
        ("AHA_SANDBOX_DOCKER_UID", "0"),
        ("AHA_SANDBOX_DOCKER_POOL", "-2"),
        ("AHA_SANDBOX_DOCKER_API_TIMEOUT_S", "1"),
    ],
)
def test_a_malformed_value_fails_with_its_name(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SandboxConfigError, match=name):
        SandboxSettings.from_env()
    with pytest.raises(SandboxConfigError, match=name):
        get_sandbox()
    with pytest.raises(SandboxConfigError, match=name):
        Settings()  # the service's settings: made at start-up, so the service does not start


def test_the_keeper_uid_must_not_be_the_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AHA_SANDBOX_DOCKER_UID", "10000")
    with pytest.raises(SandboxConfigError, match="AHA_SANDBOX_DOCKER_KEEPER_UID"):
        SandboxSettings.from_env()


def test_a_sandbox_keeps_the_settings_it_was_built_with(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AHA_SANDBOX_WARM", "0")
    sandbox = get_sandbox()
    monkeypatch.setenv("AHA_SANDBOX_WARM", "1")
    assert sandbox.settings.warm is False  # read once: a later change is the next sandbox's
    assert get_sandbox().settings.warm is True
    assert isolation_report(settings=sandbox.settings)["runs"] == "cold sandbox per run"


def test_docker_settings_come_from_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AHA_SANDBOX_DOCKER_UID", "20000")
    monkeypatch.setenv("AHA_SANDBOX_DOCKER_POOL", "0")
    monkeypatch.setenv("AHA_SANDBOX_DOCKER_IMAGE_RUST", "mirror/rust:1")
    docker = DockerSettings.from_settings(SandboxSettings.from_env())
    assert (docker.uid, docker.gid, docker.pool_size) == (20000, 20000, 0)
    assert image_for("rust", docker) == "mirror/rust:1" and image_for("go", docker) == "aha-sandbox-go"
