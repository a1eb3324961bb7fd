"""Shaping rewards against hand-computed values, edge cases and parameter validation."""

from __future__ import annotations

import math

import pytest

from verifiers.shaping import (
    completion_length,
    cosine_scaled,
    overlong_penalty,
    repetition_penalty,
    tag_count,
    words,
)

# --- DAPO overlong penalty: max_length 20480, buffer 4096 (DAPO's values), so expected = 16384 ----------------


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, 0.0),
        (-7, 0.0),  # odd input: treated as short
        (16384, 0.0),  # exactly at max_length - buffer
        (16385, -1 / 4096),
        (17408, -0.25),  # 1024 into the buffer
        (18432, -0.5),
        (20480, -1.0),  # exactly max_length: still the linear branch, at its end
        (20481, -1.0),
        (10**9, -1.0),
    ],
)
def test_overlong_dapo_values(length: int, expected: float) -> None:
    assert overlong_penalty(length, 20480, 4096) == pytest.approx(expected, abs=1e-12)


def test_overlong_penalty_factor_scales_both_branches() -> None:
    assert overlong_penalty(18432, 20480, 4096, penalty_factor=0.5) == pytest.approx(-0.25)
    assert overlong_penalty(30000, 20480, 4096, penalty_factor=0.5) == -0.5
    assert overlong_penalty(30000, 20480, 4096, penalty_factor=0.0) == 0.0


def test_overlong_buffer_equal_to_max_length_penalises_from_zero() -> None:
    assert overlong_penalty(0, 100, 100) == 0.0
    assert overlong_penalty(25, 100, 100) == pytest.approx(-0.25)


