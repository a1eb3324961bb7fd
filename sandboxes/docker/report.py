"""How runs are isolated with the docker backend, whether it is usable here, and which images exist."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors
from docker.utils import version_gte

from sandboxes import languages
from sandboxes.config import SandboxSettings
from sandboxes.docker.settings import DockerSettings, image_for


def docker_report(sandbox_settings: SandboxSettings | None = None) -> dict[str, Any]:
    """How runs are isolated with the docker backend, whether it is usable here, and which images exist.
    `sandbox_settings` default: the environment's (then a malformed one is reported, not raised)."""
    try:
        settings = DockerSettings.from_settings(sandbox_settings or SandboxSettings.from_env())
    except ValueError as exc:
        return {"backend": "docker", "usable": False, "reason": str(exc)}
    report: dict[str, Any] = {
        "backend": "docker",
        "usable": False,
        "network": "none (loopback only)",
        "root": "read-only",
        "sandbox_uid": settings.user,
        "capabilities": "all dropped, no-new-privileges",
        "limits_by": "container cgroup (memory, no swap, pids) + rlimits (cpu, fsize, nofile, stack, core)",
        "pool_size": settings.pool_size,
        "runtime": settings.runtime or "engine default",
        "slots": settings.slots,
    }
    try:
        client = docker.from_env(timeout=10)
    except Exception as exc:
        report["reason"] = f"no Docker engine reachable: {exc}"
        return report
    try:
        client.ping()
        info = client.api.info()
        report["engine"] = info.get("ServerVersion")
        report["api_version"] = client.api.api_version
        report["cgroups"] = f"v{info.get('CgroupVersion')}" if info.get("CgroupVersion") else "unknown"
        report["security_options"] = info.get("SecurityOptions") or []
        found: dict[str, str] = {}
        missing: dict[str, str] = {}
        for name in languages.RECIPES:
            image = image_for(name, settings)
            try:
                client.api.inspect_image(image)
                found[name] = image
            except docker.errors.ImageNotFound:
                missing[name] = image
        report["images_found"] = found
        report["images_missing"] = missing
        report["usable"] = bool(found)
        if not found:
            report["reason"] = "no sandbox image built: see sandboxes/images/README.md"
        elif not version_gte(client.api.api_version, "1.41"):
            report["note"] = "engine API < 1.41: CPU time and peak memory are not measured"
    except Exception as exc:
        report["reason"] = f"no Docker engine reachable: {exc}"
    finally:
        client.close()
    return report
