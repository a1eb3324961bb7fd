"""A program that spends the item's time sleeping fails; it does not escape its 0 through a timeout (red team E:
with many tests, tests × wall limit outgrew the engine's deadline, the worker was killed and the reward was null)."""

from __future__ import annotations

import time

import pytest

from sandboxes import available_languages
from verifiers.code import verify
from verifiers.verdict import Attempt, Status

pytestmark = pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing")

TESTS = [{"stdin": f"{i}\n", "stdout": f"{i + 1}\n"} for i in range(8)]


def attempt(program: str, deadline_s: float, tests: list[dict] = TESTS) -> Attempt:
    reference = {"language": "python", "time_limit_s": 1, "tests": tests}
    return Attempt(f"```python\n{program}\n```", reference, deadline_s=deadline_s)


@pytest.mark.parametrize("program", ["import time\ntime.sleep(60)", "import threading\nthreading.Event().wait()"])
def test_a_program_that_sleeps_through_its_tests_is_wrong_within_the_deadline(program):
    started = time.monotonic()
    v = verify(attempt(program, deadline_s=10))
    assert v.status == Status.WRONG and v.score == 0.0, v.reason
    assert time.monotonic() - started < 10  # answered before the engine's kill
    verdicts = [t["verdict"] for t in v.details["tests"]]
    assert set(verdicts) == {"time_limit"} and len(verdicts) == len(TESTS)


def test_a_right_program_is_right_under_the_same_deadline():
    assert verify(attempt("print(int(input()) + 1)", deadline_s=10)).status == Status.CORRECT


def test_no_time_to_run_anything_is_undecided_not_wrong():
    # the host was too slow (or the deadline too short) for any test: nothing the program did is to blame
    v = verify(attempt("print(int(input()) + 1)", deadline_s=4))
    assert v.status == Status.TIMEOUT and not v.decided


def test_assert_style_tests_are_cut_at_the_deadline_too():
    tests = [{"code": f"assert f({i}) == {i + 1}"} for i in range(8)]
    started = time.monotonic()
    v = verify(attempt("import time\ndef f(x):\n    time.sleep(60)", deadline_s=10, tests=tests))
    assert v.status == Status.WRONG and v.score == 0.0, v.reason
    assert time.monotonic() - started < 10


def test_a_program_that_sleeps_just_under_the_wall_limit_and_answers_wrong_is_wrong():
    # Red team: each run stays under its wall limit (2L + 1) and prints a wrong answer, so no test is a time-limit
    # failure, yet the runs together spend the item's time: the rest must fail, not make the item undecided.
    started = time.monotonic()
    v = verify(attempt("import time\ntime.sleep(2.5)\nprint('wrong')", deadline_s=12))
    assert v.status == Status.WRONG and v.score == 0.0, v.reason
    assert time.monotonic() - started < 12
    assert {t["verdict"] for t in v.details["tests"]} == {"wrong_answer", "time_limit"}


def test_cpu_spread_over_forked_children_counts_against_the_limit():
    # Red team: the CPU rlimit is per process, so a too-slow program that forked its work out was accepted.
    program = (
        "import os, time\n"
        "def burn(s):\n    end = time.process_time() + s\n    while time.process_time() < end: pass\n"
        "kids = [os.fork() for _ in range(3)]\n"
        "if 0 in kids:\n    burn(0.8)\n    os._exit(0)\n"
        "for _ in kids: os.wait()\n"
        "print(int(input()) + 1)"
    )
    v = verify(attempt(program, deadline_s=60, tests=TESTS[:1]))
    assert v.status == Status.WRONG and v.details["tests"][0]["verdict"] == "time_limit", v.details["tests"]
    fine = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    fine += "print(int(input()) + 1)"
    assert verify(attempt(fine, deadline_s=60, tests=TESTS[:1])).status == Status.CORRECT


FORKED_F = """
import os, time
def burn(s):
    end = time.process_time() + s
    while time.process_time() < end:
        pass
def f(n):
    r, w = os.pipe()
    for _ in range(3):
        if os.fork() == 0:
            if REAP or os.fork() == 0:  # without REAP: an orphan nobody waits for
                burn(0.8)
                os.write(w, b"x")
            os._exit(0)
    got = b""
    while len(got) < 3:
        got += os.read(r, 3)
    if REAP:
        for _ in range(3):
            os.wait()
    return n + 1
"""


@pytest.mark.parametrize("reap", [True, False])
@pytest.mark.parametrize("layout", ["fn", "code"])
def test_function_tests_count_the_cpu_of_forked_children(reap, layout):
    # Red team: the harness billed only the worker's own CPU, so work forked out passed a 1 s limit.
    program = f"REAP = {reap}\n{FORKED_F}"
    if layout == "fn":
        reference = {"language": "python", "fn_name": "f", "time_limit_s": 1, "tests": [{"args": [1], "expected": 2}]}
    else:
        reference = {"language": "python", "time_limit_s": 1, "tests": [{"code": "assert f(1) == 2"}]}
    v = verify(Attempt(f"```python\n{program}\n```", reference, deadline_s=60))
    assert v.status == Status.WRONG and v.details["tests"][0]["verdict"] == "time_limit", v.details["tests"]
    honest = verify(Attempt("```python\ndef f(n):\n    return n + 1\n```", reference, deadline_s=60))
    assert honest.status == Status.CORRECT


def test_a_wrong_program_under_half_the_limit_cannot_run_the_item_out_of_time():
    # Red team G5: each run sleeps just under L/2 (so the runs are not to blame as slow) and answers wrong; when
    # the item's time runs out, the failures already seen decide it (0), not an undecided timeout.
    v = verify(attempt("import time\ntime.sleep(0.45)\nprint('wrong')", deadline_s=8))
    assert v.status == Status.WRONG and v.score == 0.0 and v.decided, v.reason
    verdicts = [t["verdict"] for t in v.details["tests"]]
    assert "wrong_answer" in verdicts and "skipped" in verdicts, verdicts


def test_a_program_that_uses_up_the_pid_limit_fails_its_next_test_at_once():
    # Red team G8: the next assert test's worker cannot be forked; the spare says so at once instead of leaving
    # the runner waiting until the test's wall time.
    fill = (
        "import os, time\nfor i in range(200):\n    try:\n        p = os.fork()\n    except OSError:\n        break\n"
        "    if p == 0:\n        time.sleep(3)\n        os._exit(0)\ndef f(x):\n    return 0\n"
    )
    tests = [{"code": "assert f(1) == 1"}, {"code": "assert f(1) == 1"}]
    started = time.monotonic()
    v = verify(attempt(fill, deadline_s=30, tests=tests))
    assert v.status == Status.WRONG and v.score == 0.0, v.reason
    assert time.monotonic() - started < 8
    assert [t["verdict"] for t in v.details["tests"]] == ["wrong_answer", "runtime_error"]
