"""Named reward recipes: which components make the reward, with which weights and default options.

reward = Σ weight[c] · value[c] over the profile's components (see the README for each profile's formula).
A request may override weights (a weight of 0 drops a component) and options per component.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Profile:
    """A reward recipe."""

    name: str
    weights: Mapping[str, float]
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _frozen(**weights: float) -> Mapping[str, float]:
    return MappingProxyType(dict(weights))


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        # accuracy only, in [0, 1]
        "accuracy": Profile("accuracy", _frozen(accuracy=1.0)),
        # format only (R1-Zero layout by default)
        "format": Profile("format", _frozen(format=1.0)),
        # DeepSeek-R1-Zero: accuracy + <think>…</think><answer>…</answer> format, in [0, 2]
        "r1-zero": Profile("r1-zero", _frozen(accuracy=1.0, format=1.0), {"format": {"layout": "r1-zero"}}),
        # DeepSeek-R1: accuracy + <think>…</think> summary format + language consistency, in [0, 3]
        "r1": Profile(
            "r1",
            _frozen(accuracy=1.0, format=1.0, language=1.0),
            # R1's layout ends in a model-written summary: hiding the reasoning there must not escape the reward.
            {"format": {"layout": "r1"}, "language": {"scope": "response"}},
        ),
        # DAPO: accuracy mapped to ±1 (2·a − 1) + soft overlong penalty in [−1, 0]
        "dapo": Profile(
            "dapo",
            _frozen(accuracy=1.0, overlong=1.0),
            {
                "accuracy": {"signed": True},
                "overlong": {"max_length": 20480, "buffer": 4096, "penalty_factor": 1.0},
            },
        ),
    }
)


@dataclass(frozen=True)
class RewardRecipe:
    """A profile resolved against one request: the final weights and per-component options."""

    profile: str
    weights: Mapping[str, float]
    options: Mapping[str, Mapping[str, Any]]


def resolve(
    profile: str,
    weights: Mapping[str, float] | None,
    options: Mapping[str, Mapping[str, Any]] | None,
    known_components: set[str],
) -> RewardRecipe:
    """Merge a named profile with a request's inline weights and options; ValueError says what is wrong."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(sorted(PROFILES))}")
    base = PROFILES[profile]
    merged = dict(base.weights)
    for name, weight in (weights or {}).items():
        if name not in known_components:
            raise ValueError(f"unknown component {name!r} in weights; known: {', '.join(sorted(known_components))}")
        if weight != weight or weight in (float("inf"), float("-inf")):
            raise ValueError(f"weight of {name!r} must be a finite number")
        merged[name] = float(weight)
    merged = {name: w for name, w in merged.items() if w != 0.0}
    if not merged:
        raise ValueError("the recipe has no component with a non-zero weight")
    opts: dict[str, dict[str, Any]] = {name: dict(value) for name, value in base.options.items()}
    for name, value in (options or {}).items():
        if name not in known_components:
            raise ValueError(f"unknown component {name!r} in options; known: {', '.join(sorted(known_components))}")
        opts.setdefault(name, {}).update(value)
    return RewardRecipe(profile, MappingProxyType(merged), MappingProxyType(opts))
