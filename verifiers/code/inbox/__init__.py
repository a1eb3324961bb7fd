"""The code verifier's programs that run inside the sandbox, loaded by the sandbox's one loader (`ScriptFolder`).

- `test_runner.py`: the two-process harness for function-call and assert-style tests;
- `codec.py`: plain-value serialization, shared by the harness and the judge (which imports it from here).

The harness is sent into the box as one file: `codec.py`'s source, then `test_runner.py`'s (which imports the codec
only when run beside it, not after it). They live with the verifier, not the sandbox: verifiers may import
sandboxes, never the reverse, and the sandbox knows nothing of tests.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from sandboxes.languages import resolve_tool
from sandboxes.scripts import ScriptFolder

SCRIPTS = ScriptFolder(Path(__file__).parent)
HARNESS = ("codec", "test_runner")  # in this order: the runner uses the codec's names
HARNESS_NAME = "__aha_harness.py"
HARNESS_PYC = "__aha_harness.pyc"


class HarnessCode(StrEnum):
    """What the test runner reports for one test (its record's `v`). The runner is a standalone script that cannot
    import this, so it writes these values as literals; a test checks that it writes no other."""

    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    RUNTIME_ERROR = "runtime_error"
    MEMORY_LIMIT = "memory_limit"
    REFERENCE_INCOMPLETE = "reference_incomplete"
    RETURNED = "done"  # the function returned a value, which the judge compares outside the sandbox
    SETUP_ERROR = "setup_error"  # the reference's setup failed: the program cannot be judged


def harness_source() -> str:
    """The harness as one self-contained script."""
    return SCRIPTS.source(*HARNESS)


def harness_file(recipe_python: str) -> tuple[str, bytes]:
    """(file name, contents) of the harness for the box: bytecode made by the sandbox's own interpreter (compiling
    the script costs every run several milliseconds) when it can be had, else the source."""
    python = resolve_tool(recipe_python)
    code = SCRIPTS.bytecode(python, HARNESS, f"/box/{HARNESS_NAME}") if python else None
    if code is not None:
        return HARNESS_PYC, code
    return HARNESS_NAME, harness_source().encode()
