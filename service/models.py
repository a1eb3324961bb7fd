"""The wire contract of ``POST /v1/score`` as pydantic models (see ``shared/design.md``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from service.components import ALL_COMPONENTS
from service.profiles import PROFILES
from verifiers.verdict import Status

# The schema lists the names, so a client (and a schema-driven fuzzer) knows which ones are accepted.
ComponentName = Literal[tuple(sorted(ALL_COMPONENTS))]  # type: ignore[valid-type]
ProfileName = Literal[tuple(PROFILES)]  # type: ignore[valid-type]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _integral(value: Any) -> Any:
    # JSON Schema's "integer" includes 3.0; strict mode alone would refuse it (and rightly still refuses "3", true).
    return int(value) if isinstance(value, float) and value.is_integer() else value


TokenCount = Annotated[int, Field(ge=0), BeforeValidator(_integral)]


class ContentPart(BaseModel):
    """One part of a message's content in OpenAI's shape: ``{"type": "text", "text": …}`` (other types, such as
    images, carry no text to judge)."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    """One chat message, for conversational prompts and completions (TRL's format; content as a string or as
    OpenAI-style parts, whose text parts are joined)."""

    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[ContentPart] | None = None

    @field_validator("content", mode="after")
    @classmethod
    def _text_of_parts(cls, value: str | list[ContentPart] | None) -> str | None:
        if isinstance(value, list):
            return "".join(part.text or "" for part in value if part.type == "text")
        return value


class ValidationIssue(BaseModel):
    """One reason a request was refused: where in the body, and what is wrong."""

    loc: list[str | int]
    msg: str
    type: str | None = None
    input: Any = None


class ErrorBody(BaseModel):
    """Every error answer: a sentence, or (422) the list of what is wrong."""

    detail: str | list[ValidationIssue]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    408: {"model": ErrorBody, "description": "The request body did not arrive in time"},
    413: {"model": ErrorBody, "description": "The request body is over the byte limit"},
    422: {"model": ErrorBody, "description": "The request is malformed: not JSON, wrong fields or types, limits"},
}

BUSY_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "Too many items in flight: retry after the `Retry-After` seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
    }
}
UNAUTHORIZED_RESPONSE: dict[str, Any] = {"model": ErrorBody, "description": "Missing or invalid API key"}


class ScoreItem(BaseModel):
    """One completion to score.

    Fields that are wrong for their task (unknown task, missing reference, over-long completion) are not a 422: the
    item comes back with status ``invalid_item`` and the rest of the batch is scored.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str | None = Field(None, max_length=512, description="Echoed back; defaults to the item's index")
    task: str = Field(..., max_length=64, description="Which verifier judges accuracy: math, code, format, …")
    completion: str | list[Message] = Field(..., description="Model output, plain or as chat messages")
    reference: Any = Field(None, description="Ground truth: a string for math, an object for code")
    prompt: str | list[Message] | None = Field(None, description="The prompt, used for language and <think>")
    group: str | None = Field(None, max_length=512, description="GRPO group: advantages are computed within it")
    language: str | None = Field(None, max_length=16, description="Target language of the chain of thought")
    source: str | None = Field(None, max_length=256, description="Data set of the item (used by aha grade)")
    length: TokenCount | None = Field(None, description="Completion length in tokens, for length shaping")
    options: dict[str, dict[str, Any]] | None = Field(
        None, description="Per-item options by component, e.g. {'format': {'layout': 'r1'}}"
    )


class ScoreRequest(BaseModel):
    """A batch of completions and how to turn verdicts into rewards."""

    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[ScoreItem] = Field(..., min_length=1)
    profile: ProfileName = Field("accuracy", description="Named reward recipe: accuracy, r1-zero, r1, dapo, format")
    weights: dict[ComponentName, FiniteFloat] | None = Field(
        None, description="Inline component weights; they replace the profile's weight of each named component"
    )
    options: dict[ComponentName, dict[str, Any]] | None = Field(
        None, description="Options by component for every item, e.g. {'overlong': {'max_length': 4096}}"
    )
    advantage: Literal["grpo", "center", "none"] = Field(
        "grpo", description="grpo: (r - mean) / (std + 1e-4) per group; center: r - mean; none: no advantages"
    )
    use_cache: bool = Field(True, description="Read and write the result cache")

    @field_validator("profile", mode="before")
    @classmethod
    def _known_profile(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in PROFILES:
            raise ValueError(f"unknown profile {value!r}; known: {', '.join(sorted(PROFILES))}")
        return value

    @field_validator("weights", "options", mode="before")
    @classmethod
    def _known_components(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = sorted(str(name) for name in value if name not in ALL_COMPONENTS)
            if unknown:
                known = ", ".join(sorted(ALL_COMPONENTS))
                raise ValueError(f"unknown component(s) {', '.join(map(repr, unknown))}; known: {known}")
        return value


# Every status an item can have: the verifiers' statuses and the engine's own, `invalid_item` and `scored` (an
# item of shaping components only), one vocabulary, listed by the OpenAPI schema.
ItemStatus = StrEnum(
    "ItemStatus", {**{s.name: s.value for s in Status}, "INVALID_ITEM": "invalid_item", "SCORED": "scored"}
)


class ItemResult(BaseModel):
    """The reward of one item and how it was made."""

    id: str
    reward: float | None = Field(description="Weighted sum of components; null when a verdict is undecided")
    components: dict[str, float | None]
    status: ItemStatus  # type: ignore[valid-type]
    reason: str
    details: dict[str, Any]
    advantage: float | None = None
    cached: bool = False


class ScoreStats(BaseModel):
    """What the engine did for one request."""

    items: int
    unique_jobs: int
    cache_hits: int
    verified: int
    timeouts: int
    invalid: int
    seconds: float


class ScoreResponse(BaseModel):
    """One result per item, in request order."""

    results: list[ItemResult]
    stats: ScoreStats
