"""The components a reward can be made of, and which verifier judges each task.

Verifier components (accuracy, format, language) are judged by verifier modules (``verifiers.protocol``);
shaping components (overlong, repetition, cosine, tag_count) are cheap pure functions of the completion and, for
``cosine``, of the accuracy verdict. A component whose module cannot be imported on this host is *unavailable*:
it is reported as such on ``/readyz`` and on every item that asks for it, never replaced by a made-up value.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import Any

from verifiers.verdict import Verdict

log = logging.getLogger("aha.components")

# Task name -> verifier module that judges its accuracy. ``format`` has no ground truth: its items are judged
# by the format component alone (the accuracy component does not apply to them).
BUILTIN_TASKS: Mapping[str, str | None] = MappingProxyType(
    {"math": "verifiers.math", "code": "verifiers.code", "format": None}
)
# Verifiers whose cost is linear in the completion: run in the event loop, skipping a process round-trip.
INLINE_VERIFIERS = frozenset({"verifiers.format"})
VERIFIER_COMPONENTS: Mapping[str, str] = MappingProxyType(
    {"format": "verifiers.format", "language": "verifiers.language"}
)
SHAPING_COMPONENTS = ("overlong", "repetition", "cosine", "tag_count")
ALL_COMPONENTS = frozenset({"accuracy", *VERIFIER_COMPONENTS, *SHAPING_COMPONENTS})

# The option keys each component reads. A misspelt key (`max_len` for `max_length`) would otherwise be ignored and
# the default silently used, so keys outside these sets are refused. Accuracy's keys depend on the task's verifier;
# `signed` is the engine's own. A custom task's verifier is checked only when its module declares OPTION_KEYS.
_THINK = ("think_tags", "think_prefilled")
OPTION_KEYS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "format": frozenset({"layout", "answer_tags", "strict", *_THINK}),
        "language": frozenset({"scope", "default_language", *_THINK}),
        "overlong": frozenset({"max_length", "buffer", "penalty_factor"}),
        "repetition": frozenset({"ngram_size", "max_penalty"}),
        "cosine": frozenset(
            {"max_length", "exceed_value", "min_value_wrong", "max_value_wrong", "min_value_correct"}
            | {"max_value_correct"}
        ),
        "tag_count": frozenset({"think", "answer", "think_prefilled"}),
    }
)
ACCURACY_OPTION_KEYS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "verifiers.math": frozenset(
            {"float_rel_tol", "budget_s", "require_boxed", "rounded_decimals", "renaming", "sentence_number", *_THINK}
        ),
        "verifiers.code": frozenset({"stop_at_first_failure"}),
    }
)


@dataclass(frozen=True)
class VerifierInfo:
    """A verifier module as loaded in this process."""

    module_path: str
    module: ModuleType | None
    reason: str = ""

    @property
    def available(self) -> bool:
        """True when the module imported and follows the protocol."""
        return self.module is not None

    @property
    def version(self) -> str:
        """The module's VERSION (part of every cache key)."""
        return str(getattr(self.module, "VERSION", "?"))


@dataclass(frozen=True)
class ShapingInput:
    """What a shaping component may look at."""

    text: str
    length: int
    length_unit: str  # "tokens" when the client sent a token count, else "chars"
    think_prefilled: bool
    accuracy: Verdict | None


def _load(module_path: str) -> VerifierInfo:
    try:
        module = importlib.import_module(module_path)
    except Exception as exc:  # noqa: BLE001 - any import failure makes the component unavailable
        log.warning("verifier %s unavailable: %s", module_path, exc)
        return VerifierInfo(module_path, None, f"cannot import {module_path}: {type(exc).__name__}: {exc}")
    missing = [name for name in ("NAME", "VERSION", "cache_key", "verify") if not hasattr(module, name)]
    if missing:
        return VerifierInfo(module_path, None, f"{module_path} lacks {', '.join(missing)}")
    return VerifierInfo(module_path, module)


def _shaping_functions() -> tuple[dict[str, Callable[[ShapingInput, Mapping[str, Any]], float]], str]:
    try:
        from verifiers import shaping
    except Exception as exc:  # noqa: BLE001
        return {}, f"cannot import verifiers.shaping: {type(exc).__name__}: {exc}"

    def overlong(inp: ShapingInput, p: Mapping[str, Any]) -> float:
        return shaping.overlong_penalty(
            inp.length, int(p["max_length"]), int(p["buffer"]), float(p.get("penalty_factor", 1.0))
        )

    def repetition(inp: ShapingInput, p: Mapping[str, Any]) -> float:
        return shaping.repetition_penalty(inp.text, int(p.get("ngram_size", 3)), float(p.get("max_penalty", -1.0)))

    def cosine(inp: ShapingInput, p: Mapping[str, Any]) -> float:
        if inp.accuracy is None:
            raise ValueError("cosine needs the accuracy verdict of a task with a reference")
        extra = {k: (None if v is None else float(v)) for k, v in p.items() if k != "max_length"}
        return shaping.cosine_scaled(inp.accuracy.status == "correct", inp.length, int(p["max_length"]), **extra)

    def tag_count(inp: ShapingInput, p: Mapping[str, Any]) -> float:
        kwargs: dict[str, Any] = {k: (None if p[k] is None else tuple(p[k])) for k in ("think", "answer") if k in p}
        prefilled = bool(p.get("think_prefilled", inp.think_prefilled))
        return shaping.tag_count(inp.text, think_prefilled=prefilled, **kwargs)

    return {"overlong": overlong, "repetition": repetition, "cosine": cosine, "tag_count": tag_count}, ""


