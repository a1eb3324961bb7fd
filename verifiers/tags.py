"""Options shared by the verifiers that read a completion's thought block (format, language)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

THINK_TAGS = ("<think>", "</think>")
ANSWER_TAGS = ("<answer>", "</answer>")


def tag_pair(value: Any, default: tuple[str, str], name: str) -> tuple[str, str]:
    """An ``[open, close]`` option, or ``default`` when absent; ValueError with a readable message when malformed."""
    if value is None:
        return default
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(t, str) and t.strip() for t in value)
        and value[0] != value[1]
    ):
        return (value[0], value[1])
    raise ValueError(f"{name} must be two different non-empty strings [open, close]")


def think_prefilled(options: Mapping[str, Any], prompt: Any, open_tag: str) -> bool:
    """Whether the completion starts inside the thought: the option when given, else the prompt ends with the tag."""
    value = options.get("think_prefilled")
    if value is None:
        return isinstance(prompt, str) and prompt.rstrip().endswith(open_tag)
    if not isinstance(value, bool):
        raise ValueError("think_prefilled must be true or false")
    return value
