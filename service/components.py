"""The components a reward can be made of, and which verifier judges each task.

Verifier components (accuracy, format, language) are judged by verifier objects (``verifiers.protocol``), built
here once per engine by the named constructors below; shaping components (overlong, repetition, cosine,
tag_count) are cheap pure functions of the completion and, for ``cosine``, of the accuracy verdict. A component
whose verifier cannot be imported on this host is *unavailable*: it is reported as such on ``/readyz`` and on every
item that asks for it, never replaced by a made-up value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sandboxes.config import SandboxSettings
from verifiers.protocol import ModuleVerifier, NotAVerifier, Verifier
from verifiers.verdict import Verdict

log = logging.getLogger("aha.components")

VerifierFactory = Callable[[SandboxSettings | None], Verifier]


# Each constructor imports its verifier when the registry is built, so a verifier whose dependencies are missing
# makes its component unavailable instead of stopping the service.
def math_verifier(sandbox: SandboxSettings | None) -> Verifier:
    """The math verifier (boxed-answer equivalence)."""
    from verifiers.math import MathVerifier

    return MathVerifier()


def code_verifier(sandbox: SandboxSettings | None) -> Verifier:
    """The code verifier, running programs in the sandbox of ``sandbox``."""
    from verifiers.code import CodeVerifier

    return CodeVerifier(sandbox)


def format_verifier(sandbox: SandboxSettings | None) -> Verifier:
    """The format verifier (tag layout)."""
    from verifiers.format import FormatVerifier

    return FormatVerifier()


def language_verifier(sandbox: SandboxSettings | None) -> Verifier:
    """The language-consistency verifier."""
    from verifiers.language import LanguageVerifier

    return LanguageVerifier()


# Task name -> the constructor of the verifier that judges its accuracy. ``format`` has no ground truth: its items
# are judged by the format component alone (the accuracy component does not apply to them).
BUILTIN_TASKS: Mapping[str, VerifierFactory | None] = MappingProxyType(
    {"math": math_verifier, "code": code_verifier, "format": None}
)
VERIFIER_COMPONENTS: Mapping[str, VerifierFactory] = MappingProxyType(
    {"format": format_verifier, "language": language_verifier}
)
SHAPING_COMPONENTS = ("overlong", "repetition", "cosine", "tag_count")
ALL_COMPONENTS = frozenset({"accuracy", *VERIFIER_COMPONENTS, *SHAPING_COMPONENTS})

# The option keys each component reads. A misspelt key (`max_len` for `max_length`) would otherwise be ignored and
# the default silently used, so keys outside these sets are refused. Accuracy's keys depend on the task's verifier;
# `signed` is the engine's own. A custom task's verifier is checked only when it declares its option keys. These
# are data, not read from the verifiers, so a client adapter can check a request without importing them.
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
        "math": frozenset(
            {"float_rel_tol", "budget_s", "require_boxed", "rounded_decimals", "renaming", "sentence_number", *_THINK}
        ),
        "code": frozenset({"stop_at_first_failure"}),
    }
)


@dataclass(frozen=True)
class VerifierInfo:
    """A verifier as loaded in this process, or why it could not be."""

    label: str
    verifier: Verifier | None
    reason: str = ""

    @property
    def available(self) -> bool:
        """True when the verifier was built."""
        return self.verifier is not None

    @property
    def version(self) -> str:
        """The verifier's version (part of every cache key)."""
        return self.verifier.version if self.verifier is not None else "?"


