"""Guarded evaluation of parsed answers: exact rationals first, then complex floats, then mpmath.

Nothing here can blow up: exact results are capped in bit size (beyond that the exact path gives up and the
numeric path takes over), numeric powers and factorials are checked in the log domain before they are computed,
and values too large for any of that raise `TooLarge` so the caller can fall back to comparing structure.
"""

from __future__ import annotations

import cmath
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from verifiers.math.nodes import (
    Add,
    Const,
    Degree,
    Div,
    Func,
    Matrix,
    Mul,
    Neg,
    Node,
    Num,
    Percent,
    Pow,
    Sym,
    walk,
)

MAX_EXACT_BITS = 32_768  # bigger exact values (e.g. 5000!) go to the numeric path instead
MAX_LOG2_MAGNITUDE = 2.0**40  # |x| > 2^(2^40) cannot be compared numerically at all
MAX_EVAL_DEPTH = 200


class EvalError(Exception):
    """Base of evaluation failures."""


class Undefined(EvalError):
    """Division by zero, log of zero and the like: the value does not exist at this point."""


class Overflow(EvalError):
    """Too big for a float: retry with mpmath."""


class TooLarge(EvalError):
    """Too big for any numeric comparison (a power tower): compare structure instead."""


class Undecidable(Exception):
    """The values are too large (or too ill-conditioned) to compare with confidence."""


class BudgetExceeded(Exception):
    """The verdict's time budget ran out."""


@dataclass
class Budget:
    """A cooperative deadline: long loops call `check()` between steps (no signals, no threads)."""

    deadline: float
    ticks: int = 0

    def check(self) -> None:
        """Raise BudgetExceeded when the deadline has passed (the clock is read every 16 calls)."""
        self.ticks += 1
        if self.ticks & 15 == 0 and time.monotonic() > self.deadline:
            raise BudgetExceeded()

    def check_now(self) -> None:
        """Raise BudgetExceeded when the deadline has passed."""
        if time.monotonic() > self.deadline:
            raise BudgetExceeded()


def has_float(node: Node) -> bool:
    """True when the expression contains a decimal literal (so tolerance comparison is allowed)."""
    return any(isinstance(n, Num) and n.is_float for n in walk(node))


def free_symbols(node: Node) -> frozenset[str]:
    """Names of the free variables."""
    return frozenset(n.name for n in walk(node) if isinstance(n, Sym))


def _bits(q: Fraction) -> int:
    return q.numerator.bit_length() + q.denominator.bit_length()


def _guard(q: Fraction) -> Fraction | None:
    return q if _bits(q) <= MAX_EXACT_BITS else None


def _int_root(n: int, k: int) -> int | None:
    """The exact integer k-th root of n >= 0, or None."""
    if n < 2:
        return n
    if n.bit_length() > 4096:
        return None
    r = int(round(n ** (1.0 / k))) if n.bit_length() < 1000 else int(math.isqrt(n) if k == 2 else 0)
    if k == 2:
        r = math.isqrt(n)
        return r if r * r == n else None
    for cand in (r - 1, r, r + 1):
        if cand >= 0 and cand**k == n:
            return cand
    return None


def _rational_root(q: Fraction, k: int) -> Fraction | None:
    if q < 0:
        if k % 2 == 0:
            return None
        r = _rational_root(-q, k)
        return None if r is None else -r
    a = _int_root(q.numerator, k)
    b = _int_root(q.denominator, k)
    if a is None or b is None:
        return None
    return Fraction(a, b)


# sin(k*pi/n) for the denominators where the value is rational.
_SIN_RATIONAL = {
    Fraction(0): Fraction(0),
    Fraction(1, 6): Fraction(1, 2),
    Fraction(1, 2): Fraction(1),
    Fraction(5, 6): Fraction(1, 2),
    Fraction(1): Fraction(0),
    Fraction(7, 6): Fraction(-1, 2),
    Fraction(3, 2): Fraction(-1),
    Fraction(11, 6): Fraction(-1, 2),
}


