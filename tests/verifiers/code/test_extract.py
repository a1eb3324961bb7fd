"""Fence extraction (issue 10, row 8): CRLF, indented fences, tags inside code, longer closing fences."""

from __future__ import annotations

import time

import pytest

from sandboxes import available_languages, get_recipe
from verifiers import code
from verifiers.code import extract_program
from verifiers.verdict import Attempt, Status

PY = get_recipe("python")
assert PY is not None


@pytest.mark.parametrize(
    ("completion", "program"),
    [
        # CRLF line ends: the closing fence is seen, the body has plain line ends
        ("Here:\r\n```python\r\nprint(1)\r\n```\r\nDone.\r\n", "print(1)\n"),
        # a fence in a list item: indented, and its indentation is not the program's
        (
            "1. Read n.\n2. Print it:\n   ```python\n   n = int(input())\n   if n:\n       print(n)\n   ```\n",
            "n = int(input())\nif n:\n    print(n)\n",
        ),
        ("- code:\n\t```python\n\tprint(2)\n\t```\n", "print(2)\n"),
        # a program that itself mentions the tags the answer is cut by
        (
            "<think>parse it</think>\n```python\nprint(input().split('</think>')[-1])\n```",
            "print(input().split('</think>')[-1])\n",
        ),
        (
            "<think>t</think><answer>\n```python\nprint('<answer>', '</answer>')\n```\n</answer>",
            "print('<answer>', '</answer>')\n",
        ),
        # a closing fence longer than the opening one (CommonMark), and ~~~ fences holding ```
        ("```python\nprint(3)\n`````\nafter", "print(3)\n"),
        ("~~~python\ns = '''\n```\n'''\nprint(s)\n~~~", "s = '''\n```\n'''\nprint(s)\n"),
        # a fence right after a tag, and closed right before one
        ("<think>x</think><answer>```python\nprint(4)\n```</answer>", "print(4)\n"),
        # the old rules still hold: last tagged block after the thought, other languages never used
        (
            "<think>```python\nprint(0)\n```</think><answer>```cpp\nx\n```\n```python\nprint(5)\n```</answer>",
            "print(5)\n",
        ),
        ("```\nprint(6)\n```", "print(6)\n"),
        ("<think>x</think>\n```python\nprint(7)\n", "print(7)\n"),  # cut off by the length limit
    ],
    ids=[
        "crlf",
        "list-item",
        "tab-indent",
        "think-literal",
        "answer-literal",
        "longer-close",
        "tilde",
        "after-tag",
        "old-rules",
        "untagged",
        "unterminated",
    ],
)
def test_fences_are_found_as_markdown_writes_them(completion: str, program: str) -> None:
    assert extract_program(completion, PY) == program


def test_no_program_is_made_up() -> None:
    assert extract_program("```cpp\nint x;\n```", PY) is None
    assert extract_program("Use ``` fences: ```python``` inline.", PY) is None
    assert extract_program("no code here", PY) is None
    assert extract_program("<think>```python\nprint(1)\n```</think>The answer is above.", PY) is None


@pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing")
@pytest.mark.parametrize(
    "completion",
    [
        "Sure:\r\n```python\r\nprint(sum(map(int, input().split())))\r\n```\r\n",
        "1. Solution:\n   ```python\n   a, b = map(int, input().split())\n   print(a + b)\n   ```\n",
        "<think>x</think>\n```python\nimport sys\nt = '</think>'\nprint(sum(map(int, input().split())))\n```",
        "```python\nprint(sum(map(int, input().split())))\n````\n",
    ],
    ids=["crlf", "indented", "think-literal", "longer-close"],
)
def test_such_completions_are_judged_correct(completion: str) -> None:
    ref = {"language": "python", "tests": [{"stdin": "1 2\n", "stdout": "3\n"}]}
    v = code.verify(Attempt(completion=completion, reference=ref))
    assert v.status == Status.CORRECT and v.score == 1.0, v


@pytest.mark.parametrize(
    "text",
    ["~" * 1_000_000, "`" * 1_000_000, "```python\n" + "~" * 1_000_000, "~~~\n" + ("`" * 50_000 + "x\n") * 20],
)
def test_fence_runs_without_line_breaks_cost_linear_time(text):
    # The fence regex backtracked quadratically: 20,000 backticks took 3 s, a 1 MB completion hours, on the
    # event loop (the program is looked for to make the cache key).
    started = time.perf_counter()
    extract_program(text, get_recipe("python"))
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("completion", "prompt", "found"),
    [
        # red team R2-F04: code drafted in a thought that never closes is no answer, as for math
        ("<think>let me write it\n```python\nprint(3)\n```", None, False),
        ("let me write it\n```python\nprint(3)\n```", "Add two numbers.\n<think>", False),
        ("<think>a</think>\n```python\nprint(3)\n```\n<think>more", None, False),
        # a closed thought, or no thought at all, keeps its answer
        ("<think>a</think>\n```python\nprint(3)\n```", None, True),
        ("think more</think>\n```python\nprint(3)\n```", "Q\n<think>", True),
        ("```python\nprint(3)\n```", None, True),
        # the tag inside the program's own code is not a thought
        ("```python\nprint('<think>')\n```", None, True),
    ],
)
def test_an_unclosed_thought_has_no_program(completion: str, prompt: str | None, found: bool) -> None:
    attempt = Attempt(completion, {"language": "python", "tests": [{"stdin": "", "stdout": "3\n"}]}, prompt)
    verdict = code.verify(attempt)
    assert (verdict.status != Status.NO_ANSWER) is found, verdict
    if not found:
        assert verdict.score == 0.0
