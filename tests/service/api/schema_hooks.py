"""Schemathesis hooks for the schema test: rules a JSON Schema cannot state are kept out of "valid" cases.

Five rules, each documented on its operation: OpenRLHF's ``prompts`` and ``labels`` must have as many entries as
``query`` (JSON Schema cannot say "as long as another array"), its ``task`` must be one the service knows, and for a
task with ground truth (the default, math) ``labels`` must hold at least one reference; a request's ``weights`` must
leave its profile at least one component with a non-zero weight; and option keys must be ones their component reads
(a misspelt key is a 422: which keys an ``accuracy`` option may have depends on the item's task). Cases that break
them are not generated.
"""

from __future__ import annotations

import functools
from typing import Any

import schemathesis

from service.components import ALL_COMPONENTS


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    body = case.body
    if case.path == "/v1/score" and isinstance(body, dict):
        if _weights_leave_nothing(body) or _unknown_option_keys(body):
            return False
    if case.path != "/get_reward" or not isinstance(body, dict) or not isinstance(body.get("query"), list):
        return True
    n = len(body["query"])
    if not all(not isinstance(body.get(name), list) or len(body[name]) == n for name in ("prompts", "labels")):
        return False
    task = (case.query or {}).get("task", "math") if isinstance(case.query, dict) else "math"
    if task not in _registry().tasks:  # a misspelt ?task= is a 422 naming the known tasks
        return False
    needs_labels = _registry().tasks.get(task) is not None
    labels = body.get("labels")
    return not needs_labels or (isinstance(labels, list) and any(label is not None for label in labels))


@functools.cache
def _registry() -> Any:
    from service.components import Registry

    return Registry.load()


def _unknown_option_keys(body: dict) -> bool:
    registry = _registry()
    options = body.get("options")
    if isinstance(options, dict) and registry.unknown_options(options):
        return True
    items = body.get("items")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("options"), dict):
            if registry.unknown_options(item["options"], item.get("task")):
                return True
    return False


def _weights_leave_nothing(body: Any) -> bool:
    from service.profiles import resolve

    try:
        resolve(body.get("profile", "accuracy"), body.get("weights"), None, set(ALL_COMPONENTS))
    except (ValueError, TypeError, AttributeError) as exc:
        return "no component with a non-zero weight" in str(exc)
    return False