def _pi_multiple(node: Node, budget: Budget) -> Fraction | None:
    """If node is (rational) * pi, return the rational."""
    if isinstance(node, Const) and node.name == "pi":
        return Fraction(1)
    if isinstance(node, Neg):
        r = _pi_multiple(node.arg, budget)
        return None if r is None else -r
    if isinstance(node, Mul):
        coeff = Fraction(1)
        seen = False
        for a in node.args:
            if isinstance(a, Const) and a.name == "pi" and not seen:
                seen = True
                continue
            v = exact(a, budget)
            if v is None:
                return None
            coeff *= v
        return coeff if seen else None
    if isinstance(node, Div):
        r = _pi_multiple(node.num, budget)
        d = exact(node.den, budget)
        if r is None or d is None or d == 0:
            return None
        return r / d
    if isinstance(node, Degree):
        v = exact(node.arg, budget)
        return None if v is None else v / 180
    return None


def _exact_trig(name: str, arg: Node, budget: Budget) -> Fraction | None:
    k = _pi_multiple(arg, budget)
    if k is None:
        v = exact(arg, budget)
        if v == 0:
            return {"sin": Fraction(0), "cos": Fraction(1), "tan": Fraction(0)}.get(name)
        return None
    k = k % 2
    if name == "sin":
        return _SIN_RATIONAL.get(k)
    if name == "cos":
        return _SIN_RATIONAL.get((k + Fraction(1, 2)) % 2)
    if name == "tan":
        s = _SIN_RATIONAL.get(k)
        c = _SIN_RATIONAL.get((k + Fraction(1, 2)) % 2)
        if s is None or c is None or c == 0:
            return None
        return s / c
    return None


def exact(node: Node, budget: Budget) -> Fraction | None:
    """The exact rational value of `node`, or None when it is not (provably) rational or too big.

    Raises Undefined for division by zero.
    """
    budget.check()
    if isinstance(node, Num):
        return node.val
    if isinstance(node, Neg):
        v = exact(node.arg, budget)
        return None if v is None else -v
    if isinstance(node, Add):
        total = Fraction(0)
        for a in node.args:
            v = exact(a, budget)
            if v is None:
                return None
            total += v
            if _bits(total) > MAX_EXACT_BITS:
                return None
        return total
    if isinstance(node, Mul):
        prod = Fraction(1)
        for a in node.args:
            v = exact(a, budget)
            if v is None:
                return None
            prod *= v
            if _bits(prod) > MAX_EXACT_BITS:
                return None
        return prod
    if isinstance(node, Div):
        n = exact(node.num, budget)
        if n is None:
            return None
        d = exact(node.den, budget)
        if d is None:
            return None
        if d == 0:
            raise Undefined("division by zero")
        return _guard(n / d)
    if isinstance(node, Pow):
        return _exact_pow(node, budget)
    if isinstance(node, Percent):
        v = exact(node.arg, budget)
        return None if v is None else v / 100
    if isinstance(node, Degree):
        return exact(node.arg, budget)
    if isinstance(node, Func):
        return _exact_func(node, budget)
    return None


def _exact_pow(node: Pow, budget: Budget) -> Fraction | None:
    e = exact(node.exp, budget)
    if e is None:
        return None
    b = exact(node.base, budget)
    if b is None:
        return None
    if b == 0:
        if e < 0:
            raise Undefined("zero to a negative power")
        return Fraction(1) if e == 0 else Fraction(0)
    if b == 1:
        return b
    if b == -1 and e.denominator == 1:
        return Fraction(-1) if e.numerator % 2 else Fraction(1)
    if e.denominator != 1:
        if e.denominator > 64:
            return None
        b = _rational_root(b, e.denominator)
        if b is None:
            return None
        e = Fraction(e.numerator)
    n = e.numerator
    # The result has about |n| * bits(b) bits: refuse before computing, never after.
    if abs(n) * max(b.numerator.bit_length(), b.denominator.bit_length()) > MAX_EXACT_BITS:
        return None
    return b**n


