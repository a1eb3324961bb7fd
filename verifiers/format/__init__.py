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

Every check uses plain substring search (no regular expressions), so the cost is linear in the completion and the
verifier is safe to run in the service's event loop.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from verifiers.tags import ANSWER_TAGS, THINK_TAGS, tag_pair, think_prefilled
from verifiers.verdict import Attempt, Status, Verdict

NAME = "format"
VERSION = "2"

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


# A character that shows: not whitespace, and not one of the invisible code points a policy can use to fake a
# non-empty thought, answer or summary (format controls such as zero-width spaces and joiners, the soft hyphen, bidi
# marks, variation selectors, tag characters, lone combining marks, and the Hangul and braille blanks). A regex
# character class keeps the scan in C and linear, since this verifier runs in the event loop.
_VISIBLE = re.compile(
    "[^\\s\u00ad\u034f\u061c\u0300-\u036f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff]"
)


def has_visible_text(text: str) -> bool:
    """Whether the text holds at least one character a reader would see."""
    return _VISIBLE.search(text) is not None


def _checks(text: str, cfg: FormatConfig) -> dict[str, bool]:
    t_open, t_close = cfg.think
    checks: dict[str, bool] = {}
    stripped = text.lstrip()
    checks["think_open_first"] = stripped.startswith(t_open) and text.count(t_open) == 1
    close_at = text.find(t_close)
    checks["think_closed_once"] = close_at > text.find(t_open) >= 0 and text.count(t_close) == 1
    thought = text[text.find(t_open) + len(t_open) : close_at] if checks["think_closed_once"] else ""
    checks["thought_not_empty"] = has_visible_text(thought)
    rest = text[close_at + len(t_close) :] if close_at >= 0 else ""
    if cfg.layout == "r1":
        checks["summary_not_empty"] = has_visible_text(rest) and t_open not in rest and t_close not in rest
        return checks
    a_open, a_close = cfg.answer
    body = rest.strip()
    checks["answer_follows_thought"] = body.startswith(a_open) and text.count(a_open) == 1
    a_close_at = body.find(a_close)
    checks["answer_closed_once"] = a_close_at > 0 and text.count(a_close) == 1
    answer = body[len(a_open) : a_close_at] if checks["answer_follows_thought"] and a_close_at > 0 else ""
    checks["answer_not_empty"] = has_visible_text(answer)
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
