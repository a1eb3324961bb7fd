"""From a completion to language-bearing pieces: the chain of thought, stripped of what carries no language,
cut into sentence-sized runs of one script, each weighted by its number of words.

Pipeline (compiled regexes and str methods, so the cost is linear and mostly spent in C):
1. `extract_cot`: every thought block, joined with line breaks (a second `<think>…</think>` counts as much as the
   first); with a pre-filled opening tag the first block is everything before the first closing tag; the whole
   completion when there is no thought block. `response_text` is the whole completion instead (scope "response").
2. `strip_non_language`: the text is first folded to NFKC (mathematical alphanumerics such as 𝐅𝐢𝐫𝐬𝐭, fullwidth and
   compatibility letters become their plain letters). Then fenced code (an unclosed fence runs to the end), display
   math (`$$…$$`, `\\[…\\]`, the math environments `equation`, `align`, `gather`, `multline`, `eqnarray`, `cases`,
   `array`, the `matrix` family, … and their starred forms), inline math (`$…$`, `\\(…\\)`), inline code, URLs,
   e-mail addresses, XML/chat tags, LaTeX command names and the `\\begin{…}`/`\\end{…}` markers of any other
   environment (whose content is prose) are replaced by what of them is prose: in math, runs of words (command
   names removed, spacing commands and braces as spaces, so `\\text{…}`, `\\operatorname{…}`, `\\textsc{…}` and bare
   words alike) with at least two words of three or more letters that are not formula words ("We add two and
   three" in `$…$`; not `x`, `\\sin x`, `dx`, `\\mathrm{Var}`, `\\text{km/h}`); in code, tags and attributes, lines
   and runs with at least three such words that are not code keywords or common built-ins (a comment, a string,
   a sentence written as code; not `for k in range(n)`); in a URL, a path of at least eight words (reasoning
   written as a slug). Runs of letters of a non-Latin script other than Greek (CJK, Cyrillic, Arabic, …) stay
   wherever they are (`$中文$`, a Chinese comment, `http://中文`, `<p 中文>`, `学生@example.com`); Greek letters in
   math and code are variables. Then one `str.translate` turns sentence ends into line breaks and every other
   character of the BMP that is neither a letter, a mark nor white space (digits, formula characters, punctuation,
   symbols, zero-width and other invisible characters, the braille blank) into a space; above the BMP (emoji) a
   regex does the same. A word is therefore the same thing everywhere: a run of letters and their marks, an
   apostrophe joining ("l'équation"), anything else separating.
3. `pieces`: the text is cut at line breaks (sentence ends), and each sentence into runs of one script family
   (Latin, Cyrillic, Arabic, CJK, …), so "我们先求导 then we check" yields a Chinese and an English piece. Pieces
   are not merged: `verifiers.language.decide` labels short ones together.

Word units (`Piece.words`):
- scripts written with spaces (Latin, Cyrillic, Greek, Arabic, Hebrew, Hangul, Indic, …): words as above
  ("well-known" is two words, "l'équation" one, "Привет⠀мир" two);
- Chinese and Japanese (Han, kana): characters / 1.5. Segmented Chinese corpora average about 1.5-1.7 characters
  per word, and mixed kanji/kana Japanese is close to that, so one unit is roughly one word and a CoT that is half
  English and half Chinese by meaning scores about 0.5 instead of the 0.6-0.7 a per-character count would give;
- Thai, Lao, Khmer and Myanmar (no spaces between words): characters / 3.5, the same idea for their longer words
  (vowel and tone marks are characters of their own).
Not language: a spaced-script run made only of one-letter words and formula words ("x", "b c", "sin x"), a Latin
letter next to words ("So x", unless it is a word: a, I, o, e, à, …), a lone word of at most two letters, a lone
all-capital word of at most five letters ("ABC", "GPU"), and a lone capitalised word inside a sentence of another
script ("我用 Python 验证") while such names are at most two per sentence, each against four word units of the
other script ("好的 First 的 We 的 Add" is English). Words spelled letter by letter ("F i r s t   w e") are words.
A run of pinyin or romanised Korean is marked (`Piece.romanised`), since lid.176 has no class for either.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable
from itertools import repeat
from typing import Any, NamedTuple

# Characters per word unit for scripts written without spaces (see the module docstring).
CJK_CHARS_PER_WORD = 1.5
SEA_CHARS_PER_WORD = 3.5
# Pieces smaller than this (in word units) are merged into a neighbour of the same script before identification.
MIN_PIECE_WORDS = 4.0

# --- script families: letter classes as regex set bodies -----------------------------------------------------
_LATIN = (
    "A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02af\u1e00-\u1eff\u0300-\u036f"
    "\u2c60-\u2c7f\ua720-\ua7ff\uff21-\uff3a\uff41-\uff5a"
)
_CYRILLIC = "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f"
_GREEK = "\u0370-\u037d\u037f-\u0386\u0388-\u03ff\u1f00-\u1fff"
_ARMENIAN = "\u0531-\u0588"
_HEBREW = "\u0591-\u05f4\ufb1d-\ufb4f"
# Arabic script (Arabic, Persian, Urdu, …) minus its comma, semicolon, question mark, digits and Urdu full stop.
_ARABIC = (
    "\u0600-\u060b\u060d-\u061a\u061c-\u061e\u0620-\u065f\u066e-\u06d3\u06d5-\u06ef\u06fa-\u06ff"
    "\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc"
)
_INDIC = "\u0900-\u0963\u0966-\u0dff"  # Devanagari … Sinhala, minus the danda sentence marks
_GEORGIAN = "\u10a0-\u10ff\u1c90-\u1cbf"
_ETHIOPIC = "\u1200-\u139f"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff"
_CJK = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
_SEA = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Myanmar, Khmer

_SPACED_FAMILIES: dict[str, str] = {
    "latin": _LATIN,
    "cyrillic": _CYRILLIC,
    "greek": _GREEK,
    "armenian": _ARMENIAN,
    "hebrew": _HEBREW,
    "arabic": _ARABIC,
    "indic": _INDIC,
    "georgian": _GEORGIAN,
    "ethiopic": _ETHIOPIC,
    "hangul": _HANGUL,
}
_UNSPACED_FAMILIES: dict[str, tuple[str, float]] = {
    "cjk": (_CJK, CJK_CHARS_PER_WORD),
    "sea": (_SEA, SEA_CHARS_PER_WORD),
}
# The families whose word units are estimated from characters (`Piece.words`); a piece of any other has as many
# words as its text splits into.
UNSPACED_FAMILIES = frozenset(_UNSPACED_FAMILIES)
_ALL_LETTERS = "".join(_SPACED_FAMILIES.values()) + _CJK + _SEA
_OTHER_LETTERS = r"^\W\d_" + _ALL_LETTERS  # a negated set body: letters of no family above

# Sentence ends and line breaks: pieces never cross these.
_BOUNDARY = "\n\r.!?;\u2026\u3002\uff01\uff1f\uff1b\uff0e\u061f\u06d4\u0964\u0965\u104a\u104b\u17d4"
# Between two words of one run: anything but a letter (punctuation and digits are spaces by then).
_SEP = r"[^\w\n]"


def _run(letters: str) -> str:
    return rf"[{letters}]+(?:{_SEP}+[{letters}]+)*"


_RUN_RE = re.compile(
    # Every alternative costs time at every run start, so the common scripts come first.
    "|".join(
        f"(?P<{name}>{_run(letters)})"
        for name, letters in sorted(
            [*_SPACED_FAMILIES.items(), *((name, letters) for name, (letters, _) in _UNSPACED_FAMILIES.items())],
            key=lambda item: item[0] not in ("latin", "cjk"),
        )
    )
    # Letters of any other script form their own family.
    + f"|(?P<other>{_run(_OTHER_LETTERS)})"
)

# --- what carries no language ------------------------------------------------------------------------------
# Inside math, code, tags and the like, ASCII (symbols, digits, LaTeX commands, identifiers, code) carries no
# language, but letters of a non-Latin script do wherever they are: `$中文$`, a Chinese code comment, `<p 中文>`.
# Greek is left out because, in math and code, Greek letters are variables (α, λ, π), not Greek.
_FOREIGN = "".join(letters for name, letters in _SPACED_FAMILIES.items() if name not in ("latin", "greek")) + "".join(
    letters for letters, _ in _UNSPACED_FAMILIES.values()
)
# Runs of non-Latin letters (letters of no family included), kept from inside the stripped constructs.
_FOREIGN_RUN = rf"(?:[{_FOREIGN}]|[^\W\d_{_LATIN}{_GREEK}])+"
_FOREIGN_RE = re.compile(_FOREIGN_RUN)
# LaTeX commands whose argument is text even inside math; the argument stays as prose (`$\text{if } x > 0$`).
# Alternation with the foreign runs so that a non-Latin argument is kept once. `[^{}]*` stops at the next brace, so
# an unclosed argument costs at most the distance to the next command's brace: linear over the span.
_MATH_KEEP_RE = re.compile(
    r"\\(text|textbf|textit|textrm|textsf|textsl|textup|textnormal|emph|mbox|hbox|mathrm)\s*\{([^{}]*)\}"
    rf"|({_FOREIGN_RUN})"
)
_TEXT_COMMAND_HINT_RE = re.compile(r"\\(?:text|mbox|hbox|emph|mathrm)")
# Inside a kept argument, ASCII words of one or two letters are units and variables (`\text{km/h}`, `\text{cm}`).
_SHORT_ASCII_WORD_RE = re.compile(r"(?<![A-Za-z])[A-Za-z]{1,2}(?![A-Za-z])")


# In math and code a LaTeX command name carries no language (its arguments may), and spacing commands are spaces.
_COMMAND_RE = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}|\\[A-Za-z]+\*?|\\[,;:! ]|[{}~]")
# What breaks a run of words inside math or code: anything but letters, marks, spaces and apostrophes.
_RUN_BREAK_RE = re.compile(r"[^\w\s']|[\d_]")
# Keywords and built-ins of common languages: in code they are syntax, not English (a prose line needs other words).
_CODE_WORDS = frozenset(
    "for in range import from return def class print if else elif while int float double const let var function "
    "public static void main true false none null self this new and or not is as with lambda yield try except "
    "finally raise len sum max min abs list dict set str include using namespace std cout cin endl printf scanf "
    "long char bool auto string vector end then local begin elif assert break continue pass global del case switch "
    "default struct enum typedef unsigned signed sizeof template typename private protected fn mut pub impl use mod "
    "math numpy sympy np sp torch java util system out println args numbers values value result results".split()
)


def _prose_runs(span: str, min_content: int, stop: frozenset[str], lines: bool = False) -> list[str]:
    """The runs of words of a math or code span that are prose: at least `min_content` words of three or more
    letters that are not formula or code words ("We add two and three" in `$…$`), or any letter of a script other
    than Latin and Greek (`$中文$`). A formula's `x`, `\\sin`, `dx` and a code line's `for k in range` are not.
    With `lines`, a line break also ends a run (a comment does not continue into the next line's code)."""
    kept: list[str] = []
    runs = _RUN_BREAK_RE.split(_COMMAND_RE.sub(" ", span))
    if lines:
        runs = [part for run in runs for part in run.split("\n")]
    for run in runs:
        tokens = run.split()
        if not tokens:
            continue
        if _FOREIGN_RE.search(run):
            kept.append(run if _prose_count(tokens, stop) >= min_content else " ".join(_FOREIGN_RE.findall(run)))
        elif _prose_count(tokens, stop) >= min_content:
            kept.append(run)
    return kept


def _prose_count(tokens: list[str], stop: frozenset[str]) -> int:
    return sum(1 for t in tokens if len(t) >= 3 and t.lower() not in stop)


# Words of three or more ASCII letters that are not a command name: an ASCII span with fewer than a prose run needs
# cannot hold one, and most formulas have none (`\\frac{1}{k(k+1)}`), so they skip the full analysis.
_WORDISH_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")


def _math_residue(span: str) -> str:
    """What of a math span carries language: runs of prose (text commands included) and non-Latin letters."""
    if span.isascii() and len(_WORDISH_RE.findall(span)) < 2:
        return " "
    kept = _prose_runs(span, 2, _MATH_WORDS)
    if not kept:
        return " "
    # A span over several lines (an unclosed `$$` runs to the end) keeps its lines apart: sentences stay sentences.
    joiner = "\n" if "\n" in span else " "
    return f"{joiner}{joiner.join(kept)}{joiner}"


def _code_residue(span: str) -> str:
    """What of a code span carries language: its prose lines, comments and strings, and non-Latin letters."""
    if span.isascii() and sum(1 for w in _WORDISH_RE.findall(span) if w.lower() not in _CODE_WORDS) < 3:
        return " "
    kept = _prose_runs(span, 3, _CODE_WORDS, lines=True)
    # Each prose line of the code stays a sentence of its own.
    return "\n" + "\n".join(kept) + "\n" if kept else " "


def _url_residue(span: str) -> str:
    """What of a URL carries language: a path of `_URL_PROSE` or more words (reasoning written as a slug,
    "first-we-add-the-two-numbers-then-divide-by-five") and non-Latin letters; the host and an ordinary slug
    ("compute-the-mean-of-a-list") are a name."""
    path = span.split("://", 1)[-1].partition("/")[2]
    words = _URL_SPLIT_RE.sub(" ", path).split()
    if _prose_count(words, _URL_WORDS) >= _URL_PROSE:
        return f" {' '.join(words)} "
    return _foreign_residue(span)


def _foreign_residue(span: str) -> str:
    """What of an e-mail address or a link carries language: its runs of non-Latin letters."""
    if span.isascii():
        return " "
    kept = _FOREIGN_RE.findall(span)
    return f" {' '.join(kept)} " if kept else " "


_URL_SPLIT_RE = re.compile(r"[^\w']|[\d_]")
_URL_PROSE = 8
_URL_WORDS = frozenset("http https ftp file www com org net edu gov html htm php index wiki".split())


def _class_of(predicate: Callable[[str], bool]) -> str:
    """A regex set body of the code points (below U+30000) for which `predicate` holds, as ranges."""
    ranges: list[str] = []
    start = -1
    for code in range(0x30001):
        inside = code < 0x30000 and predicate(chr(code))
        if inside and start < 0:
            start = code
        elif not inside and start >= 0:
            ranges.append(re.escape(chr(start)) + ("-" + re.escape(chr(code - 1)) if code - 1 > start else ""))
            start = -1
    return "".join(ranges)


# Combining marks are part of the letter they follow (Devanagari vowel signs, Thai tone marks): `\w` lacks them.
_MARKS = _class_of(lambda c: unicodedata.category(c).startswith("M"))
# After the character table: what is neither a letter (with its marks), an apostrophe nor white space separates
# words. Invisible characters (zero-width spaces, word joiners, the braille blank), emoji and symbols above the
# BMP thereby become spaces, so the words a run is joined from are the words that are counted.
_NON_WORD_RE = re.compile(rf"[^\w\s'{_MARKS}]|[\d_]")
_NFKC = "NFKC"


def _folds_to_letters(ch: str) -> bool:
    folded = unicodedata.normalize(_NFKC, ch)
    return folded != ch and any(c.isalpha() for c in folded)


# Characters NFKC folds into letters (mathematical alphanumerics, fullwidth and circled letters, ligatures, the
# ㎞ squares) are the only ones folded: those of the BMP by the character table, in the same pass as everything
# else, those above it (the mathematical alphanumerics) by this regex, run only on a text that has such characters.
# Folding the whole text cost more than the rest of this step on Chinese text, whose fullwidth punctuation is never
# in normal form yet carries nothing to fold.
_ASTRAL_COMPAT_RE = re.compile(f"[{_class_of(lambda c: ord(c) > 0xFFFF and _folds_to_letters(c))}]+")


def _fold(match: re.Match[str]) -> str:
    return unicodedata.normalize(_NFKC, match.group())


# The environments that hold math; any other (`itemize`, `proof`, `comment`) holds prose and only loses its
# `\begin{…}`/`\end{…}` markers.
_MATH_ENVIRONMENTS = (
    "equation|align|alignat|flalign|gather|multline|eqnarray|split|aligned|alignedat|gathered|cases|dcases|rcases"
    "|matrix|pmatrix|bmatrix|Bmatrix|vmatrix|Vmatrix|smallmatrix|array|subarray|math|displaymath"
)
# A URL or an e-mail address is made of ASCII and Latin letters; a run of another script ends it (`http://中文`).
_URL_CHAR = rf"[!-~{_LATIN}]"
_MAIL_CHAR = r"[\w.+-]"  # the local part may be in any script (`学生@example.com`); its non-Latin letters stay


def _all(alternatives: str) -> str:
    """A regex for as many repetitions of `alternatives` as there are, never given back (what `(?:…)*+` means).
    Written as an atomic group because CPython before 3.11.5 (Debian 12 ships 3.11.2) gets a possessive repeat of
    a group wrong when the group holds a lookahead: `(?:[^`]|`(?!``))*+` then fails to match, and a code fence
    was read from its closing delimiter on. The atomic form is as fast and right on every 3.11."""
    return f"(?>(?:{alternatives})*)"


# What follows a block's opening delimiter, up to its first closing one (or the end): the reference pass and the
# fast pass of each (`_FAST_PASSES`) must stop at the same place, so both are built from this one pattern.
_BLOCK_REST: dict[str, str] = {
    "```": _all(r"[^`]++|`(?!``)") + r"(?:```|\Z)",
    "~~~": _all(r"[^~]++|~(?!~~)") + r"(?:~~~|\Z)",
    "$$": _all(r"[^$]++|\$(?!\$)") + r"(?:\$\$|\Z)",
}

# Each construct is its own pass with a literal first character, guarded by an `in` test: Python's `re` then jumps
# from candidate to candidate instead of trying every alternative at every character, which is what keeps the
# whole step far below fastText's own cost. Unterminated blocks (a truncated completion) run to the end. A pass
# either replaces its match with a space (None: nothing in it can carry language) or with what of it does.
_REFERENCE_STRIP_PASSES: tuple[tuple[str, re.Pattern[str], Callable[[str], str] | None], ...] = (
    # A block runs to its first closing delimiter (or the end): the body is scanned in runs of characters that
    # cannot start one (possessive, so nothing is retried), which costs a fraction of a lazy `[\s\S]*?`.
    ("```", re.compile("(```" + _BLOCK_REST["```"] + ")"), _code_residue),
    ("~~~", re.compile("(~~~" + _BLOCK_REST["~~~"] + ")"), _code_residue),
    ("$$", re.compile(r"(\$\$" + _BLOCK_REST["$$"] + ")"), _math_residue),
    ("\\[", re.compile(r"(\\\[" + _all(r"[^\\]++|\\(?!\])") + r"(?:\\\]|\Z))"), _math_residue),
    (
        "\\begin{",
        re.compile(rf"(\\begin\{{((?:{_MATH_ENVIRONMENTS})\*?)\}}[\s\S]*?(?:\\end\{{\2\}}|\Z))"),
        _math_residue,
    ),
    # Inline delimiters stop at the line's end, so an unclosed one cannot rescan the line from every later start.
    ("\\(", re.compile(r"(\\\(" + _all(r"[^\\\n]++|\\(?!\))") + r"(?:\\\)|$))", re.MULTILINE), _math_residue),
    ("$", re.compile(r"(\$[^$\n]+\$)"), _math_residue),
    ("`", re.compile(r"(`[^`\n]+`)"), _code_residue),
    ("://", re.compile(rf"((?:https?|ftp|file)://{_URL_CHAR}*)"), _url_residue),
    ("www.", re.compile(rf"(www\.{_URL_CHAR}+)"), _url_residue),
    # The lookbehind starts a match only at the start of a token, keeping a long token without "@" linear.
    ("@", re.compile(rf"((?<!{_MAIL_CHAR}){_MAIL_CHAR}+@[0-9{_LATIN}-]+\.[0-9.{_LATIN}-]+)"), _foreign_residue),
    ("<", re.compile(r"(</?[A-Za-z][\w:.-]*(?:\s[^<>\n]{0,200})?/?>|<\|[^|\n]{0,64}\|>)"), _code_residue),
    # A LaTeX command outside math (\textbf, \boxed) and the name of any environment; the words of arguments stay.
    # Only ASCII letters make a command name, so `\中` loses its backslash (a symbol), not its letter.
    ("\\", re.compile(r"(\\(?:begin|end)\s*\{[A-Za-z]*\*?\}|\\[A-Za-z]+\*?)"), None),
)


# --- spans that carry no language, recognised by the regex itself ---------------------------------------------
# Most spans of a thought are formulas and code with no prose (`$S_n = \\sum_{k=1}^{n} \\frac{1}{k}$`), for which
# `_math_residue` and `_code_residue` return a space after their first test: ASCII with fewer words of three or more
# letters (`_WORDISH_RE`, not after a backslash) than a prose run needs, code words not counted. Calling them costs
# about a microsecond a span, most of the step on a long thought. The fast passes put that first test into the
# pattern: an alternative that matches exactly such a span (no group) comes before the original one (group 1), and
# the split's None says "a space" without a call. A span the alternative does not take gets the original match
# (the same span: both stop at the same closing delimiter) and its residue. `reference_strip_non_language` keeps
# the passes with a call per span; the tests compare both.


def _ascii_class(exclude: str) -> str:
    """A regex set body of the ASCII characters that are no letter, no backslash and not in `exclude`."""
    keep = [c for c in range(128) if not chr(c).isalpha() and chr(c) != "\\" and chr(c) not in exclude]
    ranges: list[tuple[int, int]] = []
    for code in keep:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(f"\\x{lo:02x}" + (f"-\\x{hi:02x}" if hi > lo else "") for lo, hi in ranges)


def _no_prose_body(exclude: str, extra: str, words: int, code: bool) -> str:
    """A possessive regex for a span body of ASCII whose words of three or more letters not after a backslash
    (`_WORDISH_RE`), lower-case code words left out when `code`, are at most `words`. `exclude`: characters the
    body cannot hold (the delimiter, a line break); `extra`: one more alternative for the body (a lone delimiter
    character).
    A letter run is always taken whole (possessive), so each alternative sees whole runs, as `_WORDISH_RE` does."""
    atoms = [f"[{_ascii_class(exclude)}]++", r"\\[A-Za-z]*+", r"[A-Za-z]{1,2}+(?![A-Za-z])"]
    if code:
        # Lower-case code words only (case-insensitive matching cost a third more): a capitalised one counts as a
        # word here, so such a span may go to the residue call, which counts it right; the answer is the same.
        names = _trie_regex(sorted(w for w in _CODE_WORDS if len(w) >= 3))
        atoms.append(rf"(?:{names})(?![A-Za-z])")
    if extra:
        atoms.append(extra)
    atom = _all("|".join(atoms))
    return atom + (f"(?:[A-Za-z]{{3,}}+{atom}){{0,{words}}}" if words else "")


def _trie_regex(words: list[str]) -> str:
    """An alternation of `words` (sorted, lower-case letters) factored by prefix: `re` tries alternatives one by
    one, so a flat list of a hundred code words costs a hundred tries at every letter run, a trie a few."""
    branches: list[str] = []
    for first in sorted({w[0] for w in words}):
        rests = [w[1:] for w in words if w[0] == first]
        tails = [r for r in rests if r]
        if not tails:
            branches.append(first)
            continue
        inner = _trie_regex(tails)
        if len(tails) == 1 and "" not in rests:
            branches.append(first + inner)  # one word: a plain chain, no group
        else:
            branches.append(f"{first}(?:{inner}){'?' if '' in rests else ''}")
    return "|".join(branches)


def _fast(trigger: str, body: str, close: str, rest: str) -> re.Pattern[str]:
    """A fast pass: the literal `trigger`, then either `body close` (no group: a span whose residue is a space) or
    `rest` (group 1: the reference pattern after its opening `trigger`). The pattern starts with a literal, as the
    reference does, so that `re` still jumps from one candidate to the next (an alternation of two patterns would
    be tried at every character: five times slower)."""
    return re.compile(f"{re.escape(trigger)}(?:{body}{close}|({rest}))")


_MATH_WORDS_MAX = 1  # `_math_residue`: fewer than 2 such words is a space
_CODE_WORDS_MAX = 2  # `_code_residue`: fewer than 3
_FAST_PASSES: dict[str, re.Pattern[str]] = {
    "```": _fast(
        "```",
        _no_prose_body("`", "`(?!``)", _CODE_WORDS_MAX, True),
        r"(?:```|\Z)",
        _BLOCK_REST["```"],
    ),
    "~~~": _fast(
        "~~~",
        _no_prose_body("~", "~(?!~~)", _CODE_WORDS_MAX, True),
        r"(?:~~~|\Z)",
        _BLOCK_REST["~~~"],
    ),
    "$$": _fast(
        "$$",
        _no_prose_body("$", r"\$(?!\$)", _MATH_WORDS_MAX, False),
        r"(?:\$\$|\Z)",
        _BLOCK_REST["$$"],
    ),
    # Inline spans are not empty: the lookahead keeps the fast alternative from matching `$$` or two backticks.
    "$": _fast("$", r"(?=[^$\n])" + _no_prose_body("$\n", "", _MATH_WORDS_MAX, False), r"\$", r"[^$\n]+\$"),
    "`": _fast("`", r"(?=[^`\n])" + _no_prose_body("`\n", "", _CODE_WORDS_MAX, True), "`", r"[^`\n]+`"),
}
# A pass: its trigger, its pattern, the residue of a span (None: a space) and what a span lacks of its match.
_Passes = tuple[tuple[str, re.Pattern[str], Callable[[str], str] | None, str], ...]
_REFERENCE_PASSES: _Passes = tuple(
    (trigger, pattern, residue, "") for trigger, pattern, residue in _REFERENCE_STRIP_PASSES
)
# The passes `strip_non_language` runs: the reference passes with the fast ones in their place. The last field is
# what a span lacks of its match: a fast pass's group starts after the opening delimiter.
_STRIP_PASSES: _Passes = tuple(
    (trigger, _FAST_PASSES[trigger], residue, trigger) if trigger in _FAST_PASSES else (trigger, pattern, residue, "")
    for trigger, pattern, residue in _REFERENCE_STRIP_PASSES
)


def _char_table() -> list[int | str]:
    """Sentence ends → line break; digits, formula characters, punctuation and symbols → space.

    A list indexed by code point over the whole BMP rather than a dict: `str.translate` raises and swallows a
    LookupError for every character a dict lacks, which made this step cost as much as a regex pass on Chinese
    text; a list hit is a plain index. Characters above the BMP (rare) take the slow path and stay as they are.
    """
    table: list[int | str] = list(range(0x10000))
    spans = {
        "ASCII punctuation, symbols and digits": "21-2F 30-39 3A-40 5B-60 7B-7E",
        "tabs and odd spaces": "09 0B-0C 85 A0",
        "Latin-1 punctuation, multiplication and division signs": "A1-BF D7 F7",
        "dashes, quotes, bullets, primes": "2010-205E",
        "super- and subscripts, currency, letterlike symbols (R, N), number forms": "2070-209F 20A0-20CF 2100-218F",
        "arrows, math operators, technical, enclosed, boxes, dingbats": "2190-23FF 2460-24FF 2500-27BF",
        "more math and arrows": "27C0-27FF 2900-2BFF",
        "CJK punctuation": "3000-3004 3008-3020 3030 303D-303F",
        "vertical and small forms": "FE10-FE1F FE30-FE4F FE50-FE6B",
        "fullwidth punctuation and digits": "FF01-FF20 FF3B-FF40 FF5B-FF65",
        "Arabic digits and punctuation": "0660-066D 06F0-06F9 060C 061B",
        "Devanagari, Bengali, Thai, Myanmar, Khmer digits": "0966-096F 09E6-09EF 0E50-0E59 1040-1049 17E0-17E9",
        "Greek question mark (a semicolon look-alike) and ano teleia": "037E 0387",
    }
    for ranges in spans.values():
        for span in ranges.split():
            lo, _, hi = span.partition("-")
            for code in range(int(lo, 16), int(hi or lo, 16) + 1):
                table[code] = 0x20
    # Apostrophes join words ("don't", "l'équation"); the typographic one becomes the plain one.
    table[ord("'")] = ord("'")
    table[0x2019] = ord("'")
    for ch in _BOUNDARY:
        table[ord(ch)] = 0x0A
    # Every other BMP character that is not a letter, a mark or white space separates words (`_NON_WORD_RE` for
    # the BMP, done here in the same C pass): zero-width spaces, the braille blank, symbols, other digits.
    for code in range(0x10000):
        if table[code] == code and code not in (0x0A, 0x27):
            if _folds_to_letters(chr(code)):
                # Compatibility letters (fullwidth Ａ, ﬁ, ㎞, ℕ, Ⓐ) become their plain letters (NFKC).
                table[code] = unicodedata.normalize(_NFKC, chr(code))
            elif not _word_char(chr(code)):
                table[code] = 0x20
    return table


def _word_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in "LM" or (category == "Zs" and ch == " ") or ch in "\t\n\r\x0b\x0c"


# Built once at import (about 2 MB) and never mutated.
_CHAR_TABLE: list[int | str] = _char_table()


# From this many characters on, a non-ASCII text is mapped through the table in numpy (`_translate`).
_ARRAY_TRANSLATE_MIN = 256


# In `_char_arrays`' table: the character folds to several characters (ﬁ → fi), which an array cannot say.
_SEVERAL = 0xFFFFFFFF


@functools.lru_cache(maxsize=1)
def _char_arrays() -> tuple[Any, Any]:
    """numpy and `_CHAR_TABLE` as an array of code points (`_SEVERAL` where the table gives several characters,
    the NFKC folds such as ﬁ → fi): built once, on first use, and never mutated. Raises ImportError without numpy."""
    import numpy as np

    lut = np.arange(0x10000, dtype=np.uint32)
    for code, value in enumerate(_CHAR_TABLE):
        if isinstance(value, int):
            lut[code] = value
        else:
            lut[code] = ord(value) if len(value) == 1 else _SEVERAL
    lut.flags.writeable = False
    return np, lut


def _translate(text: str) -> str:
    """`text.translate(_CHAR_TABLE)`, the same string. On a long non-ASCII text (Chinese above all) `str.translate`
    looks every character up through Python objects (about 25 ns each, half a millisecond on 20,000 characters);
    one array lookup of all the code points does it in a tenth of that. Characters above the BMP stay as they are,
    as they do in `str.translate` with this table; a text with a multi-character fold takes `str.translate`."""
    if len(text) < _ARRAY_TRANSLATE_MIN or text.isascii():
        return text.translate(_CHAR_TABLE)
    try:
        np, lut = _char_arrays()
    except ImportError:
        return text.translate(_CHAR_TABLE)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if codes.max() < 0x10000:
        mapped = lut.take(codes, mode="clip")
    else:
        mapped = np.where(codes < 0x10000, lut.take(codes & 0xFFFF), codes)
    if mapped.max() == _SEVERAL:
        return text.translate(_CHAR_TABLE)
    return mapped.tobytes().decode("utf-32-le", "surrogatepass")


def extract_cot(completion: str, think: tuple[str, str], prefilled: bool) -> tuple[str, str]:
    """The chain of thought and where it came from (`think_block` | `before_close_tag` | `whole_completion`).

    Every thought block counts: their bodies are joined with line breaks, so a second `<think>…</think>` in another
    language is scored with the first. With `prefilled` the completion starts inside the thought, so the first
    block is everything before the first closing tag. A completion with a closing tag but no opening one is read
    the same way (the template opened the thought). An unclosed thought (a truncated completion) runs to the end.
    """
    open_tag, close_tag = think
    end = completion.find(close_tag)
    if not prefilled:
        start = completion.find(open_tag)
        # A closing tag before any opening one means the template opened the first thought.
        if start >= 0 and not 0 <= end < start:
            body = start + len(open_tag)
            # The first closing tag after the body's start is the one found above (the text is not searched again)
            # unless that one overlaps the opening tag.
            return _join_blocks(completion, think, body, first_end=end if end < 0 or end >= body else None), (
                "think_block"
            )
    if end >= 0:
        head = completion[:end]
        # A model that re-opens the pre-filled tag: the thought starts after it.
        reopened = head.find(open_tag)
        first = head[reopened + len(open_tag) :] if reopened >= 0 else head
        return _join_blocks(completion, think, -1, first, end + len(close_tag)), "before_close_tag"
    if prefilled:
        return completion, "before_close_tag"
    return completion, "whole_completion"


def _join_blocks(
    completion: str,
    think: tuple[str, str],
    body_start: int,
    first: str = "",
    after: int = 0,
    first_end: int | None = None,
) -> str:
    """The bodies of the thought blocks from `body_start` on (or after `first`, ending at `after`), joined.
    `first_end`: where the first block's closing tag is (-1: none), when the caller has found it already.

    Each `find` starts where the previous one stopped, so the cost is linear in the completion.
    """
    open_tag, close_tag = think
    blocks = [first] if body_start < 0 else []
    while True:
        if body_start >= 0:
            end = completion.find(close_tag, body_start) if first_end is None else first_end
            first_end = None
            if end < 0:  # unclosed: runs to the end
                blocks.append(completion[body_start:])
                break
            blocks.append(completion[body_start:end])
            after = end + len(close_tag)
        start = completion.find(open_tag, after)
        if start < 0:
            break
        body_start = start + len(open_tag)
    return blocks[0] if len(blocks) == 1 else "\n".join(blocks)


def response_text(completion: str, think: tuple[str, str]) -> str:
    """The whole completion as one text to score: thought blocks, the text between them and the summary after the
    last closing tag, with the thought tags turned into line breaks (other tags are stripped like any tag)."""
    open_tag, close_tag = think
    return completion.replace(open_tag, "\n").replace(close_tag, "\n")


def _strip_pass(pattern: re.Pattern[str], residue: Callable[[str], str] | None, text: str, head: str = "") -> str:
    """`pattern.sub` with `residue` of each match (group 1 is the whole match but for its first characters `head`;
    None, from a fast pass's first alternative, is a span whose residue is a space), through one `split`: no match
    object and no call from C into Python per match, which is most of a pass's cost on a text full of `$…$`."""
    parts = pattern.split(text)
    if len(parts) == 1:
        return text
    step = pattern.groups + 1
    between = parts[0::step]
    if residue is None:
        return " ".join(between)
    joined: list[str] = [""] * (2 * len(between) - 1)
    joined[0::2] = between
    joined[1::2] = [" " if span is None else residue(head + span) for span in parts[1::step]]
    return "".join(joined)


def strip_non_language(text: str) -> str:
    """`text` without math, code, links, tags and LaTeX commands, with sentence ends turned into line breaks and
    digits, formula characters and punctuation into spaces (see the module docstring)."""
    return _strip(text, _STRIP_PASSES, _present_triggers(text))


def reference_strip_non_language(text: str) -> str:
    """What `strip_non_language` gives, with a residue call for every span (no fast pass) and every trigger looked
    for before its pass: the simple path the fast passes are tested against."""
    return _strip(text, _REFERENCE_PASSES, None)


# Looking for a trigger of several characters that is not there costs a scan of the whole text at about a
# nanosecond a character (str's search, when the trigger's last character is common: `(` in math, `{` in LaTeX),
# six of them a tenth of the step on a long thought; a single character is found or ruled out by memchr in a
# fraction of that, and a regex that starts with a literal skips to it as fast. A pass never brings a trigger in
# (every residue starts and ends with white space, which no trigger holds), so what is absent at the start stays
# absent and is never looked for again.
_BACKSLASH_TRIGGER_RE = re.compile(r"\\(?:\[|\(|begin\{)")
_SEARCHED_TRIGGERS = {trigger: re.compile(re.escape(trigger)) for trigger in ("://", "www.")}
_BACKSLASH_TRIGGERS = frozenset(("\\[", "\\(", "\\begin{"))


def _present_triggers(text: str) -> set[str]:
    """The triggers of the strip passes that are in `text` (see above)."""
    present = set()
    for trigger, _, _, _ in _STRIP_PASSES:
        if trigger in _BACKSLASH_TRIGGERS:
            continue
        searched = _SEARCHED_TRIGGERS.get(trigger)
        if searched is not None:
            if searched.search(text):
                present.add(trigger)
        elif trigger[0] in text and (len(trigger) == 1 or trigger in text):
            present.add(trigger)
    if "\\" in present:
        present.update(_BACKSLASH_TRIGGER_RE.findall(text))
    return present


def _strip(text: str, passes: _Passes, present: set[str] | None) -> str:
    ascii_text = text.isascii()
    # A character above the BMP takes two UTF-16 units: one C-level encode, far cheaper than `max(text)`.
    astral = not ascii_text and len(text.encode("utf-16-le", "surrogatepass")) > 2 * len(text)
    if astral:
        # Mathematical alphanumerics (𝐅𝐢𝐫𝐬𝐭) are their plain letters (the BMP's compatibility letters: the table).
        text = _ASTRAL_COMPAT_RE.sub(_fold, text)
    for trigger, pattern, residue, head in passes:
        # A trigger present at the start may be gone after an earlier pass: looked for again (it usually is found
        # at once, or was inside a stripped span).
        if (present is None or trigger in present) and trigger in text:
            text = _strip_pass(pattern, residue, text, head)
    text = _translate(text)
    # The table has done the BMP; only characters above it (emoji, mathematical letters NFKC left) need the regex.
    return _NON_WORD_RE.sub(" ", text) if astral else text


class Piece(NamedTuple):
    """A run of one script family inside one sentence (or several merged short ones).

    `langs` lists the only languages the run's script allows (None: any); see `_script_languages`. A named tuple
    rather than a frozen dataclass: as immutable, and built several times faster (a CoT has tens of pieces).
    """

    family: str
    text: str
    words: float
    langs: tuple[str, ...] | None = None
    # The language of a run whose words are pinyin or romanised Korean, which lid.176 has no class for; the
    # verifier uses it when fastText is unsure of the run (Portuguese "que recebe" has pinyin-shaped words too).
    romanised: str | None = None


# Languages of lid.176 written in scripts that only a few languages use. Telling fastText's answer to stay inside
# this set fixes its worst errors on short runs (a six-character Chinese clause labelled Portuguese).
_SCRIPT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "hangul": ("ko",),
    "greek": ("el",),
    "armenian": ("hy",),
    "ethiopic": ("am",),
    "georgian": ("ka", "xmf"),
    "hebrew": ("he", "yi"),
    "sea": ("th", "lo", "km", "my"),
}
_PURE_SEGMENT: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (family, re.compile(rf"[{letters}\s']+"))
    for family, letters in (("cjk", _CJK), ("latin", _LATIN), ("cyrillic", _CYRILLIC), ("arabic", _ARABIC))
)
_CJK_SEGMENT_RE = _PURE_SEGMENT[0][1]
_LATIN_PAIRS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (
        re.compile(rf"[{_LATIN}{letters}\s']+"),
        re.compile(rf"(?P<latin>{_run(_LATIN)})|(?P<{family}>{_run(letters)})"),
    )
    for family, letters in (("cjk", _CJK), ("cyrillic", _CYRILLIC), ("arabic", _ARABIC))
)
_KANA_RE = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_ZH_ONLY = ("zh",)


