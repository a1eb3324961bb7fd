"""The one loader of standalone scripts, and the scripts it loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandboxes import scripts
from sandboxes.scripts import SANDBOX_SCRIPTS, ScriptFolder
from verifiers.code import inbox


def test_sources_and_unknown_names() -> None:
    assert "def launcher(" in scripts.source("launcher_zygote")
    assert "PRELOAD" in scripts.source("warm_zygote")
    for bad in ("nope", "../config", "__init__/x"):
        with pytest.raises(ValueError):
            SANDBOX_SCRIPTS.source(bad)


def test_scripts_import_nothing_of_the_project() -> None:
    # Each runs as an interpreter of its own (`python -I -S -c`): the project is not importable there.
    for folder in (SANDBOX_SCRIPTS, inbox.SCRIPTS):
        for path in sorted(folder.path.glob("*.py")):
            if path.name == "__init__.py":
                continue
            text = path.read_text()
            assert "from sandboxes" not in text and "from verifiers" not in text and "import service" not in text


def test_a_bundle_is_its_parts_in_order_and_compiles(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("X = 1\n")
    (tmp_path / "b.py").write_text("print(X + 1)\n")
    folder = ScriptFolder(tmp_path)
    assert folder.source("a", "b") == "X = 1\n\nprint(X + 1)\n"
    pyc = folder.bytecode(sys.executable, ("a", "b"), "/box/ab.py")
    assert pyc is not None
    (tmp_path / "ab.pyc").write_bytes(pyc)
    run = subprocess.run([sys.executable, "-I", str(tmp_path / "ab.pyc")], capture_output=True, text=True, check=True)
    assert run.stdout == "2\n"
    assert folder.bytecode("/no/such/python", ("a",), "/box/a.py") is None


def test_the_harness_is_the_codec_then_the_runner() -> None:
    source = inbox.harness_source()
    codec, runner = inbox.SCRIPTS.source("codec"), inbox.SCRIPTS.source("test_runner")
    assert source == codec + "\n" + runner
    name, data = inbox.harness_file("python3")
    assert name in (inbox.HARNESS_PYC, inbox.HARNESS_NAME) and data