@pytest.mark.parametrize(
    ("max_length", "buffer", "factor", "message"),
    [
        (100, 0, 1.0, "buffer must be positive"),
        (100, -5, 1.0, "buffer must be positive"),
        (100, 101, 1.0, "must not exceed max_length"),
        (0, 10, 1.0, "max_length must be positive"),
        (100, 10, -1.0, "penalty_factor"),
        (100, 10, math.nan, "penalty_factor"),
    ],
)
def test_overlong_invalid_parameters(max_length: int, buffer: int, factor: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        overlong_penalty(50, max_length, buffer, factor)


# --- repetition penalty ----------------------------------------------------------------------------------------


def test_repetition_hand_computed_english() -> None:
    # 9 tokens → 7 trigrams; "the cat sat" occurs twice, so 6 distinct: (1 - 6/7) * -1.
    assert repetition_penalty("the cat sat on the mat the cat sat") == pytest.approx(-1 / 7)


def test_repetition_ignores_case_and_punctuation() -> None:
    # the cat sat the cat sat → 4 trigrams, 3 distinct → -0.25 (open-r1's split() would see "sat." ≠ "sat!").
    assert repetition_penalty("The cat sat. the cat sat!") == pytest.approx(-0.25)


def test_repetition_chinese_by_characters() -> None:
    # 好好学习好好学习: 8 characters → 7 bigrams, 4 distinct (好好 好学 学习 习好) → (1 - 4/7) * -1.
    assert repetition_penalty("好好学习，好好学习。", ngram_size=2) == pytest.approx(-3 / 7)


def test_repetition_fully_repeated_text_approaches_max_penalty() -> None:
    text = " ".join(["wait"] * 1001)
    assert repetition_penalty(text, ngram_size=1, max_penalty=-0.5) == pytest.approx(-0.5 * (1 - 1 / 1001))


def test_repetition_no_repeats_is_zero() -> None:
    assert repetition_penalty("every word here is different from the others") == 0.0


@pytest.mark.parametrize("text", ["", "two words", "   ", "!!! ???"])
def test_repetition_texts_shorter_than_n_score_zero(text: str) -> None:
    assert repetition_penalty(text, ngram_size=3) == 0.0


@pytest.mark.parametrize(
    ("ngram_size", "max_penalty"), [(0, -1.0), (-2, -1.0), (2.5, -1.0), (True, -1.0), (3, 0.1), (3, math.nan)]
)
def test_repetition_invalid_parameters(ngram_size: int, max_penalty: float) -> None:
    with pytest.raises(ValueError):
        repetition_penalty("a b c d", ngram_size=ngram_size, max_penalty=max_penalty)


def test_word_tokeniser() -> None:
    assert words("Don't STOP. 我们先求导，then l'équation x_1 = 3.5") == [
        "don't",
        "stop",
        "我",
        "们",
        "先",
        "求",
        "导",
        "then",
        "l'équation",
        "x_1",
        "3",
        "5",
    ]


# --- cosine length-scaled reward (open-r1 defaults: correct 1.0 → 0.5, wrong -0.5 → 0.0) -----------------------


@pytest.mark.parametrize(
    ("is_correct", "length", "expected"),
    [
        (True, 0, 1.0),
        (True, 500, 0.75),  # cos(pi/2) = 0: the midpoint
        (True, 1000, 0.5),
        (True, 250, 0.5 + 0.25 * (1 + math.sqrt(0.5))),
        (False, 0, -0.5),
        (False, 500, -0.25),
        (False, 1000, 0.0),
        (False, 750, -0.25 * (1 + math.cos(0.75 * math.pi))),
        (True, -10, 1.0),  # odd input: as length 0
    ],
)
def test_cosine_hand_computed(is_correct: bool, length: int, expected: float) -> None:
    assert cosine_scaled(is_correct, length, 1000) == pytest.approx(expected, abs=1e-12)


def test_cosine_clamps_past_max_length_instead_of_wrapping() -> None:
    # open-r1's formula would give cos(2*pi) = 1 at twice the length, i.e. the best score again.
    assert cosine_scaled(True, 2000, 1000) == pytest.approx(0.5)
    assert cosine_scaled(False, 2000, 1000) == pytest.approx(0.0)


def test_cosine_exceed_value_is_the_papers_exceed_penalty() -> None:
    assert cosine_scaled(True, 1000, 1000, exceed_value=-10.0) == -10.0
    assert cosine_scaled(False, 5000, 1000, exceed_value=-10.0) == -10.0
    assert cosine_scaled(True, 999, 1000, exceed_value=-10.0) > 0.5


def test_cosine_with_the_papers_values() -> None:
    paper = {"min_value_correct": 1.0, "max_value_correct": 2.0, "min_value_wrong": -10.0, "max_value_wrong": 0.0}
    assert cosine_scaled(True, 500, 1000, **paper) == pytest.approx(1.5)
    assert cosine_scaled(False, 250, 1000, **paper) == pytest.approx(-5.0 * (1 + math.sqrt(0.5)))


def test_cosine_invalid_max_length() -> None:
    with pytest.raises(ValueError, match="max_length"):
        cosine_scaled(True, 10, 0)


# --- tag count ---------------------------------------------------------------------------------------------------

GOOD = "<think>\nreasoning\n</think>\n<answer>\n42\n</answer>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, 1.0),
        ("<think>reasoning\n</think>\n<answer>\n42\n</answer>", 0.75),  # no newline after <think>
        ("<think>\nreasoning</think>\n<answer>\n42\n</answer>", 0.75),  # "\n</think>\n" missing
        ("<think>\nreasoning\n</think>\n<answer>42\n</answer>", 0.75),  # "\n<answer>\n" missing
        ("<think>\nreasoning\n</think>\n<answer>\n42</answer>", 0.75),  # "\n</answer>" missing
        (GOOD + "\n</answer>", 0.75),  # closing answer twice
        (GOOD.replace("<think>\n", "<think>\n<think>\n"), 0.75),  # opened twice
        ("no tags at all", 0.0),
        ("", 0.0),
    ],
)
def test_tag_count_open_r1(text: str, expected: float) -> None:
    assert tag_count(text) == expected


def test_tag_count_prefilled_think() -> None:
    completion = "reasoning\n</think>\n<answer>\n42\n</answer>"
    assert tag_count(completion) == 0.75
    assert tag_count(completion, think_prefilled=True) == 1.0
    assert tag_count("<think>\n" + completion, think_prefilled=True) == 0.75  # the model opened it again


def test_tag_count_r1_layout_without_answer_tags() -> None:
    assert tag_count("<think>\nreasoning\n</think>\nThe answer is 42.", answer=None) == 1.0
    assert tag_count("<think>\nreasoning</think>The answer is 42.", answer=None) == 0.5


def test_tag_count_custom_tags() -> None:
    text = "<reasoning>\nr\n</reasoning>\n<final>\n1\n</final>"
    assert tag_count(text, think=("<reasoning>", "</reasoning>"), answer=("<final>", "</final>")) == 1.0
    assert tag_count(text) == 0.0


def test_tag_count_non_string_is_zero() -> None:
    assert tag_count(None) == 0.0  # type: ignore[arg-type]


# --- length unit ----------------------------------------------------------------------------------------------


def test_completion_length_prefers_the_token_count() -> None:
    assert completion_length("abcdef", 2) == (2, "tokens")
    assert completion_length("abcdef", None) == (6, "chars")
    assert completion_length("abcdef", -1) == (6, "chars")
    assert completion_length("abcdef", True) == (6, "chars")  # type: ignore[arg-type]
