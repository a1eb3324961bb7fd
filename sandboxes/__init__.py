"""Running untrusted code: isolated, limited, and knowing nothing of rewards.

Public API: `Sandbox` (protocol) with `run(RunSpec) -> RunResult`, `get_sandbox(settings)`, `SandboxSettings`
(every `AHA_SANDBOX_*` knob, validated once), `available_languages()`, `isolation_report()`, and the
compile-once/run-many helpers in `sandboxes.programs`. Each function that takes `settings` reads the environment
when it is not given (scripts, tests); the service builds them once at start-up and passes them.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

from sandboxes import cgroups
from sandboxes.config import SandboxConfigError, SandboxSettings
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
    "SandboxConfigError",
    "SandboxSettings",
    "available_languages",
    "get_recipe",
    "get_sandbox",
    "isolation_report",
    "unavailable_languages",
]


def sweep_leftovers(settings: SandboxSettings | None = None, wait_s: float = 2.0) -> None:
    """Remove what the runs of dead processes left behind: their program dirs and their (empty) per-run cgroups.

    Call it after killing the processes that ran sandboxes (a server's workers at shutdown); a cgroup is removed
    once the kernel has reaped its last process, so this waits up to ``wait_s`` for that.
    """
    from sandboxes import programs

    settings = settings or SandboxSettings.from_env()
    programs.sweep_stale(settings.work_dir)
    if settings.backend == "docker":  # the warm containers of dead workers, which no pool will close now
        from sandboxes.docker import DockerSettings
        from sandboxes.docker.pool import reap_orphans

        reap_orphans(DockerSettings.from_settings(settings))
    if not settings.cgroups:
        return
    setup = cgroups.detect()
    deadline = time.monotonic() + wait_s
    while True:
        cgroups.sweep_stale(setup)
        if not cgroups.stale(setup) or time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def get_sandbox(backend: str | None = None, settings: SandboxSettings | None = None) -> Sandbox:
    """The sandbox of `settings` (default: from the environment; SandboxConfigError when malformed), by its
    `backend` or the one `backend` names (`bwrap` or `docker`)."""
    settings = settings or SandboxSettings.from_env()
    name = (backend or settings.backend).lower()
    if name == "bwrap":
        from sandboxes.bwrap import BwrapSandbox

        return BwrapSandbox(settings)
    if name == "docker":
        return _docker_sandbox(settings)
    raise ValueError(f"unknown sandbox backend {name!r} (expected 'bwrap' or 'docker')")


# One docker backend per process and settings: it owns the warm container pool, which a fresh instance per
# judgement would waste.
@functools.lru_cache(maxsize=4)
def _docker_sandbox(settings: SandboxSettings) -> Sandbox:
    from sandboxes.docker import DockerSandbox, DockerSettings

    return DockerSandbox(DockerSettings.from_settings(settings), settings)


def available_languages(settings: SandboxSettings | None = None) -> dict[str, dict]:
    """Usable languages for the configured backend: host toolchains for bwrap, built images for docker."""
    settings = settings or SandboxSettings.from_env()
    if settings.backend != "docker":
        return _host_languages()
    images = isolation_report(settings=settings).get("images_found") or {}
    return {name: {"image": image, "aliases": list(RECIPES[name].aliases)} for name, image in images.items()}


def unavailable_languages(settings: SandboxSettings | None = None) -> dict[str, str]:
    """Languages that cannot run with the configured backend, and why."""
    settings = settings or SandboxSettings.from_env()
    if settings.backend != "docker":
        return _host_unavailable()
    report = isolation_report(settings=settings)
    if not report.get("usable") and not report.get("images_missing"):
        return {name: report.get("reason", "docker backend unusable") for name in RECIPES}
    return {name: f"image {image} is not built" for name, image in (report.get("images_missing") or {}).items()}


@functools.lru_cache(maxsize=8)
def _report(backend: str, settings: SandboxSettings) -> tuple[tuple[str, Any], ...]:
    if backend == "docker":
        from sandboxes.docker import docker_report

        return tuple(docker_report(settings).items())
    from sandboxes.bwrap import bwrap_version

    setup = cgroups.detect(settings.cgroups)
    version = bwrap_version(settings.bwrap)
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
        "sandbox_uid": f"host uid {settings.uid_base}+slot (we run as root)" if root else "our own uid",
        "slots": settings.slots,
        # runs are clones of a warm long-lived box (Python ones run in its preloaded interpreter), or cold each time
        "runs": "clones of a warm box" if setup.version != "none" and settings.warm else "cold sandbox per run",
    }
    if version is None:
        report["reason"] = "bwrap not found: install the Debian package 'bubblewrap'"
    else:
        problem = _bwrap_self_test(settings)
        if problem:
            report["usable"] = False
            report["reason"] = problem
    return tuple(report.items())


def _bwrap_self_test(settings: SandboxSettings) -> str:
    """Why runs cannot work here ('' when they can): one empty sandbox, and a program dir that allows exec.

    A container that masks /proc or forbids namespaces fails every run, and a program dir on a noexec mount
    (Docker's /dev/shm) makes every compiled program "fail" with Permission denied: a wrong answer, not an error.
    Neither shows in the binary's version, so the report tries both once per process.
    """
    import subprocess

    work = settings.work_dir
    probe = work if work.exists() else work.parent
    try:
        if os.statvfs(probe).f_flag & os.ST_NOEXEC:
            return f"the program dir {work.name} is on a noexec mount: compiled programs cannot start there"
    except OSError as exc:
        return f"the program dir {work.name} cannot be read: {exc.strerror}"
    argv = [settings.bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr"]
    for top in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{top}"):
            argv += ["--symlink", os.readlink(f"/{top}"), f"/{top}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/usr/bin/true"]
    # as a slot uid when we are root, as the runs are
    user = settings.uid_base if os.geteuid() == 0 else None
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, user=user, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap cannot run: {exc}"
    if done.returncode != 0:
        return f"an empty sandbox fails: {done.stderr.decode(errors='replace').strip()[:300]}"
    return ""


def isolation_report(backend: str | None = None, settings: SandboxSettings | None = None) -> dict[str, Any]:
    """How runs are isolated here (backend, cgroups v1/v2 or rlimits only, bwrap version, why). Cached."""
    settings = settings or SandboxSettings.from_env()
    return dict(_report((backend or settings.backend).lower(), settings))
