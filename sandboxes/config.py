"""`AHA_*` environment settings of the sandbox, read where they are used (no module-level state)."""

from __future__ import annotations

import os
from pathlib import Path


def env_str(name: str, default: str) -> str:
    """The value of `AHA_<name>`, or `default` when unset or empty."""
    value = os.environ.get(f"AHA_{name}", "").strip()
    return value or default


def env_int(name: str, default: int) -> int:
    """`AHA_<name>` as an int; `default` when unset or not a number."""
    try:
        return int(env_str(name, str(default)))
    except ValueError:
        return default


def backend() -> str:
    """`AHA_SANDBOX_BACKEND`: `bwrap` (default) or `docker`."""
    return env_str("SANDBOX_BACKEND", "bwrap").lower()


def slots() -> int:
    """`AHA_SANDBOX_SLOTS`: how many runs may execute at once on this machine (default: CPU count)."""
    return max(1, env_int("SANDBOX_SLOTS", os.cpu_count() or 1))


def runtime_dir() -> Path:
    """`AHA_SANDBOX_RUNTIME_DIR`: slot lock files live here; shared by every process of one host."""
    return Path(env_str("SANDBOX_RUNTIME_DIR", "/tmp/aha-sandbox"))


def work_root() -> Path:
    """`AHA_SANDBOX_WORK_DIR`: parent of per-submission program dirs; tmpfs-backed (/dev/shm) when it can be."""
    default = "/dev/shm/aha-work" if Path("/dev/shm").is_dir() else "/tmp/aha-work"
    return Path(env_str("SANDBOX_WORK_DIR", default))


def sandbox_uid_base() -> int:
    """`AHA_SANDBOX_UID_BASE`: when we run as root, slot i runs as host uid base+i (never as root)."""
    return env_int("SANDBOX_UID_BASE", 61000)


def use_cgroups() -> bool:
    """`AHA_SANDBOX_CGROUPS=0` turns per-run cgroups off (rlimits only)."""
    return env_str("SANDBOX_CGROUPS", "1") not in {"0", "false", "no", "off"}


def warm() -> bool:
    """`AHA_SANDBOX_WARM=0` gives every run a cold bwrap sandbox (no per-slot warm box)."""
    return env_str("SANDBOX_WARM", "1") not in {"0", "false", "no", "off"}