# Words that, alone or with one-letter variables, are formula residue ("sin x", "max") rather than prose.
_MATH_WORDS = frozenset(
    "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp lim sup inf max min arg mod gcd lcm "
    "det dim ker deg rank tr dx dy dz dt du dv ds dr".split()
)


def _is_symbolic(tokens: list[str]) -> bool:
    """A run of a spaced script that is a variable, a point name, an acronym or formula residue, not language."""
    if len(tokens) == 1:
        word = tokens[0]
        return len(word) <= 2 or (len(word) <= 5 and word.isupper()) or word.lower() in _MATH_WORDS
    # Short-circuits on the first real word, so prose pays almost nothing.
    return all(len(t) == 1 or t.lower() in _MATH_WORDS for t in tokens)


# Kana share of a Han+kana run from which it is Japanese without asking the model: Japanese prose is about a
# third to two thirds kana; a Chinese sentence with a kana sprinkled in (to pass as Japanese) is far below this.
_KANA_SHARE = 0.2


def _script_languages(family: str, text: str, text_has_kana: bool) -> tuple[str, ...] | None:
    if family == "cjk":
        # Chinese never uses kana, so in a text without any a Han-only run is Chinese even when fastText, on a few
        # characters, says ja. With kana, the proportion or the model decides, never the presence of one kana.
        if not text_has_kana:  # then no run has any: skip the search
            return _ZH_ONLY
        kana = len(_KANA_RE.findall(text))
        if kana and kana >= _KANA_SHARE * (len(text) - text.count(" ")):
            return ("ja",)
        return ("zh", "ja", "wuu", "yue")
    return _SCRIPT_LANGUAGES.get(family)


