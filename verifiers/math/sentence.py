"""The value stated by an answer written as a sentence: `The smallest $k$ is 12.`, `\\text{the 7th day}`,
`\\text{only } y = 2`, `5 \\text{ apples and } 7 \\text{ pears}`.

The rule is deliberately narrow, because a sentence can say more than its number: exactly one piece of math with
a digit in it (or several joined only by "and" or commas, which form a list), the other pieces at most a single
letter naming a variable (`$k$`), and no word that changes or hedges the value (`not`, `or`, `at least`,
`about`, `twice`, number words, ...). It is tried only when the answer as written is not equivalent, and it
never matches a short word answer inside a sentence (`Bob` against `Bob wins the game.`): no substring matching.
"""

from __future__ import annotations

import re

_WRAPPER_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mbox|emph)\s*\{([^{}]{0,300})\}")
_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}(?![A-Za-z])")
# Two-letter words that are words (not a product `ab` of two variables).
_SHORT_WORDS = frozenset("is it of in on we so be an as by am my me he us".split())
# Words that change, bound, hedge or repeat the value: a sentence with one of them states no single value.
BLOCKING_WORDS = frozenset(
    """not no never none nothing except or nor neither either least most less more than between fewer greater
    smaller larger bigger under over above below approximately approx about around nearly almost roughly maybe
    perhaps possibly probably likely unless without minus plus times divided half twice double triple quarter
    third thirds per zero one two three four five six seven eight nine ten eleven twelve hundred thousand
    million billion if when otherwise else other another wrong incorrect false instead to from until up within
    but all any every some multiple infinitely many root square cube power squared cubed factorial log inverse
    reciprocal negative positive opposite absolute modulo mod percent ratio sum product difference quotient
    first last next previous before after range interval doesn don isn aren wasn weren cannot can won fails fail
    failed impossible invalid undefined exist exists nonexistent unknown could would should might guess check
    except whereas while though although unless circa seems seem appears bound bounds lower upper excluding
    excluded exclude untrue estimate estimated unsure unclear thirteen fourteen fifteen sixteen seventeen
    eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety""".split()
)
_PUNCT = " \t\n.,;:!?=*()"
_SINGLE_NAME_RE = re.compile(r"[A-Za-z](?:_\{?\w+\}?)?")
_LIST_JOINERS = frozenset(("and",))


def sentence_value(answer: str) -> str | None:
    """The math the sentence states, as a string to parse (`12`, `y = 2`, `5, 7`), or None when it is not a
    sentence stating one value (see the module docstring)."""
    if len(answer) > 300:
        return None
    flat = _WRAPPER_RE.sub(r" \1 ", answer).replace("$", " ").replace("\\(", " ").replace("\\)", " ")
    every = list(_WORD_RE.finditer(flat))
    if any(m.group().lower() in BLOCKING_WORDS for m in every):  # two-letter ones too: `12 or 13`, `no`
        return None
    words = [m for m in every if len(m.group()) > 2 or m.group().lower() in _SHORT_WORDS]
    if not words:
        return None
    pieces: list[tuple[str, str]] = []  # (math piece, the word after it)
    start = 0
    for m in words:
        pieces.append((flat[start : m.start()], m.group().lower()))
        start = m.end()
    pieces.append((flat[start:], ""))
    values: list[str] = []
    joined: list[bool] = []  # whether "and" or a comma came between this value and the previous one
    gap = named = False
    for text, word_after in pieces:
        piece = text.strip(_PUNCT)
        if "," in text.replace(piece, "", 1) if piece else "," in text:
            gap = True
        if piece and any(c.isdigit() for c in piece):
            values.append(piece)
            joined.append(gap)
            gap = False
        elif piece and not _SINGLE_NAME_RE.fullmatch(piece):
            return None  # math without a digit, other than a variable's name: more than one statement
        elif piece:
            named = True
        if word_after in _LIST_JOINERS:
            gap = True
    if len(values) == 1:
        return values[0]
    # `5 apples and 7 pears`: values joined by "and" or commas form a list
    if len(values) > 1 and not named and all(joined[1:]) and not any("," in v or "=" in v for v in values):
        return ", ".join(values)
    return None
