"""Finding the final answer in a completion, and cleaning answer and reference strings.

Every function here is linear in the input (str.find/rfind, bounded forward scans, regexes without nested
quantifiers run on a bounded tail), because the engine calls `cache_key` -> `extract_answer` in its event loop
on completions of up to a megabyte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from verifiers.math.repair import repair
from verifiers.math.sentence import BLOCKING_WORDS
from verifiers.tags import ANSWER_TAGS, THINK_TAGS

TAIL_CHARS = 4000  # the non-boxed patterns ("the answer is ...", bold) are searched in this tail only
SHORT_REGION_CHARS = 100  # an answer block this short is taken whole when nothing else marks the answer
MAX_BOXES = 10
MAX_ANSWER_CHARS = 2000
TOO_LONG = "too_long"  # the source of an answer over MAX_ANSWER_CHARS: never judged by a prefix

_BOX_CMDS = ("\\boxed", "\\fbox")
_BOX_SEP_RE = re.compile(
    r"[\s,;$.]*(?:(?:and|or|&)|\\text\{\s*(?:and|or|,)?\s*\}|\\q?quad|\\,|\\;|\\\)|\\\()?[\s,;$.]*"
)
# No two adjacent unbounded quantifiers over the same characters: these run on untrusted text.
_FINAL_RE = re.compile(r"(?:final answer|the answer|answer)(?:\s{1,3}(?:is|would be|should be))?[\s:=]*", re.IGNORECASE)
_FINAL_STRICT_RE = re.compile(r"(?:final answer|answer)\s*(?::|is)|answer\s+(?:would|should)\s+be", re.IGNORECASE)
_BOLD_RE = re.compile(r"\*\*([^*\n]{1,200})\*\*")
_MATH_SPAN_RE = re.compile(r"\$\$([^$]{1,1000})\$\$|\$([^$]{1,1000})\$|\\\((.{1,1000}?)\\\)|\\\[(.{1,1000}?)\\\]", re.S)
_NUMBER_THEN_WORDS_RE = re.compile(r"([-+]?\\?\$?\d[\d,]*(?:\.\d+)?%?)\s+[A-Za-z][A-Za-z\s\-']*")
# Trailing words that join alternatives ("3 or four", "3 or maybe four") are a hedge, not a unit.
_JOINER_RE = re.compile(r"\b(?:or|and)\b", re.IGNORECASE)
_MC_RE = re.compile(r"\(?\s*([A-Ea-e])\s*\)?(?:$|[\s.:)]|\\)")
_MC_TAIL_RE = re.compile(
    r"(?:answer|option|choice)[ \t]{0,3}(?:is|:)?[ \t]{0,3}(?:\\text\{|\\textbf\{|\*\*|\$){0,3}[ \t]{0,3}"
    r"\(?([A-E])\)?(?![A-Za-z])",
    re.IGNORECASE,
)
# Another choice letter as a separate token after the first one ("C or D", "(C) (D)", "C. D."): a hedge.
_MC_OTHER_RE = re.compile(r"(?<![A-Za-z\\])([A-Ea-e])(?![A-Za-z])")
_ARTICLE_RE = re.compile(r"[ \t]+[a-z]")
_MC_REF_RE = re.compile(r"\(?([A-E])\)?")
_MC_REF_VALUE_RE = re.compile(r"\\text(?:bf|rm)?\{\s*\(([A-E])\)\s*\}|\(([A-E])\)\s")
_LOOKS_MATH_RE = re.compile(r"[\d$\\^=]")
# Runs of whitespace and spacing commands (a `\\\\` row break is matched first so it is kept as it is).
_SPACING_RUN_RE = re.compile(r"\\\\|(?:\s|~|\\[,;:!> ]|\\q?quad(?![A-Za-z]))+")
_WRAPPERS = ("\\text{", "\\textbf{", "\\mathrm{", "\\mathbf{", "\\textrm{", "\\mbox{")


@dataclass(frozen=True, slots=True)
class Extracted:
    """The answer string found in a completion and where it came from (boxed, final, bold, block, ...)."""

    text: str
    source: str


_THINK_VARIANT_OPEN_RE = re.compile(r"<\s*think(?:ing)?\s*>", re.IGNORECASE)
_THINK_VARIANT_CLOSE_RE = re.compile(r"<\s*/\s*think(?:ing)?\s*>", re.IGNORECASE)


def answer_region(
    completion: str, think: tuple[str, str] = THINK_TAGS, prefilled: bool = False, answer: tuple[str, str] = ANSWER_TAGS
) -> str | None:
    """The part of the completion that may hold the answer, or None when the thought is never closed.

    With a thought (a `</think>`, or a `<think>`, or a prompt that pre-filled the opening tag), only the text after
    the last `</think>` counts, cut where a new `<think>` is opened; in it, the last `<answer>` block if there is
    one. Without a thought, the last `<answer>` block, else everything. An `<answer>` block inside the thought is
    never the final answer, and an unclosed thought (a truncated completion) has no answer.
    """
    t_open, t_close = think
    t = completion.rfind(t_close)
    if t == -1 and think == THINK_TAGS and "<" in completion:
        # `<THINK>…</THINK>`, `<thinking>…</thinking>`, `<think >`: a thought all the same, never the answer
        closes = list(_THINK_VARIANT_CLOSE_RE.finditer(completion))
        if closes:
            return answer_region(completion[closes[-1].end() :], think, False, answer)
        if _THINK_VARIANT_OPEN_RE.search(completion):
            return None
    if t != -1:
        region = completion[t + len(t_close) :]
        reopened = region.find(t_open)
        if reopened != -1:
            region = region[:reopened]
    elif prefilled or completion.find(t_open) != -1:
        return None
    else:
        region = completion
    a_open, a_close = answer
    a = region.rfind(a_open)
    if a != -1:
        end = region.find(a_close, a)
        return region[a + len(a_open) : end if end != -1 else len(region)]
    return region


def _scan_braced(s: str, i: int, limit: int) -> int:
    """Index just past the `}` matching the `{` at s[i], or -1 if it does not close before `limit`."""
    depth = 0
    j = i
    while j < limit:
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return -1


def _box_at(s: str, start: int, limit: int) -> tuple[str, int] | None:
    """Parse the box command at s[start]; return (content, end) or None if it is unbalanced."""
    cmd = "\\boxed" if s.startswith("\\boxed", start) else "\\fbox"
    i = start + len(cmd)
    while i < limit and s[i] == " ":
        i += 1
    if i < limit and s[i] == "{":
        end = _scan_braced(s, i, limit)
        if end == -1:
            return None
        return s[i + 1 : end - 1], end
    if i > start + len(cmd) and i < limit:
        # `\boxed 5`: the argument runs to the next space or `$`.
        j = i
        while j < limit and not s[j].isspace() and s[j] != "$":
            j += 1
        return s[i:j], j
    return None


def _rfind_box(s: str, end: int) -> int:
    return max(s.rfind(cmd, 0, end) for cmd in _BOX_CMDS)


# Words between two boxes that take the first one back: the last box is the answer.
_CORRECTION_RE = re.compile(
    r"\b(?:wrong|actually|no|not|instead|correct(?:ion|ed)?|oops|wait|then|so|hence|thus|therefore|rather|sorry|"
    r"mistake|fix(?:ed)?|redo|recheck|check(?:ing)?|final(?:ly)?)\b",
    re.IGNORECASE,
)
_AND_RE = re.compile(r"\band\b", re.IGNORECASE)


def last_boxed(region: str) -> str | None:
    """The content of the last balanced `\\boxed{}`/`\\fbox{}`; adjacent boxes (`\\boxed{1}, \\boxed{2}`) are
    joined as a list."""
    pos = _rfind_box(region, len(region))
    found: tuple[str, int] | None = None
    tries = 0
    while pos != -1 and tries < 3:
        found = _box_at(region, pos, len(region))
        if found is not None:
            break
        pos = _rfind_box(region, pos)
        tries += 1
    if found is None:
        return None
    parts = [found[0]]
    start = pos
    while len(parts) < MAX_BOXES:
        prev = _rfind_box(region, start)
        if prev == -1:
            break
        got = _box_at(region, prev, start)
        if got is None:
            break
        content, end = got
        if start - end > 40:
            break
        if not _BOX_SEP_RE.fullmatch(region, end, start):
            between = region[end:start]
            if content.strip() != parts[-1].strip() and len(parts) == 1 and not _CORRECTION_RE.search(between):
                if _AND_RE.search(between):  # `a_1 = \boxed{5} and a_2 = \boxed{10}`: two answers, a list
                    return f"{content}, {parts[0]}"
                # `\boxed{13} vs \boxed{12}`, `\boxed{13} / \boxed{12}`: two answers side by side, neither a
                # list, a repetition nor a correction (`\boxed{1} wait, no: \boxed{2}` keeps the last), are a
                # hedge, read as `13 or 12`, which states no value
                return f"{content} \\text{{ or }} {parts[0]}"
            break
        parts.append(content)
        start = prev
    return ", ".join(reversed(parts)) if len(parts) > 1 else parts[0]


def _strip_math(s: str) -> str:
    s = s.strip()
    for lo, hi in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(lo) and s.endswith(hi) and len(s) >= len(lo) + len(hi):
            s = s[len(lo) : len(s) - len(hi)].strip()
    return s


def clean_answer(s: str) -> str:
    """Repair escape and scraping damage, then strip delimiters and trailing punctuation that never change the
    value (a form feed that was the `\\f` of `\\frac` must be repaired before it is stripped as space)."""
    s = repair(s)
    for _ in range(2):
        s = s.strip()
        while s and s[-1] in ".;,":
            s = s[:-1].rstrip()
        for tail in ("\\.", "\\,", "\\;", "\\!"):
            if s.endswith(tail):
                s = s[: -len(tail)].rstrip()
        s = _strip_math(s).strip("*").strip()
    if s.startswith("\\displaystyle"):
        s = s[len("\\displaystyle") :].strip()
    return s


def _from_sentence(s: str) -> str:
    """The answer at the start of a sentence such as `$12$ dollars.` or `12 apples`. What follows the value must
    not state another one or take it back (`$12$ or $13$`, `12 is wrong`, a next line `or 13`): then the whole
    sentence is the answer, and the sentence rule finds no single value in it."""
    lines = s[:300].split("\n")
    line = lines[0].strip()
    if len(lines) > 1 and _CONTINUATION_RE.match(lines[1]):
        line = f"{line} {lines[1].strip()}"
    m = _MATH_SPAN_RE.search(line)
    if m is not None and line.lstrip("*( ").startswith(("$", "\\(", "\\[")):
        rest = line[m.end() :]
        if not _MATH_SPAN_RE.search(rest) and not any(c.isdigit() for c in rest) and not _retracts(rest):
            return next(g for g in m.groups() if g is not None)
        return line
    line = line.strip("*").strip()
    m2 = _NUMBER_THEN_WORDS_RE.fullmatch(line.rstrip("."))
    if m2 is not None and _JOINER_RE.search(line, m2.end(1)) is None and not _retracts(line[m2.end(1) :]):
        return m2.group(1)
    return line


# A next line that goes on with the answer (`12` then `or 13`).
_CONTINUATION_RE = re.compile(r"\s*(?:or|and|nor|,)\b", re.IGNORECASE)


def _retracts(words: str) -> bool:
    """Words after the value that change, hedge or take it back (`is wrong`, `fifteen`, `or so`)."""
    return any(w.lower() in BLOCKING_WORDS for w in re.findall(r"[A-Za-z]{2,}", words))


def extract_answer(
    completion: str,
    mc: bool = False,
    require_boxed: bool = False,
    think: tuple[str, str] = THINK_TAGS,
    prefilled: bool = False,
) -> Extracted | None:
    """Find the final answer in a completion (see the package docstring for the order of the rules).

    An answer longer than MAX_ANSWER_CHARS once its runs of spacing are collapsed is never cut down to a prefix:
    it comes back with source "too_long" (its text cut for display only), and is judged wrong."""
    region = answer_region(completion, think, prefilled)
    if region is None:
        return None
    boxed = last_boxed(region)
    if boxed is not None:
        return _bounded(clean_answer(boxed), "boxed")
    if require_boxed:
        return None
    tail = region[-TAIL_CHARS:]
    tagged = len(region) != len(completion)
    found = _unboxed(tail, region, mc, tagged)
    if found is None:
        return None
    return _bounded(clean_answer(found.text), found.source)


def collapse_spacing(text: str) -> str:
    """Each run of whitespace and spacing commands (`\\,`, `~`, `\\quad`, ...) as one space."""
    return _SPACING_RUN_RE.sub(lambda m: m.group() if m.group() == "\\\\" else " ", text).strip()


def _bounded(text: str, source: str) -> Extracted | None:
    if not text:
        return None
    if len(text) > MAX_ANSWER_CHARS:
        text = collapse_spacing(text)
        if len(text) > MAX_ANSWER_CHARS:
            return Extracted(text[:200], TOO_LONG)
    return Extracted(text, source)


def _unboxed(tail: str, region: str, mc: bool, tagged: bool) -> Extracted | None:
    k = tail.rfind("####")
    if k != -1:
        return Extracted(tail[k + 4 :].strip().split("\n", 1)[0], "####")
    last = None
    for m in _FINAL_RE.finditer(tail):
        if _FINAL_STRICT_RE.match(tail, m.start()) or tail[m.start() : m.end()].lower().startswith("the answer"):
            last = m
    if last is not None and tail[last.end() :].strip():
        return Extracted(_from_sentence(tail[last.end() :]), "final")
    if mc:
        letters = list(_MC_TAIL_RE.finditer(tail))
        if letters:
            # the letter with the rest of its line, so that `option is B or C` reads as the hedge it is
            start = letters[-1].start(1)
            line_end = tail.find("\n", start)
            return Extracted(tail[start : line_end if line_end != -1 else len(tail)][:200].strip(), "choice")
    bolds = list(_BOLD_RE.finditer(tail))
    if bolds:
        return Extracted(bolds[-1].group(1), "bold")
    stripped = region.strip()
    # A short answer block is the answer; short untagged text only when it looks like math.
    if len(stripped) <= SHORT_REGION_CHARS and (tagged or _LOOKS_MATH_RE.search(stripped)):
        spans = list(_MATH_SPAN_RE.finditer(stripped))
        if spans:
            return Extracted(next(g for g in spans[-1].groups() if g is not None), "math")
        return Extracted(stripped, "block")
    return None


def mc_letter(answer: str) -> str | None:
    """The multiple-choice letter an answer names (`B`, `(B)`, `B)`, `\\text{(B)}`, `(B) 42`), or None; None also
    when another choice letter follows as a separate token (`C or D`, `(C) (D)`, `C. D.`): that is a hedge."""
    s = answer.strip()[:200]
    for w in _WRAPPERS:
        s = s.replace(w, "")
    s = s.replace("}", " ").strip("*$ ")
    m = _MC_RE.match(s)
    if m is None:
        return None
    letter = m.group(1)
    for other in _MC_OTHER_RE.finditer(s, m.end(1)):
        o = other.group(1)
        if o == letter or (o.islower() and letter.isupper()):
            continue
        if o == "A" and _ARTICLE_RE.match(s, other.end()):
            continue  # "B. A quick check ...": the article, not a choice
        return None
    return letter.upper()


def reference_answer(reference: str) -> str:
    """The answer part of a reference: after `####` (GSM8K), inside the last box (MATH solutions), cleaned."""
    s = reference.strip()
    k = s.rfind("####")
    if k != -1:
        s = s[k + 4 :].strip()
    if "\\boxed" in s or "\\fbox" in s:
        boxed = last_boxed(s)
        if boxed is not None:
            s = boxed
    return clean_answer(s)


def reference_choice(ref: str) -> tuple[str, str] | None:
    """An AMC-style reference `\\textbf{(A) }5` -> ("A", "5"); None otherwise."""
    m = _MC_REF_VALUE_RE.match(ref.strip())
    if m is None:
        return None
    value = ref.strip()[m.end() :].strip()
    return (m.group(1) or m.group(2), value) if value else None


def reference_mc_letter(ref: str) -> str | None:
    """The letter when the reference is a bare multiple-choice letter (`B`, `(B)`, `\\text{(B)}`) or an AMC-style
    letter with its value (`\\textbf{(A) }5`), else None."""
    choice = reference_choice(ref)
    if choice is not None:
        return choice[0]
    s = ref.strip()
    for _ in range(3):
        for w in _WRAPPERS:
            if s.startswith(w) and s.endswith("}"):
                s = s[len(w) : -1].strip()
    m = _MC_REF_RE.fullmatch(s.strip())
    return m.group(1) if m else None


def normalized_text(s: str) -> str:
    """A whitespace- and delimiter-insensitive form, for the exact-string fast path."""
    for a, b in (("\\left", ""), ("\\right", ""), ("\\!", ""), ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("$", "")):
        s = s.replace(a, b)
    return " ".join(s.split())