# Romanised Chinese (pinyin) and Korean (Revised Romanisation): lid.176 has no class for either and calls them
# English or something else Latin, so a thought written in them would pass as the target. A word is a sequence of
# syllables (tone digits are gone by now, tone marks folded below).
_PINYIN_SYLLABLE = (
    r"(?:[bpmfdtnlgkhjqxrzcsyw]|zh|ch|sh)?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|uai|uan|ian|iao|ai|ei|ao|ou|an|en|in|un|ui|iu|ie|ue|ve|ia|ua|uo|er|a|o|e|i|u|v)"
)
_ROMAJA_SYLLABLE = (
    r"(?:kk|tt|pp|ss|jj|ch|g|n|d|r|m|b|s|j|k|t|p|h)?"
    r"(?:yae|yeo|wae|ae|ya|eo|ye|wa|oe|yo|wo|we|wi|yu|eu|ui|a|e|o|u|i)(?:ng|k|n|t|l|m|p)?"
)
_PINYIN_WORD_RE = re.compile(rf"(?:{_PINYIN_SYLLABLE})+")
_ROMAJA_WORD_RE = re.compile(rf"(?:{_ROMAJA_SYLLABLE})+")
# Share of a run's words that must be romanised syllables (English has "he", "can", "long", but not 80 % of it).
_ROMANISED_SHARE = 0.8
_ROMANISED_MIN = 3  # words: fewer say too little
_MARKED_SHARE = 0.2
_NOT_ROMANISED_RE = re.compile(r"[bcdfjqsvwxz](?![a-z])|(?<!n)g(?![a-z])|th|y(?![a-z])")
_PINYIN_MARK_RE = re.compile(r"x|q|zh|uo|iao|ie|ou|ao|ui|iu|ng$")
_ROMAJA_MARK_RE = re.compile(r"eo|eu|ae|ui|yo|yu|kk|tt|pp|ss|jj")


