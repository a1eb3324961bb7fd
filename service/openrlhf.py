"""OpenRLHF's remote reward protocol: ``POST /get_reward``.

OpenRLHF sends ``{"query": [prompt + response, …], "prompts": […], "labels": […]}`` (often one sample per request)
and reads ``{"rewards": […], "scores": […], "extra_logs": {name: […]}}``. Point ``--remote_rm_url`` at
``http://HOST:PORT/get_reward?task=math&profile=r1-zero``: ``task`` (default ``math``) and ``profile`` (default
``accuracy``) are query parameters, since OpenRLHF's body has no room for them. ``labels`` are the references.

OpenRLHF needs a number for every sample: an undecided item gets reward 0.0 and ``extra_logs.aha_undecided`` = 1.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.edge import busy
from service.engine import Engine, Overloaded, RecipeError
from service.models import BUSY_RESPONSE, ProfileName, ScoreItem, ScoreRequest

router = APIRouter()

# The decoded query keeps the tokenizer's special tokens: an end-of-turn marker after the answer is not the model's
# text and must not cost it the format reward.
# The templates' end markers: ChatML and Llama 3 `<|…|>`, DeepSeek's full-width `<｜end▁of▁sentence｜>`, Llama 2
# and Mistral `</s>`, Gemma `<eos>` / `<end_of_turn>`.
_TRAILING_SPECIAL = re.compile(
    r"(?:\s*(?:<\|[^<>|\s]{1,40}\|>|<｜[^<>｜\s]{1,40}｜>|</s>|<eos>|<end_of_turn>))+\s*$"
)


class RewardRequest(BaseModel):
    """OpenRLHF's request body."""

    model_config = ConfigDict(extra="allow")
    query: list[str] = Field(..., min_length=1)
    prompts: list[str] | None = None
    labels: list[Any] | None = None


def split_response(query: str, prompt: str | None) -> str:
    """The model's response inside ``prompt + response``, without trailing special tokens."""
    response = query
    if prompt:
        at = query.find(prompt)
        if at >= 0:
            response = query[at + len(prompt) :]
    return _TRAILING_SPECIAL.sub("", response)


@router.post("/get_reward", responses=BUSY_RESPONSE)
async def get_reward(
    body: RewardRequest,
    request: Request,
    task: str = Query("math", max_length=64),
    profile: ProfileName = "accuracy",
) -> Any:
    """Score OpenRLHF queries with the engine.

    `prompts` and `labels`, when given, must have as many entries as `query` (else a 422).
    """
    n = len(body.query)
    engine: Engine = request.app.state.engine
    if n > engine.settings.max_items:
        return JSONResponse({"detail": f"{n} queries exceed the limit of {engine.settings.max_items}"}, status_code=422)
    for name, values in (("prompts", body.prompts), ("labels", body.labels)):
        if values is not None and len(values) != n:
            return JSONResponse({"detail": f"{name} has {len(values)} entries, query has {n}"}, status_code=422)
    prompts = body.prompts or [None] * n
    labels = body.labels or [None] * n
    items = [
        ScoreItem(
            id=str(i),
            task=task,
            completion=split_response(q, p),
            prompt=p,
            reference=label,
        )
        for i, (q, p, label) in enumerate(zip(body.query, prompts, labels, strict=True))
    ]
    try:
        response = await engine.score(ScoreRequest(items=items, profile=profile, advantage="none"))
    except Overloaded as exc:
        return busy(str(exc), exc.retry_after)
    except RecipeError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    rewards = [0.0 if r.reward is None else r.reward for r in response.results]
    logs: dict[str, list[float]] = {"aha_undecided": [float(r.reward is None) for r in response.results]}
    for name in sorted({c for r in response.results for c in r.components}):
        logs[f"aha_{name}"] = [float(r.components.get(name) or 0.0) for r in response.results]
    return {"rewards": rewards, "scores": rewards, "extra_logs": logs}
