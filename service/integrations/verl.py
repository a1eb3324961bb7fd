"""verl ``compute_score`` backed by an Aha service.

In a verl config::

    custom_reward_function:
      path: <site-packages>/service/integrations/verl.py
      name: compute_score            # or compute_score_batch with reward_model.reward_manager=batch

The service URL comes from ``AHA_URL`` (default ``http://127.0.0.1:8000``), the profile from ``AHA_PROFILE``
(default ``accuracy``). The task is ``extra_info["task"]`` when given, else ``code`` for a ground truth that is a
code reference (an object with ``tests``), else ``math``. verl needs a number for every sample, so an undecided
verdict scores 0.0 and is flagged with ``aha_undecided = 1`` in the returned dict (verl logs the extra keys).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from service.client import AhaClient


def _task(ground_truth: Any, extra_info: Mapping[str, Any] | None) -> str:
    if extra_info and isinstance(extra_info.get("task"), str):
        return extra_info["task"]
    if isinstance(ground_truth, Mapping) and "tests" in ground_truth:
        return "code"
    if isinstance(ground_truth, str) and ground_truth.lstrip().startswith("{"):
        try:
            if "tests" in json.loads(ground_truth):
                return "code"
        except ValueError:
            pass
    return "math"


def _item(index: int, solution: str, ground_truth: Any, extra_info: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "id": str(index),
        "task": _task(ground_truth, extra_info),
        "completion": solution,
        "reference": ground_truth,
    }


def _as_verl(result: Mapping[str, Any]) -> dict[str, Any]:
    reward = result["reward"]
    out: dict[str, Any] = {"score": 0.0 if reward is None else float(reward), "aha_undecided": int(reward is None)}
    for name, value in result["components"].items():
        out[f"aha_{name}"] = 0.0 if value is None else float(value)
    return out


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    **_: Any,
) -> list[dict[str, Any]]:
    """verl's batch reward manager entry point: one dict with ``score`` per sample."""
    extras = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    items = [_item(i, s, g, e) for i, (s, g, e) in enumerate(zip(solution_strs, ground_truths, extras, strict=True))]
    with AhaClient(os.environ.get("AHA_URL", "http://127.0.0.1:8000")) as client:
        response = client.score(items, profile=os.environ.get("AHA_PROFILE", "accuracy"), advantage="none")
    return [_as_verl(r) for r in response["results"]]


def compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None, **_: Any
) -> dict[str, Any]:
    """verl's per-sample entry point."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info])[0]
