"""Fallback parsing through latex2sympy2_extended, for LaTeX the fast parser does not know.

latex2sympy2_extended builds sympy objects while it parses, and sympy evaluates integer powers, factorials and
sums eagerly, so a hostile string could hang it: `_safe_for_sympy` refuses anything with nested or long
exponents, factorials, binomials, big operators or long digit runs before it is handed over. The library is
used without its global-state hazards: it builds a new ANTLR parser per call, and the two configuration objects
below are frozen dataclasses (read-only, so sharing them between threads is safe). The ANTLR runtime's shared
DFA cache is only ever grown, under the GIL, which is benign.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from verifiers.math.nodes import (
    Add,
    Const,
    Func,
    Matrix,
    Mul,
    Neg,
    Node,
    Num,
    Pow,
    Rel,
    Seq,
    SetOp,
    Sym,
)

MAX_FALLBACK_CHARS = 300
MAX_CONVERT_DEPTH = 80
_UNSAFE_RE = re.compile(
    r"!|\\binom|\\dbinom|\\tbinom|\\choose|\\sum|\\prod|\\int|\\lim|\\partial|\\mathrm\{d\}|\d{7,}|"
    r"\^\s*\{[^{}]*[\^{]|\^\s*\{[^}]{6,}\}|\^\s*\d{4,}|\^\s*\\|"
    # a colon between numbers is a time or a ratio, which the fast parser reads; latex2sympy reads `1:58 am` as 1/58
    r"\d\s*:\s*\d"
)
_SYMPY_FUNCS = {
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "cot": "cot",
    "sec": "sec",
    "csc": "csc",
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "acot": "arccot",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "Abs": "abs",
    "floor": "floor",
    "ceiling": "ceil",
    "factorial": "factorial",
    "binomial": "binom",
    "Max": "max",
    "Min": "min",
}
_REL_OPS = {"Equality": "=", "StrictLessThan": "<", "StrictGreaterThan": ">", "LessThan": "<=", "GreaterThan": ">="}


_CONVERTER: list[Any] = []


def _converter_class() -> Any:
    """latex2sympy's converter with its ANTLR parser in SLL prediction mode. Full LL prediction (the default)
    spent 100-800 ms on some real references (`\\angle B E A_{1}=90`, a 70-character ODE solution); SLL takes
    1-4 ms on them. Where SLL cannot decide it raises, and the input counts as unparsed: stricter, never another
    reading. Built once (a class, immutable after creation); each call still makes its own parser."""
    if not _CONVERTER:
        from antlr4.atn.PredictionMode import PredictionMode
        from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy

        class _SllConverter(_Latex2Sympy):  # type: ignore[misc]
            def create_parser(self, latex_str: str) -> Any:
                parser = super().create_parser(latex_str)
                parser._interp.predictionMode = PredictionMode.SLL
                return parser

        _CONVERTER.append(_SllConverter)
    return _CONVERTER[0]


# Prose (a word of four letters outside a command or a braced unit) or a `$` inside the text: several statements or
# a sentence, which latex2sympy would read as a product of letters, after up to half a second of parsing.
_PROSE_RE = re.compile(r"(?<![\\A-Za-z{~])[A-Za-z]{4,}|\$")


def _safe_for_sympy(s: str) -> bool:
    return (
        len(s) <= MAX_FALLBACK_CHARS
        and s.count("^") <= 6
        and _UNSAFE_RE.search(s) is None
        and _PROSE_RE.search(s) is None
    )


def parse_with_latex2sympy(s: str) -> Node | None:
    """Parse `s` with latex2sympy2_extended and convert the result to our tree; None if refused or failed."""
    if not _safe_for_sympy(s):
        return None
    try:
        from latex2sympy2_extended.latex2sympy2 import ConversionConfig
        from latex2sympy2_extended.math_normalization import NormalizationConfig, normalize_latex

        normalized = normalize_latex(
            s,
            NormalizationConfig(
                basic_latex=True, units=True, malformed_operators=True, nits=True, boxed="none", equations=False
            ),
        )
        expr = _converter_class()(config=ConversionConfig(lowercase_symbols=False)).parse(normalized)
        return _from_sympy(expr, 0)
    except Exception:  # noqa: BLE001 - any failure of the fallback means "could not parse"
        return None


def _from_sympy(e: Any, depth: int) -> Node | None:
    """Convert a sympy object to our tree (None for anything unsupported). Never prints or simplifies it."""
    import sympy

    if depth > MAX_CONVERT_DEPTH:
        return None
    d = depth + 1
    cls = type(e).__name__
    if isinstance(e, sympy.Integer | sympy.Rational):
        return Num(Fraction(int(e.p), int(e.q)))
    if isinstance(e, sympy.Float):
        return Num(Fraction(repr(float(e))), is_float=True)
    if e is sympy.pi:
        return Const("pi")
    if e is sympy.E:
        return Const("e")
    if e is sympy.I:
        return Const("i")
    if e is sympy.oo:
        return Const("inf")
    if e is sympy.S.NegativeInfinity:
        return Neg(Const("inf"))
    if isinstance(e, sympy.Symbol):
        name = e.name
        return Sym(name) if len(name) <= 20 else None
    if isinstance(e, sympy.UnevaluatedExpr):
        return _from_sympy(e.args[0], d)
    args = [_from_sympy(a, d) for a in getattr(e, "args", ())]
    if any(a is None for a in args):
        return None
    nodes: list[Node] = [a for a in args if a is not None]
    if isinstance(e, sympy.Add):
        return Add(tuple(nodes))
    if isinstance(e, sympy.Mul):
        return Mul(tuple(nodes))
    if isinstance(e, sympy.Pow):
        return Pow(nodes[0], nodes[1])
    if cls == "exp":
        return Pow(Const("e"), nodes[0])
    if cls == "log":
        return Func("log", tuple(nodes))
    if cls in _SYMPY_FUNCS:
        return Func(_SYMPY_FUNCS[cls], tuple(nodes))
    if cls in _REL_OPS:
        lhs = e.args[0]
        lhs_text = lhs.name if isinstance(lhs, sympy.Symbol) else ""
        return Rel((_REL_OPS[cls],), tuple(nodes), lhs_text)
    if cls == "FiniteSet":
        return Seq("{", "}", tuple(nodes))
    if cls == "Tuple":
        return Seq("(", ")", tuple(nodes))
    if cls == "Interval":
        lo, hi = nodes[0], nodes[1]
        return Seq("(" if e.left_open else "[", ")" if e.right_open else "]", (lo, hi))
    if cls == "Union":
        return SetOp("union", tuple(nodes))
    if isinstance(e, sympy.MatrixBase):
        if e.rows * e.cols > 400:
            return None
        rows = []
        for r in range(e.rows):
            row = []
            for c in range(e.cols):
                cell = _from_sympy(e[r, c], d)
                if cell is None:
                    return None
                row.append(cell)
            rows.append(tuple(row))
        return Matrix(tuple(rows))
    return None
