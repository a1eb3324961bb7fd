"""The format verifier: R1-Zero and R1 layouts, custom tags, strict and partial credit, pre-filled <think>."""

from __future__ import annotations

import pytest

from verifiers import Attempt
from verifiers.format import cache_key, verify


def judge(completion: str, prompt: str | None = None, **options):
    return verify(Attempt(completion, prompt=prompt, options=options))


@pytest.mark.parametrize(
    "completion",
    [
        "<think>2+2 is 4</think><answer>4</answer>",
        "<think>\nlet me see\n</think>\n<answer>\n4\n</answer>\n",
        "  <think>a</think>   <answer>b</answer>  ",
    ],
)
def test_r1_zero_well_formed(completion):
    v = judge(completion)
    assert (v.score, v.status) == (1.0, "correct")


@pytest.mark.parametrize(
    "completion, failed",
    [
        ("4", "think_open_first"),
        ("<answer>4</answer>", "think_open_first"),
        ("<think>x</think>", "answer_follows_thought"),
        ("<think></think><answer>4</answer>", "thought_not_empty"),
        ("<think>x</think><answer>  </answer>", "answer_not_empty"),
        ("<think>x</think><answer>4</answer> and more", "nothing_after_answer"),
        ("preamble <think>x</think><answer>4</answer>", "think_open_first"),
        ("<think>x</think>text<answer>4</answer>", "answer_follows_thought"),
        ("<think>x<think>y</think><answer>4</answer>", "think_open_first"),
        ("<think>x</think></think><answer>4</answer>", "think_closed_once"),
        ("<think>x</think><answer>4</answer><answer>5</answer>", "answer_follows_thought"),
        ("<think>x</think><answer>4", "answer_closed_once"),
        ("<think>x <answer>1</answer></think><answer>4</answer>", "answer_follows_thought"),
        ("</think><think>x<answer>4</answer>", "think_closed_once"),
    ],
)
def test_r1_zero_malformed_scores_zero_in_strict_mode(completion, failed):
    v = judge(completion)
    assert v.score == 0.0 and v.status == "wrong"
    assert v.details["checks"][failed] is False
    assert failed in v.reason


def test_partial_credit_is_the_share_of_checks_passed():
    v = judge("<think>x</think><answer>4</answer> trailing", strict=False)
    assert v.status == "partial"
    assert v.score == pytest.approx(6 / 7)
    assert judge("nothing", strict=False).score == 0.0
    assert judge("<think>x</think><answer>4</answer>", strict=False).score == 1.0


def test_r1_layout_wants_a_summary_after_the_thought():
    assert judge("<think>work</think>\nThe answer is 4.", layout="r1").score == 1.0
    v = judge("<think>work</think>   ", layout="r1")
    assert v.score == 0.0 and v.details["checks"]["summary_not_empty"] is False
    assert judge("The answer is 4.", layout="r1").score == 0.0
    assert judge("<think>a</think> sum <think>b</think>", layout="r1").score == 0.0


def test_custom_tags():
    opts = {"think_tags": ["<reasoning>", "</reasoning>"], "answer_tags": ["<final>", "</final>"]}
    assert judge("<reasoning>r</reasoning><final>1</final>", **opts).score == 1.0
    assert judge("<think>r</think><answer>1</answer>", **opts).score == 0.0


def test_prefilled_think_from_prompt_or_option():
    body = "I reason here</think><answer>4</answer>"
    assert judge(body).score == 0.0
    assert judge(body, prompt="What is 2+2? <think>").score == 1.0
    v = judge(body, think_prefilled=True)
    assert v.score == 1.0 and v.details["think_prefilled"] is True
    # A completion that repeats the pre-filled tag is still judged once, not doubled.
    assert judge("<think>x</think><answer>4</answer>", prompt="Q <think>").score == 1.0


def test_bad_options_are_reported_not_raised():
    v = judge("<think>x</think><answer>4</answer>", layout="nope")
    assert v.status == "invalid_reference" and "layout" in v.reason
    assert judge("x", think_tags=["<a>"]).status == "invalid_reference"
    assert judge("x", strict="yes").status == "invalid_reference"


