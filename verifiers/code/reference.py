"""The reference of a code item, parsed and checked into plain dataclasses."""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
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


def _present(mapping: dict) -> dict:
    # A data set stored as Arrow struct columns gives every row every key of the struct, `null` where a row has
    # none: a null means the key is absent, never a value.
    return {k: v for k, v in mapping.items() if v is not None}


def _call_args(raw: Any, i: int) -> list:
    # verl's PRIME data give a call's arguments as JSON lines in one string; TACO/APPS rows as a list.
    if isinstance(raw, list):
        return raw
    if isinstance(raw, str):
        try:
            return [json.loads(line) for line in raw.split("\n") if line.strip()]
        except ValueError as exc:
            raise ReferenceError_(f"inputs[{i}]: arguments are not JSON lines: {exc}") from None
    return [raw]


def _call_expected(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return raw
    # APPS/TACO store a call's result wrapped in a one-element list (their checker accepts either form); the
    # wrapped form is read as the value, so a function returning `[x]` for `[x]` alone would fail, never pass.
    if isinstance(raw, list) and len(raw) == 1:
        return raw[0]
    return raw


def _text_lines(raw: Any, what: str) -> str:
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return "\n".join(raw) + ("\n" if raw and not raw[-1].endswith("\n") else "")
    if not isinstance(raw, str):
        raise ReferenceError_(f"{what} must be a string (or a list of lines)")
    return raw


def from_inputs_outputs(raw: dict) -> dict:
    """Aha's own reference for verl's code ground truth ``{"inputs": [...], "outputs": [...], "fn_name"?}``.

    That is the format of PRIME, TACO, APPS and CodeContests data in verl: without ``fn_name`` each input is a
    program's stdin and each output its stdout; with it, each input is the call's arguments (JSON lines or a list)
    and each output the returned value (JSON, numbers compared by value as Python's ``==`` does).
    """
    inputs, outputs = raw.get("inputs"), raw.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list) or not inputs:
        raise ReferenceError_("inputs and outputs must be non-empty lists")
    if len(inputs) != len(outputs):
        raise ReferenceError_(f"inputs has {len(inputs)} entries, outputs has {len(outputs)}")
    fn_name = raw.get("fn_name")
    rest = {k: v for k, v in raw.items() if k not in ("inputs", "outputs")}
    if fn_name is not None:
        tests = [
            {"args": _call_args(a, i), "expected": _call_expected(e)}
            for i, (a, e) in enumerate(zip(inputs, outputs, strict=True))
        ]
        rest.setdefault("lenient", ["numbers"])
    else:
        tests = [
            {"stdin": _text_lines(a, f"inputs[{i}]"), "stdout": _text_lines(e, f"outputs[{i}]")}
            for i, (a, e) in enumerate(zip(inputs, outputs, strict=True))
        ]
    return {**rest, "tests": tests}


def is_inputs_outputs(raw: Any) -> bool:
    """True for verl's code ground truth (``inputs``/``outputs`` lists, no ``tests``)."""
    return isinstance(raw, dict) and "inputs" in raw and "outputs" in raw and raw.get("tests") is None


# HumanEval's layout ends its test code by naming the entry point: `check(decode_cyclic)`.
_CHECK_CALL_RE = re.compile(r"check\(\s*([A-Za-z_]\w*)\s*\)")


def _checked_entry_point(tests: list[Test]) -> str | None:
    """The entry point assert-style tests declare by their last line, `check(f)` (the same in every test), else
    None. It is then the reference's `fn_name`: the program's only face to the tests, so helpers the tests call
    (`encode_cyclic`, `poly`) must come from the setup and never from the program."""
    names = set()
    for t in tests:
        lines = [line.strip() for line in (t.code or "").splitlines() if line.strip()] if t.kind == "code" else []
        m = _CHECK_CALL_RE.fullmatch(lines[-1]) if lines else None
        if m is None:
            return None
        names.add(m.group(1))
    return names.pop() if len(names) == 1 else None


def reference_recipe(raw: dict) -> Recipe:
    """The language recipe a reference object names (python when `language` is absent or null), without parsing
    the rest of it; raises ReferenceError_."""
    language = raw.get("language")
    if language is None:
        language = "python"
    if not isinstance(language, str):
        raise ReferenceError_("language must be a string")
    recipe = get_recipe(language)
    if recipe is None:
        raise ReferenceError_(f"unknown language {language!r}")
    return recipe


def _flag(raw: dict, key: str) -> bool:
    # A string "false" is truthy: only a JSON boolean says yes or no.
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise ReferenceError_(f"{key} must be true or false, not {value!r:.40}")
    return value


# Every key a reference may have; a key close to one of them is a misspelling that would silently change the
# verdict (`comparator` for `compare` judges floats as text), while other keys are a data set's own metadata.
REFERENCE_KEYS = frozenset(
    {"language", "tests", "fn_name", "compare", "score", "time_limit_s", "memory_limit_mb", "abs_tol", "rel_tol"}
    | {"stop_at_first_failure", "setup", "lenient", "inputs", "outputs"}
)


def _misspelt_keys(raw: dict) -> None:
    for key in raw:
        # Short keys (`name`, `id`) are too often metadata to be read as misspellings.
        if isinstance(key, str) and len(key) >= 6 and key not in REFERENCE_KEYS:
            close = difflib.get_close_matches(key, REFERENCE_KEYS, n=1, cutoff=0.7)
            if close:
                raise ReferenceError_(f"unknown reference key {key[:40]!r} (did you mean {close[0]!r}?)")


def parse_reference(raw: Any) -> Reference:
    """Parse the reference dict (or its JSON string); raises ReferenceError_ with a reason.

    Accepts Aha's own shape (``language``, ``tests``, …) and verl's ``inputs``/``outputs`` (see
    ``from_inputs_outputs``); a ``null`` anywhere in the reference's keys or its tests' keys means absent.
    """
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ReferenceError_(f"reference is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ReferenceError_("reference must be an object with 'language' and 'tests'")
    raw = _present(raw)
    _misspelt_keys(raw)
    if is_inputs_outputs(raw):
        raw = from_inputs_outputs(raw)
    recipe = reference_recipe(raw)
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
        given, t = t, _present(t)
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
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ReferenceError_(f"test {i}: args must be a list and kwargs an object")
            if "expected" not in given:  # a null expected is a function that returns None
                raise ReferenceError_(f"test {i}: expected must be given")
            tests.append(Test(kind="fn", args=tuple(args), kwargs=tuple(kwargs.items()), expected=t.get("expected")))
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
    if fn_name is None:
        fn_name = _checked_entry_point(tests)
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
        stop_at_first_failure=_flag(raw, "stop_at_first_failure"),
        setup=setup,
        lenient=_lenient(raw),
    )
