"""Shaping rewards: pure functions of plain values that a profile adds to the accuracy reward.

Each function documents its exact formula and the recipe it follows. They never raise on odd *inputs* (negative
lengths count as 0, empty texts score their neutral value); they raise `ValueError` with a readable message only
for invalid *parameters* (a zero buffer, a positive "penalty"), which the service reports as an item error.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "overlong_penalty",
    "repetition_penalty",
    "cosine_scaled",
    "tag_count",
    "completion_length",
    "words",
]


def completion_length(completion: str, token_count: int | None = None) -> tuple[int, str]:
    """The length the length-based rewards use, and its unit: the client's token count when it sent one (that is
    what DAPO and the cosine reward are defined on), else the number of characters."""
    if isinstance(token_count, int) and not isinstance(token_count, bool) and token_count >= 0:
        return token_count, "tokens"
    return len(completion), "chars"


def overlong_penalty(length: int, max_length: int, buffer: int, penalty_factor: float = 1.0) -> float:
    """DAPO's soft overlong punishment (Yu et al. 2025, "DAPO", overlong reward shaping; verl's `overlong_buffer`).

    With `expected = max_length - buffer`:

        0                                                 if length <= expected
        -(length - expected) / buffer * penalty_factor    if expected < length <= max_length
        -penalty_factor                                   if length > max_length

    so the penalty grows linearly from 0 to `-penalty_factor` across the last `buffer` units before `max_length`.
    Range [-penalty_factor, 0]. DAPO uses max_length=20480 tokens, buffer=4096, penalty_factor=1.
    Raises ValueError unless 0 < buffer <= max_length and penalty_factor >= 0.
    """
    if max_length <= 0:
        raise ValueError(f"max_length must be positive, got {max_length}")
    if buffer <= 0:
        raise ValueError(f"buffer must be positive, got {buffer}")
    if buffer > max_length:
        raise ValueError(f"buffer ({buffer}) must not exceed max_length ({max_length})")
    if not penalty_factor >= 0:  # also rejects NaN
        raise ValueError(f"penalty_factor must be >= 0, got {penalty_factor}")
    expected = max_length - buffer
    if length <= expected:
        return 0.0
    if length > max_length:
        return -float(penalty_factor)
    return -(length - expected) / buffer * penalty_factor


# Word tokens for the repetition penalty: a run of letters/digits (with inner apostrophes) in scripts written with
# spaces, or a single character of Chinese, Japanese, Thai, Lao, Khmer or Myanmar, which have no spaces between
# words (a character is the unit we can find without a dictionary).
_UNSPACED = (
    "\u2e80-\u2fdf\u3005-\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\uff66-\uff9f\U00020000-\U0003134f\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
)
_WORD_RE = re.compile(rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+(?:['’][^\W{_UNSPACED}]+)*")


def words(text: str) -> list[str]:
    """Lower-cased word tokens of `text`: words of spaced scripts (punctuation dropped, so "end." and "end" are
    the same word) and single characters of Chinese, Japanese, Thai and other scripts without spaces."""
    return _WORD_RE.findall(text.lower())


# The cost is tokens x ngram_size; past a few dozen words an n-gram is a quotation, not a repetition.
MAX_NGRAM_SIZE = 64


def repetition_penalty(text: str, ngram_size: int = 3, max_penalty: float = -1.0) -> float:
    """open-r1's `get_repetition_penalty_reward` (after Yeo et al. 2025, "Demystifying Long Chain-of-Thought
    Reasoning in LLMs", appendix), with a real tokeniser.

        tokens = words(text)                      # see `words`; open-r1 uses text.lower().split()
        0                                         if len(tokens) < ngram_size (including an empty text)
        (1 - distinct n-grams / total n-grams) * max_penalty   otherwise

    where the n-grams are the len(tokens) - ngram_size + 1 overlapping runs of `ngram_size` tokens. Range
    [max_penalty, 0]: 0 when no n-gram repeats, approaching max_penalty when one n-gram fills the text.
    Raises ValueError if ngram_size is not in 1..MAX_NGRAM_SIZE or max_penalty > 0 (open-r1 raises on a positive
    max_penalty too).
    """
    if isinstance(ngram_size, bool) or not isinstance(ngram_size, int) or not 1 <= ngram_size <= MAX_NGRAM_SIZE:
        raise ValueError(f"ngram_size must be an integer from 1 to {MAX_NGRAM_SIZE}, got {ngram_size!r}")
    if not max_penalty <= 0:  # also rejects NaN
        raise ValueError(f"max_penalty must be <= 0, got {max_penalty}")
    tokens = words(text) if isinstance(text, str) else []
    if len(tokens) < ngram_size:
        return 0.0
    total = len(tokens) - ngram_size + 1
    distinct = len({tuple(tokens[i : i + ngram_size]) for i in range(total)})
    return (1.0 - distinct / total) * max_penalty


def cosine_scaled(
    is_correct: bool,
    length: int,
    max_length: int,
    min_value_wrong: float = -0.5,
    max_value_wrong: float = 0.0,
    min_value_correct: float = 0.5,
    max_value_correct: float = 1.0,
    exceed_value: float | None = None,
) -> float:
    """open-r1's `get_cosine_scaled_reward`, the cosine length-scaled reward of Yeo et al. 2025, "Demystifying
    Long Chain-of-Thought Reasoning in LLMs" (section 4): short correct answers earn most, and short wrong answers
    are punished most (a wrong answer should at least have thought longer).

        progress = min(max(length, 0) / max_length, 1)
        cosine   = cos(pi * progress)
        correct: min_value_correct + 0.5 * (max_value_correct - min_value_correct) * (1 + cosine)
        wrong:   max_value_wrong   + 0.5 * (min_value_wrong   - max_value_wrong)   * (1 + cosine)

    so a correct answer scores max_value_correct at length 0 and min_value_correct at max_length, and a wrong one
    min_value_wrong at length 0 and max_value_wrong at max_length. open-r1 swaps min/max for wrong answers the same
    way. Edge case: open-r1 lets the cosine wrap around past max_length (a completion twice too long would score
    like an empty one); here the progress is clamped, so length >= max_length scores the max_length value, unless
    `exceed_value` is given, which is then returned for length >= max_length (the paper's exceed-length penalty
    r_e, -10 in its setup). The paper's own values are correct 2 → 1, wrong -10 → 0; these defaults are open-r1's
    scale. Raises ValueError if max_length <= 0.
    """
    if max_length <= 0:
        raise ValueError(f"max_length must be positive, got {max_length}")
    length = max(length, 0)
    if exceed_value is not None and length >= max_length:
        return float(exceed_value)
    progress = min(length / max_length, 1.0)
    cosine = math.cos(progress * math.pi)
    if is_correct:
        low, high = min_value_correct, max_value_correct
    else:
        # At length 0 the wrong answer gets min_value_wrong, at max_length max_value_wrong.
        low, high = max_value_wrong, min_value_wrong
    return low + 0.5 * (high - low) * (1.0 + cosine)


def tag_count(
    text: str,
    think: tuple[str, str] = ("<think>", "</think>"),
    answer: tuple[str, str] | None = ("<answer>", "</answer>"),
    think_prefilled: bool = False,
) -> float:
    """open-r1's `tag_count_reward`: partial format credit, 0.25 for each of these appearing exactly once:

        "<think>\\n"   "\\n</think>\\n"   "\\n<answer>\\n"   "\\n</answer>"

    (the newline conventions of open-r1's system prompt; the tags themselves are configurable). Range [0, 1].
    With `answer=None` (R1's layout: a summary after the thought, no answer tags) only the two think tags count,
    0.5 each. With `think_prefilled` the prompt already ended with the opening tag and its newline, so the text is
    scored as `think[0] + "\\n" + text`: the opening tag earns its credit unless the model opens it again.
    """
    if not isinstance(text, str):
        return 0.0
    open_think, close_think = think
    if think_prefilled:
        text = f"{open_think}\n{text}"
    patterns = [f"{open_think}\n", f"\n{close_think}\n"]
    if answer is not None:
        open_answer, close_answer = answer
        patterns += [f"\n{open_answer}\n", f"\n{close_answer}"]
    weight = 1.0 / len(patterns)
    return sum(weight for pattern in patterns if text.count(pattern) == 1)
