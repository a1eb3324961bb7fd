"""The array path of `pieces` (`_array_pieces`) gives exactly the pieces of the Python path (`reference_pieces`):
on every text of the verdict corpus, on seeded random strings of every class of character the tables tell apart
(letters of each script, marks inside and outside their script's set, apostrophes, odd characters, characters above
the BMP), and its character classes are those of the regex sets the Python path uses."""

from __future__ import annotations

import random
import re

import pytest

from verifiers.language import config_from, scored_text
from verifiers.language import text as T
from verifiers.language.prompt import question_text

from .verdict_corpus import attempts

TABLES = T._piece_tables()

_PALETTE = [
    *"abcxyzAIXSTHth eoàé'  \n\n",
    *"中文のカ한국привет",
    *"αβΣمرحباनमस्तेไทย",
    "\u0301",  # a Latin-set mark
    "\u309a",  # a kana-set mark
    "\u20d0",  # a mark of no family
    *"1._\t😀𠀀ʼˈⅻༀ",
]
_WORDS = [
    "the", "with", "n", "x", "So", "Python", "sin", "women", "xian", "qiu", "daoshu", "ranhou", "GPU", "中文",
    "我们先求导", "'", "don't", "a", "I", "Θεός", "Привет", "e\u0301te\u0301", "F i r s t   w e   a d d   t h e",
]  # fmt: skip


def _random_texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        if rng.random() < 0.5:
            s = "".join(rng.choice(_PALETTE) for _ in range(rng.randint(1, 400)))
        else:
            seps = [" ", " ", "  ", "\n", "", "'"]
            s = "".join(rng.choice(_WORDS) + rng.choice(seps) for _ in range(rng.randint(1, 120)))
        out.append(T.strip_non_language(s) if rng.random() < 0.3 else s)
    return out


def _corpus_texts() -> list[str]:
    texts = []
    for _, attempt in attempts():
        cot, _ = scored_text(attempt.completion, config_from(attempt))
        texts.append(T.strip_non_language(cot))
        if attempt.prompt:
            texts.append(T.strip_non_language(question_text(attempt.prompt)))
    return texts


@pytest.mark.parametrize("source", ["corpus", "random"])
def test_the_array_path_gives_the_python_paths_pieces(source: str) -> None:
    texts = _corpus_texts() if source == "corpus" else _random_texts(13, 6000)
    for text in texts:
        assert T._array_pieces(text, TABLES) == T.reference_pieces(text), text[:200]


@pytest.mark.parametrize("source", ["corpus", "random"])
def test_a_spaced_piece_has_as_many_words_as_its_text_splits_into(source: str) -> None:
    # `decide` hands these counts to `LangId.top1` instead of splitting every text.
    texts = _corpus_texts() if source == "corpus" else _random_texts(17, 3000)
    for text in texts:
        for piece in [*T._array_pieces(text, TABLES), *T.reference_pieces(text)]:
            if piece.family not in T.UNSPACED_FAMILIES:
                assert len(piece.text.lower().split()) == piece.words, piece


def test_pieces_takes_the_array_path_for_long_texts_only() -> None:
    long_text = "\n".join(["Then we add the two numbers and divide by five"] * T._ARRAY_PIECES_MIN_SENTENCES)
    assert T.pieces(long_text) == T.reference_pieces(long_text)
    assert T.pieces("So x = 3.") == T.reference_pieces("So x = 3.")


def test_the_character_classes_are_the_regex_sets() -> None:
    sets = {name: re.compile(f"[{body}]") for name, body in T._FAMILY_BODIES.items()}
    other = re.compile(f"[{T._OTHER_LETTERS}]")
    word = re.compile(r"\w")
    for code in range(0x10000):
        ch = chr(code)
        cls = int(TABLES.classes[code])
        family = next((name for name, pattern in sets.items() if pattern.match(ch)), None)
        if ch in " \n'":
            assert cls in (T._SPACE, T._NEWLINE, T._APOSTROPHE), hex(code)
        elif family is not None:
            f = T._FAMILY_NAMES.index(family)
            assert cls == (T._LETTER + f if word.match(ch) else T._LETTER + T._NFAM + f), hex(code)
        elif other.match(ch):
            assert cls == T._LETTER + T._NFAM - 1, hex(code)
        else:
            assert cls == T._ODD, hex(code)
