"""Group-relative advantages, as GRPO (and Dr. GRPO) compute them from the rewards of one prompt's samples."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

ADVANTAGE_EPS = 1e-4


def group_advantages(rewards: Sequence[float | None], groups: Sequence[str | None], mode: str) -> list[float | None]:
    """Advantage of each item within its group.

    ``grpo``: (r − mean) / (std + 1e-4) with the sample standard deviation, as TRL's GRPOTrainer; ``center``:
    r − mean (Dr. GRPO); ``none``: no advantages. Items without a group or without a reward get None and are left
    out of their group's statistics.
    """
    out: list[float | None] = [None] * len(rewards)
    if mode == "none":
        return out
    members: dict[str, list[int]] = defaultdict(list)
    for i, (reward, group) in enumerate(zip(rewards, groups, strict=True)):
        if group is not None and reward is not None:
            members[group].append(i)
    for indices in members.values():
        values = [float(rewards[i]) for i in indices]  # type: ignore[arg-type]
        mean = sum(values) / len(values)
        scale = 1.0
        if mode == "grpo" and len(values) > 1:
            scale = math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1)) + ADVANTAGE_EPS
        for i, value in zip(indices, values, strict=True):
            out[i] = (value - mean) / scale
    return out