def _exact_func(node: Func, budget: Budget) -> Fraction | None:
    name = node.name
    if name in ("sin", "cos", "tan"):
        return _exact_trig(name, node.args[0], budget)
    vals = []
    for a in node.args:
        if isinstance(a, Matrix):
            return None
        v = exact(a, budget)
        if v is None:
            return None
        vals.append(v)
    if name == "sqrt":
        if vals[0] < 0:
            return None
        return _rational_root(vals[0], 2)
    if name == "root":
        k = vals[1]
        if k.denominator != 1 or not (1 <= k <= 64):
            return None
        return _rational_root(vals[0], int(k))
    if name == "abs":
        return abs(vals[0])
    if name == "floor":
        return Fraction(math.floor(vals[0]))
    if name == "ceil":
        return Fraction(math.ceil(vals[0]))
    if name == "factorial":
        v = vals[0]
        if v.denominator != 1 or v < 0:
            return None
        n = int(v)
        if n > 3000:  # 3000! has ~30k bits
            return None
        return Fraction(math.factorial(n))
    if name == "binom":
        n, k = vals
        if n.denominator != 1 or k.denominator != 1 or n < 0 or k < 0:
            return None
        n_i, k_i = int(n), int(k)
        if k_i > n_i:
            return Fraction(0)
        if n_i > 100_000 or min(k_i, n_i - k_i) * max(1, n_i.bit_length()) > MAX_EXACT_BITS:
            return None
        return Fraction(math.comb(n_i, k_i))
    if name in ("max", "min") and vals:
        return max(vals) if name == "max" else min(vals)
    if name in ("gcd", "lcm") and vals and all(v.denominator == 1 for v in vals):
        ints = [int(v) for v in vals]
        return Fraction(math.gcd(*ints) if name == "gcd" else math.lcm(*ints))
    if name == "log" and len(vals) == 2:
        x, base = vals
        if x <= 0 or base <= 0 or base == 1:
            return None
        # log_b(x) is rational when both are powers of a common integer; only the integer case is cheap.
        if x.denominator == 1 and base.denominator == 1 and x.numerator < 2**256:
            xi, bi = int(x), int(base)
            k, acc = 0, 1
            while acc < xi and k < 256:
                acc *= bi
                k += 1
            if acc == xi:
                return Fraction(k)
        return None
    if name == "log" and vals[0] == 1:
        return Fraction(0)
    return None


@dataclass(frozen=True)
class Backend:
    """Numeric primitives: complex doubles (fast) or an mpmath context (for values beyond doubles)."""

    mp: Any = None  # an mpmath.MPContext owned by one verdict, never shared
    funcs: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def floats() -> Backend:
        return Backend(None, MappingProxyType(_CMATH_FUNCS))

    @staticmethod
    def mpmath(prec: int = 200) -> Backend:
        import mpmath

        ctx = mpmath.MPContext()
        ctx.prec = prec
        funcs = {
            name: getattr(ctx, name)
            for name in ("sin cos tan cot sec csc asin acos atan acot sinh cosh tanh coth exp log sqrt gamma".split())
        }
        return Backend(ctx, funcs)

    def num(self, q: Fraction) -> Any:
        if self.mp is None:
            try:
                return complex(q.numerator / q.denominator)
            except OverflowError:
                try:
                    return complex(float(q))
                except OverflowError:  # beyond the float range: infinite here, the exact backends still see it
                    return complex(math.inf if q > 0 else -math.inf)
        return self.mp.mpc(self.mp.mpf(q.numerator) / q.denominator)

    def const(self, name: str) -> Any:
        if self.mp is None:
            return {"pi": complex(math.pi), "e": complex(math.e), "i": 1j}[name]
        return {"pi": self.mp.mpc(self.mp.pi), "e": self.mp.mpc(self.mp.e), "i": self.mp.mpc(0, 1)}[name]

    def log2abs(self, v: Any) -> float:
        if self.mp is None:
            a = abs(v)
            return math.log2(a) if a > 0 else -math.inf
        a = abs(v)
        return float(self.mp.log(a, 2)) if a > 0 else -math.inf