def _romanised(tokens: list[str]) -> str | None:
    """`zh` for a run written in pinyin, `ko` for romanised Korean, else None."""
    n = len(tokens)
    if n < _ROMANISED_MIN:
        return None
    run = " ".join(tokens).lower()
    if "th" in run:  # neither romanisation writes it, and English nearly always does: the cheapest reject
        return None
    if not run.isascii():
        run = unicodedata.normalize("NFD", run).encode("ascii", "ignore").decode()
    words = run.split()
    allowed_misses = n - math.ceil(_ROMANISED_SHARE * n)
    # Neither romanisation ends a word in these letters or writes "th": most English or French runs fail here, in
    # one C-level scan, before any syllable match.
    if len(_NOT_ROMANISED_RE.findall(run)) > allowed_misses:
        return None
    for lang, pattern, marker in (("zh", _PINYIN_WORD_RE, _PINYIN_MARK_RE), ("ko", _ROMAJA_WORD_RE, _ROMAJA_MARK_RE)):
        # Syllable shapes alone also fit Malay or Swahili; the spellings only the romanisation uses must show.
        # Stops at the first misses too many, so English prose costs a few matches.
        misses = 0
        for w in words:
            if not pattern.fullmatch(w):
                misses += 1
                if misses > allowed_misses:
                    break
        else:
            if sum(1 for w in words if marker.search(w)) >= _MARKED_SHARE * n:
                return lang
    return None


