"""What a verifier offers the engine, and the adapter that makes a verifier module one.

A verifier is an object with:
- `label: str` (where it comes from, e.g. `verifiers.math`: its name in metrics, `/readyz` and cache keys) and
  `version: str` (bump it whenever a verdict could change: it is part of the cache key);
- `cache_key(attempt) -> str`: a cheap, deterministic string of exactly what the verdict depends on (for math: the
  extracted answer and the reference; for code: the extracted program and the reference), so a GRPO group that
  repeats an answer is judged once. It must run in well under a millisecond for a bounded input and never raise;
- `verify(attempt) -> Verdict`: the judgement. Pure: no global mutable state, no signals, thread-safe. The object
  is pickled into the worker process that calls it, so it holds only plain settings;
- `budget_s(attempt) -> float | None`: how many seconds of wall time a verdict may need (a code item with 50 tests
  needs more than a math item); None: the engine's default per-item deadline applies;
- `sandboxed: bool`: true when a call runs programs (seconds, not milliseconds); the engine then lets fewer such
  calls queue in the pool at once, so they cannot hold other requests' quick items for long;
- `inline: bool`: true when a call is linear in the completion and cheap: the engine runs it in its own process;
- `option_keys: frozenset[str] | None`: the accuracy options it reads (None: not declared, so not checked);
- `preload: tuple[str, ...]`: modules a worker imports up front to answer its first call fast;
- `status() -> dict | None`: the state of what it needs beyond code (a model file), for `/readyz`.

`VerifierDefaults` gives every optional member its default. A custom task may name a plain module with `NAME`,
`VERSION`, `cache_key` and `verify` (optionally `budget_s`, `SANDBOXED`, `OPTION_KEYS`, `PRELOAD`); `ModuleVerifier`
wraps it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Protocol

from verifiers.verdict import Attempt, Verdict


class Verifier(Protocol):
    """Structural type of a verifier object."""

    label: str
    version: str
    sandboxed: bool
    inline: bool
    option_keys: frozenset[str] | None
    preload: tuple[str, ...]

    def cache_key(self, attempt: Attempt) -> str:  # pragma: no cover - protocol
        """The part of the attempt the verdict depends on."""
        ...

    def verify(self, attempt: Attempt) -> Verdict:  # pragma: no cover - protocol
        """Judge the attempt."""
        ...

    def budget_s(self, attempt: Attempt) -> float | None:  # pragma: no cover - protocol
        """Wall seconds a verdict may need; None for the engine's default."""
        ...

    def status(self) -> dict[str, Any] | None:  # pragma: no cover - protocol
        """What `/readyz` should know beyond the import (e.g. a model file), or None."""
        ...


class VerifierDefaults:
    """The optional members of `Verifier` at their defaults; a verifier class derives from this."""

    sandboxed: bool = False
    inline: bool = False
    option_keys: frozenset[str] | None = None
    preload: tuple[str, ...] = ()

    def budget_s(self, attempt: Attempt) -> float | None:
        """No budget of its own: the engine's default per-item deadline applies."""
        return None

    def status(self) -> dict[str, Any] | None:
        """Nothing to report beyond the import."""
        return None


class NotAVerifier(ValueError):
    """A module named as a verifier lacks what the protocol needs."""


class ModuleVerifier(VerifierDefaults):
    """A verifier module as a verifier object. Pickles as its module path, so a worker imports it by name."""

    def __init__(self, module_path: str) -> None:
        module = importlib.import_module(module_path)
        missing = [name for name in ("NAME", "VERSION", "cache_key", "verify") if not hasattr(module, name)]
        if missing:
            raise NotAVerifier(f"{module_path} lacks {', '.join(missing)}")
        self.label = module_path
        self.module: ModuleType = module
        self.version = str(module.VERSION)
        self.sandboxed = bool(getattr(module, "SANDBOXED", False))
        keys = getattr(module, "OPTION_KEYS", None)
        self.option_keys = None if keys is None else frozenset(keys)
        # Its own module first: a worker imports this class's module anyway, not the one it wraps.
        self.preload = (module_path, *getattr(module, "PRELOAD", ()))

    def __reduce__(self) -> tuple[type[ModuleVerifier], tuple[str]]:
        return (ModuleVerifier, (self.label,))

    def cache_key(self, attempt: Attempt) -> str:
        """The module's `cache_key`."""
        return self.module.cache_key(attempt)

    def verify(self, attempt: Attempt) -> Verdict:
        """The module's `verify`."""
        return self.module.verify(attempt)

    def budget_s(self, attempt: Attempt) -> float | None:
        """The module's `budget_s`, when it has one."""
        budget = getattr(self.module, "budget_s", None)
        return None if budget is None else float(budget(attempt))
