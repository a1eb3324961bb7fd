"""A program dir on a noexec mount (Docker's /dev/shm) is the sandbox's failure, never the program's wrong answer."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from sandboxes import Limits, RunStatus, SandboxSettings, get_recipe, get_sandbox, isolation_report
from sandboxes.programs import compile_program, prepared, run_program

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or isolation_report("bwrap").get("bwrap_version") is None, reason="needs root (a mount) and bwrap"
)


@pytest.fixture
def noexec_work_dir():
    mount = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="aha-noexec-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec,nosuid,mode=0711,size=64m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def test_a_compiled_program_in_a_noexec_dir_is_a_sandbox_error(noexec_work_dir: Path):
    settings = SandboxSettings(work_dir=noexec_work_dir / "work")
    sandbox = get_sandbox("bwrap", settings)
    recipe = get_recipe("c")
    with prepared(recipe, "int main(void){return 0;}", work_dir=settings.work_dir) as prog:
        compiled = compile_program(sandbox, prog)
        assert compiled is not None and compiled.status == RunStatus.OK, compiled
        result = run_program(sandbox, prog, limits=Limits(cpu_s=2, wall_s=5, memory_mb=128))
    assert result.status == RunStatus.SANDBOX_ERROR and "noexec" in result.reason, result


def test_an_interpreted_program_in_a_noexec_dir_still_runs(noexec_work_dir: Path):
    settings = SandboxSettings(work_dir=noexec_work_dir / "work")
    sandbox = get_sandbox("bwrap", settings)
    with prepared(get_recipe("python"), "print(6 * 7)", work_dir=settings.work_dir) as prog:
        result = run_program(sandbox, prog, limits=Limits(cpu_s=2, wall_s=5, memory_mb=128))
    assert result.status == RunStatus.OK and result.stdout == b"42\n", result


def test_the_report_says_a_noexec_program_dir_is_unusable(noexec_work_dir: Path):
    report = isolation_report("bwrap", SandboxSettings(work_dir=noexec_work_dir / "work"))
    assert report["usable"] is False and "noexec" in report["reason"]
