"""The engine every face goes through: validate, de-duplicate, cache, verify under deadlines, combine, advantage.

One ``ScoreRequest`` in, one ``ScoreResponse`` out, one result per item in request order. Nothing that one item
does (a bad field, a verifier that hangs or eats memory) changes what the other items get.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sandboxes
from service.advantages import group_advantages
from service.cache import Cache, make_cache
from service.components import SHAPING_COMPONENTS, Registry, ShapingInput, VerifierInfo
from service.fair import FairSlots
from service.metrics import Metrics
from service.models import ItemResult, ItemStatus, Message, ScoreItem, ScoreRequest, ScoreResponse, ScoreStats
from service.pool import VerifierPool, call_verifier
from service.profiles import RewardRecipe, resolve
from service.settings import Settings
from verifiers.protocol import Verifier
from verifiers.shaping import completion_length
from verifiers.tags import THINK_TAGS, think_prefilled
from verifiers.verdict import Attempt, Status, Verdict

log = logging.getLogger("aha.engine")

# Which verdict speaks for the item when the recipe has several components.
_PRIMARY_ORDER = ("accuracy", "format", "language")
# Share of the pool's fair slots one job of a verifier that runs programs takes (see service/fair.py).
SANDBOXED_UNITS = 4
# Above this many completion characters in one request, in-process judging runs in a thread (see `_score`).
_OFFLOAD_CHARS = 200_000


class RequestRejected(Exception):
    """A request the engine does not take as a whole; every face maps these to one response each."""


class RecipeError(RequestRejected, ValueError):
    """The request's profile, weights or options make no sense (a 422)."""


class TooManyItems(RequestRejected, ValueError):
    """The request holds more items than one request may (a 422)."""


class Overloaded(RequestRejected):
    """The bounded queue is full; the caller should retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"queue full, retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Job:
    """One verifier call, identified by the hash of everything its verdict depends on."""

    key: str
    verifier: Verifier
    attempt: Attempt
    timeout: float
    units: int = 1


@dataclass
class Plan:
    """What one item needs: its verifier jobs, shaping components, and any reason it cannot be scored."""

    id: str
    task: str
    weights: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
    jobs: dict[str, Job] = field(default_factory=dict)
    broken: dict[str, Verdict] = field(default_factory=dict)
    shaping: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    signed_accuracy: bool = False
    text: str = ""
    length: int = 0
    length_unit: str = "chars"
    think_prefilled: bool = False


def message_text(value: str | list[Message] | None, roles: tuple[str, ...]) -> str:
    """Plain text of a completion or prompt given as a string or as chat messages of the given roles."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "\n".join(m.content or "" for m in value if not roles or m.role in roles)


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value (a scalar is 1), counted without recursion and only up to ``limit + 1``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list | tuple):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _json_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    return len(json.dumps(value, default=str))


def build_engine(settings: Settings) -> Engine:
    """An engine with its cache, registry and metrics, as every face (HTTP app, CLI, Ray replicas) uses it."""
    cache = make_cache(
        settings.redis_url,
        settings.cache_ttl_s,
        settings.memory_cache_items,
        settings.redis_timeout_s,
        settings.redis_retry_s,
    )
    return Engine(settings, cache, Registry.load(settings.custom_tasks, settings.sandbox), Metrics())


