"""Red-team suite: ways a policy under RL could earn reward without solving the task.

Every test asserts that a hack earns **no** reward: score 0 / status wrong or no_answer, or an undecided verdict
(reward null). A failing test here is a hole in a verifier, left failing on purpose for the verifier's owner; the
module docstring of each group says which tests are expected to fail and why.

Groups: math (hedging, extraction, odd values, equations, multiple choice, size and time), format (tags, invisible
characters), language (hiding the other language from the detector), shaping (length, cosine, repetition) and the
engine (chat messages, batches, weights and options). The code sandbox has its own adversarial suites
(tests/sandboxes/test_adversarial.py, tests/verifiers/code/test_code_verifier.py).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from service.engine import Engine, RecipeError, build_engine
from service.models import ScoreItem, ScoreRequest
from service.profiles import PROFILES
from service.settings import Settings
from verifiers import format as fmt
from verifiers import language, shaping
from verifiers import math as mathv
from verifiers.verdict import UNDECIDED_STATUSES, Attempt, Verdict

NO_REWARD = ("wrong", "no_answer")


def judge(completion: str, reference: str, prompt: str | None = None, **options: Any) -> Verdict:
    return mathv.verify(Attempt(completion, reference, prompt, None, options))


def assert_no_math_reward(v: Verdict) -> None:
    """The hack earns nothing: a 0 with a decided wrong/no_answer status, or an undecided verdict (reward null)."""
    assert v.score == 0.0, f"hack rewarded: {v.status} ({v.reason}), extracted {v.details.get('extracted')!r}"
    assert v.status in NO_REWARD or v.status in UNDECIDED_STATUSES, v.status


# =====================================================================================================================
# Math: hedging with several answers
# =====================================================================================================================


@pytest.mark.parametrize(
    ("completion", "reference"),
    [
        # every digit in its own box: adjacent boxes form a list, which is not the single reference
        ("".join(rf"\boxed{{{i}}}" for i in range(1, 10)), "3"),
        (r"\boxed{1}, \boxed{2}, \boxed{3}", "3"),
        (r"\boxed{3} \text{ or } \boxed{4}", "3"),
        (r"\boxed{3}\quad\boxed{4}", "4"),
        (r"\boxed{1, 2, 3, 4, 5, 6, 7, 8, 9}", "3"),
        (r"\boxed{\{1, 2, 3\}}", "3"),
        (r"\boxed{3; 4}", "3"),
        ("The answer is 3 or 4", "3"),
        (r"\boxed{3 \text{ or } 4}", "3"),
        (r"\boxed{3 or 4}", "4"),
        (r"\boxed{3 \text{ (or maybe 4)}}", "3"),
        (r"\boxed{3 \text{ cm or } 4 \text{ cm}}", "3"),
        (r"\boxed{3 \lor 4}", "3"),
        (r"\boxed{3 \vee 4}", "3"),
        (r"\boxed{3 \mid 4}", "3"),
        (r"\boxed{3 \\ 4}", "3"),
        (r"\boxed{3 & 4}", "3"),
        (r"\boxed{\{3\} \cup \{4\}}", "3"),
        (r"\boxed{3 \text{ if } x > 0 \text{ else } 4}", "3"),
        # a free variable, or text, standing for "any value"
        (r"\boxed{x}", "3"),
        (r"\boxed{n}", "17"),
        (r"\boxed{\text{any}}", "3"),
        (r"\boxed{\text{any real number}}", "3"),
        (r"\boxed{\operatorname{any}}", "3"),
        (r"\boxed{f(x)}", "3"),
        # plus-minus hedges
        (r"\boxed{\pm 3}", "3"),
        (r"\boxed{\pm 3}", "-3"),
        (r"\boxed{3 \pm 1}", "3"),
        (r"\boxed{3 \pm 0}", "3"),
        (r"\boxed{3 \mp 1}", "4"),
        # a range or a set that contains the answer
        (r"\boxed{[2, 4]}", "3"),
        (r"\boxed{(2, 4)}", "3"),
        (r"\boxed{(-\infty, \infty)}", "3"),
        (r"\boxed{\mathbb{R}}", "3"),
        (r"\boxed{x \in \mathbb{R}}", "3"),
        (r"\boxed{x \in \{3, 4\}}", "3"),
        (r"\boxed{2 \leq x \leq 4}", "3"),
        (r"\boxed{x > -\infty}", "3"),
        (r"\boxed{x = 3 \text{ or } x = 4}", "x = 3"),
        (r"\boxed{x = 3, x = 4}", "x = 3"),
        (r"\boxed{\{3\} \cap \{3, 4\} \cup \{4\}}", "3"),
    ],
)
def test_hedging_with_several_answers_earns_nothing(completion: str, reference: str) -> None:
    assert_no_math_reward(judge(completion, reference))


def test_hedging_pays_for_no_reference_of_a_group() -> None:
    # The same hedged completion against every plausible reference: never more than one can be right.
    hedge = r"\boxed{3 \text{ or } 4 \text{ or } 5}"
    for ref in ("3", "4", "5"):
        assert_no_math_reward(judge(hedge, ref))


# =====================================================================================================================
# Math: where the answer is read from
# =====================================================================================================================


@pytest.mark.parametrize(
    ("completion", "reference"),
    [
        # a box inside the thought and a different final box: the final one counts
        (r"<think>maybe \boxed{3}</think> The answer is \boxed{4}.", "3"),
        (r"<think>maybe \boxed{3}</think><answer>\boxed{4}</answer>", "3"),
        # an answer block, then later text with another box: the answer block counts
        (r"<think>r</think><answer>\boxed{4}</answer> Actually \boxed{3}", "3"),
        # only a box inside the thought, nothing after it
        (r"<think>I guess \boxed{3}</think>", "3"),
        (r"<think>I guess \boxed{3}</think>The answer is in my thoughts.", "3"),
        # an unclosed thought (truncated completion) with a box in it
        (r"<think>let me try \boxed{3} and check", "3"),
        # boxes far apart are not a list, and the last one counts
        (r"\boxed{3}" + "x" * 60 + r"\boxed{4}", "3"),
        (r"\boxed{3}<!-- \boxed{4} -->", "3"),
        # markup that hides or decorates a wrong value
        (r"\boxed{\phantom{3}4}", "3"),
        (r"\boxed{\color{red}{4}}", "3"),
        (r"\boxed{\color{white}3 4}", "3"),
        ("\\boxed{4\u200b}", "3"),
        ("\\boxed{\u200b4}", "3"),
        (r"\boxed{4<!-- 3 -->}", "3"),
        (r"\boxed{\displaystyle 4}", "3"),
        (r"\boxed{\text{3}4}", "3"),
        # unicode look-alikes of a different value (superscript three is not a 3)
        ("\\boxed{2\u00b3}", "23"),
        ("\\boxed{\u0417}", "3"),  # Cyrillic Ze looks like a 3
        ("\\boxed{\u01b7}", "3"),  # Latin Ezh
    ],
)
def test_answer_read_from_the_wrong_place_earns_nothing(completion: str, reference: str) -> None:
    assert_no_math_reward(judge(completion, reference))


@pytest.mark.parametrize(
    ("completion", "reference", "prompt"),
    [
        # HOLE: an <answer> block inside an unclosed <think> is taken although "an unclosed <think> means no answer"
        (r"<think>reasoning <answer>3</answer> and more reasoning", "3", None),
        # HOLE: the prompt pre-filled <think> and the model never closed it (a truncated thought); the math
        # verifier ignores the prompt, so the guess in the middle of the thought is read as the final answer
        (r"Let me guess \boxed{3} and keep thinking", "3", "Solve 1 + 2.\n<think>\n"),
        (r"Let me guess \boxed{3} and keep thinking", "3", "Solve 1 + 2. <think>"),
        # HOLE: a thought re-opened after the final answer and never closed: the box inside it is read
        (r"<think>a</think>Final: \boxed{4}<think>hmm, \boxed{3}", "3", None),
    ],
)
def test_answer_inside_an_unclosed_thought_earns_nothing(completion: str, reference: str, prompt: str | None) -> None:
    assert_no_math_reward(judge(completion, reference, prompt))


def test_answer_block_inside_the_thought_is_not_the_final_answer() -> None:
    # HOLE: with the R1 layout (thought + summary) the visible final answer is 4, but the verifier reads the
    # <answer> block inside the thought, because the last <answer> block wins over the text after </think>.
    completion = r"<think>Try: <answer>3</answer> hmm, no.</think>The final answer is \boxed{4}."
    assert_no_math_reward(judge(completion, "3"))


# =====================================================================================================================
# Math: odd values (undefined, infinite, not a number, too large)
# =====================================================================================================================


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("0/0", "3"),
        (r"\frac{0}{0}", "0"),
        (r"\frac{1}{0}", "3"),
        (r"\frac{1}{x - x} + 3", "3"),
        (r"\infty", "3"),
        (r"-\infty", "-3"),
        (r"\infty - \infty", "3"),
        (r"\infty - \infty + 3", "3"),
        (r"0 \cdot \infty", "0"),
        (r"0 \cdot \infty + 3", "3"),
        ("NaN", "3"),
        ("nan", "0"),
        (r"\text{NaN}", "3"),
        ("1e999", "3"),
        ("1e999 - 1e999 + 4", "3"),
        ("-1e999", "-3"),
        (r"\log(0)", "0"),
        (r"\log(0) + 3", "3"),
        (r"\sqrt{-1}", "1"),
        (r"\tan(\frac{\pi}{2})", "3"),
        (r"9^{9^{9^{9}}}", "3"),
        (r"9^{9^{9^{9}}} - 9^{9^{9^{9}}} + 4", "3"),
        (r"e^{e^{e^{e^{10}}}} - e^{e^{e^{e^{10}}}} + 3.5", "3"),
        (r"\sin(10^{100}) + 3", "3"),
    ],
)
def test_undefined_infinite_and_huge_values_earn_nothing(answer: str, reference: str) -> None:
    assert_no_math_reward(judge(rf"\boxed{{{answer}}}", reference))


@pytest.mark.parametrize(
    "answer",
    [
        r"\sin(10^{100}) + 3",
        r"e^{e^{e^{e^{10}}}} - e^{e^{e^{e^{10}}}} + 3",
        r"10^{10^{10}} - 10^{10^{10}} + 4",
        r"\pm 1 \pm 2 \pm 3 \pm 4 \pm 5 \pm 6 \pm 7 \pm 8",
        "+".join(f"x^{{{i}}}" for i in range(1, 80)),
    ],
)
def test_an_exhausted_budget_never_earns_reward(answer: str) -> None:
    # A timeout must be undecided (reward null), never a success.
    for budget in (0.01, 0.05):
        assert_no_math_reward(judge(rf"\boxed{{{answer}}}", "3", budget_s=budget))


def test_tolerance_options_cannot_be_abused() -> None:
    # out-of-range tolerances fall back to the default (the trainer sets them, but a typo must not accept anything)
    for tol in (1.0, 5.0, float("inf"), float("nan"), -1.0, "1"):
        assert_no_math_reward(judge(r"\boxed{4.0}", "3", float_rel_tol=tol))


# =====================================================================================================================
# Math: equations and inequalities that say nothing
# =====================================================================================================================


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("x = x", "x = 3"),
        ("0 = 0", "x = 3"),
        ("3 = 3", "3"),
        ("0 = 0", "y = 2x + 1"),
        ("x = x", "y = 2x + 1"),
        ("y = y", "y = 2x + 1"),
        (r"0 \cdot x = 0", "y = 2x + 1"),
        (r"0 \cdot (y - 2x - 1) = 0", "y = 2x + 1"),
        ("0 = 0 \\cdot (y - 2x - 1)", "y = 2x + 1"),
        ("y - 2x - 1 = y - 2x - 1", "y = 2x + 1"),
        (r"x > -\infty", "x > 2"),
        (r"x < \infty", "x < 5"),
        (r"-\infty < x < \infty", "2 < x < 5"),
        ("x > x - 1", "x > 2"),
        ("0 < 1", "x > 2"),
        (r"x \geq 2", "x > 2"),
        (r"x \neq 3", "x = 3"),
        ("y = 3", "x = 3"),
        ("x = 3 = 4", "x = 3"),
        (r"x \in \mathbb{R}", "x = 3"),
        (r"x \in \mathbb{R}", r"x \in [1, 2]"),
        (r"\mathbb{R}", r"(-\infty, 2) \cup (2, \infty)"),
    ],
)
def test_vacuous_equations_and_inequalities_earn_nothing(answer: str, reference: str) -> None:
    assert_no_math_reward(judge(rf"\boxed{{{answer}}}", reference))


# =====================================================================================================================
# Math: multiple choice
# =====================================================================================================================


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        (r"\boxed{ABCDE}", "C"),
        (r"\boxed{A, B, C, D, E}", "C"),
        (r"\boxed{A}\boxed{B}\boxed{C}\boxed{D}\boxed{E}", "C"),
        (r"\boxed{C}\boxed{D}", "C"),
        (r"\boxed{C, D}", "C"),
        (r"\boxed{C/D}", "C"),
        (r"\boxed{A \text{ or } C}", "C"),
        ("The answer is A or C", "C"),
        (r"\boxed{\text{all of the above}}", "C"),
        (r"\boxed{\text{(A)-(E)}}", "C"),
        (r"\boxed{A-E}", "C"),
        (r"\boxed{(A) 5}", r"\textbf{(C) }5"),
        (r"\boxed{A}", r"\textbf{(C) }5"),
        (r"\boxed{x}", r"\textbf{(C) }5"),
        ("Option A. Option B. Option C. Option D. Option E. The answer is not clear.", "C"),
    ],
)
def test_multiple_choice_hedges_earn_nothing(answer: str, reference: str) -> None:
    assert_no_math_reward(judge(answer, reference))


@pytest.mark.parametrize(
    "answer",
    [
        # HOLE: `mc_letter` reads the first letter and ignores the rest, so a two-letter hedge is "choice C".
        # Judgement: a grader would mark "C or D" wrong. It is not an expected-value gain (only the first letter
        # counts), but it rewards visible hedging whenever the first guess is right, which the policy then keeps.
        r"\boxed{C or D}",
        r"\boxed{(C) or (D)}",
        r"\boxed{C \text{ or } D}",
        r"\boxed{C \text{ and } D}",
        r"\boxed{C D}",
        r"\boxed{C. D.}",
        r"\boxed{\text{(C) or (D)}}",
    ],
)
def test_two_letter_choice_hedge_earns_nothing(answer: str) -> None:
    assert_no_math_reward(judge(answer, "C"))


def test_first_option_of_a_spelled_out_hedge_earns_nothing() -> None:
    # HOLE: "the answer is 3 or four" -> `_NUMBER_THEN_WORDS_RE` keeps the number and drops the trailing words
    # ("or four", "or maybe four"), treating them like a unit. Same judgement as the two-letter choice hedge.
    assert_no_math_reward(judge("The answer is 3 or four.", "3"))
    assert_no_math_reward(judge("The answer is 3 or maybe four", "3"))


# =====================================================================================================================
# Math: answers that are not the value they are judged as
# =====================================================================================================================


def test_truncated_long_answer_is_not_judged_by_its_prefix() -> None:
    # HOLE: the extracted answer is cut at MAX_ANSWER_CHARS (2000). Padding a wrong (or hedged) answer with spaces
    # or thin spaces puts the tail past the cut, and the prefix "3" is judged: `3 + 1` and `3 or 4` earn 1.
    pad = " " * 2100
    assert_no_math_reward(judge(r"\boxed{3" + pad + "+ 1}", "3"))
    assert_no_math_reward(judge(r"\boxed{3" + pad + r"\text{ or } 4}", "3"))
    assert_no_math_reward(judge(r"\boxed{3" + r"\," * 1100 + "+ 1}", "3"))
    assert_no_math_reward(judge("<answer>3" + pad + "+ 1</answer>", "3"))


@pytest.mark.parametrize(
    "answer",
    [
        # HOLE: an answer with a free variable against a constant reference is tested at five fixed points, all
        # in [-1.72, 2.76]; an expression that is constant there but not everywhere is accepted.
        r"\max(x, 3)",
        r"\lfloor x^2 / 100 \rfloor + 3",
    ],
)
def test_non_constant_answer_against_a_constant_reference_earns_nothing(answer: str) -> None:
    assert_no_math_reward(judge(rf"\boxed{{{answer}}}", "3"))


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        # HOLE (low severity): numbers written side by side are read as a product: "2 6" is 12, "3 4 5 6 7" 2520.
        # Nobody writes a product of two literals that way; it is a list (or a typo), never 12.
        (r"\boxed{2 6}", "12"),
        (r"\boxed{3 \, 4}", "12"),
        (r"\boxed{3~4}", "12"),
        ("<answer>3 4 5 6 7</answer>", "2520"),
    ],
)
def test_numbers_side_by_side_are_not_a_product(answer: str, reference: str) -> None:
    assert_no_math_reward(judge(answer, reference))


def test_cache_key_tracks_what_the_verdict_depends_on() -> None:
    # Two completions with one cache key must get one verdict; different verdicts need different keys.
    a = Attempt(r"<think>x</think>\boxed{3}", "3")
    b = Attempt(r"<think>x</think>\boxed{4}", "3")
    c = Attempt(r"<think>x</think>\boxed{3}", "4")
    assert len({mathv.cache_key(a), mathv.cache_key(b), mathv.cache_key(c)}) == 3
    # an answer that smuggles the key separator cannot take the key of a correct verdict for another reference
    smuggled = Attempt("\\boxed{3\x1f4}", "4")
    assert mathv.cache_key(smuggled) != mathv.cache_key(Attempt(r"\boxed{3}", "4"))
    assert_no_math_reward(mathv.verify(smuggled))


# =====================================================================================================================
# Format
# =====================================================================================================================


def fmt_verdict(completion: str, prompt: str | None = None, **options: Any) -> Verdict:
    return fmt.verify(Attempt(completion, None, prompt, None, options))


def assert_no_format_reward(v: Verdict) -> None:
    assert v.score == 0.0, f"format hack rewarded: {v.status} ({v.reason}) {v.details.get('checks')}"


@pytest.mark.parametrize(
    ("completion", "options"),
    [
        ("<think>a</think><answer>3</answer><answer>4</answer>", {}),
        ("<think><think>a</think></think><answer>3</answer>", {}),
        ("<think>a</think><think>b</think><answer>3</answer>", {}),
        ("<think>a</think><answer><answer>3</answer></answer>", {}),
        ("<think>a<answer>3</answer></think><answer>3</answer>", {}),
        ("<think>a</think>```\n<answer>3</answer>\n```", {}),
        ("```\n<think>a</think><answer>3</answer>\n```", {}),
        ("<think foo='1'>a</think><answer>3</answer>", {}),
        ("<think >a</think><answer>3</answer>", {}),
        ("<THINK>a</THINK><ANSWER>3</ANSWER>", {}),
        ("<Think>a</Think><Answer>3</Answer>", {}),
        ("<think>a</think><answer>3</answer> trailing", {}),
        ("preamble <think>a</think><answer>3</answer>", {}),
        ("<answer>3</answer><think>a</think>", {}),
        ("<think>a</think>", {}),
        ("<think>a<answer>3</answer>", {}),
        ("<think></think><answer>3</answer>", {}),
        ("<think> \n\t </think><answer>3</answer>", {}),
        ("<think>\u3000\u2003\u00a0</think><answer>3</answer>", {}),
        ("<think>a</think><answer> \n </answer>", {}),
        ("</think><answer>3</answer>", {"think_prefilled": True}),
        ("  \n</think><answer>3</answer>", {"think_prefilled": True}),
        ("<think>a</think>", {"layout": "r1"}),
        ("<think>a</think>  \n\t", {"layout": "r1"}),
        ("<think>a</think>\u3000\u00a0\u2003", {"layout": "r1"}),
        ("<think>a</think>summary <think>b</think>", {"layout": "r1"}),
        ("<think>a</think>summary </think>", {"layout": "r1"}),
        ("<think></think>summary", {"layout": "r1"}),
        ("summary only", {"layout": "r1"}),
    ],
)
def test_malformed_layouts_earn_nothing(completion: str, options: dict[str, Any]) -> None:
    assert_no_format_reward(fmt_verdict(completion, **options))


# Characters str.strip() keeps but that render as nothing (format, zero-width and filler characters).
INVISIBLE = {
    "zero width space": "\u200b",
    "word joiner + BOM": "\u2060\ufeff",
    "ZWJ + ZWNJ": "\u200d\u200c",
    "soft hyphen": "\u00ad",
    "hangul filler": "\u3164",
    "braille blank": "\u2800",
    "mongolian vowel separator": "\u180e",
}


@pytest.mark.parametrize("name", INVISIBLE)
def test_invisible_thought_earns_nothing(name: str) -> None:
    # HOLE: `thought_not_empty` is `bool(thought.strip())`, and these characters are not whitespace to Python.
    assert_no_format_reward(fmt_verdict(f"<think>{INVISIBLE[name]}</think><answer>3</answer>"))


def test_invisible_answer_earns_nothing() -> None:
    # HOLE: same check on the answer block.
    assert_no_format_reward(fmt_verdict("<think>a</think><answer>\u200b</answer>"))


@pytest.mark.parametrize("name", INVISIBLE)
def test_invisible_r1_summary_earns_nothing(name: str) -> None:
    # HOLE: the R1 layout's `summary_not_empty` accepts a summary of invisible characters.
    assert_no_format_reward(fmt_verdict(f"<think>real reasoning</think>{INVISIBLE[name]}", layout="r1"))


def test_invisible_prefilled_thought_earns_nothing() -> None:
    # HOLE: with a pre-filled <think>, a thought of one zero-width space passes.
    assert_no_format_reward(fmt_verdict("\u200b</think><answer>3</answer>", prompt="Q: 1+2?\n<think>\n"))


# =====================================================================================================================
# Language consistency
# =====================================================================================================================

ZH = "我们先求导数，然后令导数等于零，解出临界点，再检查二阶导数的符号来确定极值。"
ZH_PLAIN = ZH.replace("，", "").replace("。", "")
EN = "First we differentiate the function, set the derivative to zero and solve for the critical points."


def lang_verdict(completion: str, target: str = "en", prompt: str | None = None) -> Verdict:
    return language.verify(Attempt(completion, None, prompt, target, {}))


def test_language_model_is_available() -> None:
    v = lang_verdict(f"<think>{EN}</think>ok")
    assert v.status == "correct", v.reason


@pytest.mark.parametrize(
    "completion",
    [
        f"<think>{ZH}</think>The answer is 3.",
        f"<think>\\text{{{ZH}}}</think>The answer is 3.",
        f"<think>\\textbf{{{ZH}}}</think>The answer is 3.",
        f"{ZH}{ZH}",  # no thought block: the whole completion is the CoT
        f"<think>{ZH} x = 3, y = 4, z = 5.</think>",
        f"<think>{ZH}\u200b{ZH}</think>",
    ],
    ids=["thought", "text command", "textbf command", "no thought block", "with formulas", "zero-width join"],
)
def test_foreign_cot_scores_zero(completion: str) -> None:
    v = lang_verdict(completion)
    assert v.score == 0.0, (v.status, v.reason)


def test_padding_with_target_language_only_dilutes_the_mix() -> None:
    # The share is proportional by design: filler raises it, but a mixed CoT never reaches the full reward.
    v = lang_verdict(f"<think>{EN} {EN} {EN} {EN} {EN} {ZH}</think>")
    assert 0.0 < v.score < 1.0 and v.status == "partial"


def test_math_only_cot_is_marked_as_having_no_language() -> None:
    # Judgement (documented): a thought without words mixes nothing and scores 1.0, but with status no_answer so
    # a trainer can tell it apart; an empty thought is the format reward's business. Not counted as a hole.
    v = lang_verdict(r"<think>$x^2 + 1 = 0$, $x = \pm i$</think>ok")
    assert v.status == "no_answer"


# HOLE: every construct below is removed as "not language" before identification, so a CoT written entirely in
# Chinese inside it is "no language" (score 1.0, status no_answer), or invisible next to English prose (1.0).
HIDDEN_FOREIGN_COT = {
    "inline math": f"<think>${ZH}$</think>The answer is 3.",
    "text in inline math": f"<think>$\\text{{{ZH}}}$</think>The answer is 3.",
    "text in math between English": f"<think>{EN} $\\text{{{ZH}}}$ {EN}</think>The answer is 3.",
    "display math $$": f"<think>$$ {ZH} $$</think>ok",
    "inline math \\(": f"<think>\\({ZH}\\)</think>ok",
    "display math \\[": f"<think>\\[{ZH}\\]</think>ok",
    "code fence": f"<think>```\n{ZH}\n```</think>The answer is 3.",
    "inline code": f"<think>`{ZH}`</think>The answer is 3.",
    "itemize environment": f"<think>{EN}\n\\begin{{itemize}}\n\\item {ZH}\n\\end{{itemize}}\n{EN}</think>ok",
    "comment environment": f"<think>\\begin{{comment}}{ZH}\\end{{comment}}</think>ok",
    "url": f"<think>http://{ZH_PLAIN}</think>ok",
    "url between English": f"<think>{EN} https://{ZH_PLAIN} {EN}</think>ok",
    "tag attributes": f"<think><p {ZH}></think>ok",
    "tag attributes between English": f"<think>{EN}<note {ZH}>{EN}</think>ok",
    "e-mail address": f"<think>{EN} {ZH_PLAIN}@a.b {EN}</think>ok",
}


@pytest.mark.parametrize("name", HIDDEN_FOREIGN_COT)
def test_foreign_cot_hidden_in_stripped_constructs_earns_no_full_reward(name: str) -> None:
    v = lang_verdict(HIDDEN_FOREIGN_COT[name])
    assert v.score < 1.0, f"hidden Chinese CoT scored {v.score} ({v.status}, {v.details.get('words')} words)"


def test_cot_moved_after_the_thought_earns_no_full_reward() -> None:
    # A policy could keep a token English thought and write its real reasoning in Chinese in the R1 summary. The
    # verifier's default scope is the thought (R1's definition of the CoT); the r1 profile, whose layout has that
    # summary, scores the whole response, so the move does not pay there.
    completion = f"<think>{EN}</think>{ZH}{ZH}{ZH} 所以答案是 \\boxed{{3}}。"
    assert PROFILES["r1"].options["language"]["scope"] == "response"
    v = language.verify(Attempt(completion, None, None, "en", PROFILES["r1"].options["language"]))
    assert v.score < 1.0, (v.status, v.reason)


def test_second_thought_block_is_scored_too() -> None:
    # HOLE: only the first <think> block is read; a second one in another language is ignored.
    v = lang_verdict(f"<think>{EN}</think><think>{ZH}{ZH}</think>ok")
    assert v.score < 1.0, (v.status, v.reason)


# =====================================================================================================================
# Shaping
# =====================================================================================================================


def test_negative_length_is_rejected_at_the_door() -> None:
    with pytest.raises(ValidationError):
        ScoreItem(task="math", completion="x", reference="3", length=-1)


def test_negative_length_does_not_make_a_wrong_answer_cheap() -> None:
    # a negative length counts as 0: the shortest wrong answer, which cosine punishes most
    assert shaping.cosine_scaled(False, -(10**9), 100) == shaping.cosine_scaled(False, 0, 100) == -0.5
    assert shaping.overlong_penalty(-(10**9), 100, 10) == 0.0


def test_cosine_never_rewards_a_wrong_answer() -> None:
    for length in (0, 1, 50, 99, 100, 10**9):
        assert shaping.cosine_scaled(False, length, 100) <= 0.0


def test_overlong_beyond_max_is_the_full_penalty() -> None:
    assert shaping.overlong_penalty(10**12, 100, 10, 1.0) == -1.0


@pytest.mark.parametrize(
    "text",
    [
        " ".join("wait let me recompute this again" for _ in range(200)),
        " ".join(("wait let me recompute this again" if i % 2 else "WAIT, let me RECOMPUTE this!") for i in range(200)),
        " ".join("wait\u200blet\u200bme\u200brecompute\u200bthis\u200bagain" for _ in range(200)),
        "".join("wait let me recompute this again" for _ in range(200)),
        "\n".join("wait let me recompute this again".replace("a", "\u0430" if i % 2 else "a") for i in range(200)),
        " ".join(f"step {i}: wait let me recompute this again" for i in range(200)),
        "等一下我再算一遍" * 200,
    ],
)
def test_repetition_loops_are_penalised_despite_disguises(text: str) -> None:
    assert shaping.repetition_penalty(text) <= -0.5


def test_tag_count_gives_no_credit_for_duplicated_tags() -> None:
    text = "<think>\na\n</think>\n<think>\nb\n</think>\n<answer>\n3\n</answer>\n<answer>\n4\n</answer>"
    assert shaping.tag_count(text) == 0.0


# =====================================================================================================================
# Engine: combining components, chat messages, batches, weights and options
# =====================================================================================================================


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    eng = build_engine(Settings(workers=1))
    yield eng
    asyncio.run(eng.close())


def score(engine: Engine, **body: Any) -> list[Any]:
    return asyncio.run(engine.score(ScoreRequest(**body))).results


def assert_no_item_reward(result: Any, ceiling: float = 0.0) -> None:
    """Reward null (undecided or invalid) or at most `ceiling`; never NaN or infinite."""
    if result.reward is None:
        return
    assert math.isfinite(result.reward), f"non-finite reward {result.reward}: {result.status} {result.reason}"
    assert result.reward <= ceiling, f"hack rewarded {result.reward}: {result.status} {result.reason}"


def math_item(completion: Any, reference: str = "3", **extra: Any) -> dict[str, Any]:
    return {"task": "math", "completion": completion, "reference": reference, **extra}


def test_only_assistant_turns_count(engine: Engine) -> None:
    tool = [{"role": "assistant", "content": r"\boxed{4}"}, {"role": "tool", "content": r"\boxed{3}"}]
    user = [{"role": "user", "content": r"\boxed{3}"}]
    system = [{"role": "system", "content": r"\boxed{3}"}, {"role": "assistant", "content": "I do not know."}]
    odd_case = [{"role": "Assistant", "content": r"\boxed{3}"}]
    for messages in (tool, user, system, odd_case):
        (result,) = score(engine, items=[math_item(messages)])
        assert_no_item_reward(result)


def test_several_assistant_turns_do_not_hedge(engine: Engine) -> None:
    turns = [{"role": "assistant", "content": rf"\boxed{{{i}}}"} for i in range(1, 10)]
    (result,) = score(engine, items=[math_item(turns)])
    assert_no_item_reward(result)
    turns2 = [{"role": "assistant", "content": rf"Maybe \boxed{{{i}}}." + " Let me think more." * 5} for i in (3, 4)]
    (result2,) = score(engine, items=[math_item(turns2)])
    assert_no_item_reward(result2)


def test_a_correct_neighbour_in_the_batch_does_not_leak(engine: Engine) -> None:
    good = r"<think>r</think><answer>\boxed{3}</answer>"
    bad = r"<think>r</think><answer>\boxed{4}</answer>"
    items = [
        math_item(good, id="dup", group="g"),
        math_item(bad, id="dup", group="g"),
        {"task": "format", "completion": good, "id": "dup", "group": "g"},
        math_item(good, reference="4", id="dup", group="g"),
    ]
    results = score(engine, profile="r1-zero", items=items)
    assert [r.reward for r in results] == [2.0, 1.0, 1.0, 1.0]
    assert results[1].components == {"accuracy": 0.0, "format": 1.0}


def test_wrong_answer_with_good_format_is_not_full_reward(engine: Engine) -> None:
    (result,) = score(engine, profile="r1-zero", items=[math_item(r"<think>r</think><answer>\boxed{4}</answer>")])
    assert_no_item_reward(result, ceiling=1.0)


def test_invisible_thought_does_not_earn_format_reward(engine: Engine) -> None:
    # HOLE (format): end to end, an empty thought made of a zero-width space earns the full r1-zero reward (2.0).
    (result,) = score(engine, profile="r1-zero", items=[math_item("<think>\u200b</think><answer>\\boxed{3}</answer>")])
    assert_no_item_reward(result, ceiling=1.0)


def test_truncated_prefilled_thought_earns_no_dapo_reward(engine: Engine) -> None:
    # HOLE (math): with a pre-filled <think>, a completion cut off inside its thought earns DAPO's +1 from a guess.
    item = math_item(r"Let me guess \boxed{3}, no wait, let me", prompt="Compute 1 + 2.\n<think>\n")
    (result,) = score(engine, profile="dapo", items=[item])
    assert_no_item_reward(result, ceiling=-1.0)


def test_prompt_cannot_be_used_to_flip_the_prefill_for_a_completion_with_tags(engine: Engine) -> None:
    # A prompt ending in <think> only means "the completion starts inside the thought"; a completion that opens
    # its own thought twice is still malformed.
    item = {"task": "format", "completion": "<think><think>a</think><answer>3</answer>", "prompt": "Q\n<think>"}
    (result,) = score(engine, profile="format", items=[item])
    assert_no_item_reward(result)


def test_cosine_with_undecided_accuracy_is_null(engine: Engine) -> None:
    item = math_item(r"<think>r</think>\boxed{3}", reference=r"\frac{")
    (result,) = score(
        engine, weights={"cosine": 1.0, "accuracy": 0.0}, options={"cosine": {"max_length": 50}}, items=[item]
    )
    assert result.reward is None


def test_cosine_without_an_answer_is_the_wrong_branch(engine: Engine) -> None:
    item = math_item("<think>I give up</think>")
    (result,) = score(
        engine, weights={"cosine": 1.0, "accuracy": 0.0}, options={"cosine": {"max_length": 50}}, items=[item]
    )
    assert_no_item_reward(result)


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused(engine: Engine, weight: float) -> None:
    # Refused by the request model itself now (the schema says weights are finite); both are a 422 over HTTP.
    with pytest.raises((RecipeError, ValidationError)):
        score(engine, weights={"accuracy": weight}, items=[math_item(r"\boxed{3}")])


def test_huge_finite_weights_do_not_overflow_the_reward(engine: Engine) -> None:
    # HOLE (engine, trainer-supplied): 1e308 + 1e308 overflows to inf; the reward must be finite or refused.
    try:
        (result,) = score(
            engine,
            profile="r1-zero",
            weights={"accuracy": 1e308, "format": 1e308},
            items=[math_item(r"<think>r</think><answer>\boxed{3}</answer>")],
        )
    except RecipeError:
        return
    assert result.reward is None or math.isfinite(result.reward), result.reward


@pytest.mark.parametrize(
    ("weights", "options"),
    [
        # HOLE (engine, trainer-supplied): non-finite shaping options are accepted and produce a NaN/inf reward,
        # which poisons a whole GRPO group's advantages. They should be an invalid_item (or a 422).
        ({"overlong": 1.0}, {"overlong": {"max_length": 10, "buffer": 5, "penalty_factor": float("inf")}}),
        ({"cosine": 1.0}, {"cosine": {"max_length": 10, "min_value_wrong": float("nan")}}),
        ({"cosine": 1.0}, {"cosine": {"max_length": 10, "max_value_correct": float("inf")}}),
        ({"cosine": 1.0}, {"cosine": {"max_length": 10, "exceed_value": float("nan")}}),
        ({"repetition": 1.0}, {"repetition": {"max_penalty": float("-inf")}}),
        ({"overlong": 1.0}, {"overlong": {"max_length": float("inf"), "buffer": 5}}),
        ({"overlong": 1.0}, {"overlong": {"max_length": 10, "buffer": float("nan")}}),
    ],
)
def test_non_finite_options_never_give_a_non_finite_reward(
    engine: Engine, weights: dict[str, float], options: dict[str, Any]
) -> None:
    completion = "<think>" + "x" * 100 + r"</think>\boxed{3}"
    for reference in ("3", "4"):
        try:
            (result,) = score(engine, weights=weights, options=options, items=[math_item(completion, reference)])
        except RecipeError:
            continue
        assert result.reward is None or math.isfinite(result.reward), (result.reward, result.status)


def test_huge_options_object_changes_nothing(engine: Engine) -> None:
    junk = {f"k{i}": "v" * 100 for i in range(2000)}
    item = math_item(r"<think>r</think><answer>\boxed{4}</answer>", options={"accuracy": junk, "format": junk})
    (result,) = score(engine, profile="r1-zero", items=[item])
    # keys no verifier reads are a misspelt configuration: the item is refused, never scored with the defaults
    assert result.status == "invalid_item" and "unknown option(s)" in (result.reason or "")
    assert len(result.reason or "") < 1000 and result.reward is None
    assert_no_item_reward(result, ceiling=1.0)


def test_accuracy_options_cannot_turn_a_wrong_answer_right(engine: Engine) -> None:
    for opts in ({"float_rel_tol": 10.0}, {"float_rel_tol": float("nan")}, {"require_boxed": "yes"}):
        (result,) = score(engine, items=[math_item(r"\boxed{4}", options={"accuracy": opts})])
        assert_no_item_reward(result)
