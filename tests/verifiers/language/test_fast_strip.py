"""The fast passes of `strip_non_language` (a span of math or code without prose recognised by the regex itself,
with no residue call; triggers looked for once) give exactly what the reference passes give
(`reference_strip_non_language`, one residue call per span, every trigger looked for before its pass): on every
text of the verdict corpus and on seeded random strings made of delimiters, commands, code words in any case, prose
words, short words, line breaks and the characters case folding could confuse."""

from __future__ import annotations

import random
import re

import pytest

from verifiers.language import config_from, scored_text
from verifiers.language import text as T
from verifiers.language.prompt import question_text

from .verdict_corpus import attempts

_PALETTE = [
    "$", "$$", "$", "```", "~~~", "`", "``", "\\", "\\frac", "\\text{", "}", "{", " ", " ", "\n", "x", "ab", "abc",
    "word", "For", "RANGE", "print", "in", "int", "self", "ſelf", "brea\u212a", "\u212a", "中文", "é", "1", "+", "=",
    "we add two and three", "python\n", "\\(", "\\)", "\\[", "\\]", "http://a.b/c", "<p>", "@", "x@y.com", "\x7f",
    "\t", "_", "Kk", "elif", "ELSE", "endl", "en", "numpy", "\\sin", "dx", "'", "www.", "ww", ":", "/", "~",
    "\\begin{align}", "\\end{align}", "\\begin{itemize}", "\\begin", "[", "(",
]  # fmt: skip


def _random_texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_PALETTE) for _ in range(rng.randint(1, 60))) for _ in range(count)]


def _corpus_texts() -> list[str]:
    texts = []
    for _, attempt in attempts():
        texts.append(scored_text(attempt.completion, config_from(attempt))[0])
        if attempt.prompt:
            texts.append(question_text(attempt.prompt))
    return texts


@pytest.mark.parametrize("source", ["corpus", "random"])
def test_the_fast_passes_strip_as_the_reference_passes(source: str) -> None:
    texts = _corpus_texts() if source == "corpus" else _random_texts(13, 20_000)
    changed = [t for t in texts if T.strip_non_language(t) != T.reference_strip_non_language(t)]
    assert not changed, f"{len(changed)} texts differ, first: {changed[0]!r}"


def test_the_fast_alternatives_take_formulas_and_code_without_prose() -> None:
    # The fast alternative matches (no group: None) a formula or code without prose, the reference one the rest.
    passes = {trigger: pattern for trigger, pattern, _, _ in T._STRIP_PASSES}
    cases = [
        ("$", "a $S_n = \\sum_{k=1}^{n} \\frac{1}{k(k+1)}$ b", True),
        ("$", "a $\\text{we add two numbers}$ b", False),
        ("$", "a $x 中$ b", False),
        ("$$", "a $$S = 1 - \\frac{1}{n+1}$$ b", True),
        ("```", "```python\nprint(sum(1 / (k * (k + 1)) for k in range(1, 4)))\n```", True),
        ("```", "```python\n# first we add the numbers\n```", False),
        ("`", "use `for k in range(n)` here", True),
    ]
    for trigger, text, fast in cases:
        spans = passes[trigger].split(text)[1::2]
        assert len(spans) == 1 and (spans[0] is None) == fast, (trigger, text, spans)
        assert T.strip_non_language(text) == T.reference_strip_non_language(text)


def test_code_words_are_matched_whole() -> None:
    words = T._trie_regex(sorted(w for w in T._CODE_WORDS if len(w) >= 3))
    whole = re.compile(f"(?:{words})\\Z")
    assert all(whole.match(w) for w in T._CODE_WORDS if len(w) >= 3)
    assert not any(whole.match(w) for w in ("form", "printl", "prints", "selfx", "inte", "els", "ranges", "Print"))
    # A capitalised code word counts as a word for the fast alternative: the span goes to the residue call.
    span = "```\nPrint Range For\n```"
    assert T._FAST_PASSES["```"].split(span)[1] is not None
    assert T.strip_non_language(span) == T.reference_strip_non_language(span)
