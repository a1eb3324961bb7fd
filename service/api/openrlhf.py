"""OpenRLHF's remote reward protocol: ``POST /get_reward``.

OpenRLHF sends ``{"query": [prompt + response, …], "prompts": […], "labels": […]}`` (often one sample per request)
and reads ``{"rewards": […], "scores": […], "extra_logs": {name: […]}}``. Point ``--remote_rm_url`` at
``http://HOST:PORT/get_reward?task=math&profile=r1-zero``: ``task`` (default ``math``) and ``profile`` (default
``accuracy``) are query parameters, since OpenRLHF's body has no room for them. ``labels`` are the references.

OpenRLHF needs a number for every sample: an undecided item gets reward 0.0 and ``extra_logs.aha_undecided`` = 1.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from service.engine import Engine
from service.models import BUSY_RESPONSE, ProfileName, ScoreItem, ScoreRequest
from service.profiles import resolve

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


class PromptNotFound(ValueError):
    """The prompt cannot be located in the query, so the response cannot be told apart from it."""


# A prompt's tail this long, found in the query, places the response even when the head of the prompt was cut
# (OpenRLHF keeps the last tokens of an over-long prompt) or re-spaced by the tokenizer's decode.
_TAIL_CHARS = 256


def _squeezed(text: str) -> tuple[str, list[int]]:
    """``text`` without whitespace, and for each kept character its index in ``text``."""
    kept = [(i, ch) for i, ch in enumerate(text) if not ch.isspace()]
    return "".join(ch for _, ch in kept), [i for i, _ in kept]


def _response_start(query: str, prompt: str) -> int:
    at = query.find(prompt)
    if at >= 0:
        return at + len(prompt)
    # Decoding the prompt's tokens does not always give the prompt back character for character (spaces around
    # special tokens, a prompt truncated from the left): match without whitespace, then on the prompt's tail.
    squeezed_query, where = _squeezed(query)
    squeezed_prompt, _ = _squeezed(prompt)
    if not squeezed_prompt:
        return 0
    for needle in (squeezed_prompt, squeezed_prompt[-_TAIL_CHARS:]):
        at = squeezed_query.find(needle)
        if at >= 0:
            end = where[at + len(needle) - 1] + 1
            if prompt[-1].isspace():  # the whitespace the prompt ends with is the prompt's, however re-spaced
                end = len(query) - len(query[end:].lstrip())
            return end
    raise PromptNotFound("the prompt was not found in the query, so the response cannot be separated from it")


# The start of the assistant's turn in the common chat templates: ChatML, Llama 3, DeepSeek (full-width bars),
# Gemma, Mistral/Llama 2. Without prompts, the response is what follows the last one.
_ASSISTANT_TURN = re.compile(
    r"<\|im_start\|>assistant[^\S\n]*\n?|<\|start_header_id\|>assistant<\|end_header_id\|>\s*|<｜Assistant｜>"
    r"|<start_of_turn>model[^\S\n]*\n?|\[/INST\]"
)


def _after_last_assistant_turn(query: str) -> str:
    turns = list(_ASSISTANT_TURN.finditer(query))
    return query[turns[-1].end() :] if turns else query


def split_response(query: str, prompt: str | None) -> str:
    """The model's response inside ``prompt + response``, without trailing special tokens.

    Raises ``PromptNotFound`` when a prompt is given but cannot be located in the query: scoring the whole query
    would let a worked example in the prompt earn the reward. Without a prompt, the response is what follows the
    chat template's last assistant-turn marker, else the whole query.
    """
    response = query[_response_start(query, prompt) :] if prompt else _after_last_assistant_turn(query)
    return strip_trailing_special(response)


def strip_trailing_special(text: str) -> str:
    """``text`` without the end-of-turn and end-of-text tokens that a decode with special tokens leaves."""
    return _TRAILING_SPECIAL.sub("", text)


@router.post("/get_reward", responses=BUSY_RESPONSE)
async def get_reward(
    body: RewardRequest,
    request: Request,
    task: str = Query("math", max_length=64),
    profile: ProfileName = "accuracy",
) -> Any:
    """Score OpenRLHF queries with the engine.

    `prompts` and `labels`, when given, must have as many entries as `query`; `task` must be a known task, and a task
    with ground truth needs at least one label (else a 422 that says so).
    """
    n = len(body.query)
    engine: Engine = request.app.state.engine
    engine.check_size(n)
    for name, values in (("prompts", body.prompts), ("labels", body.labels)):
        if values is not None and len(values) != n:
            raise HTTPException(422, f"{name} has {len(values)} entries, query has {n}")
    prompts = body.prompts or [None] * n
    labels = body.labels or [None] * n
    if task not in engine.registry.tasks:  # a misspelt ?task= would make every reward a silent 0.0
        known = ", ".join(sorted(engine.registry.tasks))
        raise HTTPException(422, f"unknown task {task!r}; known: {known}")
    if engine.registry.has_reference(task) and all(label is None for label in labels):
        # Without references every item would be invalid and OpenRLHF would train on a wall of 0.0 rewards.
        raise HTTPException(
            422,
            f"task {task!r} needs references: send them as 'labels' (OpenRLHF's --label_key), "
            "or use task=format for a reward without ground truth",
        )
    started = time.perf_counter()
    items: list[ScoreItem] = []
    unplaced: dict[int, str] = {}
    for i, (q, p, label) in enumerate(zip(body.query, prompts, labels, strict=True)):
        try:
            completion = split_response(q, p)
        except PromptNotFound as exc:
            unplaced[i] = str(exc)
            completion = ""
        items.append(ScoreItem(id=str(i), task=task, completion=completion, prompt=p, reference=label))
    response = await engine.score(ScoreRequest(items=items, profile=profile, advantage="none"))
    results = response.results
    decided = [r.reward is not None and i not in unplaced for i, r in enumerate(results)]
    rewards = [float(r.reward) if ok else 0.0 for r, ok in zip(results, decided, strict=True)]
    logs: dict[str, list[float]] = {"aha_undecided": [float(not ok) for ok in decided]}
    # Every component of every item, so each log list is as long as the batch.
    for name in sorted({c for r in results for c in r.components} | set(_recipe_components(engine, profile))):
        logs[f"aha_{name}"] = [
            float(r.components.get(name) or 0.0) if i not in unplaced else 0.0 for i, r in enumerate(results)
        ]
    engine.metrics.request_seconds.labels(endpoint="/get_reward").observe(time.perf_counter() - started)
    return {"rewards": rewards, "scores": rewards, "extra_logs": logs}


def _recipe_components(engine: Engine, profile: str) -> list[str]:
    try:
        return list(resolve(profile, None, None, set(engine.registry.components)).weights)
    except ValueError:
        return []
