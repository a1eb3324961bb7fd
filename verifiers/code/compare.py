"""Comparators, run outside the sandbox. Whole outputs only: no prefix, subset or token-set matching."""

from __future__ import annotations

import math
from typing import Any


def _lines(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _float_eq(a: float, b: float, abs_tol: float, rel_tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=max(rel_tol, 0.0), abs_tol=max(abs_tol, 0.0))


def _as_float(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def compare_output(got: str, expected: str, mode: str, abs_tol: float = 1e-6, rel_tol: float = 1e-6) -> bool:
    """Is program output `got` right? `exact`, `whitespace` (per line, runs of blanks and trailing blank
    lines ignored) or `float` (tokens equal, numbers within abs/rel tolerance)."""
    if mode == "exact":
        return got == expected
    if mode == "float":
        a, b = got.split(), expected.split()
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            if x == y:
                continue
            fx, fy = _as_float(x), _as_float(y)
            if fx is None or fy is None or not _float_eq(fx, fy, abs_tol, rel_tol):
                return False
        return True
    return _lines(got) == _lines(expected)


def _jsonish(v: Any) -> Any:
    """Map a decoded result onto what JSON can express (tuples are lists, sets sorted lists when possible)."""
    if isinstance(v, list | tuple):
        return [_jsonish(x) for x in v]
    if isinstance(v, set | frozenset):
        items = [_jsonish(x) for x in v]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(v, dict):
        return {str(k) if not isinstance(k, str) else k: _jsonish(x) for k, x in v.items()}
    return v


def values_equal(got: Any, expected: Any, mode: str, abs_tol: float = 1e-6, rel_tol: float = 1e-6) -> bool:
    """Compare a function result with the JSON `expected`, type-strictly: True is not 1, "1" is not 1."""
    return _veq(_jsonish(got), expected, mode == "float", abs_tol, rel_tol)


def _veq(a: Any, b: Any, floats: bool, abs_tol: float, rel_tol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if floats or isinstance(a, float) or isinstance(b, float):
            tol = (abs_tol, rel_tol) if floats else (0.0, 0.0)
            return _float_eq(float(a), float(b), *tol)
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_veq(x, y, floats, abs_tol, rel_tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_veq(a[k], b[k], floats, abs_tol, rel_tol) for k in a)
    return type(a) is type(b) and a == b
