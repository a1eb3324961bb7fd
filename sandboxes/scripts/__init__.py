"""Programs that run as interpreters of their own, outside the service's: standalone scripts, stdlib only.

This folder holds the sandbox's own (`SANDBOX_SCRIPTS`):
- `launcher_zygote.py`: on the host, as our uid; forks the launchers that exec bwrap (see `bwrap/launchers.py`);
- `warm_zygote.py`: inside a warm bwrap box; clones every warm run (see `bwrap/warm.py`).

`ScriptFolder` is the one loader for such folders, this one and the verifiers' (`verifiers/code/inbox/`): none of
their scripts imports anything of this project, so each is linted, read and run as the file it is; a script made of
several (a runner and the codec it shares with the judge) is their sources one after the other.
"""

from __future__ import annotations

import subprocess
from functools import cache, lru_cache
from pathlib import Path

# Run by the target interpreter itself, so the bytecode's format is always its own. optimize=2: without docstrings
# a script loads faster in every run (these scripts have no asserts to lose).
_PYC_SCRIPT = (
    "import importlib.util, marshal, sys\n"
    "code = compile(sys.stdin.read(), sys.argv[1], 'exec', dont_inherit=True, optimize=2)\n"
    "sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code))\n"
)


@cache
def _read(path: Path) -> str:
    return path.read_text()


@lru_cache(maxsize=8)
def _compile(python: str, source: str, filename: str) -> bytes | None:
    try:
        proc = subprocess.run(
            [python, "-I", "-S", "-c", _PYC_SCRIPT, filename],
            input=source.encode(),
            capture_output=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout or None


class ScriptFolder:
    """A folder of standalone scripts, each loaded by its name (the file name without `.py`)."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()

    def source(self, *names: str) -> str:
        """The source of the scripts `names`, one after the other (a later one may use an earlier one's names)."""
        parts = []
        for name in names:
            path = self.path / f"{name}.py"
            if path.parent != self.path or not path.is_file():
                raise ValueError(f"no script {name!r} in {self.path}")
            parts.append(_read(path))
        return "\n".join(parts)

    def bytecode(self, python: str, names: tuple[str, ...], filename: str) -> bytes | None:
        """`source(*names)` as a .pyc compiled by `python` (the interpreter that will run it), or None when that
        interpreter cannot compile it. Runs our own source only (no untrusted input). Cached."""
        return _compile(python, self.source(*names), filename)


SANDBOX_SCRIPTS = ScriptFolder(Path(__file__).parent)


def source(name: str) -> str:
    """The source of the sandbox's script `name`."""
    return SANDBOX_SCRIPTS.source(name)
