"""The reference of a code item, parsed and checked into plain dataclasses."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any

from sandboxes.languages import Recipe, get_recipe
from verifiers.code.compare import LENIENCIES, ValueRules

DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MEMORY_MB = 512
MAX_TIME_LIMIT_S = 60.0
MAX_MEMORY_MB = 8192
COMPARATORS = ("whitespace", "exact", "float")


class ReferenceError_(ValueError):
    """The reference is malformed; the message says what is wrong."""


@dataclass(frozen=True)
class Test:
    """One test: kind is `stdio` (stdin/stdout), `fn` (args/expected) or `code` (assert-style test code)."""

    kind: str
    stdin: str = ""
    stdout: str = ""
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    expected: Any = None
    code: str = ""


@dataclass(frozen=True)
class Reference:
    """A parsed code reference."""

    recipe: Recipe
    tests: tuple[Test, ...]
    fn_name: str | None
    time_limit_s: float
    memory_limit_mb: int
    compare: str
    score: str
    abs_tol: float
    rel_tol: float
    stop_at_first_failure: bool
    setup: str = ""
    lenient: frozenset[str] = frozenset()

    @property
    def value_rules(self) -> ValueRules:
        """How function results are compared with `expected` (see `ValueRules`)."""
        return ValueRules(self.compare == "float", self.abs_tol, self.rel_tol, self.lenient)


def _num(raw: dict, key: str, default: float, low: float, high: float) -> float:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReferenceError_(f"{key} must be a number")
    if not low < value <= high:
        raise ReferenceError_(f"{key} must be in ({low:g}, {high:g}]")
    return float(value)


@functools.lru_cache(maxsize=1024)
def _compile_error(source: str) -> str | None:
    # Cached: a training batch judges many completions against one reference.
    try:
        compile(source, "<reference>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _python_code(source: str, what: str) -> None:
    """Refuse Python code that does not compile: a broken test is the reference's fault, never the program's 0."""
    error = _compile_error(source)
    if error is not None:
        raise ReferenceError_(f"{what} does not compile: {error}"[:300])


def _lenient(raw: dict) -> frozenset[str]:
    value = raw.get("lenient", [])
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(x, str) and x in LENIENCIES for x in value):
        raise ReferenceError_(f"lenient must be a list of {', '.join(LENIENCIES)}")
    return frozenset(value)


def parse_reference(raw: Any) -> Reference:
    """Parse the reference dict (or its JSON string); raises ReferenceError_ with a reason."""
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ReferenceError_(f"reference is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ReferenceError_("reference must be an object with 'language' and 'tests'")
    language = raw.get("language", "python")
    if not isinstance(language, str):
        raise ReferenceError_("language must be a string")
    recipe = get_recipe(language)
    if recipe is None:
        raise ReferenceError_(f"unknown language {language!r}")
    fn_name = raw.get("fn_name")
    if fn_name is not None and (not isinstance(fn_name, str) or not fn_name.isidentifier()):
        raise ReferenceError_("fn_name must be an identifier")
    compare = raw.get("compare", "whitespace")
    if compare not in COMPARATORS:
        raise ReferenceError_(f"compare must be one of {', '.join(COMPARATORS)}")
    score = raw.get("score", "fraction")
    if score not in ("fraction", "all"):
        raise ReferenceError_("score must be 'fraction' or 'all'")
    raw_tests = raw.get("tests")
    if not isinstance(raw_tests, list) or not raw_tests:
        raise ReferenceError_("tests must be a non-empty list")
    tests = []
    for i, t in enumerate(raw_tests):
        if not isinstance(t, dict):
            raise ReferenceError_(f"test {i} must be an object")
        if "code" in t:
            if not isinstance(t["code"], str):
                raise ReferenceError_(f"test {i}: code must be a string")
            if recipe.name != "python":
                raise ReferenceError_("assert-style (code) tests are supported for python only")
            _python_code(t["code"], f"test {i}")
            tests.append(Test(kind="code", code=t["code"]))
        elif "args" in t or "expected" in t:
            if fn_name is None:
                raise ReferenceError_(f"test {i} has args/expected but the reference has no fn_name")
            if recipe.name != "python":
                raise ReferenceError_("function-call tests are supported for python only")
            args = t.get("args", [])
            kwargs = t.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, dict) or "expected" not in t:
                raise ReferenceError_(f"test {i}: args must be a list and expected must be given")
            tests.append(Test(kind="fn", args=tuple(args), kwargs=tuple(kwargs.items()), expected=t["expected"]))
        elif "stdout" in t or "stdin" in t:
            stdin, stdout = t.get("stdin", ""), t.get("stdout")
            if not isinstance(stdin, str) or not isinstance(stdout, str):
                raise ReferenceError_(f"test {i}: stdin and stdout must be strings")
            tests.append(Test(kind="stdio", stdin=stdin, stdout=stdout))
        else:
            raise ReferenceError_(f"test {i} needs stdin/stdout, args/expected, or code")
    setup = raw.get("setup", "")
    if setup is None:
        setup = ""
    if not isinstance(setup, str):
        raise ReferenceError_("setup must be a string of Python code")
    if setup and recipe.name != "python":
        raise ReferenceError_("setup is supported for python only")
    if setup:
        _python_code(setup, "setup")
    return Reference(
        recipe=recipe,
        tests=tuple(tests),
        fn_name=fn_name,
        time_limit_s=_num(raw, "time_limit_s", DEFAULT_TIME_LIMIT_S, 0, MAX_TIME_LIMIT_S),
        memory_limit_mb=int(_num(raw, "memory_limit_mb", DEFAULT_MEMORY_MB, 15, MAX_MEMORY_MB)),
        compare=compare,
        score=score,
        abs_tol=_num(raw, "abs_tol", 1e-6, -1, 1e9),
        rel_tol=_num(raw, "rel_tol", 1e-6, -1, 1e9),
        stop_at_first_failure=bool(raw.get("stop_at_first_failure", False)),
        setup=setup,
        lenient=_lenient(raw),
    )
