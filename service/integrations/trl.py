"""TRL reward functions backed by an Aha service.

    from service.integrations.trl import AhaReward
    trainer = GRPOTrainer(..., reward_funcs=[AhaReward("http://aha:8000", task="math", reference_column="solution")])

TRL calls ``f(prompts=…, completions=…, completion_ids=…, **dataset_columns, trainer_state=…, …)`` and expects one
float or ``None`` (skip) per completion. ``AsyncAhaReward`` is the ``async def`` flavour, which TRL awaits together
with other async reward functions. Both are picklable (the async trainer ships reward functions to another
process): the HTTP client is created lazily in whichever process calls them.

A wrong set-up fails loudly instead of handing TRL a column of ``None`` (zero advantages): an unknown profile, a
``component`` the profile does not weigh, a task with ground truth but no reference column at construction; a
reference column missing from the dataset, an unknown task or bad options at the first call.

TRL gives a conversational prompt as messages, without the chat template's generation prompt; templates that open
the thought themselves (DeepSeek-R1 distills, Qwen3: ``…<|Assistant|><think>\n``) make the completion start inside
it. Pass ``tokenizer=`` (the trainer's processing class) and the prompt is rendered as TRL renders it, so the service
sees the opened ``<think>``; or say ``think_prefilled=True``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from service.components import ALL_COMPONENTS, BUILTIN_TASKS, Registry
from service.integrations.client import AhaClient, AsyncAhaClient, RewardSetupError, raise_setup_errors
from service.profiles import resolve

_SKIP_COLUMNS = frozenset({"trainer_state", "log_extra", "log_metric", "environments"})

# The components that read `think_prefilled` (accuracy only through the math verifier).
_PREFILL_READERS = ("format", "language", "tag_count")


def _text(value: Any) -> str:
    # TRL gives plain strings or chat messages; message content may itself be a list of typed parts.
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        content = value.get("content")
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
        return "" if content is None else str(content)
    if isinstance(value, Sequence):
        return "\n".join(_text(m) for m in value)
    return str(value)


def _assistant_text(completion: Any) -> str:
    if isinstance(completion, Sequence) and not isinstance(completion, str):
        return "".join(_text(m) for m in completion if not isinstance(m, Mapping) or m.get("role") == "assistant")
    return _text(completion)


class AhaReward:
    """A synchronous TRL reward function; see the module docstring.

    ``component`` picks one component (e.g. ``"accuracy"``) instead of the profile's weighted reward, so several
    instances can log separately in TRL while Aha caches what they share.
    """

    def __init__(
        self,
        url: str,
        task: str = "math",
        profile: str = "accuracy",
        reference_column: str | None = "solution",
        component: str | None = None,
        weights: Mapping[str, float] | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        language_column: str | None = None,
        name: str | None = None,
        timeout_s: float = 600.0,
        api_key: str | None = None,
        tokenizer: Any = None,
        chat_template_kwargs: Mapping[str, Any] | None = None,
        think_prefilled: bool | None = None,
    ) -> None:
        self.url = url
        self.api_key = api_key  # None: AHA_API_KEY from the environment of the process that calls
        self.task = task
        self.profile = profile
        self.reference_column = reference_column
        self.component = component
        self.weights = dict(weights or {})
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.language_column = language_column
        self.timeout_s = timeout_s
        self.tokenizer = tokenizer
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self._check_setup()
        if think_prefilled is not None:
            readers = [c for c in self._components if c in _PREFILL_READERS or (c == "accuracy" and task == "math")]
            for c in readers:
                self.options.setdefault(c, {}).setdefault("think_prefilled", think_prefilled)
        # TRL names each reward function's column and log by __name__.
        self.__name__ = name or f"aha_{task}_{component or profile}".replace("-", "_")
        self._client: Any = None

    def _check_setup(self) -> None:
        try:
            recipe = resolve(self.profile, self.weights, self.options, set(ALL_COMPONENTS))
        except ValueError as exc:
            raise RewardSetupError(str(exc)) from None
        weighed = list(recipe.weights)
        if self.task == "format":
            weighed = [c for c in weighed if c != "accuracy"]  # a task without ground truth has no accuracy
        self._components = weighed
        if self.component is not None and self.component not in ALL_COMPONENTS:
            raise RewardSetupError(f"unknown component {self.component!r}; known: {', '.join(sorted(ALL_COMPONENTS))}")
        if self.component is not None and self.component not in weighed:
            raise RewardSetupError(
                f"component {self.component!r} is not part of profile {self.profile!r} for task {self.task!r} "
                f"(it weighs {', '.join(weighed) or 'nothing'}): choose a profile that has it "
                f"(e.g. profile='r1-zero'), or give it a weight (weights={{{self.component!r}: 1.0}})"
            )
        # Option keys of the built-in verifiers are known here; a custom task's are checked by the service.
        keys = Registry.offline().unknown_options(self.options, self.task)
        if keys is not None:
            raise RewardSetupError(keys)
        if BUILTIN_TASKS.get(self.task) is not None and not self.reference_column:
            raise RewardSetupError(f"task {self.task!r} needs ground truth: set reference_column to its dataset column")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None
        return state

    def items(self, prompts: Sequence[Any], completions: Sequence[Any], columns: Mapping[str, Any]) -> list[dict]:
        """The Aha items of one TRL call."""
        for column in (self.reference_column, self.language_column):
            if column and column not in columns:
                available = ", ".join(sorted(k for k in columns if k not in _SKIP_COLUMNS))
                raise RewardSetupError(f"the dataset has no column {column!r}; its columns: {available or 'none'}")
        references = columns.get(self.reference_column) if self.reference_column else None
        languages = columns.get(self.language_column) if self.language_column else None
        out = []
        for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
            prompt_text = self._prompt_text(prompt)
            item: dict[str, Any] = {
                "id": str(i),
                "task": self.task,
                "completion": _assistant_text(completion),
                "prompt": prompt_text,
                "group": hashlib.sha1(prompt_text.encode()).hexdigest()[:16],
            }
            if references is not None:
                item["reference"] = references[i]
            if languages is not None:
                item["language"] = languages[i]
            out.append(item)
        return out

    def _prompt_text(self, prompt: Any) -> str:
        if self.tokenizer is not None and isinstance(prompt, Sequence) and not isinstance(prompt, str):
            # As TRL renders it for generation: the generation prompt may open the thought.
            return self.tokenizer.apply_chat_template(
                list(prompt), tokenize=False, add_generation_prompt=True, **self.chat_template_kwargs
            )
        return _text(prompt)

    def rewards(self, response: Mapping[str, Any]) -> list[float | None]:
        """One float or None (undecided: TRL skips it) per completion; raises on a set-up error."""
        raise_setup_errors(response["results"])
        if self.component is None:
            return [r["reward"] for r in response["results"]]
        return [r["components"].get(self.component) for r in response["results"]]

    def _request(self) -> dict[str, Any]:
        return {"profile": self.profile, "weights": self.weights, "options": self.options, "advantage": "none"}

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        if self._client is None:
            self._client = AhaClient(self.url, timeout_s=self.timeout_s, api_key=self.api_key)
        return self.rewards(self._client.score(self.items(prompts, completions, columns), **self._request()))


class AsyncAhaReward(AhaReward):
    """The ``async def`` flavour of ``AhaReward``."""

    async def __call__(  # type: ignore[override]
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        if self._client is None:
            self._client = AsyncAhaClient(self.url, timeout_s=self.timeout_s, api_key=self.api_key)
        response = await self._client.score(self.items(prompts, completions, columns), **self._request())
        return self.rewards(response)
