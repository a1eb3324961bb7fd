"""The bubblewrap backend's entry: take a slot, pick the path, never raise.

A run takes a machine-wide slot (`slots.run_slot`); when we are root it gets its own host uid (base + slot), so a
sandboxed process is never root outside and rlimits such as RLIMIT_NPROC apply to it. With cgroups it runs in a
warm box when one can take it (`warm.py`), else in a cold sandbox through a launcher (`cold.run_launched`);
without cgroups, in a cold sandbox with rlimits only (`cold.run_direct`).
"""

from __future__ import annotations

import logging
import os

from sandboxes import cgroups, slots
from sandboxes.bwrap import cold, warm
from sandboxes.config import SandboxSettings
from sandboxes.types import RunResult, RunSpec, RunStatus

log = logging.getLogger(__name__)


class BwrapSandbox:
    """Runs programs under bubblewrap, configured by `settings`. Safe to share between threads."""

    name = "bwrap"

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings

    def run(self, spec: RunSpec) -> RunResult:
        """Run `spec` isolated; never raises (our failures come back as `sandbox_error`)."""
        refused = _noexec_program(spec)
        if refused:
            return RunResult(RunStatus.SANDBOX_ERROR, reason=refused)
        try:
            with slots.run_slot(self.settings.slots, self.settings.runtime_dir) as slot:
                return self._run(spec, slot)
        except slots.SlotTimeout as exc:
            return RunResult(RunStatus.SANDBOX_ERROR, reason=str(exc))
        except Exception as exc:  # a bug or a host problem must not look like a verdict on the program
            log.exception("sandbox run failed")
            return RunResult(RunStatus.SANDBOX_ERROR, reason=f"{type(exc).__name__}: {exc}")

    def _run(self, spec: RunSpec, slot: int) -> RunResult:
        if cgroups.detect(self.settings.cgroups).version == "none":
            return cold.run_direct(spec, slot, self.settings)
        if warm.eligible(spec, self.settings):
            result = warm.run(spec, slot, self.settings)
            if result is not None:
                return result
        return cold.run_launched(spec, slot, self.settings)


def _noexec_program(spec: RunSpec) -> str:
    """Why a program in the box cannot be exec'd ('' when it can): its dir is on a noexec mount.

    The exec would fail with Permission denied and look like the program's own failure, a wrong answer: Docker
    mounts /dev/shm noexec, for one. Interpreted programs (`python3 /box/main.py`) only read the box and still run.
    """
    if spec.box is None or not spec.argv or not str(spec.argv[0]).startswith("/box/"):
        return ""
    try:
        noexec = bool(os.statvfs(spec.box).f_flag & os.ST_NOEXEC)
    except OSError:
        return ""
    if not noexec:
        return ""
    return (
        "the program dir is on a noexec mount, so the program cannot start: "
        "set AHA_SANDBOX_WORK_DIR to a dir that allows exec"
    )
