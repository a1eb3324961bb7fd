"""verl reward functions backed by an Aha service (verl itself is not imported here; see ``verl_manager``).

Three entry points, one per way verl 0.9 computes rule-based rewards:

- ``compute_score`` — ``custom_reward_function`` of the reward loop's ``naive``/``dapo`` managers (one call per
  sample, from a thread pool); the HTTP client is reused across calls of a process.
- ``compute_score_batch`` — the legacy ``BatchRewardManager`` (``verl.workers.reward_manager.batch``): one request
  for the whole batch.
- ``service.integrations.verl_manager.AhaRewardManager`` — a reward manager for the reward loop that sends the
  samples a reward worker holds in one request (the batch path of verl 0.9's trainer).

Configuration comes from verl's own config: ``custom_reward_function.reward_kwargs`` for the functions (verl merges
them into every call), ``reward.reward_kwargs`` for the manager. Keys: ``url``, ``profile``, ``weights``,
``options``, ``api_key``, ``timeout_s``, ``task``; ``AHA_URL``, ``AHA_PROFILE`` and ``AHA_API_KEY`` are the
fallbacks. An unknown key, profile, component or option key raises at once, naming the valid ones; an unknown task
or a missing ground truth raises ``RewardSetupError`` when the samples are scored.

The task is ``extra_info["task"]`` when given, else the ``task`` setting, else ``code`` for a code ground truth (an
object, or its JSON, with ``tests`` or verl's ``inputs``/``outputs``), else ``math``. verl needs a number for every
sample, so an undecided verdict scores 0.0 with ``aha_undecided = 1``. Every result carries the same keys —
``score``, ``aha_undecided`` and ``aha_<component>`` for each component of the recipe — because verl collects the
extra keys of the first sample and reads them from every other one.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.components import ALL_COMPONENTS, Registry
from service.integrations.client import AhaClient, raise_setup_errors
from service.profiles import resolve
from verifiers.code.reference import is_inputs_outputs

SETTING_KEYS = ("url", "profile", "weights", "options", "api_key", "timeout_s", "task")
# What verl itself adds to a reward function's keyword arguments (reward-model routing): not ours to judge.
_VERL_KWARGS = frozenset({"reward_router_address", "reward_model_tokenizer"})


@dataclass(frozen=True)
class Settings:
    """Where and how to score, checked once: an unknown profile, component or option key raises ``ValueError``."""

    url: str
    profile: str
    weights: tuple[tuple[str, float], ...]
    options: str  # JSON, so that settings hash (one client per distinct settings in a process)
    api_key: str | None
    timeout_s: float
    task: str | None
    components: tuple[str, ...]

    @classmethod
    def make(cls, raw: Mapping[str, Any] | None = None, ignore: frozenset[str] = frozenset()) -> Settings:
        """Settings from verl's ``reward_kwargs`` (plain or OmegaConf mapping) and the environment."""
        raw = _plain(dict(raw or {}))
        unknown = sorted(set(raw) - set(SETTING_KEYS) - ignore)
        if unknown:
            raise ValueError(
                f"unknown Aha reward setting(s) {', '.join(map(repr, unknown))}; valid: {', '.join(SETTING_KEYS)}"
            )
        profile = raw.get("profile") or os.environ.get("AHA_PROFILE", "accuracy")
        weights = dict(raw.get("weights") or {})
        options = {k: dict(v) for k, v in (raw.get("options") or {}).items()}
        recipe = resolve(profile, weights, options, set(ALL_COMPONENTS))
        problem = Registry.offline().unknown_options(options, raw.get("task"))
        if problem is not None:
            raise ValueError(problem)
        return cls(
            url=str(raw.get("url") or os.environ.get("AHA_URL", "http://127.0.0.1:8000")),
            profile=profile,
            weights=tuple(sorted((k, float(v)) for k, v in weights.items())),
            options=json.dumps(options, sort_keys=True),
            api_key=raw.get("api_key"),
            timeout_s=float(raw.get("timeout_s", 600.0)),
            task=raw.get("task"),
            # accuracy always: a format item has none, a cosine recipe judges it; the key set must not vary
            components=tuple(sorted({*recipe.weights, "accuracy"})),
        )

    def request(self) -> dict[str, Any]:
        """The request fields of ``AhaClient.score``."""
        return {
            "profile": self.profile,
            "weights": dict(self.weights),
            "options": json.loads(self.options),
            "advantage": "none",
        }