def _segment_runs(segment: str) -> list[tuple[str, str]]:
    # A sentence in one script is the common case, and Latin mixed into one other script the next: each test below
    # stops at the first foreign character, so trying them is far cheaper than the full alternation of `_RUN_RE`,
    # whose cost grows with the number of families it tries at every run.
    if segment.isascii():
        return [("latin", segment)]
    for family, pure in _PURE_SEGMENT:
        if pure.fullmatch(segment):
            return [(family, segment)]
    for pure, runs in _LATIN_PAIRS:
        if pure.fullmatch(segment):
            return [(m.lastgroup or "other", m.group()) for m in runs.finditer(segment)]
    return [(m.lastgroup or "other", m.group()) for m in _RUN_RE.finditer(segment)]


# A lone capitalised word inside a sentence of another script is a name ("我用 Python 验证") only while names are
# a small part of the sentence: at most this many, each against at least `_NAME_CONTEXT` word units of the other
# script. "好的 First 的 We 的 Add" is English interleaved with filler, not three names.
_MAX_NAMES = 2
_SPELLED_MIN = 8
_ONE_LETTER_WORDS = frozenset("a A I à è é ò ù o e".split())
_SPELLED_GAP_RE = re.compile(r"(?<=\S) (?=\S)")
# A one-letter token that is not a word (split's notion of a token: `\s` is str.split's white space).
_LONE_LETTER_RE = re.compile(rf"(?<!\S)[^\s{''.join(sorted(_ONE_LETTER_WORDS))}](?!\S)")
_NAME_CONTEXT = 4.0