@dataclass(frozen=True)
class Registry:
    """Tasks, verifiers and shaping functions available in this process."""

    tasks: Mapping[str, str | None]
    verifiers: Mapping[str, VerifierInfo]
    shaping: Mapping[str, Callable[[ShapingInput, Mapping[str, Any]], float]]
    shaping_reason: str = ""
    components: frozenset[str] = field(default=ALL_COMPONENTS)

    @classmethod
    def load(cls, custom_tasks: Mapping[str, str] | None = None) -> Registry:
        """Import every verifier once; custom tasks map a task name to a module path."""
        tasks = dict(BUILTIN_TASKS)
        tasks.update(custom_tasks or {})
        paths = {p for p in tasks.values() if p} | set(VERIFIER_COMPONENTS.values())
        verifiers = {path: _load(path) for path in sorted(paths)}
        shaping, reason = _shaping_functions()
        return cls(MappingProxyType(tasks), MappingProxyType(verifiers), MappingProxyType(shaping), reason)

    def option_keys(self, component: str, task: str | None = None) -> frozenset[str] | None:
        """The option keys ``component`` reads (for accuracy: for ``task``, else for any task); None: not known."""
        if component != "accuracy":
            return OPTION_KEYS.get(component)
        paths = [self.tasks[task]] if task is not None and task in self.tasks else list(self.tasks.values())
        keys = {"signed"}
        for path in paths:
            if path is None:
                continue
            declared = ACCURACY_OPTION_KEYS.get(path)
            if declared is None:
                info = self.verifiers.get(path)
                declared = getattr(info.module, "OPTION_KEYS", None) if info is not None else None
            if declared is None:
                return None  # a custom verifier that does not say what it reads: its keys cannot be checked
            keys.update(declared)
        return frozenset(keys)

    def unknown_options(self, options: Mapping[str, Any] | None, task: str | None = None) -> str | None:
        """A sentence naming the unknown option keys and the valid ones, or None when every key is known."""
        problems = []
        for component, values in (options or {}).items():
            valid = self.option_keys(component, task)
            if valid is None or not isinstance(values, Mapping):
                continue
            unknown = sorted(set(values) - valid)
            if unknown:
                where = f" for task {task!r}" if component == "accuracy" and task is not None else ""
                # A bounded reason, whatever the client sent: the first few keys, cut to a readable length.
                named = ", ".join(repr(k[:40]) for k in unknown[:5])
                if len(unknown) > 5:
                    named += f" (+{len(unknown) - 5} more)"
                problems.append(f"unknown option(s) {named} for {component}{where}; valid: {', '.join(sorted(valid))}")
        return "; ".join(problems) or None

    def pool_modules(self) -> list[str]:
        """Modules the worker processes should import up front."""
        modules = [p for p, info in self.verifiers.items() if info.available and p not in INLINE_VERIFIERS]
        # a verifier may name modules that warm it up on import (see verifiers/math/warm.py)
        return modules + [m for p in modules for m in getattr(self.verifiers[p].module, "PRELOAD", ())]

    def report(self) -> dict[str, Any]:
        """Which tasks and components are usable, for ``/readyz``."""
        tasks = {}
        for task, path in self.tasks.items():
            info = self.verifiers.get(path) if path else None
            usable = path is None or (info is not None and info.available)
            tasks[task] = {"usable": usable, "verifier": path, **({} if usable else {"reason": info.reason})}
        comps: dict[str, Any] = {"accuracy": {"usable": True, "by_task": True}}
        for name, path in VERIFIER_COMPONENTS.items():
            info = self.verifiers[path]
            comps[name] = {"usable": info.available, **({} if info.available else {"reason": info.reason})}
            model_status = getattr(info.module, "model_status", None)
            if model_status is not None:  # e.g. the language-ID model file: present and readable?
                model = model_status()
                comps[name]["model"] = model
                if not model.get("ok", True):
                    comps[name].update(usable=False, reason=model.get("error") or "model unavailable")
        for name in SHAPING_COMPONENTS:
            ok = name in self.shaping
            comps[name] = {"usable": ok, **({} if ok else {"reason": self.shaping_reason})}
        return {"tasks": tasks, "components": comps}