def test_cache_key_depends_on_options_and_text():
    a = Attempt("<think>x</think><answer>4</answer>")
    assert cache_key(a) == cache_key(Attempt("<think>x</think><answer>4</answer>"))
    assert cache_key(a) != cache_key(Attempt("<think>x</think><answer>5</answer>"))
    assert cache_key(a) != cache_key(Attempt(a.completion, options={"layout": "r1"}))
    assert cache_key(Attempt("y</think>", prompt="<think>")) != cache_key(Attempt("y</think>"))


def test_linear_time_on_a_megabyte_of_tags():
    import time

    text = "<think>" + "</think><answer>" * 60_000 + "x" * 1_000_000
    started = time.perf_counter()
    v = judge(text, strict=False)
    assert time.perf_counter() - started < 0.5
    assert v.status in {"partial", "wrong"}


# --- issue 13 row 7: "visible" is decided by Unicode category, and blank markup says nothing ---------------------

BLANK = {
    "C0 controls": "\u0001\u0002\u001f",
    "C1 controls": "\u0085\u009f",
    "interlinear annotation": "\ufff9\ufffa\ufffb",
    "format characters": "\u200b\u2061\u2064\u206a\U000e0001",
    "lone combining marks outside U+0300-036F": "\u0483\u20dd\u1ab0\ufe20",
    "lone marks after spaces": " \u0301 \u0308",
    "private use": "\ue000\U000f0000",
    "unassigned": "\u0378\U0003ffff",
    "hangul fillers and braille blank": "\u3164\u115f\uffa0\u2800",
    "LaTeX spacing": "\\quad \\qquad \\, \\; \\! \\ ~ \\hspace{2em} \\phantom{x}",
    "HTML entities and line breaks": "&nbsp; &#160; &emsp;<br/><br> <p></p>",
}


@pytest.mark.parametrize("name", BLANK)
def test_blank_thought_answer_or_summary_earns_nothing(name: str) -> None:
    blank = BLANK[name]
    assert judge(f"<think>{blank}</think><answer>3</answer>").score == 0.0
    assert judge(f"<think>x</think><answer>{blank}</answer>").score == 0.0
    assert judge(f"<think>real reasoning</think>{blank}", layout="r1").score == 0.0


def test_control_characters_never_make_a_format_task_pay() -> None:
    v = judge("<think>\u0001</think>\u0002")
    assert v.score == 0.0
    assert judge("<think>\u0001</think><answer>\u0002</answer>").score == 0.0


@pytest.mark.parametrize("summary", [".", "…", "<answer></answer>", "<answer> </answer>", " . ! "])
def test_r1_summary_that_says_nothing_earns_nothing(summary: str) -> None:
    assert judge(f"<think>real reasoning</think>{summary}", layout="r1").score == 0.0


@pytest.mark.parametrize(
    "content", ["a", "4", "\u00e1", "e\u0301", "\u2205", "\u221e", "\u4e2d", "\u0905\u093f", "x\u20dd", "\\quad 3"]
)
def test_real_content_is_visible(content: str) -> None:
    assert judge(f"<think>{content}</think><answer>{content}</answer>").score == 1.0
    assert judge(f"<think>r</think>{content}", layout="r1").score == 1.0


def test_punctuation_after_the_answer_is_still_text_after_it() -> None:
    assert judge("<think>x</think><answer>4</answer>.").score == 0.0


@pytest.mark.parametrize("answer", ["$ $", "\\boxed{}", "<!-- -->", "$\\boxed{ }$", "\\( \\)", "\\[\\]", "\\text{ }"])
def test_an_answer_of_empty_wrappers_earns_nothing(answer: str) -> None:
    # Red team R2-F12: empty math, an empty \boxed{} or an HTML comment made an empty answer pass.
    assert judge(f"<think>real reasoning</think><answer>{answer}</answer>").score == 0.0


@pytest.mark.parametrize("answer", ["$4$", "\\boxed{4}", "$\\emptyset$", "\\(x\\)", "4 <!-- checked -->"])
def test_a_wrapped_answer_still_counts(answer: str) -> None:
    assert judge(f"<think>real reasoning</think><answer>{answer}</answer>").score == 1.0
