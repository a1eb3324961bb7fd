"""The text step gives the same pieces on every CPython 3.11 the set-up command may pick.

`./run` takes the first `python3.11` on PATH: pyenv's 3.11.7 here, Debian 12's 3.11.2 on a stock machine. CPython
before 3.11.5 gets a possessive repeat of a group that holds a lookahead wrong (`(?:[^`]|`(?!``))*+` does not
match), which once made every code fence read from its closing delimiter on and changed 1,212 language verdicts.
`verifiers/language/text.py` needs only the standard library, so it is loaded by path into the system
interpreter and its output compared with this interpreter's on the blind corpus.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

from verifiers.language import text

ROOT = Path(__file__).resolve().parents[3]
TEXT_MODULE = ROOT / "verifiers" / "language" / "text.py"
CORPUS = Path(__file__).with_name("blind_corpus.jsonl")
SYSTEM_PYTHONS = [Path("/usr/bin/python3.11"), Path("/usr/bin/python3")]

# Loaded by path: the package's __init__ imports fastText, which the system interpreter may not have.
_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("aha_text", sys.argv[1])
text = importlib.util.module_from_spec(spec)
spec.loader.exec_module(text)
texts = json.load(sys.stdin)
out = [[text.strip_non_language(t), [(p.family, p.text, p.words) for p in text.language_pieces(t)]] for t in texts]
json.dump({"version": list(sys.version_info[:3]), "out": out}, sys.stdout)
"""

FENCE_THEN_PROSE = "First we add.\n```python\nx = 1\n```\nThen we check the sum of all the numbers here."


def _samples() -> list[str]:
    thoughts = [json.loads(line)["thought"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
    return [FENCE_THEN_PROSE, *thoughts]


def _cut(python: str, texts: list[str]) -> dict[str, object]:
    """The probe's output: `python`'s version and its cut of each of `texts`."""
    run = subprocess.run(
        [python, "-c", _PROBE, str(TEXT_MODULE)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def _other_interpreters() -> list[Path]:
    found: dict[str, Path] = {}
    for path in SYSTEM_PYTHONS:
        if not path.exists():
            continue
        probe = subprocess.run(
            [str(path), "-c", "import sys; print(sys.version_info >= (3, 11), sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=False,
        )
        ok, _, version = probe.stdout.strip().partition(" ")
        if ok == "True" and version != sys.version.split()[0]:
            found.setdefault(version, path)
    return list(found.values())


def test_a_code_fence_is_taken_from_its_opening_delimiter() -> None:
    """The construct the old interpreters got wrong, checked on this one: the fence's code is gone, the prose
    after it stays."""
    stripped = text.strip_non_language(FENCE_THEN_PROSE)
    assert "x" not in stripped.split() and "python" not in stripped
    assert "Then we check the sum" in stripped


def _patterns(value: object, depth: int = 0) -> list[re.Pattern[str]]:
    if isinstance(value, re.Pattern):
        return [value]
    if depth < 3 and isinstance(value, (tuple, list)):
        return [p for item in value for p in _patterns(item, depth + 1)]
    if depth < 3 and isinstance(value, dict):
        return [p for item in value.values() for p in _patterns(item, depth + 1)]
    return []


def test_no_possessive_repeat_of_a_group_in_the_verifiers_patterns() -> None:
    """`)*+`, `)++`, `)?+` and `){m,n}+` are what CPython < 3.11.5 mis-runs; `text._all` is the safe spelling.
    Every module-level pattern of every verifier is checked (a possessive repeat of one character is fine)."""
    import verifiers

    modules = [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(verifiers.__path__, "verifiers.")
        # inbox: files copied into the sandbox beside the program, importable only there
        if not info.name.endswith("__main__") and ".inbox." not in info.name
    ]
    patterns = [p for module in modules for value in vars(module).values() for p in _patterns(value)]
    assert len(patterns) > 40  # the walk reaches the verifiers' patterns
    bad = [p.pattern for p in patterns if re.search(r"(?<!\\)\)(?:\*|\+|\?|\{\d*,?\d*\})\+", p.pattern)]
    assert not bad, bad[:3]


OTHER_PYTHONS = _other_interpreters()


@pytest.mark.skipif(not OTHER_PYTHONS, reason="no other CPython >= 3.11 in /usr/bin to compare with")
@pytest.mark.parametrize("python", OTHER_PYTHONS, ids=str)
def test_the_system_interpreter_cuts_text_as_this_one_does(python: Path) -> None:
    """The same probe, in this interpreter and in the system one."""
    samples = _samples()
    mine, theirs = _cut(sys.executable, samples), _cut(str(python), samples)
    differ = [i for i, (a, b) in enumerate(zip(mine["out"], theirs["out"], strict=True)) if a != b]
    assert not differ, (
        f"Python {theirs['version']} cuts {len(differ)} of {len(samples)} texts differently, "
        f"e.g. {samples[differ[0]][:200]!r}"
    )
