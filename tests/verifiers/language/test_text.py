"""The text side of the language verifier: what is stripped, how text is cut, how words are counted."""

from __future__ import annotations

import time

import pytest

from verifiers.language.text import (
    CJK_CHARS_PER_WORD,
    SEA_CHARS_PER_WORD,
    extract_cot,
    language_pieces,
    response_text,
    strip_non_language,
)

THINK = ("<think>", "</think>")


def words_by_family(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for piece in language_pieces(text):
        out[piece.family] = out.get(piece.family, 0.0) + piece.words
    return out


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("inline $x^2 + y_1$ math", "x^2"),
        ("display $$\\int_0^1 f(t)\\,dt$$ math", "int"),
        ("bracket \\[ a + b \\] math", "a + b"),
        ("paren \\( \\alpha \\) math", "alpha"),
        ("env \\begin{align} a &= b \\\\ c &= d \\end{align} math", "&="),
        ("fence\n```python\nreturn value\n```\nafter", "return"),
        ("tilde\n~~~\nconsole.log(x)\n~~~\nafter", "console"),
        ("inline `numpy.linalg.solve` code", "numpy"),
        ("see https://example.org/path?q=1 for more", "example"),
        ("see www.example.org for more", "example"),
        ("mail someone@example.org today", "someone"),
        ("tags <answer>here</answer> and <|im_end|> too", "answer"),
        ("command \\textbf{bold} and \\boxed{42} stay words", "textbf"),
        ("numbers 3.14159 and 2,718 and ١٢٣ go", "14159"),
        ("unclosed ```python\nprint('truncated completion'", "truncated"),
    ],
)
def test_non_language_spans_are_removed(text: str, gone: str) -> None:
    stripped = strip_non_language(text)
    assert gone not in stripped
    assert stripped.split()[0] == text.split()[0]  # the prose around it stays


def test_words_in_latex_text_commands_outside_math_stay() -> None:
    assert "bold" in strip_non_language("command \\textbf{bold} here").split()


def test_sentence_ends_become_line_breaks() -> None:
    assert strip_non_language("One. Two! Three? 四。五！").split("\n")[:5] == ["One", " Two", " Three", " 四", "五"]


def test_english_words_are_whitespace_words() -> None:
    assert words_by_family("Let me check the sum again, carefully.") == {"latin": 7.0}


def test_hyphenated_words_count_per_part_and_apostrophes_join() -> None:
    assert words_by_family("A well-known result doesn't fail.") == {"latin": 6.0}
    assert words_by_family("Je vérifie l'équation encore une fois.") == {"latin": 6.0}


def test_chinese_counts_characters_over_the_word_length() -> None:
    assert words_by_family("我们先求导数。") == {"cjk": pytest.approx(6 / CJK_CHARS_PER_WORD)}


def test_japanese_counts_kanji_and_kana() -> None:
    text = "まず問題文をよく読みます。"  # 12 characters before the full stop
    assert words_by_family(text) == {"cjk": pytest.approx(12 / CJK_CHARS_PER_WORD)}


def test_thai_counts_characters_over_its_word_length() -> None:
    text = "ฉันชอบกินข้าว"  # 13 code points, tone mark included
    assert words_by_family(text) == {"sea": pytest.approx(13 / SEA_CHARS_PER_WORD)}


def test_korean_uses_spaces() -> None:
    assert words_by_family("먼저 문제를 주의 깊게 읽겠습니다.") == {"hangul": 5.0}


def test_punctuation_does_not_split_a_chinese_sentence_into_pieces() -> None:
    pieces = language_pieces("首先我们仔细阅读题目，把已知条件都写下来。")
    assert len(pieces) == 1
    assert pieces[0].words == pytest.approx(19 / CJK_CHARS_PER_WORD)


@pytest.mark.parametrize(
    "text",
    [
        "设三角形ABC中，求角A的大小。",  # point names
        "所以 f(x) 在 x 处取得最小值。",  # variables
        "当 sin x 取得最大值时，我们停止。",  # formula residue
        "我们用 GPU 来加速这个过程。",  # acronym
        "为了保险起见，我用 Python 验证一下。",  # a name inside another script's sentence
    ],
)
def test_symbols_and_names_inside_chinese_are_not_english(text: str) -> None:
    assert set(words_by_family(text)) == {"cjk"}


def test_a_real_english_word_inside_chinese_is_counted() -> None:
    assert words_by_family("我们先 check 一下这个结果。")["latin"] == 1.0


def test_a_sentence_made_of_variables_carries_no_language() -> None:
    # One letter next to words is a variable ("x, y and z" is one word of prose); "b c" is not language.
    assert words_by_family("x, y and z. b c.") == {"latin": 1.0}