class Engine:
    """Scores batches; owns the worker pool, the cache and the metrics of one service instance."""

    def __init__(self, settings: Settings, cache: Cache, registry: Registry, metrics: Metrics) -> None:
        self.settings = settings
        self.cache = cache
        self.registry = registry
        self.metrics = metrics
        self.pool = VerifierPool(settings.workers, settings.worker_memory_mb, registry.pool_modules())
        # Units for 8 cheap jobs per worker keep every worker fed while the next job is chosen fairly; a sandboxed
        # job takes 4, so at most 2 per worker queue ahead of another request's (service/fair.py).
        self.slots = FairSlots(8 * settings.workers)
        self._in_flight_items = 0
        self._running: dict[str, asyncio.Task[Verdict]] = {}

    async def close(self) -> None:
        """Stop workers, remove what their sandbox runs in flight left behind, and close the cache."""
        self.pool.close()
        try:
            await asyncio.to_thread(sandboxes.sweep_leftovers, self.settings.sandbox)
        except Exception:  # noqa: BLE001 - a host without a usable sandbox has nothing to sweep
            log.debug("sandbox sweep at shutdown failed", exc_info=True)
        await self.cache.close()

    @property
    def queue_depth(self) -> int:
        """Items accepted and not yet answered."""
        return self._in_flight_items

    def recipe(self, request: ScoreRequest) -> RewardRecipe:
        """The request's profile with its overrides; RecipeError (a 422) when they make no sense."""
        if json_depth(request.options, self.settings.max_json_depth) > self.settings.max_json_depth:
            raise RecipeError(f"options are nested deeper than the limit of {self.settings.max_json_depth} levels")
        try:
            recipe = resolve(request.profile, request.weights, request.options, set(self.registry.components))
        except ValueError as exc:
            raise RecipeError(str(exc)) from exc
        unknown = self.registry.unknown_options(request.options)
        if unknown is not None:
            raise RecipeError(f"options: {unknown}")
        return recipe

    def check_size(self, count: int) -> None:
        """TooManyItems when ``count`` items are more than one request may hold."""
        if count > self.settings.max_items:
            raise TooManyItems(f"{count} items exceed the limit of {self.settings.max_items} per request")

    async def score(self, request: ScoreRequest) -> ScoreResponse:
        """Score every item of the request; raises a ``RequestRejected`` (too many items, a bad recipe, a full
        queue) only."""
        count = len(request.items)
        self.check_size(count)
        recipe = self.recipe(request)
        # Admission asks only whether the queue is below its mark, not whether this batch fits under it: otherwise
        # small requests would always slip in first and a large batch could wait forever.
        if self._in_flight_items >= self.settings.max_queue:
            self.metrics.rejected.inc()
            raise Overloaded(retry_after=max(1, math.ceil(self._in_flight_items / (50 * self.settings.workers))))
        self._in_flight_items += count
        self.metrics.queue_depth.set(self._in_flight_items)
        try:
            return await self._score(request, recipe, lane=object())
        finally:
            self._in_flight_items -= count
            self.metrics.queue_depth.set(self._in_flight_items)

    async def _score(self, request: ScoreRequest, recipe: RewardRecipe, lane: object) -> ScoreResponse:
        started = time.perf_counter()
        plans = [self._safe_plan(i, item, recipe) for i, item in enumerate(request.items)]
        jobs: dict[str, Job] = {}
        for plan in plans:
            for job in plan.jobs.values():
                jobs.setdefault(job.key, job)

        hits: dict[str, Verdict] = {}
        if request.use_cache and jobs:
            for key, data in (await self.cache.get_many(list(jobs))).items():
                try:
                    hits[key] = Verdict.from_dict(data)
                except (KeyError, TypeError, ValueError):
                    continue
        self.metrics.cache_hits.inc(len(hits))
        self.metrics.cache_misses.inc(len(jobs) - len(hits))

        verdicts: dict[str, Verdict] = dict(hits)
        pending = [job for key, job in jobs.items() if key not in hits]
        # The in-process work (format checks, shaping) is linear in the text, but a batch of long completions is
        # still seconds of it: off the event loop then, so other requests and /healthz are answered meanwhile.
        offload = sum(len(plan.text) for plan in plans) > _OFFLOAD_CHARS
        inline = [job for job in pending if job.verifier.inline]
        if inline:
            ran = await asyncio.to_thread(self._run_inlines, inline) if offload else self._run_inlines(inline)
            verdicts.update(ran)
        remote = [job for job in pending if not job.verifier.inline]
        if remote:
            done = await asyncio.gather(*(self._run_shared(job, lane) for job in remote))
            verdicts.update(zip((job.key for job in remote), done, strict=True))
        fresh = {job.key: verdicts[job.key].to_dict() for job in pending if verdicts[job.key].decided}
        if request.use_cache and fresh:
            await self.cache.set_many(fresh)

        if offload:
            results = await asyncio.to_thread(lambda: [self._safe_result(p, verdicts, hits) for p in plans])
        else:
            results = [self._safe_result(plan, verdicts, hits) for plan in plans]
        advantages = group_advantages([r.reward for r in results], [i.group for i in request.items], request.advantage)
        for result, advantage in zip(results, advantages, strict=True):
            result.advantage = advantage
        for plan, result in zip(plans, results, strict=True):
            # Unknown task names stay out of the label set, so a client cannot grow it without bound.
            task = plan.task if plan.task in self.registry.tasks else "unknown"
            self.metrics.items.labels(task=task, status=result.status).inc()
        timeouts = sum(1 for job in pending if verdicts[job.key].status == Status.TIMEOUT)
        stats = ScoreStats(
            items=len(plans),
            unique_jobs=len(jobs),
            cache_hits=len(hits),
            verified=len(pending),
            timeouts=timeouts,
            invalid=sum(1 for plan in plans if plan.error),
            seconds=round(time.perf_counter() - started, 6),
        )
        return ScoreResponse(results=results, stats=stats)

    # -- planning ---------------------------------------------------------------------------------------------

    def _safe_plan(self, index: int, item: ScoreItem, recipe: RewardRecipe) -> Plan:
        try:
            return self._plan(index, item, recipe)
        except Exception as exc:  # noqa: BLE001 - one item's surprise stays on that item
            log.exception("planning item %s failed", index)
            plan = Plan(id=item.id if item.id is not None else str(index), task=item.task)
            plan.error = f"could not plan this item: {type(exc).__name__}: {exc}"[:300]
            return plan

    def _plan(self, index: int, item: ScoreItem, recipe: RewardRecipe) -> Plan:
        plan = Plan(id=item.id if item.id is not None else str(index), task=item.task)
        s = self.settings
        text = message_text(item.completion, ("assistant",))
        prompt = message_text(item.prompt, ())
        plan.text = text
        plan.length, plan.length_unit = completion_length(text, item.length)
        plan.think_prefilled = think_prefilled({}, prompt, THINK_TAGS[0])
        if item.task not in self.registry.tasks:
            plan.error = f"unknown task {item.task!r}; known: {', '.join(sorted(self.registry.tasks))}"
            return plan
        task_verifier = self.registry.tasks[item.task]
        if len(text) > s.max_completion_chars:
            plan.error = f"completion has {len(text)} characters; the limit is {s.max_completion_chars}"
            return plan
        if len(prompt) > s.max_prompt_chars:
            plan.error = f"prompt has {len(prompt)} characters; the limit is {s.max_prompt_chars}"
            return plan
        if task_verifier is not None and item.reference is None:
            plan.error = f"task {item.task!r} needs a reference"
            return plan
        for name, value in (("reference", item.reference), ("options", item.options)):
            if json_depth(value, s.max_json_depth) > s.max_json_depth:
                plan.error = f"{name} is nested deeper than the limit of {s.max_json_depth} levels"
                return plan
        if item.reference is not None and _json_size(item.reference) > s.max_reference_chars:
            plan.error = f"reference is larger than the limit of {s.max_reference_chars} characters"
            return plan
        unknown = set(item.options or {}) - set(self.registry.components)
        if unknown:
            plan.error = f"unknown component(s) in item options: {', '.join(sorted(unknown))}"
            return plan
        unknown_keys = self.registry.unknown_options(item.options, item.task)
        if unknown_keys is not None:
            plan.error = f"item options: {unknown_keys}"
            return plan

        weights = dict(recipe.weights)
        if task_verifier is None:
            weights.pop("accuracy", None)  # a task without ground truth has no accuracy to weigh
        if not weights:
            plan.error = f"profile {recipe.profile!r} has no component that applies to task {item.task!r}"
            return plan
        plan.weights = weights
        needed = list(weights)
        if "cosine" in weights and "accuracy" not in weights and task_verifier is not None:
            needed.append("accuracy")  # cosine scales by correctness even when accuracy itself has no weight
        for component in needed:
            options = {**recipe.options.get(component, {}), **(item.options or {}).get(component, {})}
            if component == "accuracy" and task_verifier is not None:  # a task without ground truth has none
                plan.signed_accuracy = bool(options.pop("signed", False))
                self._add_job(
                    plan,
                    component,
                    task_verifier,
                    Attempt(text, item.reference, prompt or None, item.language, options),
                )
            elif component in self.registry.verifiers:
                self._add_job(
                    plan,
                    component,
                    self.registry.verifiers[component],
                    Attempt(text, None, prompt or None, item.language, options),
                )
            elif component in SHAPING_COMPONENTS:
                if component in self.registry.shaping:
                    plan.shaping[component] = options
                else:
                    plan.unavailable[component] = self.registry.shaping_reason
        return plan

    def _add_job(self, plan: Plan, component: str, info: VerifierInfo, attempt: Attempt) -> None:
        verifier = info.verifier
        if verifier is None:
            plan.unavailable[component] = info.reason
            return
        try:
            content_key = verifier.cache_key(attempt)
            budget = verifier.budget_s(attempt)
        except Exception as exc:  # noqa: BLE001 - a verifier bug on one item stays on that item
            plan.broken[component] = Verdict(
                0.0, Status.VERIFIER_ERROR, f"{info.label}.cache_key raised {type(exc).__name__}: {exc}"[:300]
            )
            return
        digest = hashlib.sha256(f"{info.label}\0{verifier.version}\0{content_key}".encode()).hexdigest()
        if budget is None:
            budget = self.settings.item_timeout_s
        timeout = min(max(float(budget), 0.1), self.settings.max_item_timeout_s)
        attempt = dataclasses.replace(attempt, deadline_s=timeout)
        units = SANDBOXED_UNITS if verifier.sandboxed else 1
        plan.jobs[component] = Job(digest, verifier, attempt, timeout, units)

    # -- running ----------------------------------------------------------------------------------------------

    def _run_inlines(self, jobs: list[Job]) -> dict[str, Verdict]:
        return {job.key: self._run_inline(job) for job in jobs}

    def _run_inline(self, job: Job) -> Verdict:
        started = time.perf_counter()
        verdict = Verdict.from_dict(call_verifier(job.verifier, job.attempt))
        self.metrics.verify_seconds.labels(verifier=job.verifier.label).observe(time.perf_counter() - started)
        return verdict

    async def _run_shared(self, job: Job, lane: object) -> Verdict:
        # Concurrent requests that need the same verdict share one worker call (GRPO groups often repeat).
        task = self._running.get(job.key)
        if task is None:
            task = asyncio.ensure_future(self._run_pool(job, lane))
            self._running[job.key] = task
            task.add_done_callback(lambda _t, key=job.key: self._running.pop(key, None))
        return await asyncio.shield(task)

    async def _run_pool(self, job: Job, lane: object) -> Verdict:
        async with self.slots.hold(lane, job.units):
            started = time.perf_counter()
            verdict = await self.pool.run(job.verifier, job.attempt, job.timeout)
        self.metrics.verify_seconds.labels(verifier=job.verifier.label).observe(time.perf_counter() - started)
        if verdict.status == Status.TIMEOUT:
            self.metrics.timeouts.labels(verifier=job.verifier.label).inc()
        return verdict

    # -- combining --------------------------------------------------------------------------------------------

    def _safe_result(self, plan: Plan, verdicts: Mapping[str, Verdict], hits: Mapping[str, Verdict]) -> ItemResult:
        try:
            return self._result(plan, verdicts, hits)
        except Exception as exc:  # noqa: BLE001 - a bug while combining one item must not cost the batch
            log.exception("combining item %s failed", plan.id)
            return ItemResult(
                id=plan.id,
                reward=None,
                components={},
                status=Status.VERIFIER_ERROR.value,
                reason=f"could not combine components: {type(exc).__name__}: {exc}"[:300],
                details={},
            )

    def _result(self, plan: Plan, verdicts: Mapping[str, Verdict], hits: Mapping[str, Verdict]) -> ItemResult:
        if plan.error:
            return _invalid(plan, plan.error)
        by_component: dict[str, Verdict] = {c: verdicts[j.key] for c, j in plan.jobs.items()}
        by_component.update(plan.broken)
        components: dict[str, float | None] = {}
        details: dict[str, Any] = {}
        for component, verdict in by_component.items():
            value = verdict.score
            if component == "accuracy" and plan.signed_accuracy:
                value = 2.0 * value - 1.0
            components[component] = value if verdict.decided else None
            details[component] = {"status": str(verdict.status), "reason": verdict.reason, **verdict.details}
        accuracy = by_component.get("accuracy")
        shaping_input = ShapingInput(plan.text, plan.length, plan.length_unit, plan.think_prefilled, accuracy)
        for component, options in plan.shaping.items():
            if component == "cosine" and accuracy is not None and not accuracy.decided:
                components[component] = None
                details[component] = {"status": str(accuracy.status), "reason": "accuracy was not decided"}
                continue
            try:
                value = float(self.registry.shaping[component](shaping_input, options))
                if not math.isfinite(value):
                    # inf or NaN options (penalty_factor, bounds) would poison every advantage of the group
                    raise ValueError(f"the options give a non-finite value ({value})")
            except (ValueError, KeyError, TypeError) as exc:
                why = f"missing option {exc}" if isinstance(exc, KeyError) else str(exc)
                return _invalid(plan, f"bad options for {component}: {why}")
            components[component] = value
            details[component] = {
                "status": ItemStatus.SCORED.value,
                "options": dict(options),
                "length": plan.length,
                "length_unit": plan.length_unit,
            }
        for component, reason in plan.unavailable.items():
            components[component] = None
            details[component] = {"status": Status.UNAVAILABLE.value, "reason": reason}

        status, reason = self._status(plan, by_component)
        reward = None
        if all(components.get(c) is not None for c in plan.weights):
            reward = sum(w * float(components[c]) for c, w in plan.weights.items())  # type: ignore[arg-type]
            if not math.isfinite(reward):
                return _invalid(plan, f"the weights overflow: the reward is {reward}")
        cached = bool(plan.jobs) and all(j.key in hits for j in plan.jobs.values())
        return ItemResult(
            id=plan.id,
            reward=reward,
            components=components,
            status=status,
            reason=reason,
            details=details,
            cached=cached,
        )

    @staticmethod
    def _status(plan: Plan, by_component: Mapping[str, Verdict]) -> tuple[str, str]:
        if plan.unavailable:
            component, why = next(iter(plan.unavailable.items()))
            return Status.UNAVAILABLE.value, f"{component} is unavailable: {why}"
        for component, verdict in by_component.items():
            if not verdict.decided:
                return str(verdict.status), f"{component}: {verdict.reason}"
        for component in _PRIMARY_ORDER:
            if component in by_component:
                verdict = by_component[component]
                return str(verdict.status), verdict.reason
        return ItemStatus.SCORED.value, "shaping components only"


def _invalid(plan: Plan, reason: str) -> ItemResult:
    return ItemResult(id=plan.id, reward=None, components={}, status=ItemStatus.INVALID_ITEM, reason=reason, details={})
