"""Schemathesis hooks for the schema test: rules a JSON Schema cannot state are kept out of "valid" cases.

Two rules, both documented on their operation: OpenRLHF's ``prompts`` and ``labels`` must have as many entries as
``query`` (JSON Schema cannot say "as long as another array"), and a request's ``weights`` must leave its profile at
least one component with a non-zero weight. Cases that break them are not generated.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from service.components import ALL_COMPONENTS


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    body = case.body
    if case.path == "/v1/score" and isinstance(body, dict) and _weights_leave_nothing(body):
        return False
    if case.path != "/get_reward" or not isinstance(body, dict) or not isinstance(body.get("query"), list):
        return True
    n = len(body["query"])
    return all(not isinstance(body.get(name), list) or len(body[name]) == n for name in ("prompts", "labels"))


def _weights_leave_nothing(body: Any) -> bool:
    from service.profiles import resolve

    try:
        resolve(body.get("profile", "accuracy"), body.get("weights"), None, set(ALL_COMPONENTS))
    except (ValueError, TypeError, AttributeError) as exc:
        return "no component with a non-zero weight" in str(exc)
    return False