def test_each_script_of_a_sentence_is_its_own_piece() -> None:
    pieces = language_pieces("Сначала прочитаем условие задачи, then we write down what we know.")
    assert [(p.family, p.words) for p in pieces] == [("cyrillic", 4.0), ("latin", 7.0)]


def test_short_pieces_are_their_own_pieces() -> None:
    # Not merged into a neighbour (issue 13 row 11): the verifier's second opinion labels the short ones.
    pieces = language_pieces("Hmm. Wait. Let me think about the second case again.")
    assert [p.words for p in pieces] == [1.0, 1.0, 8.0]


def test_kana_decides_japanese_and_its_absence_chinese() -> None:
    (zh,) = language_pieces("计算端点和驻点的函数值。")
    assert zh.langs == ("zh",)
    ja = language_pieces("三角形の面積を求めます。面積公式。")
    assert ja[0].langs == ("ja",)


@pytest.mark.parametrize(
    ("completion", "prefilled", "cot", "source"),
    [
        ("<think>a</think>b", False, "a", "think_block"),
        ("pre <think>a</think>b", False, "a", "think_block"),
        ("<think>a unclosed", False, "a unclosed", "think_block"),
        ("a</think>b", False, "a", "before_close_tag"),
        ("a</think>b", True, "a", "before_close_tag"),
        ("<think>a</think>b", True, "a", "before_close_tag"),
        ("a without close", True, "a without close", "before_close_tag"),
        ("no tags at all", False, "no tags at all", "whole_completion"),
    ],
)
def test_extract_cot(completion: str, prefilled: bool, cot: str, source: str) -> None:
    assert extract_cot(completion, THINK, prefilled) == (cot, source)


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 200_000,  # one huge token
        "$" * 50_000,  # unbalanced math delimiters
        "\\begin{x}" * 5_000,  # unclosed environments
        "<a " * 20_000,  # unclosed tags
        "`" * 50_000,
        "\\(" * 50_000,  # unclosed inline math on one line
        "@" + "a" * 200_000,
        "a" + " " * 200_000 + "b",
        "$a" * 50_000,
        "Wait now. " * 80_000,  # many short sentences merging into one piece
        "我们。" * 80_000,
    ],
)
def test_hostile_inputs_stay_fast(hostile: str) -> None:
    start = time.perf_counter()
    language_pieces(hostile)
    assert time.perf_counter() - start < 2.0


# --- what of math, code, links and tags still carries language ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("inline $中文$ math", "中文"),
        ("text $\\text{中文}$ math", "中文"),
        ("display $$ 中文 $$ math", "中文"),
        ("paren \\(中文\\) math", "中文"),
        ("bracket \\[中文\\] math", "中文"),
        ("env \\begin{align*} x &= 1 \\text{ 中文 } \\end{align*} math", "中文"),
        ("fence\n```python\n# 中文注释\nprint('结果')\n```\nafter", "中文注释"),
        ("fence\n```python\n# 中文注释\nprint('结果')\n```\nafter", "结果"),
        ("inline `中文` code", "中文"),
        ("link http://中文 here", "中文"),
        ("link https://zh.wikipedia.org/wiki/导数 here", "导数"),
        ("tag <p 中文 class='x'> here", "中文"),
        ("tag <note中文> here", "中文"),
        ("token <|中文|> here", "中文"),
        ("mail 中文@a.b here", "中文"),
        ("cyrillic $\\text{Привет}$ and `мир` here", "мир"),
        ("arabic in code `مرحبا` here", "مرحبا"),
        ("backslashed \\中\\文 letters", "中"),
    ],
)
def test_non_latin_letters_inside_stripped_constructs_stay(text: str, kept: str) -> None:
    assert kept in strip_non_language(text)


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("ascii code `numpy.linalg.solve` and\n```\nreturn value\n```\n", "return"),
        ("math $\\mathbb{R}^n$ here", "mathbb"),
        ("greek in math $αβγ + λμν$ here", "λμν"),  # Greek letters in math are variables
        ("latin accents in code `café = 1` here", "caf"),
        ("upright operator $\\mathrm{Var}(X)$ here", "Var"),
        ("unit $60\\text{km/h}$ here", "km"),
        ("unit $5 \\text{ cm}^2$ here", "cm"),
        ("url https://example.org/path?q=1 here", "example"),
        ("mail someone@example.org here", "someone"),
    ],
)
def test_ascii_inside_math_and_code_carries_no_language(text: str, gone: str) -> None:
    stripped = strip_non_language(text)
    assert gone not in stripped
    assert stripped.split()[0] == text.split()[0]


