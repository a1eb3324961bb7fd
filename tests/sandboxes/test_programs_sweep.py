"""Program dirs of a process that died mid-run (SIGKILL, OOM, a deadline) are swept by the next `prepared()`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from sandboxes import get_recipe, programs
from sandboxes.programs import prepared, safe_relative

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import time
from sandboxes import get_recipe
from sandboxes.programs import prepared
with prepared(get_recipe("python"), "print(1)", {"sub/f": b"x"}) as prog:
    print(prog.box, flush=True)
    time.sleep(600)
"""


def hold(work: Path) -> tuple[subprocess.Popen[str], Path]:
    """A process that made a program dir under `work` and keeps it."""
    env = {**os.environ, "AHA_SANDBOX_WORK_DIR": str(work)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    box = Path(proc.stdout.readline().strip())
    assert box.parent == work and (box / "sub" / "f").is_file(), box
    return proc, box


def test_a_killed_owner_leaves_nothing_after_the_next_prepare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    monkeypatch.setenv("AHA_SANDBOX_WORK_DIR", str(work))
    killed, dead = hold(work)
    alive, live = hold(work)
    try:
        killed.kill()
        killed.wait()
        assert dead.is_dir()
        # a dir named after a live pid (ours) but with no lock held is stale all the same: pids get reused
        (work / f"box-{os.getpid()}-reused").mkdir()
        (work / "box-legacy1").mkdir()  # names prepared() does not make are not ours to remove
        monkeypatch.setattr(programs, "_next_sweep", 0.0)
        with prepared(get_recipe("python"), "print(1)") as prog:
            mine = {prog.box.name, f"{prog.box.name}.lock"}
            assert set(os.listdir(work)) == {live.name, f"{live.name}.lock", "box-legacy1", *mine}
            assert programs.sweep_stale(work) == 0  # our own live dir too: flock, unlike fcntl locks, says so
            assert prog.box.is_dir()
        assert set(os.listdir(work)) == {live.name, f"{live.name}.lock", "box-legacy1"}
        assert (live / "sub" / "f").is_file()  # the live owner's dir is untouched
    finally:
        alive.kill()
        alive.wait()


def test_sweeps_are_throttled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    monkeypatch.setenv("AHA_SANDBOX_WORK_DIR", str(work))
    monkeypatch.setattr(programs, "_next_sweep", 0.0)
    monkeypatch.setattr(programs, "_SWEEP_EVERY_S", 3600.0)  # "a few seconds", made long for a loaded machine
    with prepared(get_recipe("python"), "print(1)"):
        pass
    killed, dead = hold(work)
    killed.kill()
    killed.wait()
    with prepared(get_recipe("python"), "print(1)"):
        pass
    assert dead.is_dir()  # within a few seconds of the last sweep: not yet
    assert programs.sweep_stale(work) == 1 and os.listdir(work) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.txt", "a.txt"),
        ("./a.txt", "a.txt"),
        ("././a//b/", "a/b"),
        ("/box/a.txt", "a.txt"),
        ("/box//a/./b", "a/b"),
        ("box/a.txt", "box/a.txt"),
        ("/box", None),
        ("//box/a", None),
        ("/etc/passwd", None),
        ("a/../b", None),
        ("/box/../etc", None),
        (".", None),
        ("", None),
        ("a\0b", None),
        ("\ud800", None),
    ],
)
def test_safe_relative(path: str, expected: str | None) -> None:
    got = safe_relative(path)
    assert (str(got) if got is not None else None) == expected
    assert got is None or isinstance(got, PurePosixPath)
