"""Format verifier: does the completion have the tag structure the recipe asks for?

Two layouts:
- ``r1-zero`` (default): ``<think>…</think><answer>…</answer>`` and nothing else around them but whitespace
  (DeepSeek-R1-Zero's template).
- ``r1``: ``<think>…</think>`` followed by a non-empty summary (DeepSeek-R1's readable output).

Options (``Attempt.options``):
- ``layout``: ``"r1-zero"`` | ``"r1"``.
- ``think_tags`` / ``answer_tags``: ``[open, close]`` pairs, default ``<think>``/``</think>`` and
  ``<answer>``/``</answer>``.
- ``strict`` (default true): score 1 when every check passes, else 0. With ``strict: false`` the score is the
  fraction of checks passed (partial credit), so a model is pulled towards the format step by step.
- ``think_prefilled``: the prompt already ended with the opening think tag, so the completion starts inside the
  thought. When absent it is inferred from ``Attempt.prompt`` ending with the opening tag.

Every check uses substring search and a few linear regular expressions (character classes, bounded tags), so the
cost is linear in the completion and the verifier is safe to run in the service's event loop. "Not empty" means
says something: a letter, number or symbol by Unicode category, once blank markup (LaTeX spacing, `&nbsp;`,
`<br/>`, empty tags) and characters that render as nothing (controls, format characters, lone marks, fillers) are
left out; a summary of `.` is empty.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from verifiers.protocol import VerifierDefaults
from verifiers.tags import ANSWER_TAGS, THINK_TAGS, tag_pair, think_prefilled
from verifiers.verdict import Attempt, Status, Verdict

NAME = "format"
VERSION = "4"

LAYOUTS = ("r1-zero", "r1")


@dataclass(frozen=True)
class FormatConfig:
    """Resolved options of one format check."""

    layout: str = "r1-zero"
    think: tuple[str, str] = ("<think>", "</think>")
    answer: tuple[str, str] = ("<answer>", "</answer>")
    strict: bool = True
    think_prefilled: bool = False


def config_from(attempt: Attempt) -> FormatConfig:
    """Resolve the options of an attempt; raises ValueError with a readable message on a bad option."""
    opts = attempt.options or {}
    layout = opts.get("layout", "r1-zero")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    think = tag_pair(opts.get("think_tags"), THINK_TAGS, "think_tags")
    answer = tag_pair(opts.get("answer_tags"), ANSWER_TAGS, "answer_tags")
    strict = opts.get("strict", True)
    if not isinstance(strict, bool):
        raise ValueError("strict must be true or false")
    prefilled = think_prefilled(opts, attempt.prompt, think[0])
    return FormatConfig(layout=layout, think=think, answer=answer, strict=strict, think_prefilled=prefilled)


def cache_key(attempt: Attempt) -> str:
    """The completion and the options that shape the verdict, hashed."""
    try:
        resolved = repr(config_from(attempt))
    except ValueError as exc:
        resolved = f"invalid options: {exc}"
    h = hashlib.sha256(resolved.encode())
    h.update(attempt.completion.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


# Characters that are letters or symbols by category but render as nothing: the Hangul fillers and the braille
# blank. Everything else is decided by its Unicode category (see `has_visible_text`).
_BLANK_GRAPHICS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


# Above this every code point is unassigned, a tag character (Cf) or private use: none shows.
_LAST_GRAPHIC = 0x40000


def _category_classes() -> tuple[str, str]:
    """Regex set bodies of the code points that show (letters, numbers, punctuation, symbols) and of those that
    say something (the same without punctuation), built once from `unicodedata` so that each test is one C-level
    regex search (this verifier runs in the event loop)."""
    bodies: list[list[str]] = [[], []]
    starts = [-1, -1]
    for code in range(_LAST_GRAPHIC + 1):
        ch = chr(code)
        major = unicodedata.category(ch)[0] if code < _LAST_GRAPHIC and ch not in _BLANK_GRAPHICS else "C"
        for k, inside in enumerate((major in "LNPS", major in "LNS")):
            if inside and starts[k] < 0:
                starts[k] = code
            elif not inside and starts[k] >= 0:
                lo, hi = starts[k], code - 1
                bodies[k].append(re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else ""))
                starts[k] = -1
    return "".join(bodies[0]), "".join(bodies[1])


_SHOWS, _SAYS_BODY = _category_classes()
# Marks (M) show only on a base, which is itself visible, so a lone combining mark is not; format and control
# characters (Cf, Cc: zero-width spaces, bidi controls, U+FFF9-FFFB annotations, tag characters), separators (Z),
# private-use and unassigned code points never show.
_VISIBLE = re.compile(f"[{_SHOWS}]")
# What renders as blank space in the places a model writes: LaTeX spacing and phantom commands, HTML space
# entities, empty HTML elements and line breaks, and empty thought/answer tags. Removed before the visibility test.
_BLANK_MARKUP = re.compile(
    r"\\(?:quad|qquad|[,;:! ]|enspace|thinspace|medspace|thickspace|negthinspace|hfill|vfill|newline|par|"
    r"smallskip|medskip|bigskip|noindent)(?![A-Za-z])|\\(?:hspace|vspace|phantom|hphantom|vphantom)\*?\{[^{}]*\}|"
    r"\\\\|~|&(?:nbsp|ensp|emsp|thinsp|zwsp|zwj|zwnj|lrm|rlm|shy|#0*160|#x0*a0|#0*8203|#x0*200b|#0*173);?|"
    r"</?(?:br|p|div|span|hr|wbr|think|answer)\b[^<>]{0,200}>",
    re.IGNORECASE,
)
# A summary or an answer must say something: at least one letter, digit or symbol (an answer may be "∅" or "+").
_SAYS = re.compile(f"[{_SAYS_BODY}]")


def has_visible_text(text: str) -> bool:
    """Whether the text holds at least one character a reader would see (by Unicode category), once blank markup
    (LaTeX spacing, `&nbsp;`, `<br/>`, empty tags) is taken out."""
    return _VISIBLE.search(_BLANK_MARKUP.sub("", text)) is not None


# Wrappers with nothing inside: empty math (`$ $`, `\( \)`, `\[ \]`), an empty group or command argument
# (`\boxed{}`, `\text{ }`, `{}`), and HTML comments. Taken out until none is left (`$\boxed{}$`).
_EMPTY_WRAPPER = re.compile(
    r"<!--.{0,2000}?-->|\\[A-Za-z]+\*?\s*\{\s*\}|\{\s*\}|\$+\s*\$+|\\\(\s*\\\)|\\\[\s*\\\]", re.DOTALL
)


def has_content(text: str) -> bool:
    """Whether the text says something: a visible letter, number or symbol, not only punctuation (a summary of
    `.` says nothing), once blank markup and empty wrappers (`$ $`, `\boxed{}`, `<!-- -->`) are taken out."""
    text = _BLANK_MARKUP.sub("", text)
    while True:
        emptied = _EMPTY_WRAPPER.sub("", text)
        if emptied == text:
            return _SAYS.search(text) is not None
        text = emptied


def _checks(text: str, cfg: FormatConfig) -> dict[str, bool]:
    t_open, t_close = cfg.think
    checks: dict[str, bool] = {}
    stripped = text.lstrip()
    checks["think_open_first"] = stripped.startswith(t_open) and text.count(t_open) == 1
    close_at = text.find(t_close)
    checks["think_closed_once"] = close_at > text.find(t_open) >= 0 and text.count(t_close) == 1
    thought = text[text.find(t_open) + len(t_open) : close_at] if checks["think_closed_once"] else ""
    checks["thought_not_empty"] = has_content(thought)
    rest = text[close_at + len(t_close) :] if close_at >= 0 else ""
    if cfg.layout == "r1":
        checks["summary_not_empty"] = has_content(rest) and t_open not in rest and t_close not in rest
        return checks
    a_open, a_close = cfg.answer
    body = rest.strip()
    checks["answer_follows_thought"] = body.startswith(a_open) and text.count(a_open) == 1
    a_close_at = body.find(a_close)
    checks["answer_closed_once"] = a_close_at > 0 and text.count(a_close) == 1
    answer = body[len(a_open) : a_close_at] if checks["answer_follows_thought"] and a_close_at > 0 else ""
    checks["answer_not_empty"] = has_content(answer)
    checks["nothing_after_answer"] = a_close_at > 0 and not has_visible_text(body[a_close_at + len(a_close) :])
    return checks


def verify(attempt: Attempt) -> Verdict:
    """Check the tag layout of the completion; see the module docstring for the options."""
    try:
        cfg = config_from(attempt)
    except ValueError as exc:
        return Verdict(0.0, Status.INVALID_REFERENCE, f"bad format options: {exc}")
    text = attempt.completion
    if cfg.think_prefilled and not text.lstrip().startswith(cfg.think[0]):
        text = cfg.think[0] + text
    checks = _checks(text, cfg)
    passed = sum(checks.values())
    failed = [name for name, ok in checks.items() if not ok]
    details: dict[str, Any] = {"layout": cfg.layout, "checks": checks, "think_prefilled": cfg.think_prefilled}
    if not failed:
        return Verdict(1.0, Status.CORRECT, f"well-formed {cfg.layout} layout", details)
    score = 0.0 if cfg.strict else passed / len(checks)
    status = Status.PARTIAL if score > 0 else Status.WRONG
    return Verdict(score, status, f"{cfg.layout} layout: failed {', '.join(failed)}", details)


class FormatVerifier(VerifierDefaults):
    """The format verifier as the engine registers it: linear in the completion, so run inline."""

    label = "verifiers.format"
    version = VERSION
    inline = True
    # The module's own functions: one implementation, reached as methods.
    cache_key = staticmethod(cache_key)
    verify = staticmethod(verify)
