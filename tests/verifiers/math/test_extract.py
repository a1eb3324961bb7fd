"""Answer extraction: where the answer is found, and what is left out."""

from __future__ import annotations

import pytest

from verifiers.math.extract import (
    answer_region,
    clean_answer,
    extract_answer,
    last_boxed,
    mc_letter,
    reference_answer,
    reference_mc_letter,
)


def ext(text: str, mc: bool = False, require_boxed: bool = False) -> str | None:
    found = extract_answer(text, mc=mc, require_boxed=require_boxed)
    return None if found is None else found.text


def test_answer_region_prefers_answer_block_then_think_close() -> None:
    assert answer_region("<think>a</think>b<answer>c</answer>d") == "c"
    assert answer_region("<think>a</think> tail") == " tail"
    assert answer_region("no tags at all") == "no tags at all"
    assert answer_region("<think>never closed \\boxed{3}") is None
    # A pre-filled <think> prompt: the completion has only the closing tag.
    assert answer_region("reasoning</think>\\boxed{4}") == "\\boxed{4}"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("\\boxed{5}", "5"),
        ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}"),
        ("a \\boxed{1} then \\boxed{2}", "2"),
        ("\\boxed 7 is it", "7"),
        ("\\fbox{x+1}", "x+1"),
        ("\\boxed{a}, \\boxed{b}", "a, b"),
        ("$\\boxed{1}$ and $\\boxed{-1}$", "1, -1"),
        ("\\boxed{\\boxed{9}}", "9"),
        ("\\boxed{3} and later \\boxed{4", "3"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
    ],
)
def test_last_boxed(text: str, want: str) -> None:
    assert last_boxed(text) == want


def test_no_box() -> None:
    assert last_boxed("nothing here") is None
    assert last_boxed("\\boxed{unclosed") is None


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}"),
        ("so the answer is 12 apples.", "12"),
        ("Answer: 42", "42"),
        ("blah\n#### 1,234", "1,234"),
        ("The result is **17**", "17"),
        ("<think>x</think><answer> 8 </answer>", "8"),
        ("<think>x</think><answer>It is $9$.</answer>", "9"),
        ("<think>x</think>The final answer is \\boxed{10}.", "10"),
    ],
)
def test_unboxed_patterns(text: str, want: str) -> None:
    assert ext(text) == want


def test_long_text_without_marker_is_no_answer() -> None:
    assert ext("I tried 3 and then 4 and many other things " * 5) is None


def test_require_boxed() -> None:
    assert ext("The answer is 5", require_boxed=True) is None
    assert ext("so \\boxed{5}", require_boxed=True) == "5"


def test_multiple_choice_extraction() -> None:
    assert ext("After checking, the answer is (C).", mc=True) == "(C)"
    assert ext("The correct option is **A**.", mc=True) == "A"
    for text, letter in [("(B)", "B"), ("B", "B"), ("\\text{(B)}", "B"), ("\\textbf{(B) } 42", "B"), ("b", "B")]:
        assert mc_letter(text) == letter
    assert mc_letter("42") is None
    assert mc_letter("Bob") is None


def test_reference_cleaning() -> None:
    assert reference_answer("Natalia sold 24 clips.\n#### 72") == "72"
    assert reference_answer("We get $\\boxed{\\frac{1}{2}}$.") == "\\frac{1}{2}"
    assert reference_answer("$x^2$") == "x^2"
    assert reference_mc_letter("\\text{(D)}") == "D"
    assert reference_mc_letter("(E)") == "E"
    assert reference_mc_letter("e") is None
    assert reference_mc_letter("AB") is None


def test_clean_answer() -> None:
    assert clean_answer("$5$.") == "5"
    assert clean_answer("\\(x+1\\)") == "x+1"
    assert clean_answer("**12**") == "12"
    assert clean_answer("18.00.") == "18.00"
    assert clean_answer("5!") == "5!"
