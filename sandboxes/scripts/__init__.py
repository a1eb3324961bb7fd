"""Programs the sandbox starts as interpreters of their own: standalone scripts, stdlib only, one loader.

- `launcher_zygote.py`: on the host, as our uid; forks the launchers that exec bwrap (see `bwrap/launchers.py`);
- `warm_zygote.py`: inside a warm bwrap box; clones every warm run (see `bwrap/warm.py`).

Each is passed to `python -c` whole: none imports anything of this project, so each is linted, and can be read
and run, as the file it is.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@cache
def source(name: str) -> str:
    """The source of the script `name` (its file name without `.py`) in this folder."""
    path = _HERE / f"{name}.py"
    if path.parent != _HERE or not path.is_file():
        raise ValueError(f"no sandbox script {name!r} in {_HERE}")
    return path.read_text()
