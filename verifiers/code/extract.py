"""Finding the program in a completion: the last fenced block of the requested language."""

from __future__ import annotations

import re

from sandboxes.languages import Recipe

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
_OPEN_FENCE = re.compile(r"^(?:`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*)\Z", re.M | re.S)
_ANSWER = re.compile(r"<answer>(?P<body>.*?)(?:</answer>|\Z)", re.S)


def _scope(completion: str) -> str:
    """The part of the completion that holds the final answer: after </think>, inside the last <answer>."""
    text = completion
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    answers = list(_ANSWER.finditer(text))
    if answers:
        text = answers[-1].group("body")
    return text


def _matches(info: str, recipe: Recipe) -> bool | None:
    """True for the recipe's fence tag, None for an untagged fence, False for another language."""
    tag = info.strip().split()[0].lower() if info.strip() else ""
    tag = tag.lstrip("{.").rstrip("}")
    if not tag:
        return None
    return tag in recipe.fence_tags or tag == recipe.name or tag in recipe.aliases


def extract_program(completion: str, recipe: Recipe) -> str | None:
    """The program to judge, or None when the completion has none.

    Preference: the last complete block tagged with the language; else the last untagged block; else an
    unterminated block at the very end (a completion cut off by the length limit). Blocks tagged with another
    language are never used.
    """
    if not isinstance(completion, str):
        return None
    text = _scope(completion)
    tagged: str | None = None
    untagged: str | None = None
    last_end = 0
    for m in _FENCE.finditer(text):
        ok = _matches(m.group("info"), recipe)
        if ok:
            tagged = m.group("body")
        elif ok is None:
            untagged = m.group("body")
        last_end = m.end()
    program = tagged if tagged is not None else untagged
    if program is None:
        tail = _OPEN_FENCE.search(text, last_end)
        if tail and _matches(tail.group("info"), recipe) is not False:
            program = tail.group("body")
    if program is None or not program.strip():
        return None
    return program