def test_text_command_arguments_in_math_stay_as_prose() -> None:
    stripped = strip_non_language("so $x > 0 \\text{ whenever the derivative vanishes}$ here").split()
    assert stripped == ["so", "whenever", "the", "derivative", "vanishes", "here"]
    assert "well" in strip_non_language("$\\textbf{works well}\\mbox{ here}$").split()
    assert "upright" in strip_non_language("$\\mathrm{several upright words}$").split()


def test_only_math_environments_are_stripped() -> None:
    stripped = strip_non_language("A \\begin{itemize}\\item first point\\end{itemize} B")
    assert stripped.split() == ["A", "first", "point", "B"]  # markers and \\item gone, the content stays
    assert strip_non_language("A \\begin{comment}hidden words\\end{comment} B").split() == ["A", "hidden", "words", "B"]
    for env in ("equation", "align*", "gather", "multline*", "eqnarray", "cases", "pmatrix", "bmatrix", "array"):
        assert strip_non_language(f"A \\begin{{{env}}} x words y \\end{{{env}}} B").split() == ["A", "B"], env


def test_english_code_in_a_chinese_cot_is_not_english() -> None:
    text = (
        "我们用代码验证一下。\n```python\n# 计算最大值\ndef maximum_value(values):\n    return max(values)\n```\n"
        "结果一致。"
    )
    assert set(words_by_family(text)) == {"cjk"}


@pytest.mark.parametrize(
    ("completion", "prefilled", "cot", "source"),
    [
        ("<think>a</think>b<think>c</think>d", False, "a\nc", "think_block"),
        ("<think>a</think><think>c", False, "a\nc", "think_block"),  # the last one unclosed
        ("a</think>b<think>c</think>d", False, "a\nc", "before_close_tag"),
        ("a</think>b<think>c</think>d", True, "a\nc", "before_close_tag"),
        ("<think>a</think>b<think>c</think>", True, "a\nc", "before_close_tag"),
        ("<think>a</think>b</think>c", False, "a", "think_block"),  # a stray closing tag opens nothing
    ],
)
def test_every_thought_block_is_part_of_the_cot(completion: str, prefilled: bool, cot: str, source: str) -> None:
    assert extract_cot(completion, THINK, prefilled) == (cot, source)


def test_response_text_is_the_whole_completion_without_thought_tags() -> None:
    text = response_text("pre<think>a</think>mid<think>b</think>summary", THINK)
    assert text.split() == ["pre", "a", "mid", "b", "summary"]


@pytest.mark.parametrize(
    "hostile",
    [
        "$$" + "\\text{" * 50_000,  # unclosed text arguments inside unclosed display math
        "$$\\text{" + "a" * 200_000,
        "$$\\mathrm{" + "a b " * 50_000,
        "$中" * 50_000,  # many math spans that each need their residue
        "$\\text{a}" * 50_000,
        "```" + "中a" * 100_000,
        "`中" * 50_000,
        "<p 中" * 20_000,
        "<p中>" * 20_000,
        "\\begin{align}" * 5_000,  # unclosed math environments
        "\\begin{itemize}" * 5_000,
        "\\end{" * 50_000,
        "http://" * 30_000,
        "http://中" * 30_000,
        "a" * 200_000 + "@",
        "中@a." * 50_000,
        "a@" * 100_000,
        "\\中" * 100_000,
    ],
)
def test_hostile_inputs_to_the_residue_passes_stay_fast(hostile: str) -> None:
    start = time.perf_counter()
    language_pieces(hostile)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    "hostile",
    ["<think>" * 100_000, "</think>" * 100_000, "<think></think>" * 50_000, "<think>a</think>b" * 50_000],
)
@pytest.mark.parametrize("prefilled", [False, True])
def test_hostile_thought_tags_stay_fast(hostile: str, prefilled: bool) -> None:
    start = time.perf_counter()
    extract_cot(hostile, THINK, prefilled)
    response_text(hostile, THINK)
    assert time.perf_counter() - start < 1.0


def test_the_array_translation_is_str_translate() -> None:
    import random

    from verifiers.language import text

    rng = random.Random(9)
    ranges = [(0, 0x7F), (0x80, 0xFFFF), (0x10000, 0x10FFFF), (0x4E00, 0x9FFF), (0xFF00, 0xFFEF), (0xD800, 0xDFFF)]
    samples = [
        "".join(chr(rng.randint(*rng.choices(ranges, weights)[0])) for _ in range(rng.randint(200, 900)))
        for weights in ([rng.random() for _ in ranges] for _ in range(500))
    ]
    # A multi-character fold (ﬁ), astral letters, fullwidth ones.
    samples += ["数学" * 200 + "ﬁnal", "数学。" * 200 + "𝐅𝐢𝐫𝐬𝐭", "Ａｂｃ，" * 100]
    for sample in samples:
        assert text._translate(sample) == sample.translate(text._CHAR_TABLE)