def _units(family: str, run: str) -> float:
    unspaced = _UNSPACED_FAMILIES.get(family)
    if unspaced is not None:
        # Punctuation and digits are spaces by now, so the letters are the non-spaces.
        return (len(run) - run.count(" ")) / unspaced[1]
    return float(len(run.split()))


def reference_pieces(text: str) -> list[Piece]:
    """What `pieces` gives, segment by segment in plain Python: the simple path the array path of `pieces` is
    tested against, and the one it takes for the segments it does not handle itself.

    Pieces are not merged: a short sentence is labelled on its own (the verifier's second opinion handles the
    short ones fastText is unsure of), so a short foreign sentence no longer takes its neighbour's label.
    """
    # Kana anywhere in the text changes how its Han runs are read (`_script_languages`); a text without a Han run
    # never asks. One scan here instead of one per run.
    has_kana = not text.isascii() and _KANA_RE.search(text) is not None
    out: list[Piece] = []
    for segment in text.split("\n"):
        _segment_pieces(segment, has_kana, out)
    return out


def _segment_pieces(segment: str, has_kana: bool, out: list[Piece]) -> None:
    """Append the pieces of one sentence (a segment between line breaks) to `out`."""
    if segment.isascii():
        if not segment or segment.isspace():
            return
        # One Latin run (the common sentence of a Latin-script thought): no script analysis.
        piece = _spaced_piece("latin", segment)
        if piece is not None:
            out.append(piece)
        return
    if segment.isspace():
        return
    if _CJK_SEGMENT_RE.fullmatch(segment):
        # One Han/kana run (the common sentence of a Chinese or Japanese thought), as below without the loop.
        words = (len(segment) - segment.count(" ")) / CJK_CHARS_PER_WORD
        if words > 0:
            run = segment.strip()
            langs = _ZH_ONLY if not has_kana else _script_languages("cjk", run, has_kana)
            out.append(Piece("cjk", run, words, langs, None))
        return
    runs = _segment_runs(segment)
    names: list[int] = []
    if len(runs) > 1:
        names = [i for i, (f, r) in enumerate(runs) if f not in _UNSPACED_FAMILIES and _is_name(r)]
        if names:
            context = sum(_units(f, r) for i, (f, r) in enumerate(runs) if i not in names)
            if len(names) > _MAX_NAMES or context < _NAME_CONTEXT * len(names):
                names = []
    for i, (family, run) in enumerate(runs):
        if i in names:
            continue
        unspaced = _UNSPACED_FAMILIES.get(family)
        if unspaced is None:
            piece = _spaced_piece(family, run)
            if piece is not None:
                out.append(piece)
            continue
        # Punctuation and digits are spaces by now, so the letters are the non-spaces.
        words = (len(run) - run.count(" ")) / unspaced[1]
        if words > 0:
            run = run.strip()
            langs = _ZH_ONLY if family == "cjk" and not has_kana else _script_languages(family, run, has_kana)
            out.append(Piece(family, run, words, langs, None))


def _spaced_piece(family: str, run: str) -> Piece | None:
    """The piece of a run of a script written with spaces, or None when it carries no language (see the module
    docstring: variables, formula words, acronyms; words spelled letter by letter are joined)."""
    tokens = run.split()
    if not tokens:
        return None
    if len(tokens) >= _SPELLED_MIN and "  " in run and all(len(t) == 1 for t in tokens):
        # Words spelled letter by letter ("F i r s t   w e   a d d"): letters one space apart are one word, wider
        # gaps separate words. Variables and point names are never spaced this way.
        tokens = _SPELLED_GAP_RE.sub("", run).split()
        run = " ".join(tokens)
    if family == "latin" and len(tokens) > 1:
        # One Latin letter next to words is a variable ("So x", "then y"), unless it is a word.
        if _LONE_LETTER_RE.search(run):
            tokens = [t for t in tokens if len(t) > 1 or t in _ONE_LETTER_WORDS]
        run = " ".join(tokens)
    if not tokens:
        return None
    first = tokens[0]
    # A run whose first word is a real word is not symbolic (`_is_symbolic` would stop there): no call.
    if (len(tokens) == 1 or len(first) == 1 or first.lower() in _MATH_WORDS) and _is_symbolic(tokens):
        return None
    romanised = None
    # Neither romanisation writes "th" (`_romanised`'s first test): most English runs stop here, without a call.
    if family == "latin" and len(tokens) >= _ROMANISED_MIN and "th" not in run.lower():
        romanised = _romanised(tokens)
    return Piece(family, run.strip(), float(len(tokens)), _SCRIPT_LANGUAGES.get(family), romanised)


def _is_name(run: str) -> bool:
    tokens = run.split()
    return len(tokens) == 1 and tokens[0][:1].isupper()


# --- pieces as arrays ----------------------------------------------------------------------------------------
# `reference_pieces` costs a few microseconds of Python per sentence, which is most of a long thought's cost. The
# array path below finds the same runs, words and rules for all the sentences of a text at once from one class per
# character, and builds the pieces in C-level loops; the sentences it does not handle (see `_array_pieces`) and the
# runs a rule needs the words of (`_spaced_piece`) take the Python path. The tests compare both paths.

# The families of `_RUN_RE` in its order; "other" is a word character of none of them.
_FAMILY_NAMES: tuple[str, ...] = (
    "latin",
    "cjk",
    "cyrillic",
    "greek",
    "armenian",
    "hebrew",
    "arabic",
    "indic",
    "georgian",
    "ethiopic",
    "hangul",
    "sea",
    "other",
)
_NFAM = len(_FAMILY_NAMES)
# Character classes: a letter (word character) of family f is _LETTER + f; a character of a family's set that is
# not a word character (a combining mark) is _LETTER + _NFAM + f; _ODD is anything a stripped text seldom holds
# (digits and punctuation an NFKC fold brought in, marks of no family, characters above the BMP).
_SPACE, _NEWLINE, _APOSTROPHE, _ODD, _LETTER = 0, 1, 2, 3, 4
_FAMILY_BODIES: dict[str, str] = {**_SPACED_FAMILIES, **{name: body for name, (body, _) in _UNSPACED_FAMILIES.items()}}
# Below this many sentences the Python path (a few microseconds each) costs less than the arrays' fixed cost
# (about 130 µs: a hundred numpy calls); measured equal near 100-150 on English, Chinese and mixed thoughts.
_ARRAY_PIECES_MIN_SENTENCES = 128
# `_is_symbolic` can only hold for a run whose words are one letter or formula words, none longer than this.
_MATH_WORD_MAX = max(map(len, _MATH_WORDS))