def _cot(z: complex) -> complex:
    return 1 / cmath.tan(z)


_CMATH_FUNCS: dict[str, Any] = {
    "sin": cmath.sin,
    "cos": cmath.cos,
    "tan": cmath.tan,
    "cot": _cot,
    "sec": lambda z: 1 / cmath.cos(z),
    "csc": lambda z: 1 / cmath.sin(z),
    "asin": cmath.asin,
    "acos": cmath.acos,
    "atan": cmath.atan,
    "acot": lambda z: cmath.atan(1 / z),
    "sinh": cmath.sinh,
    "cosh": cmath.cosh,
    "tanh": cmath.tanh,
    "coth": lambda z: 1 / cmath.tanh(z),
    "exp": cmath.exp,
    "log": cmath.log,
    "sqrt": cmath.sqrt,
    "gamma": lambda z: complex(math.gamma(z.real)) if z.imag == 0 else _no_complex_gamma(),
}


def _no_complex_gamma() -> complex:
    raise Undefined("gamma of a complex number")


_FUNC_ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arccot": "acot"}


@dataclass
class NumEval:
    """Evaluates a tree at one point; returns (value, scale) where scale bounds the size of the intermediate
    terms, so that cancellation noise (sqrt(2)^2 - 2) is not mistaken for a real difference."""

    be: Backend
    env: dict[str, Any]
    budget: Budget

    def run(self, node: Node) -> tuple[Any, float]:
        v, s = self.ev(node, 0)
        if self.be.mp is None:
            if not (cmath.isfinite(v) and math.isfinite(s)):
                raise Overflow()
        return v, s

    def ev(self, node: Node, depth: int) -> tuple[Any, float]:
        if depth > MAX_EVAL_DEPTH:
            raise TooLarge("expression nested too deeply")
        self.budget.check()
        be = self.be
        d = depth + 1
        if isinstance(node, Num):
            v = be.num(node.val)
            return v, abs(v)
        if isinstance(node, Sym):
            v = self.env[node.name]
            return v, abs(v)
        if isinstance(node, Const):
            if node.name == "inf":
                raise Undefined("infinity inside an expression")
            v = be.const(node.name)
            return v, abs(v)
        if isinstance(node, Neg):
            v, s = self.ev(node.arg, d)
            return -v, s
        if isinstance(node, Add):
            total: Any = 0
            scale = 0.0
            for a in node.args:
                v, s = self.ev(a, d)
                total = total + v
                scale += s
            return total, scale
        if isinstance(node, Mul):
            prod: Any = 1
            scale = 1.0
            for a in node.args:
                v, s = self.ev(a, d)
                prod = prod * v
                scale *= s
            return prod, scale
        if isinstance(node, Div):
            n, sn = self.ev(node.num, d)
            den, sd = self.ev(node.den, d)
            if den == 0 or abs(den) < 1e-300 * max(1.0, sd) and be.mp is None:
                raise Undefined("division by zero")
            if be.mp is not None and den == 0:
                raise Undefined("division by zero")
            q = n / den
            return q, sn / abs(den)
        if isinstance(node, Pow):
            return self.pow(node, d)
        if isinstance(node, Percent):
            v, s = self.ev(node.arg, d)
            return v / 100, s / 100
        if isinstance(node, Degree):
            v, s = self.ev(node.arg, d)
            k = be.const("pi") / 180
            return v * k, s * abs(k)
        if isinstance(node, Func):
            return self.func(node, d)
        raise Undefined(f"not a scalar: {type(node).__name__}")

    def pow(self, node: Pow, d: int) -> tuple[Any, float]:
        be = self.be
        b, sb = self.ev(node.base, d)
        e, _ = self.ev(node.exp, d)
        if b == 0:
            if e.real < 0:
                raise Undefined("zero to a negative power")
            return (b, 0.0) if e != 0 else (be.num(Fraction(1)), 1.0)
        # Size of the result, estimated before computing it.
        lg = be.log2abs(b)
        phase = cmath.phase(b) if be.mp is None else float(be.mp.arg(b))
        mag = float(e.real) * lg - float(e.imag) * phase
        if abs(mag) > MAX_LOG2_MAGNITUDE:
            raise TooLarge("power too large")
        if be.mp is None and abs(mag) > 1000:
            raise Overflow()
        # A real negative base with an exponent p/q, q odd, is the real root (as \sqrt[3]{-8} = -2 means).
        if b.imag == 0 and b.real < 0 and e.imag == 0:
            q = exact(node.exp, self.budget) if not isinstance(node.exp, Sym) else None
            if q is not None and q.denominator % 2 == 1:
                mag_v = (-b) ** e
                val = mag_v if q.numerator % 2 == 0 else -mag_v
                return val, abs(val)
        try:
            v = b**e
        except (OverflowError, ZeroDivisionError) as err:
            raise Overflow() from err
        return v, abs(v) + sb * abs(e) * abs(v) / max(abs(b), 1e-300) * 1e-3

    def func(self, node: Func, d: int) -> tuple[Any, float]:
        be = self.be
        name = _FUNC_ALIASES.get(node.name, node.name)
        if name == "det":
            raise Undefined("determinant not evaluated")
        args = [self.ev(a, d) for a in node.args]
        x, sx = args[0]
        try:
            if name == "root":
                k = args[1][0]
                if x.imag == 0 and x.real < 0 and k.imag == 0 and float(k.real) % 2 == 1:
                    v = -((-x) ** (1 / k))
                else:
                    v = x ** (1 / k)
                return v, abs(v)
            if name == "log" and len(args) == 2:
                base = args[1][0]
                if x == 0 or base == 0 or base == 1:
                    raise Undefined("log of zero")
                v = be.funcs["log"](x) / be.funcs["log"](base)
                return v, abs(v) + 1.0
            if name == "log" and x == 0:
                raise Undefined("log of zero")
            if name == "abs":
                v = be.num(Fraction(0)) + abs(x)
                return v, sx
            if name in ("floor", "ceil"):
                f = math.floor if name == "floor" else math.ceil
                v = be.num(Fraction(f(float(x.real))))
                return v, abs(v)
            if name == "factorial" or name == "binom":
                return self.factorial_like(name, [a[0] for a in args])
            if name in ("max", "min"):
                vals = [a[0] for a in args]
                if any(v.imag != 0 for v in vals):
                    raise Undefined("max of complex values")
                v = (max if name == "max" else min)(vals, key=lambda z: z.real)
                return v, abs(v)
            if name in ("gcd", "lcm", "sgn"):
                raise Undefined(f"{name} of a non-rational value")
            if name == "exp":
                if abs(float(x.real)) > 700 and be.mp is None:
                    raise Overflow()
                if abs(float(x.real)) > MAX_LOG2_MAGNITUDE:
                    raise TooLarge("exp too large")
            if name in ("sinh", "cosh") and abs(float(x.real)) > 700 and be.mp is None:
                raise Overflow()
            fn = be.funcs.get(name)
            if fn is None:
                raise Undefined(f"unknown function {name}")
            v = fn(x)
        except (ValueError, ZeroDivisionError) as err:
            raise Undefined(str(err)) from err
        except OverflowError as err:
            raise Overflow() from err
        return v, abs(v) + sx

    def factorial_like(self, name: str, vals: list[Any]) -> tuple[Any, float]:
        be = self.be
        gamma = be.funcs["gamma"]

        def fact(z: Any) -> Any:
            if z.imag != 0:
                raise Undefined("factorial of a complex number")
            zr = float(z.real)
            if zr < 0 and zr == int(zr):
                raise Undefined("factorial of a negative integer")
            if zr > 1e15:
                raise TooLarge("factorial too large")
            if be.mp is None and zr > 170:
                raise Overflow()
            return gamma(z + 1) if be.mp is not None else complex(math.gamma(zr + 1))

        if name == "factorial":
            v = fact(vals[0])
        else:
            n, k = vals
            v = fact(n) / (fact(k) * fact(n - k))
        return v, abs(v)