def _plain(value: Any) -> Any:
    """JSON-ready values from what verl hands over: numpy arrays and scalars (parquet rows), OmegaConf nodes."""
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "tolist"):  # numpy array or scalar
        return _plain(value.tolist())
    if isinstance(value, Sequence) or hasattr(value, "__iter__"):
        return [_plain(v) for v in value]
    return value


def task_of(ground_truth: Any, extra_info: Mapping[str, Any] | None, default: str | None = None) -> str:
    """Which Aha task judges this sample (see the module docstring)."""
    if extra_info and isinstance(extra_info.get("task"), str):
        return extra_info["task"]
    if default:
        return default
    reference = ground_truth
    if isinstance(reference, str) and reference.lstrip().startswith("{"):
        try:
            reference = json.loads(reference)
        except ValueError:
            return "math"
    if isinstance(reference, Mapping) and ("tests" in reference or is_inputs_outputs(dict(reference))):
        return "code"
    return "math"


def item(
    index: int,
    solution: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None,
    settings: Settings,
    prompt: str | None = None,
) -> dict[str, Any]:
    """The Aha item of one verl sample."""
    extra = _plain(dict(extra_info or {}))
    out: dict[str, Any] = {
        "id": str(index),
        "task": task_of(ground_truth, extra, settings.task),
        "completion": solution,
        "reference": _plain(ground_truth),
    }
    if prompt:
        out["prompt"] = prompt
    if isinstance(extra.get("language"), str):
        out["language"] = extra["language"]
    return out


def as_verl(result: Mapping[str, Any], components: Sequence[str]) -> dict[str, Any]:
    """verl's result dict: ``score``, ``aha_undecided`` and one ``aha_<component>`` per recipe component."""
    reward = result.get("reward")
    values = result.get("components") or {}
    out: dict[str, Any] = {"score": 0.0 if reward is None else float(reward), "aha_undecided": int(reward is None)}
    for name in components:
        value = values.get(name)
        out[f"aha_{name}"] = 0.0 if value is None else float(value)
    return out


@functools.lru_cache(maxsize=16)
def _client(settings: Settings) -> AhaClient:
    # verl calls a plain function once per sample: the process is the only place a connection pool can live
    # across calls (a new client per call cost 23.6 ms per sample against 0.9 ms reused). httpx.Client is
    # thread-safe, and verl calls from a thread pool.
    return AhaClient(settings.url, timeout_s=settings.timeout_s, api_key=settings.api_key)


@functools.lru_cache(maxsize=64)
def _settings(frozen: str, _environment: tuple[str | None, ...]) -> Settings:
    return Settings.make(json.loads(frozen))


def settings_from(kwargs: Mapping[str, Any]) -> Settings:
    """The settings of one call's keyword arguments (verl's ``reward_kwargs``), checked once per distinct value."""
    ours = {k: v for k, v in kwargs.items() if k not in _VERL_KWARGS}
    environment = tuple(os.environ.get(k) for k in ("AHA_URL", "AHA_PROFILE"))
    return _settings(json.dumps(_plain(ours), sort_keys=True), environment)


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    **reward_kwargs: Any,
) -> list[dict[str, Any]]:
    """verl's legacy ``BatchRewardManager`` entry point: one request, one dict with ``score`` per sample."""
    settings = settings_from(reward_kwargs)
    extras = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    items = [
        item(i, s, g, e, settings) for i, (s, g, e) in enumerate(zip(solution_strs, ground_truths, extras, strict=True))
    ]
    if not items:
        return []
    response = _client(settings).score(items, **settings.request())
    raise_setup_errors(response["results"])
    return [as_verl(r, settings.components) for r in response["results"]]


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: Mapping[str, Any] | None = None,
    **reward_kwargs: Any,
) -> dict[str, Any]:
    """verl's per-sample entry point (``custom_reward_function.name: compute_score``)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **reward_kwargs)[0]