def _where(mask: Any) -> Any:
    """The positions where a 1-D `mask` holds: `np.flatnonzero` without its Python-level wrappers (about 1.5 µs of
    a call that the array path makes a few dozen times a text), as `a.searchsorted(v)` stands for
    `np.searchsorted(a, v)` there."""
    return mask.nonzero()[0]


def _set_ranges(body: str) -> list[tuple[int, int]]:
    """The (first, last) code points of a regex set body made of characters and `a-b` ranges."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            out.append((ord(body[i]), ord(body[i + 2])))
            i += 3
        else:
            out.append((ord(body[i]), ord(body[i])))
            i += 1
    return out


class _PieceTables(NamedTuple):
    np: Any
    classes: Any  # uint8 class of each BMP code point
    family: Any  # family of each class
    upper: Any  # bool: str.isupper() of the character
    one: Any  # bool: a one-letter word (`_ONE_LETTER_WORDS`)
    kana: Any  # bool: `_KANA_RE` matches
    divisor: Any  # float per family: characters per word unit, 0 for a script written with spaces
    langs: tuple[tuple[str, ...] | None, ...]  # `_SCRIPT_LANGUAGES` per family
    langs_no_kana: tuple[tuple[str, ...] | None, ...]  # the same, Chinese for CJK (a text without kana)


@functools.lru_cache(maxsize=1)
def _piece_tables() -> _PieceTables:
    """The character tables of the array path, built once on first use and never mutated. Raises ImportError
    without numpy."""
    import numpy as np

    chars = [chr(code) for code in range(0x10000)]
    word = np.fromiter((c.isalnum() or c == "_" for c in chars), dtype=bool, count=0x10000)
    classes = np.full(0x10000, _ODD, dtype=np.uint8)
    in_family = np.zeros(0x10000, dtype=bool)
    for f, name in enumerate(_FAMILY_NAMES[:-1]):
        for lo, hi in _set_ranges(_FAMILY_BODIES[name]):
            if lo > 0xFFFF:
                continue
            hi = min(hi, 0xFFFF)
            span = np.arange(lo, hi + 1)
            classes[span] = np.where(word[span], _LETTER + f, _LETTER + _NFAM + f)
            in_family[span] = True
    # `[^\W\d_...]`: a word character that is no digit, no underscore and of no family.
    digit = np.fromiter((c.isdecimal() for c in chars), dtype=bool, count=0x10000)
    other = word & ~digit & ~in_family
    other[ord("_")] = False
    classes[other] = _LETTER + _NFAM - 1
    classes[ord(" ")] = _SPACE
    classes[ord("\n")] = _NEWLINE
    classes[ord("'")] = _APOSTROPHE
    classes.flags.writeable = False
    # The family of each class (marks count for their family's set); _NFAM for a line break, and for the classes of
    # no run (spaces, apostrophes, _ODD), which never reach it.
    family = np.full(256, _NFAM, dtype=np.int64)
    for f in range(_NFAM):
        family[_LETTER + f] = family[_LETTER + _NFAM + f] = f
    upper = np.fromiter((c.isupper() for c in chars), dtype=bool, count=0x10000)
    one = np.zeros(0x10000, dtype=bool)
    one[[ord(w) for w in _ONE_LETTER_WORDS]] = True
    kana = np.fromiter((_KANA_RE.match(c) is not None for c in chars), dtype=bool, count=0x10000)
    divisor = np.zeros(_NFAM)
    for name, (_, per_word) in _UNSPACED_FAMILIES.items():
        divisor[_FAMILY_NAMES.index(name)] = per_word
    for table in (family, upper, one, kana, divisor):
        table.flags.writeable = False
    langs = tuple(_SCRIPT_LANGUAGES.get(name) for name in _FAMILY_NAMES)
    langs_no_kana = tuple(_ZH_ONLY if name == "cjk" else got for name, got in zip(_FAMILY_NAMES, langs, strict=True))
    return _PieceTables(np, classes, family, upper, one, kana, divisor, langs, langs_no_kana)


def pieces(text: str) -> list[Piece]:
    """Cut stripped text (sentence ends already line breaks) into weighted one-script pieces, one per run.

    Pieces are not merged: a short sentence is labelled on its own (the verifier's second opinion handles the
    short ones fastText is unsure of), so a short foreign sentence no longer takes its neighbour's label. The same
    pieces as `reference_pieces`, computed as arrays for a text of many sentences (`_array_pieces`).
    """
    if text.count("\n") < _ARRAY_PIECES_MIN_SENTENCES - 1:
        return reference_pieces(text)
    try:
        tables = _piece_tables()
    except ImportError:
        return reference_pieces(text)
    return _array_pieces(text, tables)


def _array_pieces(text: str, t: _PieceTables) -> list[Piece]:
    """`reference_pieces(text)`, with the sentences of one script, or of several scripts without marks, done as
    arrays. A sentence goes to the Python path (`_segment_pieces`) when it holds an `_ODD` character, a mark next to
    another script, an apostrophe outside its letters (where the Python path's runs and the array path's could
    start differently), or letters spelled one by one; a run a rule must read the words of (a one-word run, words no
    longer than formula words, a possible romanisation) is checked word by word in Python.

    Every step is a handful of whole-text array operations (each a few microseconds on 20,000 characters; no
    cumulative sums over characters, which cost ten times more), then per-run arrays."""
    np = t.np
    ascii_text = text.isascii()
    if ascii_text:
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    else:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if codes.max() > 0xFFFF:
            # Only sentences of the Python path hold these; the tables are indexed with the low bits.
            astral = codes > 0xFFFF
            codes = codes & 0xFFFF
        else:
            astral = None
    c = t.classes.take(codes)
    if not ascii_text and astral is not None:
        c[astral] = _ODD
    n = len(text)
    # Letters and line breaks in text order: a run is a stretch of letters of one family, so a line break (family
    # _NFAM, of no run) or a letter of another family ends it.
    pos = _where((c >= _LETTER) | (c == _NEWLINE))
    # `take` and `compress` rather than indexing with an array: the same elements, at a fraction of the cost on
    # arrays of the text's length (boolean indexing costs several times more when the mask alternates).
    cpos = c.take(pos)
    fam = t.family.take(cpos)
    newline = fam == _NFAM
    nl = pos.compress(newline)
    nseg = nl.size + 1
    fallback = np.zeros(nseg, dtype=bool)
    odd = c == _ODD
    if odd.any():
        fallback[nl.searchsorted(_where(odd))] = True
    if pos.size:
        brk = fam[1:] != fam[:-1]
        heads = _where(np.concatenate(([True], brk)))
        tails = _where(np.concatenate((brk, [True])))
        letter_runs = fam[heads] != _NFAM
        rs = pos[heads[letter_runs]]
        re_ = pos[tails[letter_runs]] + 1
        rfam = fam[heads[letter_runs]]
    else:
        rs = re_ = rfam = np.zeros(0, dtype=np.int64)
    rseg = nl.searchsorted(rs)
    seg_runs = np.bincount(rseg, minlength=nseg)
    marks = _where(cpos >= _LETTER + _NFAM)
    if marks.size:
        mark_seg = nl.searchsorted(pos[marks])
        fallback[mark_seg[seg_runs[mark_seg] > 1]] = True
    word = c >= _LETTER
    ap = _where(c == _APOSTROPHE)
    if ap.size:
        # An apostrophe inside a run is part of its word; one outside its sentence's letters sends the sentence to
        # the Python path (whose runs may start at it), one between runs of two scripts belongs to neither.
        if rs.size:
            run_of = rs.searchsorted(ap, side="right") - 1
            inside = (run_of >= 0) & (ap < re_[np.maximum(run_of, 0)])
            word[ap[inside]] = True
        aseg = nl.searchsorted(ap)
        seg_first = np.full(nseg, n)
        seg_last = np.full(nseg, -1)
        if rs.size:
            first_of = np.concatenate(([True], rseg[1:] != rseg[:-1]))
            last_of = np.concatenate((rseg[1:] != rseg[:-1], [True]))
            seg_first[rseg[first_of]] = rs[first_of]
            seg_last[rseg[last_of]] = re_[last_of] - 1
        fallback[aseg[(ap < seg_first[aseg]) | (ap > seg_last[aseg])]] = True
    if not rs.size:
        return _splice(text, t, codes, fallback, [], [])
    out, out_seg = _array_runs(text, t, codes, word, fallback, rs, re_, rfam, rseg, seg_runs)
    return _splice(text, t, codes, fallback, out, out_seg)


def _splice(text: str, t: _PieceTables, codes: Any, fallback: Any, out: list[Piece], out_seg: list[int]) -> list[Piece]:
    """`out` (the array path's pieces, of sentences `out_seg`) with the Python path's pieces of the `fallback`
    sentences spliced in, in text order."""
    if not fallback.any():
        return out
    has_kana = not text.isascii() and bool(t.kana.take(codes).any())
    segments = text.split("\n")
    merged: list[Piece] = []
    taken = 0
    for s in _where(fallback).tolist():
        upto = taken
        while upto < len(out) and out_seg[upto] < s:
            upto += 1
        merged.extend(out[taken:upto])
        taken = upto
        _segment_pieces(segments[s], has_kana, merged)
    merged.extend(out[taken:])
    return merged


def _array_runs(
    text: str,
    t: _PieceTables,
    codes: Any,
    word: Any,
    fallback: Any,
    rs: Any,
    re_: Any,
    rfam: Any,
    rseg: Any,
    seg_runs: Any,
) -> tuple[list[Piece], list[int]]:
    """The pieces of the runs [rs, re_) (family `rfam`, sentence `rseg`) outside the `fallback` sentences, and the
    sentence of each; marks in `fallback` the sentences of words spelled letter by letter. `word`: the characters
    of words (letters, apostrophes inside runs)."""
    np = t.np
    nrun = rs.size
    # Words (`run.split()`): maximal stretches of word characters, also cut where one run touches the next.
    edges = _where(np.concatenate(([False], word)) != np.concatenate((word, [False])))
    tok_s = edges[0::2]
    tok_e = edges[1::2]
    touching = re_[:-1] == rs[1:]
    if touching.any():
        cut = rs[1:][touching]
        tok_s = np.sort(np.concatenate((tok_s, cut)))
        tok_e = np.sort(np.concatenate((tok_e, cut)))
    tok_len = tok_e - tok_s
    tok_run = rs.searchsorted(tok_s, side="right") - 1
    ntok = np.bincount(tok_run, minlength=nrun)
    first_tok = np.concatenate(([0], np.cumsum(ntok)[:-1]))
    max_len = np.maximum.reduceat(tok_len, first_tok)
    spaced = t.divisor.take(rfam) == 0
    latin = rfam == 0
    fallback[rseg[spaced & (ntok >= _SPELLED_MIN) & (max_len == 1)]] = True
    span = re_ - rs
    # Inside a run, what is not a word is a space.
    spaces = span - np.add.reduceat(tok_len, first_tok)
    # A Latin run of several words loses its lone letters ("So x" is "So"), and its words are joined by one space.
    lone = (latin & (ntok > 1))[tok_run] & (tok_len == 1) & ~t.one.take(codes[tok_s])
    kept = _where(~lone)
    kept_run = tok_run[kept]
    runs = np.arange(nrun)
    first_kept = kept_run.searchsorted(runs)
    last_kept = kept_run.searchsorted(runs, side="right") - 1
    nkept = last_kept - first_kept + 1
    words_spaced = np.where(latin, nkept, ntok)
    first_len = tok_len[kept[np.minimum(first_kept, kept.size - 1)]] if kept.size else np.zeros(nrun, dtype=np.int64)
    max_kept = np.maximum.reduceat(np.where(lone, 0, tok_len), first_tok)
    divisor = np.where(spaced, 1.0, t.divisor.take(rfam))
    words = np.where(spaced, words_spaced, (span - spaces) / divisor)
    keep = ~fallback[rseg] & (words > 0)
    # `_is_symbolic`: one word of at most two letters is never language; a run of one longer word, or of words no
    # longer than formula words, is read word by word below.
    keep &= ~(spaced & (words_spaced == 1) & (first_len <= 2))
    symbolic = spaced & (((words_spaced == 1) & (first_len > 2)) | ((words_spaced > 1) & (max_kept <= _MATH_WORD_MAX)))
    # Neither romanisation writes "th" (`_romanised`): only Latin runs of three words or more without it are read.
    romanisable = latin & (words_spaced >= _ROMANISED_MIN)
    if romanisable.any():
        low = codes | 0x20
        th = _where((low[:-1] == ord("t")) & (low[1:] == ord("h")))
        th_run = rs.searchsorted(th, side="right") - 1
        th_run = th_run[(th_run >= 0) & (th + 1 < re_[np.maximum(th_run, 0)])]
        romanisable[th_run] = False
    # A lone capitalised word among runs of another script is a name (see `_segment_pieces`).
    name = (seg_runs[rseg] > 1) & spaced & (ntok == 1) & t.upper.take(codes[rs])
    if name.any():
        units = np.where(spaced, ntok, words)
        names = np.bincount(rseg[name], minlength=fallback.size)
        # Summed in run order, as `_segment_pieces` does, so the same floats compare the same way.
        context = np.bincount(rseg[~name], weights=units[~name], minlength=fallback.size)
        dropped = (names > 0) & (names <= _MAX_NAMES) & ~(context < _NAME_CONTEXT * names)
        keep &= ~(name & dropped[rseg])
    idx = _where(keep)
    fam_list = rfam[idx].tolist()
    start = rs[idx]
    end = re_[idx]
    source = text
    latin_kept = _where(latin[idx])
    if latin_kept.size:
        # A Latin text is its kept words joined by one space: it is cut from a copy of the text with lone letters
        # blanked and every stretch of non-words shortened to one space, placed after the text itself, so that
        # one C-level loop cuts every piece's text from one string.
        words_only = word.copy()
        words_only[tok_s[lone]] = False
        keep_char = words_only.copy()
        keep_char[1:] |= words_only[:-1]
        joined = codes.compress(keep_char)
        np.putmask(joined, ~words_only.compress(keep_char), 32)
        removed = _where(~keep_char)
        run = idx[latin_kept]
        first_at = tok_s[kept[first_kept[run]]]
        last_at = tok_e[kept[last_kept[run]]]
        start = start.copy()
        end = end.copy()
        start[latin_kept] = first_at - removed.searchsorted(first_at) + len(text)
        end[latin_kept] = last_at - removed.searchsorted(last_at) + len(text)
        source = text + joined.tobytes().decode("ascii" if joined.dtype == np.uint8 else "utf-32-le", "surrogatepass")
    # A comprehension slices faster than `map` over slice objects (half the time for hundreds of pieces).
    texts = [source[a:b] for a, b in zip(start.tolist(), end.tolist(), strict=True)]
    cjk = _where(rfam[idx] == 1)
    kana_at = _where(t.kana.take(codes)) if cjk.size else None
    if kana_at is None or not kana_at.size:
        # Without kana a Han run is Chinese: the table says so for every run at once (no loop over them).
        langs = list(map(t.langs_no_kana.__getitem__, fam_list))
    else:
        langs = list(map(t.langs.__getitem__, fam_list))
        run = idx[cjk]
        kana = kana_at.searchsorted(re_[run]) - kana_at.searchsorted(rs[run])
        ja = (kana > 0) & (kana >= _KANA_SHARE * (span[run] - spaces[run]))
        for i, is_ja in zip(cjk.tolist(), ja.tolist(), strict=True):
            langs[i] = ("ja",) if is_ja else ("zh", "ja", "wuu", "yue")
    out: list[Piece | None] = list(
        map(
            tuple.__new__,
            repeat(Piece),
            zip(map(_FAMILY_NAMES.__getitem__, fam_list), texts, words[idx].tolist(), langs, repeat(None)),
        )
    )
    out_seg = rseg[idx].tolist()
    dropped_any = False
    for i in _where(symbolic[idx]).tolist():
        tokens = texts[i].split()
        if (len(tokens) == 1 or len(tokens[0]) == 1 or tokens[0].lower() in _MATH_WORDS) and _is_symbolic(tokens):
            out[i] = None
            dropped_any = True
    for i in _where(romanisable[idx]).tolist():
        piece = out[i]
        if piece is not None:
            romanised = _romanised(piece.text.split())
            if romanised is not None:
                out[i] = piece._replace(romanised=romanised)
    if dropped_any:
        out_seg = [s for s, p in zip(out_seg, out, strict=True) if p is not None]
        return [p for p in out if p is not None], out_seg
    return out, out_seg  # type: ignore[return-value]


def language_pieces(text: str) -> list[Piece]:
    """`pieces(strip_non_language(text))`."""
    return pieces(strip_non_language(text))
