"""Finding the program in a completion: the last fenced block of the requested language.

Fences follow CommonMark where models rely on it: ``` or ~~~ (three or more), indented (a list item's block; its
indentation is removed from the body), closed by a fence of the same character at least as long, `\\r\\n` line
ends. `</think>`, `<answer>` and `</answer>` count only outside code blocks, so a program that prints
`'</think>'` is still the program; a fence may open right after such a tag (`<answer>```python`) and close right
before one (```` ```</answer> ````).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandboxes.languages import Recipe

_TAG = re.compile(r"</?(?:think|answer)>")
# Possessive: a fence run never gives characters back to the info string, or a line of 20,000 backticks with no
# line break costs seconds of backtracking (quadratic), and the program is looked for on the event loop.
_OPEN = re.compile(r"(?P<indent>[ \t]*+)(?P<fence>`{3,}+|~{3,}+)(?P<info>[^\n]*+)\n")
_TAIL_TAG = re.compile(r"\s*</answer>\s*\Z")


@dataclass(frozen=True)
class _Block:
    info: str
    body: str
    start: int
    end: int
    closed: bool


def _close(text: str, m: re.Match[str]) -> _Block:
    """The block opened by fence line `m`: up to a closing fence of its character, at least as long, or the end."""
    fence = m.group("fence")
    closing = re.compile(rf"[ \t]*+{re.escape(fence[0])}{{{len(fence)},}}+[ \t]*+(?=\n|\Z|</answer>|</think>)")
    indent = len(m.group("indent"))
    lines: list[str] = []
    i = m.end()
    while i <= len(text):
        nl = text.find("\n", i)
        line_end = len(text) if nl < 0 else nl
        c = closing.match(text, i)
        if c is not None and c.end() <= line_end:
            return _Block(m.group("info"), _dedent(lines, indent), m.start(), c.end(), True)
        lines.append(text[i:line_end])
        if nl < 0:
            break
        i = nl + 1
    if lines and not lines[-1]:
        lines.pop()  # the completion's final line break
    body = _TAIL_TAG.sub("", "\n".join(lines))  # cut off by the length limit, or closed only by </answer>
    return _Block(m.group("info"), _dedent(body.split("\n"), indent) if body else "", m.start(), len(text), False)


def _dedent(lines: list[str], indent: int) -> str:
    """The body without the fence's own indentation (a block in a list item), as CommonMark removes it."""
    if indent:
        lines = [line[min(indent, len(line) - len(line.lstrip(" \t"))) :] for line in lines]
    return "\n".join(lines) + ("\n" if lines else "")


def _scan(text: str) -> tuple[list[tuple[str, int, int]], list[_Block]]:
    """Tags outside code, and fenced blocks, in order. A fence opens at a line start or right after a tag."""
    tags: list[tuple[str, int, int]] = []
    blocks: list[_Block] = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        if line_start:
            m = _OPEN.match(text, i)
            if m is not None and (m.group("fence")[0] == "~" or "`" not in m.group("info")):
                block = _close(text, m)
                blocks.append(block)
                i = block.end
                line_start = True
                continue
        nl = text.find("\n", i)
        t = _TAG.search(text, i, n if nl < 0 else nl)
        if t is not None:
            tags.append((t.group(), t.start(), t.end()))
            i = t.end()
            line_start = True
            continue
        if nl < 0:
            break
        i = nl + 1
        line_start = True
    return tags, blocks


def _scope(tags: list[tuple[str, int, int]], n: int) -> tuple[int, int]:
    """The span holding the final answer: after the last </think>, inside the last <answer> after it."""
    start = max((end for name, _, end in tags if name == "</think>"), default=0)
    opens = [(s, e) for name, s, e in tags if name == "<answer>" and s >= start]
    if not opens:
        return start, n
    begin = opens[-1][1]
    close = next((s for name, s, _ in tags if name == "</answer>" and s >= begin), n)
    return begin, close


def _matches(info: str, recipe: Recipe) -> bool | None:
    """True for the recipe's fence tag, None for an untagged fence, False for another language."""
    tag = info.strip().split()[0].lower() if info.strip() else ""
    tag = tag.lstrip("{.").rstrip("}")
    if not tag:
        return None
    return tag in recipe.fence_tags or tag == recipe.name or tag in recipe.aliases


def _in_open_thought(tags: list[tuple[str, int, int]], prefilled: bool) -> bool:
    """Whether the completion ends inside a thought it never closed (its `<think>` or the prompt's, prefilled)."""
    last_close = max((end for name, _, end in tags if name == "</think>"), default=-1)
    last_open = max((end for name, _, end in tags if name == "<think>"), default=-1)
    if last_open > last_close:
        return True
    return prefilled and last_close < 0


def extract_program(completion: str, recipe: Recipe, think_prefilled: bool = False) -> str | None:
    """The program to judge, or None when the completion has none.

    Preference: the last complete block tagged with the language; else the last untagged block; else an
    unterminated block at the very end (a completion cut off by the length limit). Blocks tagged with another
    language are never used. A completion that ends inside an unclosed thought (its own `<think>`, or the prompt's
    when `think_prefilled`) has no answer, as for math: code drafted while thinking is not the answer.
    """
    if not isinstance(completion, str):
        return None
    text = completion.replace("\r\n", "\n")
    tags, blocks = _scan(text)
    if _in_open_thought(tags, think_prefilled):
        return None
    begin, end = _scope(tags, len(text))
    tagged: str | None = None
    untagged: str | None = None
    tail: _Block | None = None
    for block in blocks:
        if block.start < begin or block.start >= end:
            continue
        ok = _matches(block.info, recipe)
        if not block.closed:
            tail = block
        elif block.end <= end and ok:
            tagged = block.body
        elif block.end <= end and ok is None:
            untagged = block.body
    program = tagged if tagged is not None else untagged
    if program is None and tail is not None and _matches(tail.info, recipe) is not False:
        program = tail.body
    if program is None or not program.strip():
        return None
    return program
