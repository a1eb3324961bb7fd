"""Repair of answer and reference strings damaged by escaping or scraping, before they are parsed.

Datasets written through a JSON or Python string layer lose the backslash of `\\frac`, `\\times`, `\\text`,
`\\neq`, ... to an escape (`\\f` is a form feed, `\\t` a tab, `\\n` a newline); scraped pages leave HTML
(`3<sup>x</sup>`), full-width punctuation (`＞`, `，`) and circled choice numbers (`②③`). Each repair only
applies where the damaged form cannot be meant as it stands (a form feed inside an answer means nothing), so a
clean string comes out unchanged. Every regex here is linear (no nested quantifiers): these run on answers.
"""

from __future__ import annotations

import re

# A control character that an escape made of a backslash and a letter, followed by the rest of a command name.
_ESCAPES = {"\x07": "a", "\x08": "b", "\x09": "t", "\x0b": "v", "\x0c": "f", "\x0d": "r"}
_ESCAPED_CMD_RE = re.compile(r"([\x07\x08\x09\x0b\x0c\x0d])([A-Za-z]+)")
# Command names that can lose their first letter to an escape; a tab before "ext{" is `\text`, before "he" is
# not a command, so it stays a tab.
_KNOWN = frozenset(
    """alpha approx angle ast beta bigl bigr big binom boxed bar bf bmatrix breve tfrac frac fbox forall times text
    textbf textrm textit theta tan tanh tau to top tilde tfrac vec varphi vartheta varepsilon vee vert right
    rightarrow rho rangle rbrace rbrack rfloor rceil rvert rm""".split()
)
# `\neq` whose `\n` became a newline: a newline directly followed by "eq" and no other letter.
_NEWLINE_NEQ_RE = re.compile(r"\n(eq)(?![A-Za-z])")
# `^\circ` split by a line break or a stray backslash-newline: `30^\<newline>circ`.
_BROKEN_CIRC_RE = re.compile(r"\^\s*(\{?)\s*\\?\s*\n\s*\\?circ")
_HTML_SUP_RE = re.compile(r"<sup>([^<]{0,200})</sup>", re.IGNORECASE)
_HTML_SUB_RE = re.compile(r"<sub>([^<]{0,200})</sub>", re.IGNORECASE)
_HTML_TAG_RE = re.compile(r"</?(?:b|i|em|strong|span|p|br|div|font|u)(?:\s[^<>]{0,100})?/?>", re.IGNORECASE)
_HTML_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&nbsp;": " ", "&minus;": "-", "&times;": "\\times "}
_CIRCLED_RUN_RE = re.compile(r"[\u2460-\u2473]{2,}")
# LaTeX's circled choice numbers, `\textcircled{2}\textcircled{3}`: the run lists the choices 2, 3.
_TEXTCIRCLED_RE = re.compile(r"\\textcircled\s*\{\s*(\d{1,2})\s*\}")
_TEXTCIRCLED_RUN_RE = re.compile(r"(?:\\textcircled\s*\{\s*\d{1,2}\s*\}\s*)+")
_DOUBLED_CMD_RE = re.compile(r"\\\\(?=[A-Za-z{}])")
_SINGLE_CMD_RE = re.compile(r"(?<!\\)\\[A-Za-z]")


def _escaped(m: re.Match[str]) -> str:
    letter, rest = _ESCAPES[m.group(1)], m.group(2)
    word = letter + rest
    # the command may be followed by letters of its own (`\x09imesx` is `\times x`): accept a known prefix
    for k in range(len(word), 1, -1):
        if word[:k] in _KNOWN:
            return "\\" + word
    return m.group(0)


# Full-width ASCII (U+FF01-FF5E) to ASCII, the ideographic space to a space, circled numbers (①-⑳) to their
# numbers; nothing else is touched (NFKC would also turn `x²` into `x2`). str.translate: linear, in C.
# A full-width comma separates list items (Chinese cloze answers `40，150`), never thousands: it keeps a space.
_TABLE = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: " ", 0xFF0C: ", "}
_TABLE |= {0x2460 + k: str(k + 1) for k in range(20)}


def _unicode(s: str) -> str:
    """Full-width and circled characters to ASCII; a run of circled numbers (`②③`) lists several choices."""
    s = _CIRCLED_RUN_RE.sub(lambda m: ", ".join(m.group()), s)
    return s.translate(_TABLE)


def repair(s: str) -> str:
    """`s` with escape, scraping and encoding damage undone (unchanged when there is none)."""
    if not s.isascii():
        s = _unicode(s)
    if any(c in s for c in _ESCAPES):
        s = _ESCAPED_CMD_RE.sub(_escaped, s)
    if "textcircled" in s:
        s = _TEXTCIRCLED_RUN_RE.sub(lambda m: ", ".join(_TEXTCIRCLED_RE.findall(m.group())), s)
    if "\n" in s:
        s = _NEWLINE_NEQ_RE.sub(r"\\neq", s)
        s = _BROKEN_CIRC_RE.sub(r"^\1\\circ", s)
    if "<" in s and ">" in s:
        s = _HTML_SUP_RE.sub(r"^{\1}", s)
        s = _HTML_SUB_RE.sub(r"_{\1}", s)
        s = _HTML_TAG_RE.sub(" ", s)
    if "&" in s and ";" in s:
        for k, v in _HTML_ENTITIES.items():
            s = s.replace(k, v)
    # Every command written with two backslashes (`\\frac{1}{2}`) and none with one: the string was escaped
    # twice. A single `\\` among normal commands is a row break and stays.
    if "\\\\" in s and _SINGLE_CMD_RE.search(s) is None and _DOUBLED_CMD_RE.search(s) is not None:
        s = s.replace("\\\\", "\\")
    return s
