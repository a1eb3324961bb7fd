"""Running untrusted code: isolated, limited, and knowing nothing of rewards.

Public API: `Sandbox` (protocol) with `run(RunSpec) -> RunResult`, `get_sandbox(backend)`, `available_languages()`,
`isolation_report()`, and the compile-once/run-many helpers in `sandboxes.programs`.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

from sandboxes import cgroups, config
from sandboxes.languages import RECIPES, Recipe, get_recipe
from sandboxes.languages import available_languages as _host_languages
from sandboxes.languages import unavailable_languages as _host_unavailable
from sandboxes.types import Limits, RunResult, RunSpec, RunStatus, Sandbox

__all__ = [
    "sweep_leftovers",
    "RECIPES",
    "Limits",
    "Recipe",
    "RunResult",
    "RunSpec",
    "RunStatus",
    "Sandbox",
    "available_languages",
    "get_recipe",
    "get_sandbox",
    "isolation_report",
    "unavailable_languages",
]


def sweep_leftovers(wait_s: float = 2.0) -> None:
    """Remove what the runs of dead processes left behind: their program dirs and their (empty) per-run cgroups.

    Call it after killing the processes that ran sandboxes (a server's workers at shutdown); a cgroup is removed
    once the kernel has reaped its last process, so this waits up to ``wait_s`` for that.
    """
    from sandboxes import programs

    programs.sweep_stale(config.work_root())
    if not config.use_cgroups():
        return
    setup = cgroups.detect()
    deadline = time.monotonic() + wait_s
    while True:
        cgroups.sweep_stale(setup)
        if not cgroups.stale(setup) or time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def get_sandbox(backend: str | None = None) -> Sandbox:
    """The sandbox backend by name (`bwrap` or `docker`); default from `AHA_SANDBOX_BACKEND`, else bwrap."""
    name = (backend or config.backend()).lower()
    if name == "bwrap":
        from sandboxes.bwrap import BwrapSandbox

        return BwrapSandbox()
    if name == "docker":
        return _docker_sandbox()
    raise ValueError(f"unknown sandbox backend {name!r} (expected 'bwrap' or 'docker')")


# One docker backend per process: it owns the warm container pool, which a fresh instance per judgement would waste.
@functools.lru_cache(maxsize=1)
def _docker_sandbox() -> Sandbox:
    from sandboxes.docker import DockerSandbox

    return DockerSandbox()


def available_languages() -> dict[str, dict]:
    """Usable languages for the configured backend: host toolchains for bwrap, built images for docker."""
    if config.backend().lower() != "docker":
        return _host_languages()
    images = isolation_report("docker").get("images_found") or {}
    return {name: {"image": image, "aliases": list(RECIPES[name].aliases)} for name, image in images.items()}


def unavailable_languages() -> dict[str, str]:
    """Languages that cannot run with the configured backend, and why."""
    if config.backend().lower() != "docker":
        return _host_unavailable()
    report = isolation_report("docker")
    if not report.get("usable") and not report.get("images_missing"):
        return {name: report.get("reason", "docker backend unusable") for name in RECIPES}
    return {name: f"image {image} is not built" for name, image in (report.get("images_missing") or {}).items()}


@functools.lru_cache(maxsize=4)
def _report(backend: str) -> tuple[tuple[str, Any], ...]:
    if backend == "docker":
        from sandboxes.docker import docker_report

        return tuple(docker_report().items())
    from sandboxes.bwrap import bwrap_version

    setup = cgroups.detect()
    version = bwrap_version()
    root = os.geteuid() == 0
    report: dict[str, Any] = {
        "backend": "bwrap",
        "bwrap_version": version,
        "usable": version is not None,
        "cgroups": setup.version,  # "v2", "v1" or "none"
        "limits_by": "cgroup+rlimits" if setup.version != "none" else "rlimits",
        "cgroup_reason": setup.reason,
        "namespaces": ["user", "pid", "ipc", "uts", "mount", "net", "cgroup"],
        "network": "none (loopback only)",
        "sandbox_uid": f"host uid {config.sandbox_uid_base()}+slot (we run as root)" if root else "our own uid",
        "slots": config.slots(),
        # runs are clones of a warm long-lived box (Python ones run in its preloaded interpreter), or cold each time
        "runs": "clones of a warm box" if setup.version != "none" and config.warm() else "cold sandbox per run",
    }
    if version is None:
        report["reason"] = "bwrap not found: install the Debian package 'bubblewrap'"
    return tuple(report.items())


def isolation_report(backend: str | None = None) -> dict[str, Any]:
    """How runs are isolated here (backend, cgroups v1/v2 or rlimits only, bwrap version, why). Cached."""
    return dict(_report((backend or config.backend()).lower()))