def _build(label: str, factory: VerifierFactory, sandbox: SandboxSettings | None) -> VerifierInfo:
    # ``label`` names a verifier that could not be built; one that was built names itself.
    try:
        verifier = factory(sandbox)
        return VerifierInfo(verifier.label, verifier)
    except NotAVerifier as exc:
        return VerifierInfo(label, None, str(exc))
    except Exception as exc:  # noqa: BLE001 - any import failure makes the component unavailable
        log.warning("verifier %s unavailable: %s", label, exc)
        return VerifierInfo(label, None, f"cannot import {label}: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class ShapingInput:
    """What a shaping component may look at."""

    text: str
    length: int
    length_unit: str  # "tokens" when the client sent a token count, else "chars"
    think_prefilled: bool
    accuracy: Verdict | None


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
    """Tasks, verifiers and shaping functions available in this process.

    ``tasks`` maps a task to the verifier of its accuracy (None: no ground truth), ``verifiers`` a verifier
    component (format, language) to its verifier.
    """

    tasks: Mapping[str, VerifierInfo | None]
    verifiers: Mapping[str, VerifierInfo]
    shaping: Mapping[str, Callable[[ShapingInput, Mapping[str, Any]], float]]
    shaping_reason: str = ""
    components: frozenset[str] = field(default=ALL_COMPONENTS)

    @classmethod
    def load(cls, custom_tasks: Mapping[str, str] | None = None, sandbox: SandboxSettings | None = None) -> Registry:
        """Build every verifier once; custom tasks map a task name to a verifier module's path. The code verifier
        runs programs in the sandbox of ``sandbox`` (None: of the environment's settings)."""
        # A built-in verifier is labelled by its package, a custom one by its module path.
        tasks: dict[str, VerifierInfo | None] = {
            task: None if factory is None else _build(f"verifiers.{task}", factory, sandbox)
            for task, factory in BUILTIN_TASKS.items()
        }
        for task, path in (custom_tasks or {}).items():
            tasks[task] = _build(path, lambda _sandbox, path=path: ModuleVerifier(path), sandbox)
        verifiers = {name: _build(f"verifiers.{name}", f, sandbox) for name, f in VERIFIER_COMPONENTS.items()}
        shaping, reason = _shaping_functions()
        return cls(MappingProxyType(tasks), MappingProxyType(verifiers), MappingProxyType(shaping), reason)

    @classmethod
    def offline(cls) -> Registry:
        """The built-in tasks and components with no verifier built: what a client needs to check option keys."""
        tasks = {
            task: None if f is None else VerifierInfo(f"verifiers.{task}", None) for task, f in BUILTIN_TASKS.items()
        }
        return cls(MappingProxyType(tasks), MappingProxyType({}), MappingProxyType({}))

    def has_reference(self, task: str) -> bool:
        """True when ``task`` is known and judged against a reference (ground truth)."""
        return self.tasks.get(task) is not None

    def option_keys(self, component: str, task: str | None = None) -> frozenset[str] | None:
        """The option keys ``component`` reads (for accuracy: for ``task``, else for any task); None: not known."""
        if component != "accuracy":
            return OPTION_KEYS.get(component)
        names = [task] if task is not None and task in self.tasks else list(self.tasks)
        keys = {"signed"}
        for name in names:
            info = self.tasks[name]
            if info is None:
                continue
            declared = ACCURACY_OPTION_KEYS.get(name) if name in BUILTIN_TASKS else None
            if declared is None and info.verifier is not None:
                declared = info.verifier.option_keys
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

    def all_verifiers(self) -> list[VerifierInfo]:
        """Every verifier this registry built or tried to, each once."""
        infos = [info for info in self.tasks.values() if info is not None] + list(self.verifiers.values())
        return list({info.label: info for info in infos}.values())

    def pool_modules(self) -> list[str]:
        """Modules the worker processes should import up front: each verifier's own and those it names."""
        modules: list[str] = []
        for info in self.all_verifiers():
            verifier = info.verifier
            if verifier is None or verifier.inline:
                continue
            modules += [type(verifier).__module__, *verifier.preload]  # e.g. verifiers/math/warm.py
        return modules

    def report(self) -> dict[str, Any]:
        """Which tasks and components are usable, for ``/readyz``."""
        tasks = {}
        for task, info in self.tasks.items():
            usable = info is None or info.available
            label = None if info is None else info.label
            tasks[task] = {
                "usable": usable,
                "verifier": label,
                **({} if usable or info is None else {"reason": info.reason}),
            }
        comps: dict[str, Any] = {"accuracy": {"usable": True, "by_task": True}}
        for name, info in self.verifiers.items():
            comps[name] = {"usable": info.available, **({} if info.available else {"reason": info.reason})}
            model = info.verifier.status() if info.verifier is not None else None
            if model is not None:  # e.g. the language-ID model file: present and readable?
                comps[name]["model"] = model
                if not model.get("ok", True):
                    comps[name].update(usable=False, reason=model.get("error") or "model unavailable")
        for name in SHAPING_COMPONENTS:
            ok = name in self.shaping
            comps[name] = {"usable": ok, **({} if ok else {"reason": self.shaping_reason})}
        return {"tasks": tasks, "components": comps}
