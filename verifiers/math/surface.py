"""Surface rewrites of an answer string before it is tokenized: ways of writing a value that the grammar does
not need to know about.

- ordinals: `7^{\\text{th}}`, `7\\text{th}`, `7th` are 7;
- percent words: `28 percent`, `28 pct`, `28\\text{ percent}` are `28\\%`;
- thousands separated by spaces or `,\\!`: `12 345`, `12,\\!345` (the whole answer only: `1 2` stays two numbers);
- a point named by a capital letter, `Q(2, -2)`, is the assignment `Q = (2, -2)`;
- an integer parameter's declaration after a family of solutions (`k\\pi, k \\in \\mathbb{Z}`) is dropped;
- a repeating decimal, `0.\\overline{3}`, `1.2\\overline{36}`, `0.\\dot{6}`, is the fraction it stands for;
- labels with a colon at the start of an item: `Max: 10, Min: 2` is read as the assignments `max = 10, min = 2`
  (the label is kept, so `Max: 2, Min: 10` is still not `Max: 10, Min: 2`).

All regexes are linear and anchored; an answer without any of these forms comes back unchanged.
"""

from __future__ import annotations

import re

LABEL_CMD = "ahalabel"  # `\ahalabel{max}`: an item label, parsed as a symbol named after it

_ORDINAL_RE = re.compile(
    r"(\d)\s*(?:\^\s*\{?\s*(?:\\text(?:rm)?\{\s*)?(?:st|nd|rd|th)\s*\}?\s*\}?|\\text(?:rm)?\{\s*(?:st|nd|rd|th)\s*\}|"
    r"(?:st|nd|rd|th)(?![A-Za-z]))"
)
_PERCENT_WORD_RE = re.compile(r"(\d)\s*(?:\\text(?:rm)?\{\s*)?(?:percent|per\s?cent|pct)\.?(?:\s*\})?(?![A-Za-z])")
_SPACE_THOUSANDS_RE = re.compile(r"-?\d{1,3}(?:(?: |,\\!|\\!,)\d{3})+(?:\.\d+)?")
# A label: one or more words and a colon, at the start or after a top-level comma or semicolon; in `\text{}` or
# bare. Never a colon between numbers (`10:3` is a ratio).
# A single letter is a label only with a space after its colon (`x: 3`; `x:y` is a ratio of names, left alone).
_LABEL_RE = re.compile(
    r"(^|[,;](?:\s|\\[ ,;:!]|\\quad|~)*)"
    r"(?:\\text(?:bf|rm)?\{\s*([A-Za-z][A-Za-z ]{0,24}?)\s*:\s*\}|([A-Za-z][A-Za-z ]{1,24}?)\s*:"
    r"|([A-Za-z])\s*:(?=\s))(?!=)"
)


# The integer parameter of a family of solutions declared after it: `, k \\in \\mathbb{Z}`, `(n \\in \\mathbf{Z})`,
# `, \\text{ } m \\text{ any integer}`, `, any integer $n$`, `\\text{where } k \\text{ is an integer}`.
_SPACING = r"(?:\\quad|\\qquad|\\[,;: ]|~|\s)*"
_INT_DECL_RE = re.compile(
    rf"[,;]?{_SPACING}\(?{_SPACING}(?:\\text\{{\s*(?:where|for|with)?\s*\}}|(?:where|for|with)\b)?{_SPACING}"
    rf"\$?([kmnj])\$?{_SPACING}(?:\\in{_SPACING}(?:\\mathbb|\\mathbf|\\Bbb)\s*\{{?\s*Z\s*\}}?"
    rf"|(?:\\text\{{\s*)?(?:is\s+)?(?:any|an|all|some)\s+integers?\s*\}}?)\s*\)?\s*\.?\s*$"
    rf"|[,;]?{_SPACING}(?:\\text\{{\s*)?(?:for\s+)?(?:any|all|every|some)\s+integers?\s*\}}?{_SPACING}"
    rf"\$?\s*([kmnj])\s*\$?\s*\.?\s*$"
)


def _without_integer_declaration(s: str) -> str:
    m = _INT_DECL_RE.search(s)
    if m is None:
        return s
    head, name = s[: m.start()], m.group(1) or m.group(2)
    # only a declaration of a parameter the rest uses (`k\\pi, k \\in \\mathbb{Z}`), never the whole answer
    return head if re.search(rf"(?<![A-Za-z\\]){name}(?![A-Za-z])", head) else s


# A point named by a capital letter, `Q(2, -2)` (at the start of an item): the assignment `Q = (2, -2)`.
_POINT_RE = re.compile(r"(^|[,;](?:\s|\\[ ,;:!]|\\quad|~)*)([A-Z])\s*(\([^(),]+(?:,[^(),]+)+\))")


# Digits before the point, digits after it that do not repeat, and the repeating block (`\\dot` for one digit).
_REPEATING_RE = re.compile(
    r"(?<![\d.])(\d*)\.(\d*)\s*\\(?:overline|bar|dot)\s*(?:\{\s*(\d{1,30})\s*\}|(\d))(?![\d.])"
)


def _repeating(m: re.Match[str]) -> str:
    whole, fixed, block = m.group(1) or "0", m.group(2), m.group(3) or m.group(4)
    # x = whole.fixed(block)(block)...: (whole.fixed block - whole.fixed) / (10^len(fixed) * (10^len(block) - 1))
    denominator = 10 ** len(fixed) * (10 ** len(block) - 1)
    numerator = int(whole + fixed + block) - int(whole + fixed)
    return f"\\frac{{{numerator}}}{{{denominator}}}"


def _label(m: re.Match[str]) -> str:
    if m.group(4):
        return f"{m.group(1)}{m.group(4)}="  # `x: 3` is `x = 3`
    name = (m.group(2) or m.group(3) or "").lower().replace(" ", "")
    if len(name) == 1:
        return f"{m.group(1)}{name}="
    return f"{m.group(1)}\\{LABEL_CMD}{{{name}}}="


def rewrite(s: str) -> str:
    """`s` with ordinals, percent words, space-separated thousands, repeating decimals and item labels rewritten
    (see the module)."""
    if _SPACE_THOUSANDS_RE.fullmatch(s):
        return s.replace(" ", "").replace(",\\!", "").replace("\\!,", "")
    if "th" in s or "st" in s or "nd" in s or "rd" in s:
        s = _ORDINAL_RE.sub(r"\1", s)
    if "p" in s:
        s = _PERCENT_WORD_RE.sub(r"\1\\%", s)
    if ":" in s:
        s = _LABEL_RE.sub(_label, s)
    if "(" in s:
        s = _POINT_RE.sub(r"\1\2 = \3", s)
    if "." in s and "\\" in s:
        s = _REPEATING_RE.sub(_repeating, s)
    if "integer" in s or "Z" in s:
        s = _without_integer_declaration(s)
    return s
