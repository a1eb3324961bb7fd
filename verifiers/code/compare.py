"""Comparators, run outside the sandbox. Whole outputs only: no prefix, subset or token-set matching."""

from __future__ import annotations

import collections
import json
import math
import re
from dataclasses import dataclass
from typing import Any

LENIENCIES = ("numbers", "sets", "keys")
_LIST_ITERATOR = type(iter([]))


@dataclass(frozen=True)
class ValueRules:
    """How a function's result is compared with the reference's JSON `expected`.

    Type-exact by default (`True` is not `1`, `5.0` is not `5`, `{1: x}` is not `{"1": x}`, a set is not a list).
    JSON itself has no tuples, generators, Counters or OrderedDicts, so a tuple (a namedtuple) or the items a
    generator yields match an array, and a Counter, OrderedDict or defaultdict matches an object, by value.
    `lenient` relaxes on request: `numbers` (int and float by value), `sets` (a set matches an array of the same
    elements in any order), `keys` (dict keys by their JSON text: `1` matches `"1"`). `float` compares numbers
    within `abs_tol`/`rel_tol` (and implies `numbers`).
    """

    floats: bool = False
    abs_tol: float = 1e-6
    rel_tol: float = 1e-6
    lenient: frozenset[str] = frozenset()


def _lines(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _float_eq(a: float, b: float, abs_tol: float, rel_tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=max(rel_tol, 0.0), abs_tol=max(abs_tol, 0.0))


# A number as checkers read output: digits with an optional point and exponent (not `1_000`, `inf` or `nan`,
# which Python's float() would take).
_NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INTEGER_RE = re.compile(r"[-+]?\d+")


def _as_float(token: str) -> float | None:
    if not _NUMBER_RE.fullmatch(token):
        return None
    try:
        return float(token)
    except (ValueError, OverflowError):
        return None


def _token_eq(got: str, expected: str, abs_tol: float, rel_tol: float) -> bool:
    """One output token in `float` mode: an integer the reference expects is exact (`1000000000` is not
    `1000000007`, whatever the tolerance); other numbers within the tolerances."""
    if _INTEGER_RE.fullmatch(expected):
        if _INTEGER_RE.fullmatch(got):
            return int(got) == int(expected)
        fx = _as_float(got)
        return fx is not None and fx.is_integer() and abs(int(expected)) < 2**53 and int(fx) == int(expected)
    fx, fy = _as_float(got), _as_float(expected)
    return fx is not None and fy is not None and _float_eq(fx, fy, abs_tol, rel_tol)


def compare_output(got: str, expected: str, mode: str, abs_tol: float = 1e-6, rel_tol: float = 1e-6) -> bool:
    """Is program output `got` right? `exact`, `whitespace` (per line, runs of blanks and trailing blank
    lines ignored) or `float` (tokens equal, numbers within abs/rel tolerance, integers the reference expects
    exactly)."""
    if mode == "exact":
        return got == expected
    if mode == "float":
        a, b = got.split(), expected.split()
        if len(a) != len(b):
            return False
        return all(x == y or _token_eq(x, y, abs_tol, rel_tol) for x, y in zip(a, b, strict=True))
    return _lines(got) == _lines(expected)


def values_equal(got: Any, expected: Any, rules: ValueRules) -> bool:
    """Compare a decoded function result with the JSON `expected` under `rules`.

    Never raises: a comparison that cannot be made (a number too large for a float, anything odd) is unequal.
    """
    try:
        return _veq(got, expected, rules)
    except (ArithmeticError, TypeError, ValueError, RecursionError):
        return False


def _is_number(v: Any) -> bool:
    return type(v) in (int, float)


def _num_eq(a: int | float, b: int | float, rules: ValueRules) -> bool:
    if type(a) is not type(b) and not (rules.floats or "numbers" in rules.lenient):
        return False
    if type(a) is int and type(b) is int:
        return a == b
    if rules.floats:
        try:
            return _float_eq(float(a), float(b), rules.abs_tol, rules.rel_tol)
        except OverflowError:  # an int beyond any float: exactly, never through float()
            return a == b
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _json_key(k: Any) -> str | None:
    """What json.dumps makes of a dict key, or None for a key JSON cannot hold."""
    if type(k) is str:
        return k
    if type(k) in (int, float, bool) or k is None:
        return json.dumps(k)
    return None


def _veq(a: Any, b: Any, rules: ValueRules) -> bool:
    if type(a) is _LIST_ITERATOR:  # a generator's items
        a = list(a)
    tb = type(b)
    if tb is bool or type(a) is bool:
        return type(a) is tb and a == b
    if _is_number(b):
        return _is_number(a) and _num_eq(a, b, rules)
    if b is None or tb is str:
        return type(a) is tb and a == b
    if tb is list:
        if type(a) in (list, tuple):
            return len(a) == len(b) and all(_veq(x, y, rules) for x, y in zip(a, b, strict=True))
        if type(a) in (set, frozenset) and "sets" in rules.lenient:
            return _unordered_eq(list(a), b, rules)
        return False
    if tb is dict:
        if type(a) not in (dict, collections.Counter, collections.OrderedDict, collections.defaultdict):
            return False
        if "keys" in rules.lenient:
            keyed = {_json_key(k): v for k, v in a.items()}
            if len(keyed) != len(a) or None in keyed:  # keys that JSON cannot tell apart, or cannot hold
                return False
            a = keyed
        elif any(type(k) is not str for k in a):
            return False
        return a.keys() == b.keys() and all(_veq(a[k], b[k], rules) for k in b)
    return False  # JSON holds nothing else


def _scalar_key(x: Any, rules: ValueRules) -> tuple | None:
    """A hashable stand-in for a scalar that is equal exactly when `_veq` says so (None when there is none)."""
    t = type(x)
    if t in (str, bool) or x is None:
        return (t.__name__, x)
    if t in (int, float) and not rules.floats:
        if isinstance(x, float) and math.isnan(x):
            return ("nan",)
        return ("num" if "numbers" in rules.lenient else t.__name__, x)
    return None


def _unordered_eq(a: list, b: list, rules: ValueRules) -> bool:
    if len(a) != len(b):
        return False
    ka = [_scalar_key(x, rules) for x in a]
    kb = [_scalar_key(y, rules) for y in b]
    if None not in ka and None not in kb:  # the usual case, in linear time
        return collections.Counter(ka) == collections.Counter(kb)
    left = list(a)
    for y in b:
        for i, x in enumerate(left):
            if _veq(x, y, rules):
                del left[i]
                break
        else:
            return False
    return True
