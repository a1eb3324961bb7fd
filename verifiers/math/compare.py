"""Equivalence of a parsed answer and a parsed reference.

Order of the checks: structure first (relations, matrices, tuples, sets, intervals), and for scalars exact
rational arithmetic, then numeric evaluation (complex doubles, retried in mpmath when a value leaves the double
range or a difference is within rounding noise) at fixed pseudo-random points for the free variables. Tolerance
is relative; a decimal is the exact value it writes unless a rounding rule applies (a rounded answer, or a rounded
reference), and a loose tolerance (`float_rel_tol`, off by default) applies only when a side contains one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any

from verifiers.math.evaluate import (
    Backend,
    Budget,
    NumEval,
    Overflow,
    TooLarge,
    Undecidable,
    Undefined,
    exact,
    free_symbols,
    has_float,
)
from verifiers.math.nodes import (
    Add,
    Const,
    Degree,
    Div,
    EmptySet,
    Func,
    Matrix,
    Mul,
    Neg,
    Node,
    Num,
    Percent,
    PlusMinus,
    Pow,
    Reals,
    Rel,
    Seq,
    SetOp,
    Sym,
    Text,
    walk,
)

# Fixed, "generic" sample values for free variables: deterministic (no RNG state) and unlikely to be roots.
_POINTS = (0.6183, 1.3729, -0.8641, 2.2917, -1.7103, 0.4231, 3.1187, -2.4409, 1.0891, -0.3157, 2.7543)
# Large-magnitude points, tried after the generic ones: an answer that only agrees near the origin (`\\max(x, 3)`
# against `x`, `\\lfloor x^2/100 \\rfloor + x`) must not pass. A point where a side is undefined, too large or
# too ill-conditioned is skipped, so they can only turn a match into a mismatch.
_LARGE_POINTS = (41.37, -29.83, 613.9, -1187.3)
_LARGE_WANTED = 2
_EXACT_REL_TOL = 1e-10
_NOISE_ABS = 1e-13  # times the size of intermediate terms: cancellation noise of doubles
_MAX_PM_VARIANTS = 8

# The left side of an assignment, a label: `x`, `a_1`, `m_{\\max }`, `f(x)`, `u(1)`, a segment or point name
# `AB`, a tuple of names `(x, y, z)`, or a colon label (`Max: 10`, rewritten as `\\ahalabel{max}`).
_NAME = r"(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[\w\\ ]+\}?|_\w)?"
_ASSIGN_LHS_RE = re.compile(
    rf"{_NAME}(?:\s*(?:\\left)?\(\s*(?:[A-Za-z]|-?\d+)(?:\s*,\s*(?:[A-Za-z]|-?\d+))*\s*(?:\\right)?\))?"
    rf"|[A-Z]{{2,3}}|\\ahalabel\{{[a-z]+\}}"
    rf"|(?:\\left)?\(\s*{_NAME}(?:\s*,\s*{_NAME})+\s*(?:\\right)?\)"
)


@dataclass
class Ctx:
    """Per-verdict comparison state (never shared between verdicts)."""

    float_rel_tol: float
    budget: Budget
    rounded_decimals: bool = True
    renaming: bool = True
    # The variable the question asks for (`solve for v`, `v in terms of u`): a bare expression then means `v = it`.
    unknown: str | None = None
    _mp: dict[int, Backend] = field(default_factory=dict)
    # Whether an exact match in doubles was already re-checked at high precision (once per verdict suffices:
    # a difference doubles cannot see, sqrt(2000000000002) - 1000000 sqrt(2), shows at every point alike).
    confirmed: bool = False

    def mp(self, prec: int = 200) -> Backend:
        """An mpmath backend, created on first use: it costs ~0.8 ms, so it is only made when doubles are not
        enough, and the usual precisions are kept per thread (see `_THREAD_MP`)."""
        if prec not in self._mp:
            cache: dict[int, Backend] | None = getattr(_THREAD_MP, "backends", None)
            if cache is None:
                cache = _THREAD_MP.backends = {}
            backend = cache.get(prec)
            if backend is None:
                backend = Backend.mpmath(prec)
                if len(cache) < _MAX_THREAD_MP:
                    cache[prec] = backend
            self._mp[prec] = backend
        return self._mp[prec]


# mpmath contexts for the common precisions, one set per thread: a context's precision is fixed when it is made
# and nothing here changes it, so a thread can reuse its own (never another thread's) for every verdict it judges;
# no verdict depends on whether its context was new. Bounded: the escalating precisions of ill-conditioned
# comparisons beyond the first few are made per verdict as before.
_THREAD_MP = threading.local()
_MAX_THREAD_MP = 4


_FLOATS = Backend.floats()


def equivalent(ref: Node, ans: Node, ctx: Ctx) -> bool:
    """True when `ans` means the same as `ref`. May raise BudgetExceeded."""
    ctx.budget.check()
    if isinstance(ref, Text) or isinstance(ans, Text):
        return isinstance(ref, Text) and isinstance(ans, Text) and ref.text == ans.text
    ref = _expand_pm(ref)
    ans = _expand_pm(ans)
    if ctx.renaming:
        ans = _renamed(ref, ans)
    if isinstance(ref, Rel) or isinstance(ans, Rel):
        return _rel_equiv(ref, ans, ctx)
    if isinstance(ref, Matrix) or isinstance(ans, Matrix):
        return _matrix_equiv(ref, ans, ctx)
    if _is_collection(ref) or _is_collection(ans):
        return _collection_equiv(ref, ans, ctx)
    return scalar_equal(ref, ans, ctx) or _same_family(ref, ans, ctx)


# ---------------------------------------------------------------- scalars


def scalar_equal(a: Node, b: Node, ctx: Ctx) -> bool:
    """Scalar equivalence, with the percent and degree leniency that a `%` or `°` on one side allows."""
    ap, bp = isinstance(a, Percent), isinstance(b, Percent)
    if ap and bp:
        return scalar_equal(a.arg, b.arg, ctx)
    if ap or bp:
        stripped = (a.arg, b) if ap else (a, b.arg)
        if _core_equal(a, b, ctx):
            return True
        # `14\\%` for 14 reads the sign as a unit; `0.14\\%` for 0.14 is a hundred times too small (below 1 the
        # plain number is a fraction, and the percent of it another value)
        plain = _real_value(b if ap else a, ctx)
        return plain is not None and abs(plain) >= 1 and _core_equal(*stripped, ctx)
    ad, bd = isinstance(a, Degree), isinstance(b, Degree)
    if ad and bd:
        return scalar_equal(a.arg, b.arg, ctx)
    if ad or bd:
        stripped = (a.arg, b) if ad else (a, b.arg)
        return _core_equal(*stripped, ctx) or _core_equal(a, b, ctx)
    return _core_equal(a, b, ctx)


def _inf_sign(node: Node) -> int:
    if isinstance(node, Const) and node.name == "inf":
        return 1
    if isinstance(node, Neg):
        return -_inf_sign(node.arg)
    return 0


_UNDEF = object()


def _safe_exact(node: Node, ctx: Ctx) -> Any:
    try:
        return exact(node, ctx.budget)
    except Undefined:
        return _UNDEF


def _core_equal(a: Node, b: Node, ctx: Ctx) -> bool:
    ia, ib = _inf_sign(a), _inf_sign(b)
    if ia or ib:
        return ia == ib
    if not _is_scalar(a) or not _is_scalar(b):
        return False
    # A tolerance only when the caller asks for one: by default a decimal is the exact value it writes (so
    # `2^{1009} - 1.0` is not `2^{1009}`), and a rounded decimal passes by the rounding rule alone.
    use_float = (has_float(a) or has_float(b)) and ctx.float_rel_tol > 0
    ea = _safe_exact(a, ctx)
    eb = _safe_exact(b, ctx)
    if ea is _UNDEF or eb is _UNDEF:
        return ea is eb and a == b
    if ea is not None and eb is not None:
        if ea == eb:
            return True
        if use_float and _close_fraction(ea, eb, ctx.float_rel_tol):
            return True
        return _rounded_match(a, b, ea, ctx) or _rounded_reference(a, b, eb, ctx)
    if _rounded_match(a, b, ea, ctx) or _rounded_reference(a, b, eb, ctx):
        return True
    return _numeric_equal(a, b, use_float, ctx)


def decimal_literal(node: Node) -> tuple[Fraction, int, int] | None:
    """A decimal as written, `71.43`, `-0.0833`, `8.33\\%`: (value, decimals, significant digits), else None."""
    sign, pct = 1, 0
    while isinstance(node, Neg | Percent):
        if isinstance(node, Neg):
            sign = -sign
        else:
            pct += 2
        node = node.arg
    if not (isinstance(node, Num) and node.is_float) or pct > 2:
        return None
    text = node.text.lstrip("+-")
    if "." not in text or not text.replace(".", "").isdigit():
        return None  # scientific notation or a value from latex2sympy: no digits to read the rounding from
    decimals = len(text) - text.index(".") - 1
    significant = len(text.replace(".", "").lstrip("0"))
    return sign * node.val / 10**pct, decimals + pct, significant


MIN_ROUNDED_DIGITS = 3
MIN_ROUNDED_DIGITS_FOR_DECIMALS = 4
MAX_ROUNDED_DECIMALS = 40


def _rounded_match(ref: Node, ans: Node, ref_exact: Any, ctx: Ctx) -> bool:
    """The answer is a decimal that is the exact reference correctly rounded at the answer's own number of
    decimals, with at least 3 significant digits (`71.43` for 500/7; never the truncation `71.42`, never `3.3`
    for 10/3). Only an exact reference counts: a decimal reference already carries its own tolerance."""
    if not ctx.rounded_decimals or has_float(ref) or free_symbols(ref):
        return False
    return _rounds_to(ans, ref, ref_exact, ctx)


def _rounded_reference(ref: Node, ans: Node, ans_value: Any, ctx: Ctx) -> bool:
    """The reference is a decimal that rounds the answer's value at the reference's own decimals, with at least
    3 significant digits (`12.5663706` for `4\\pi`, `0.000001234` for `0.0000012340000001`): the data set wrote
    the exact value rounded, so the exact value answers it."""
    if free_symbols(ans):
        return False
    if decimal_literal(ans) is not None:
        # A decimal answer near a short decimal reference is as likely a near miss (`12.54` for an exact `12.5`)
        # as the value the reference rounds: only a reference of 4 or more significant digits (`0.6827`, `18.90`)
        # reads as rounded against another decimal.
        lit = decimal_literal(ref)
        if lit is None or lit[2] < MIN_ROUNDED_DIGITS_FOR_DECIMALS:
            return False
    return _rounds_to(ref, ans, ans_value, ctx)


def _rounds_to(literal: Node, other: Node, other_exact: Any, ctx: Ctx) -> bool:
    """`literal` is a decimal that is `other`'s value correctly rounded at its own decimals (>= 3 significant)."""
    lit = decimal_literal(literal)
    if lit is None:
        return False
    value, decimals, significant = lit
    if significant < MIN_ROUNDED_DIGITS or decimals > MAX_ROUNDED_DECIMALS:
        return False
    half = Fraction(1, 2 * 10**decimals)
    if isinstance(other_exact, Fraction):
        return abs(other_exact - value) <= half  # a tie (1/8 as 0.13 or 0.12) is a correct rounding either way
    be = ctx.mp(200)
    try:
        v, _ = NumEval(be, {}, ctx.budget).run(other)
    except (Undefined, Overflow, TooLarge):
        return False
    if abs(v.imag) > be.mp.mpf(10) ** -60 * max(abs(v), 1):
        return False
    # Irrational: never a tie, and 200 bits leave the comparison with room to spare at 40 decimals.
    return bool(abs(v.real - be.num(value).real) < be.num(half).real)


def _close_fraction(x: Fraction, y: Fraction, tol: float) -> bool:
    # Exact arithmetic even for the tolerance test: no rounding, no chopping of tiny values.
    t = Fraction(repr(tol))
    return abs(x - y) <= t * max(abs(x), abs(y))


def _is_scalar(node: Node) -> bool:
    return not any(isinstance(n, Seq | SetOp | Rel | Matrix | Text | EmptySet | Reals | PlusMinus) for n in walk(node))


def _env(syms: list[str], p: int, be: Backend) -> dict[str, Any]:
    """The values of the free variables at sample point p (p < 0: the large-magnitude points)."""
    if p < 0:
        m = len(_LARGE_POINTS)
        return {s: be.num(Fraction(repr(_LARGE_POINTS[(-p - 1 + k) % m]))) for k, s in enumerate(syms)}
    n = len(_POINTS)
    return {s: be.num(Fraction(repr(_POINTS[(p * 5 + k * 3) % n]))) for k, s in enumerate(syms)}


def _eval_pair(a: Node, b: Node, syms: list[str], p: int, ctx: Ctx, be: Backend) -> tuple[Any, float, Any, float]:
    va, sa = NumEval(be, _env(syms, p, be), ctx.budget).run(a)
    vb, sb = NumEval(be, _env(syms, p, be), ctx.budget).run(b)
    return va, sa, vb, sb


def _foreign_symbols(ref: Node, ans: Node) -> bool:
    """The answer uses a variable the reference does not have: against a constant `3`, `\\max(x, 3)` is not 3."""
    return not free_symbols(ans) <= free_symbols(ref)


def _numeric_equal(a: Node, b: Node, use_float: bool, ctx: Ctx) -> bool:
    if _foreign_symbols(a, b):
        return False
    syms = sorted(free_symbols(a) | free_symbols(b))
    wanted = 1 if not syms else 4
    valid = 0
    for p in range(wanted + 4):
        if valid >= wanted:
            break
        ctx.budget.check_now()
        verdict = _compare_at(a, b, syms, p, use_float, ctx)
        if verdict is None:
            continue
        if verdict == "large":
            return _large_equal(a, b)
        if not verdict:
            return False
        valid += 1
    if valid > 0 and syms:
        return _equal_at_large_points(a, b, syms, use_float, ctx)
    # Defined nowhere we looked (e.g. both sides are 1/0): only an identical tree counts.
    return valid > 0 or a == b


def _equal_at_large_points(a: Node, b: Node, syms: list[str], use_float: bool, ctx: Ctx) -> bool:
    """False when the sides differ at a large-magnitude point; points that cannot be compared are skipped."""
    valid = 0
    for p in range(-1, -len(_LARGE_POINTS) - 1, -1):
        if valid >= _LARGE_WANTED:
            break
        ctx.budget.check_now()
        try:
            verdict = _compare_at(a, b, syms, p, use_float, ctx)
        except Undecidable:
            continue
        if verdict is None or verdict == "large":
            continue
        if not verdict:
            return False
        valid += 1
    return True


def _compare_at(a: Node, b: Node, syms: list[str], p: int, use_float: bool, ctx: Ctx) -> bool | str | None:
    """Compare at sample point p: True/False, None when undefined there, "large" when not computable."""
    try:
        try:
            va, sa, vb, sb = _eval_pair(a, b, syms, p, ctx, _FLOATS)
            state = _close(va, vb, sa, sb, use_float, ctx.float_rel_tol, prec=53)
            if state is True and not use_float and not ctx.confirmed:
                # Two exact expressions that agree to double precision may still differ (sqrt(2000000000002)
                # against 1000000 sqrt(2), 2.5e-13 apart): confirm the first match at 200 bits.
                ctx.confirmed = True
            elif state != "noise":
                return state
        except Overflow:
            pass
        prec = 200
        while True:
            va, sa, vb, sb = _eval_pair(a, b, syms, p, ctx, ctx.mp(prec))
            state = _close(va, vb, sa, sb, use_float, ctx.float_rel_tol, prec=prec)
            if state != "noise":
                return state
            # Rounding of huge intermediate values (sin(10^100)) swamps the answer: add the bits they need.
            need = int(prec + 40 + max(0.0, float(ctx.mp(prec).mp.log(sa + sb + 1, 2))))
            if need > 4000 or prec >= 4000:
                raise Undecidable("values too ill-conditioned to compare")
            prec = need
    except Undefined:
        return None
    except (TooLarge, Overflow):
        return "large"


_MONOTONE = (Num, Add, Mul, Pow, Sym, Const)


def _large_equal(a: Node, b: Node) -> bool:
    """Compare values beyond numeric reach (power towers): identical trees are equal; an expression built only
    from sums, products, powers and factorials of positive numbers really is astronomically large, so it differs
    from a computable value; anything else (X - X + 5) cannot be decided."""
    if a == b:
        return True
    for node in (a, b):
        for n in walk(node):
            if isinstance(n, Num) and n.val < 0:
                raise Undecidable("values too large to compare")
            if not (isinstance(n, _MONOTONE) or (isinstance(n, Func) and n.name in ("factorial", "sqrt", "root"))):
                raise Undecidable("values too large to compare")
    return False


def _close(va: Any, vb: Any, sa: Any, sb: Any, use_float: bool, tol: float, prec: int) -> bool | str:
    """True, False, or "noise" when this precision cannot tell (the difference is within rounding error)."""
    diff = abs(va - vb)
    mag = max(abs(va), abs(vb))
    rel = tol if use_float else (_EXACT_REL_TOL if prec == 53 else 2.0 ** (40 - prec))
    if diff <= rel * mag:
        return True
    noise = (_NOISE_ABS if prec == 53 else 2.0 ** (30 - prec)) * (sa + sb)
    if diff <= noise:
        # Close within rounding error: equal, unless that error is itself large (then more precision).
        return True if prec > 53 and noise < 1e-30 else "noise"
    return False


# ---------------------------------------------------------------- dummy variables

# Names that stand for an arbitrary integer in a family of solutions (`\\frac{\\pi}{4} + k\\pi`).
_INTEGER_PARAMS = frozenset("k n m j".split())


def _substitute(node: Node, name: str, value: Node) -> Node:
    """`node` with every occurrence of the variable `name` replaced by `value`."""
    if isinstance(node, Sym):
        return value if node.name == name else node
    if isinstance(node, Num | Const | Text | EmptySet | Reals):
        return node
    return _map_children(node, lambda c: _substitute(c, name, value))


def _rename(node: Node, old: str, new: str) -> Node:
    """`node` with the variable `old` renamed `new` (a consistent renaming: every occurrence)."""
    return _substitute(node, old, Sym(new))


def _period_multiplier(node: Node, name: str) -> bool:
    """`name` multiplies a period (`k\\pi`, `2n\\pi`, `k \\cdot 360^\\circ`): the integer parameter of a family of
    solutions, a dummy. In `\\frac{n(n+1)}{2}` the n is the problem's own quantity and no renaming is allowed."""
    for sub in walk(node):
        if isinstance(sub, Mul) and Sym(name) in sub.args:
            inner = [n for a in sub.args for n in walk(a)]
            if any(isinstance(n, Degree) or (isinstance(n, Const) and n.name == "pi") for n in inner):
                return True
    return False


def _same_family(ref: Node, ans: Node, ctx: Ctx) -> bool:
    """`\\frac{3\\pi}{2} + 2k\\pi` and `2k\\pi - \\frac{\\pi}{2}`: the same set of values as k runs over the
    integers. Both must be a + s·k in the one integer parameter k of a period (s a real constant); then they are
    the same family when the steps agree up to sign and the offsets differ by a whole number of steps."""
    fr = free_symbols(ref)
    if len(fr) != 1 or free_symbols(ans) != fr:
        return False
    (name,) = fr
    if name not in _INTEGER_PARAMS or not (_period_multiplier(ref, name) and _period_multiplier(ans, name)):
        return False
    terms = []
    for node in (ref, ans):
        at = [_real_value(_substitute(node, name, Num(Fraction(k))), ctx) for k in (0, 1, 2)]
        if any(v is None for v in at):
            return False
        a, b, c = at  # type: ignore[misc]
        step = b - a
        if abs(step) < 1e-12 or abs((c - b) - step) > 1e-9 * max(1.0, abs(step)):
            return False  # not a + s·k
        terms.append((a, step))
    (a1, s1), (a2, s2) = terms
    if abs(abs(s1) - abs(s2)) > 1e-9 * abs(s1):
        return False
    shift = (a1 - a2) / s1
    return abs(shift - round(shift)) < 1e-9


def _renamed(ref: Node, ans: Node) -> Node:
    """The answer with a dummy variable renamed as the reference names it, when one name differs and it is a
    dummy: an integer parameter of a family on both sides (`k` for `n` in `\\frac{\\pi}{4} + n\\pi`), or the free
    parameter of a point or tuple (`(2u, 1 - u)` for `(2s, 1 - s)`). A name the reference uses is never a rename
    target from elsewhere (the answer's extra name must be absent from the reference, and the reference's from the
    answer), so a renaming that collides with a variable that carries meaning changes the answer and is judged as
    written."""
    fr, fa = free_symbols(ref), free_symbols(ans)
    r_only, a_only = fr - fa, fa - fr
    if len(r_only) != 1 or len(a_only) != 1:
        return ans
    (new,), (old,) = r_only, a_only
    integer = new in _INTEGER_PARAMS and old in _INTEGER_PARAMS and _period_multiplier(ref, new)
    points = all(isinstance(x, Seq) and x.open == "(" for x in (ref, ans))
    if integer or points:
        return _rename(ans, old, new)
    return ans


# ---------------------------------------------------------------- plus-minus


def _map_children(node: Node, f: Any) -> Node:
    """Rebuild `node` with f applied to each child node (generic over the frozen dataclasses)."""
    changes = {}
    for fld in fields(node):  # type: ignore[arg-type]
        v = getattr(node, fld.name)
        if isinstance(v, tuple):
            changes[fld.name] = tuple(_map_item(item, f) for item in v)
        elif v is not None and not isinstance(v, str | Fraction | bool):
            changes[fld.name] = f(v)
    return type(node)(**{**{fl.name: getattr(node, fl.name) for fl in fields(node)}, **changes})  # type: ignore


def _map_item(item: Any, f: Any) -> Any:
    # a relation's operators and a node's names are strings, not children
    if isinstance(item, str):
        return item
    if isinstance(item, tuple):
        return tuple(_map_item(x, f) for x in item)
    return f(item)


def _pm_variants(node: Node, limit: int) -> list[Node]:
    """All sign choices of the ± signs inside node (at most `limit`)."""
    if isinstance(node, PlusMinus):
        bs = _pm_variants(node.b, limit)
        out: list[Node] = []
        for b in bs:
            if node.a is None:
                out += [b, Neg(b)]
            else:
                for a in _pm_variants(node.a, limit):
                    out += [Add((a, b)), Add((a, Neg(b)))]
        return out[:limit]
    if not any(isinstance(n, PlusMinus) for n in walk(node)):
        return [node]
    # Expand the first child that holds a ±, then whatever ± signs remain.
    target = _first_pm_child(node)
    results: list[Node] = []
    for v in _pm_variants(target, limit):
        replaced = _map_children(node, lambda c, tgt=target, rep=v: rep if c is tgt else c)
        results += _pm_variants(replaced, limit)
        if len(results) >= limit:
            break
    return results[:limit]


def _first_pm_child(node: Node) -> Node:
    found: list[Node] = []

    def visit(c: Node) -> Node:
        if not found and any(isinstance(n, PlusMinus) for n in walk(c)):
            found.append(c)
        return c

    _map_children(node, visit)
    return found[0]


def _has_pm(node: Node) -> bool:
    return any(isinstance(n, PlusMinus) for n in walk(node))


def _pm_tuple(node: Seq) -> list[Node]:
    """`(\\pm 1, 0)` -> the points (1, 0) and (-1, 0); a tuple with more than one ± is left whole (whether
    its signs go together is not written down)."""
    holders = [k for k, x in enumerate(node.items) if _has_pm(x)]
    if len(holders) != 1 or sum(isinstance(n, PlusMinus) for n in walk(node.items[holders[0]])) != 1:
        return [node]
    k = holders[0]
    variants = _pm_variants(node.items[k], 2)
    return [Seq(node.open, node.close, node.items[:k] + (v,) + node.items[k + 1 :]) for v in variants]


def _splice_pm(node: Seq) -> Seq:
    """A set or list with ± items lists every value: `\\{2 \\pm \\sqrt{3}, 0\\}` is {2+√3, 2-√3, 0},
    `(\\pm 1, 0), (0, 1)` is three points."""
    items: list[Node] = []
    for x in node.items:
        if isinstance(x, Seq) and x.open in "([" and x.open:
            items += _pm_tuple(x)
        elif _is_scalar_pm(x):
            items += _pm_variants(x, _MAX_PM_VARIANTS)
        else:
            items.append(x)
    return Seq(node.open, node.close, tuple(items))


def _is_scalar_pm(node: Node) -> bool:
    return not any(isinstance(n, Seq | SetOp | Rel | Matrix | Text | EmptySet | Reals) for n in walk(node))


def _expand_pm(node: Node) -> Node:
    if isinstance(node, Seq) and _has_pm(node):
        if node.open in ("{", ""):
            return _splice_pm(node)
        if node.open in "([":
            points = _pm_tuple(node)
            return points[0] if len(points) == 1 else Seq("", "", tuple(points))
        return node
    if isinstance(node, Seq | Rel | SetOp | Matrix):
        return node
    if not any(isinstance(n, PlusMinus) for n in walk(node)):
        return node
    return Seq("{", "}", tuple(_pm_variants(node, _MAX_PM_VARIANTS)))


# ---------------------------------------------------------------- relations


def _is_assignment(rel: Rel) -> bool:
    return len(rel.ops) == 1 and rel.ops[0] in ("=", "in") and bool(_ASSIGN_LHS_RE.fullmatch(rel.lhs_text))


def _value_of(node: Node, ctx: Ctx | None = None) -> Node:
    """`x = 3` -> `3` (an assignment's value), and with a context the value of a chain: `x = y = \\frac{1}{3}`
    (labels, then the value) and `x = 2 + 3 = 5` (steps that all equal the last one); anything else unchanged."""
    if not isinstance(node, Rel):
        return node
    if _is_assignment(node):
        return node.args[1]
    if _names_a_quantity(node):
        return node.args[1]
    chain = _chain_value(node, ctx) if ctx is not None else None
    return node if chain is None else chain


_FUNCTION_LHS_RE = re.compile(r"([A-Za-z](?:_\{?\w+\}?)?)\s*(?:\\left)?\(\s*([A-Za-z])\s*(?:\\right)?\)")


_APPLIED_RE = re.compile(r"[A-Za-z](?:_\{?\w+\}?)?\s*(?:\\left)?\(.+\)")


def _names_a_quantity(rel: Rel) -> bool:
    """`m - n = 1`, `a_2 + a_3 + a_4 = 10`, `E(\\xi) = \\frac{8}{9}`: one `=` between names joined by operators
    (two or more, no number) or a function applied, and a constant: the value of the quantity it names. `2x = 7` is
    an equation in one unknown and `3x - y + 13 = 0` a line, not values."""
    if rel.ops != ("=",) or free_symbols(rel.args[1]):
        return False
    if _APPLIED_RE.fullmatch(rel.lhs_text):
        return True
    # names joined by + - · /, no number: `3x - y + 13 = 0` is a line, not a quantity's value
    lhs = rel.args[0]
    plain = all(isinstance(n, Sym | Add | Neg | Mul | Div) for n in walk(lhs))
    return plain and len(free_symbols(lhs)) >= 2


def _function_argument(ref: Rel, ans: Rel, ctx: Ctx) -> Node | None:
    """`g(t) = 3t - 1` against `g(x) = 3x - 1`: the answer's value with its argument renamed as the reference's
    (same function name, one argument; None when the new name already means something in the answer)."""
    mr, ma = _FUNCTION_LHS_RE.fullmatch(ref.lhs_text), _FUNCTION_LHS_RE.fullmatch(ans.lhs_text)
    if not ctx.renaming or mr is None or ma is None or mr.group(1) != ma.group(1):
        return None
    new, old = mr.group(2), ma.group(2)
    value = ans.args[1]
    if new in free_symbols(value):
        return None
    return _rename(value, old, new)


def _chain_value(rel: Rel, ctx: Ctx) -> Node | None:
    """The value of a chain `L = L2 = ... = E1 = ... = En` whose first side is a label, whose next sides are
    names, and whose expressions all equal the last (a chain with a wrong step, `x = 4 = 5`, has no value). Also a
    computation written out: `\\ln(e^5) = 5`, `180 + 24 = 204`, `m + n = 115 + 256 = 371` (every side after the
    first a constant, all equal; the first side constant too when there is only one `=`)."""
    if any(op != "=" for op in rel.ops):
        return None
    constant = [not free_symbols(a) for a in rel.args]
    # a computation has something to compute on its first side: `3 = 3` says nothing and has no value
    computed = not isinstance(rel.args[0], Num) and not _ASSIGN_LHS_RE.fullmatch(rel.lhs_text)
    if all(constant[1:]) and (len(rel.ops) >= 2 or constant[0]) and computed:
        sides = rel.args if constant[0] else rel.args[1:]
        if all(equivalent(side, rel.args[-1], ctx) for side in sides[:-1]):
            return rel.args[-1]
        return None
    if len(rel.ops) < 2 or not _ASSIGN_LHS_RE.fullmatch(rel.lhs_text):
        return None
    k = 1
    while k < len(rel.args) - 1 and isinstance(rel.args[k], Sym):
        k += 1
    steps, last = rel.args[k:-1], rel.args[-1]
    if any(isinstance(n, Sym) for step in steps for n in walk(step)) and free_symbols(last) == frozenset():
        return None  # `x = y + 1 = 5`: a name in a step means an equation, not a computation
    if all(equivalent(step, last, ctx) for step in steps):
        return last
    return None


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}
_INEQ = frozenset(("<", ">", "<=", ">="))


def _increasing(rel: Rel) -> tuple[tuple[str, ...], tuple[Node, ...]] | None:
    """An inequality chain read from its smallest side: `b > a > c` is `c < a < b`; a mixed chain is None."""
    if all(op in ("<", "<=") for op in rel.ops):
        return rel.ops, rel.args
    if all(op in (">", ">=") for op in rel.ops):
        return tuple(_FLIP[op] for op in reversed(rel.ops)), tuple(reversed(rel.args))
    return None


def _chains_equiv(ref: Rel, ans: Rel, ctx: Ctx) -> bool | None:
    """Two chains of two or more relations: the same order of sides, either way round (`b > a > c` vs
    `c < a < b`); None when neither is such a chain."""
    if len(ref.ops) < 2 and len(ans.ops) < 2:
        return None
    r, a = _increasing(ref), _increasing(ans)
    if r is None or a is None or r[0] != a[0]:
        return None
    return all(equivalent(x, y, ctx) for x, y in zip(r[1], a[1], strict=True))


def _rel_equiv(ref: Node, ans: Node, ctx: Ctx) -> bool:
    if isinstance(ref, Rel) and isinstance(ans, Rel):
        # A computation written out on either side stands for its value (`\\ln(e^5) = 5` vs `\\ln e^5 = 5\\ln e = 5`).
        ref_value, ans_value = _chain_value(ref, ctx), _chain_value(ans, ctx)
        if ref_value is not None or ans_value is not None:
            return equivalent(ref if ref_value is None else ref_value, ans if ans_value is None else ans_value, ctx)
        if all(op in _INEQ for op in ref.ops + ans.ops):
            chains = _chains_equiv(ref, ans, ctx)
            if chains is not None:
                return chains
        if ref.ops == ans.ops == ("=",) and ref.lhs_text != ans.lhs_text:
            renamed = _function_argument(ref, ans, ctx)
            if renamed is not None:
                return equivalent(ref.args[1], renamed, ctx)
        if _is_assignment(ref) and _is_assignment(ans) and ref.ops == ans.ops == ("=",):
            if ref.lhs_text == ans.lhs_text:
                # the same name's values (`M = (-1, 2)`: a point is no equation's side; `M = 0.3977` may round)
                if equivalent(ref.args[1], ans.args[1], ctx):
                    return True
                if _is_collection(ref.args[1]) or _is_collection(ans.args[1]):
                    return False
        if all(op == "=" for op in ref.ops + ans.ops) and len(ref.ops) == 1 and len(ans.ops) == 1:
            return _equation_equiv(ref, ans, ctx) or _solved_form_equiv(ref, ans, ctx)
        if all(op == "!=" for op in ref.ops + ans.ops) and len(ref.ops) == 1 and len(ans.ops) == 1:
            return _equation_equiv(ref, ans, ctx)
        if all(op == "in" for op in ref.ops + ans.ops):
            return equivalent(ref.args[-1], ans.args[-1], ctx)
        if all(op in _INEQ for op in ref.ops + ans.ops):
            ir, ia = _ineq_interval(ref), _ineq_interval(ans)
            if ir is not None and ia is not None:
                return ir[0] == ia[0] and _intervals_equal([ir[1]], [ia[1]], ctx)
            if len(ref.ops) == 1 and len(ans.ops) == 1:
                return _inequality_equiv(ref, ans, ctx)
            return False
        # An assignment on one side and an equation on the other: `x = 3` vs `3 = x`.
        if _is_assignment(ref) and _is_assignment(ans) and ref.ops == ans.ops:
            if ref.lhs_text == ans.lhs_text:
                return equivalent(ref.args[1], ans.args[1], ctx)
            renamed = _function_argument(ref, ans, ctx)
            return renamed is not None and equivalent(ref.args[1], renamed, ctx)
        # `-1 \\le t \\le 1` vs `t \\in [-1, 1]`: the same set of values of the same variable.
        ir2, ia2 = _rel_intervals(ref, ctx), _rel_intervals(ans, ctx)
        if ir2 is not None and ia2 is not None and any(op != "=" for op in ref.ops + ans.ops):
            return ir2[0] == ia2[0] and _intervals_equal(ir2[1], ia2[1], ctx)
        return False
    rel, other = (ref, ans) if isinstance(ref, Rel) else (ans, ref)
    assert isinstance(rel, Rel)
    return _rel_value_equiv(rel, other, rel is ref, ctx) or _unknown_equiv(rel, other, rel is ref, ctx)


def _rel_value_equiv(rel: Rel, other: Node, rel_is_ref: bool, ctx: Ctx) -> bool:
    """A relation against a bare value: the relation's value (`x = 3`, a chain) against it."""
    value = _value_of(rel, ctx)
    if value is not rel:
        if rel_is_ref:
            return equivalent(value, other, ctx)
        # `g(t) = 3t - 1` against `3x - 1`: the function's argument is a dummy, named as the reference names it
        arg = _FUNCTION_LHS_RE.fullmatch(rel.lhs_text)
        fr = free_symbols(other)
        if ctx.renaming and arg is not None and len(fr) == 1 and arg.group(2) not in fr:
            value = _rename(value, arg.group(2), next(iter(fr)))
        return equivalent(other, value, ctx)
    if _is_collection(other) and any(op in _INEQ or op == "!=" for op in rel.ops):
        return _collection_equiv(rel, other, ctx) if rel_is_ref else _collection_equiv(other, rel, ctx)
    return False


def _unknown_equiv(rel: Rel, other: Node, rel_is_ref: bool, ctx: Ctx) -> bool:
    """`uv = 12` against `\\frac{12}{u}` when the question asks for v: the bare expression is v's value."""
    unknown = ctx.unknown
    if unknown is None or rel.ops != ("=",) or _is_collection(other) or unknown in free_symbols(other):
        return False
    if unknown not in free_symbols(rel.args[0]) | free_symbols(rel.args[1]):
        return False
    solved = Rel(("=",), (Sym(unknown), other), unknown)
    return _solved_form_equiv(rel, solved, ctx) if rel_is_ref else _solved_form_equiv(solved, rel, ctx)


def _solved_for(rel: Rel) -> tuple[str, Node] | None:
    """`v = f` with `v` a variable that `f` does not use: (v, f)."""
    for lhs, rhs in (rel.args, rel.args[::-1]):
        if isinstance(lhs, Sym) and lhs.name not in free_symbols(rhs):
            return lhs.name, rhs
    return None


def _vanishes(expr: Node, ctx: Ctx) -> bool:
    """`expr` is zero wherever it is defined (identity testing at the sample points)."""
    return scalar_equal(expr, Num(Fraction(0)), ctx)


def _linear_in(diff: Node, name: str, ctx: Ctx) -> bool:
    """`diff` is a·name + b with a not identically zero (a, b free of `name`): then `diff = 0` fixes `name`."""
    b = _substitute(diff, name, Num(Fraction(0)))
    slope = Add((_substitute(diff, name, Num(Fraction(1))), Neg(b)))
    return not _vanishes(slope, ctx) and _vanishes(Add((diff, Neg(b), Neg(Mul((Sym(name), slope))))), ctx)


def _solved_form_equiv(r: Rel, a: Rel, ctx: Ctx) -> bool:
    """An equation against its solved form, `uv = 12` vs `v = \\frac{12}{u}` (or two solved forms for different
    variables, `v = \\frac{12}{u}` vs `u = \\frac{12}{v}`): equal sets of solutions where both are defined. Every
    solution of the solved form must satisfy the other equation, and the other must fix the same variable: it is
    linear in it with a non-zero coefficient, or it is itself solved for another variable whose value satisfies
    the first. `v = u^2` vs `u = \\sqrt{v}` fails the second test (u = -1, v = 1), as it should."""
    if _foreign_symbols(r, a) or _foreign_symbols(a, r):
        return False
    for solved, other in ((r, a), (a, r)):
        form = _solved_for(solved)
        if form is None:
            continue
        name, value = form
        other_diff = _difference(other)
        if name not in free_symbols(other_diff) or not _vanishes(_substitute(other_diff, name, value), ctx):
            continue
        if _linear_in(other_diff, name, ctx):
            return True
        back = _solved_for(other)
        if back is not None and back[0] != name and _vanishes(_substitute(_difference(solved), *back), ctx):
            return True
    return False


def _difference(rel: Rel, flip: bool = False) -> Node:
    lhs, rhs = rel.args
    return Add((rhs, Neg(lhs))) if flip else Add((lhs, Neg(rhs)))


def _equation_equiv(r: Rel, a: Rel, ctx: Ctx) -> bool:
    return _proportional(_difference(r), _difference(a), ctx, positive=False)


def _inequality_equiv(r: Rel, a: Rel, ctx: Ctx) -> bool:
    # Normalise both to "d < 0" / "d <= 0" (flipping > and >=), then require d1 = k * d2 with k > 0.
    def norm(rel: Rel) -> tuple[str, Node]:
        op = rel.ops[0]
        if op in (">", ">="):
            return _FLIP[op], _difference(rel, flip=True)
        return op, _difference(rel)

    op_r, dr = norm(r)
    op_a, da = norm(a)
    return op_r == op_a and _proportional(dr, da, ctx, positive=True)


def _proportional(d1: Node, d2: Node, ctx: Ctx, positive: bool) -> bool:
    """d1 = k * d2 for a constant k != 0 (k > 0 when `positive`), tested at the sample points (d1 is the
    reference's side: d2 may not use a variable d1 does not have)."""
    if _foreign_symbols(d1, d2):
        return False
    syms = sorted(free_symbols(d1) | free_symbols(d2))
    use_float = (has_float(d1) or has_float(d2)) and ctx.float_rel_tol > 0
    tol = ctx.float_rel_tol if use_float else 1e-8
    ratio: Any = None
    zeros = 0
    valid = 0
    large_valid = 0
    points = list(range(10)) + (list(range(-1, -len(_LARGE_POINTS) - 1, -1)) if syms else [])
    for p in points:
        if p >= 0 and valid >= (4 if syms else 1):
            continue
        if p < 0 and (valid == 0 or large_valid >= _LARGE_WANTED):
            break
        ctx.budget.check_now()
        try:
            try:
                v1, s1, v2, s2 = _eval_pair(d1, d2, syms, p, ctx, _FLOATS)
            except Overflow:
                v1, s1, v2, s2 = _eval_pair(d1, d2, syms, p, ctx, ctx.mp())
        except Undefined:
            continue
        except (TooLarge, Overflow):
            if p < 0:
                continue
            return _large_equal(d1, d2)
        if p < 0:
            large_valid += 1
        else:
            valid += 1
        z1 = abs(v1) <= 1e-11 * max(s1, 1e-300)
        z2 = abs(v2) <= 1e-11 * max(s2, 1e-300)
        if z1 != z2:
            return False
        if z1:
            zeros += p >= 0
            continue
        k = v1 / v2
        if ratio is None:
            ratio = k
            if positive and (abs(k.imag) > 1e-9 * abs(k) or k.real <= 0):
                return False
        elif abs(k - ratio) > tol * max(abs(k), abs(ratio)):
            return False
    return valid > 0 and (ratio is not None or zeros == valid)


# ---------------------------------------------------------------- intervals and collections


@dataclass(frozen=True)
class Interval:
    lo: Node
    hi: Node
    lo_closed: bool
    hi_closed: bool


_NEG_INF = Neg(Const("inf"))
_POS_INF = Const("inf")


def _ineq_interval(rel: Rel) -> tuple[str, Interval] | None:
    """`x > 3` -> ("x", (3, oo)); `1 <= x < 2` -> ("x", [1, 2)); None when not a bound on one variable."""
    if not all(op in _INEQ for op in rel.ops):
        return None
    var_idx = [i for i, a in enumerate(rel.args) if free_symbols(a)]
    if len(var_idx) != 1 or not isinstance(rel.args[var_idx[0]], Sym):
        return None
    i = var_idx[0]
    name = rel.args[i].name  # type: ignore[union-attr]
    lo, hi = _NEG_INF, _POS_INF
    lo_c = hi_c = False
    # Each link "a op b" with the variable on one side bounds it.
    for k, op in enumerate(rel.ops):
        left, right = rel.args[k], rel.args[k + 1]
        if k + 1 == i:  # c op x
            op, bound = _FLIP[op], left
        elif k == i:  # x op c
            bound = right
        else:
            continue
        if op in ("<", "<="):
            hi, hi_c = bound, op == "<="
        else:
            lo, lo_c = bound, op == ">="
    return name, Interval(lo, hi, lo_c, hi_c)


def _is_collection(node: Node) -> bool:
    return isinstance(node, Seq | SetOp | EmptySet | Reals | PlusMinus)


def _abs_intervals(rel: Rel, ctx: Ctx) -> tuple[str, list[Interval]] | None:
    """`2 \\le |w| \\le 3` -> ("w", [-3, -2] ∪ [2, 3]); `|w| < 3` -> ("w", (-3, 3)); None otherwise."""
    inner = [a for a in rel.args if free_symbols(a)]
    if len(inner) != 1 or not (isinstance(inner[0], Func) and inner[0].name == "abs"):
        return None
    arg = inner[0].args[0]
    if not isinstance(arg, Sym):
        return None
    iv = _ineq_interval(Rel(rel.ops, tuple(arg if a is inner[0] else a for a in rel.args), rel.lhs_text))
    if iv is None:
        return None
    name, i = iv
    lo = _real_value(i.lo, ctx)
    if lo is None or _inf_sign(i.hi) < 0:
        return None
    if lo < 0 or (lo == 0 and i.lo_closed):
        return name, [Interval(Neg(i.hi), i.hi, i.hi_closed, i.hi_closed)]  # |w| < 3
    # a <= |w| <= b with a >= 0: both sides of 0 (0 < |w| < 3 leaves 0 out)
    return name, [Interval(Neg(i.hi), Neg(i.lo), i.hi_closed, i.lo_closed), i]


def _rel_intervals(rel: Node, ctx: Ctx) -> tuple[str, list[Interval]] | None:
    """The values of one variable a relation allows: `x > 3`, `1 \\le x < 2`, `2 \\le |w| \\le 3`, `x \\ne 1`,
    `x = 4`, `x \\in S`, as (variable, intervals); None when it is not such a relation."""
    if not isinstance(rel, Rel):
        return None
    if rel.ops and all(op in _INEQ for op in rel.ops):
        iv = _ineq_interval(rel)
        return (iv[0], [iv[1]]) if iv is not None else _abs_intervals(rel, ctx)
    if len(rel.ops) != 1 or not isinstance(rel.args[0], Sym) or free_symbols(rel.args[1]):
        return None
    var, c, op = rel.args[0].name, rel.args[1], rel.ops[0]
    if op == "=" and _is_scalar(c):
        return var, [Interval(c, c, True, True)]
    if op == "!=" and _is_scalar(c):
        return var, [Interval(_NEG_INF, c, False, False), Interval(c, _POS_INF, False, False)]
    if op == "in":
        sub = _as_intervals(c, ctx)
        return None if sub is None else (var, sub)
    return None


def _intersect(xs: list[Interval], ys: list[Interval], ctx: Ctx) -> list[Interval] | None:
    """The intersection of two unions of intervals with known real endpoints (None when one is not known)."""
    out: list[Interval] = []
    for x in xs:
        for y in ys:
            vals = [_real_value(e, ctx) for e in (x.lo, x.hi, y.lo, y.hi)]
            if any(v is None for v in vals):
                return None
            xl, xh, yl, yh = vals  # type: ignore[misc]
            # the larger lower end and the smaller upper end; at a shared end, closed only if both are
            if xl != yl:
                lo, lo_c = (x.lo, x.lo_closed) if xl > yl else (y.lo, y.lo_closed)  # type: ignore[operator]
            else:
                lo, lo_c = x.lo, x.lo_closed and y.lo_closed
            if xh != yh:
                hi, hi_c = (x.hi, x.hi_closed) if xh < yh else (y.hi, y.hi_closed)  # type: ignore[operator]
            else:
                hi, hi_c = x.hi, x.hi_closed and y.hi_closed
            lv, hv = max(xl, yl), min(xh, yh)  # type: ignore[type-var]
            if lv < hv or (lv == hv and lo_c and hi_c):
                out.append(Interval(lo, hi, lo_c, hi_c))
    return out


def _minus_points(xs: list[Interval], points: list[Interval], ctx: Ctx) -> list[Interval] | None:
    """`[0, \\infty) \\setminus \\{1\\}` -> [0, 1) ∪ (1, \\infty): removes single points from intervals."""
    out = list(xs)
    for p in points:
        if p.lo is not p.hi and p.lo != p.hi:
            return None
        pv = _real_value(p.lo, ctx)
        if pv is None:
            return None
        nxt: list[Interval] = []
        for iv in out:
            lo, hi = _real_value(iv.lo, ctx), _real_value(iv.hi, ctx)
            if lo is None or hi is None:
                return None
            if lo < pv < hi:
                nxt += [Interval(iv.lo, p.lo, iv.lo_closed, False), Interval(p.lo, iv.hi, False, iv.hi_closed)]
            elif pv == lo == hi:
                continue
            elif pv == lo:
                nxt.append(Interval(iv.lo, iv.hi, False, iv.hi_closed))
            elif pv == hi:
                nxt.append(Interval(iv.lo, iv.hi, iv.lo_closed, False))
            else:
                nxt.append(iv)
        out = nxt
    return out


def _as_intervals(node: Node, ctx: Ctx) -> list[Interval] | None:
    if isinstance(node, Reals):
        return [Interval(_NEG_INF, _POS_INF, False, False)]
    if isinstance(node, EmptySet):
        return []
    if isinstance(node, Seq):
        if node.open in "([" and node.open and node.close in ")]" and len(node.items) == 2:
            if any(not _is_scalar(x) for x in node.items):
                return None
            return [Interval(node.items[0], node.items[1], node.open == "[", node.close == "]")]
        if node.open == "{":
            return [Interval(x, x, True, True) for x in node.items] if all(map(_is_scalar, node.items)) else None
        if node.open == "" and all(isinstance(x, Rel) for x in node.items):
            # `x < 2 or x = 4` (written with "or", which reads as a list): the union, of one variable; when the
            # parts overlap, the list may as well have meant "and", so it means nothing sure
            out: list[Interval] = []
            names = set()
            for x in node.items:
                got = _rel_intervals(x, ctx)
                if got is None:
                    return None
                names.add(got[0])
                out += got[1]
            if len(names) != 1 or len(_merge(out, ctx)) != len(out):
                return None
            return out
        return None
    if isinstance(node, Rel):
        got = _rel_intervals(node, ctx)
        return None if got is None else got[1]
    if isinstance(node, SetOp) and node.args:
        parts = [_as_intervals(part, ctx) for part in node.args]
        if any(p is None for p in parts):
            return None
        acc: list[Interval] | None = parts[0]
        for p in parts[1:]:
            assert acc is not None and p is not None
            if node.op == "union":
                acc = acc + p
            elif node.op == "inter":
                acc = _intersect(acc, p, ctx)
            else:
                acc = _minus_points(acc, p, ctx)
            if acc is None:
                return None
        return acc
    return None


def _real_value(node: Node, ctx: Ctx) -> float | None:
    s = _inf_sign(node)
    if s:
        return float("inf") * s
    if free_symbols(node):
        return None
    e = _safe_exact(node, ctx)
    if isinstance(e, Fraction):
        return float(e)
    try:
        v, _ = NumEval(_FLOATS, {}, ctx.budget).run(node)
    except (Undefined, Overflow, TooLarge):
        return None
    return float(v.real) if abs(v.imag) < 1e-12 else None


def _merge(ivs: list[Interval], ctx: Ctx) -> list[Interval]:
    """Sort and merge overlapping intervals when every endpoint is a known real number."""
    keyed = []
    for iv in ivs:
        lo, hi = _real_value(iv.lo, ctx), _real_value(iv.hi, ctx)
        if lo is None or hi is None:
            return ivs
        keyed.append((lo, not iv.lo_closed, hi, iv))
    keyed.sort(key=lambda t: (t[0], t[1]))
    out: list[tuple[float, float, Interval]] = []
    for lo, _, hi, iv in keyed:
        if out:
            plo, phi, piv = out[-1]
            touching = lo < phi or (lo == phi and (piv.hi_closed or iv.lo_closed))
            if touching:
                if hi > phi or (hi == phi and iv.hi_closed and not piv.hi_closed):
                    out[-1] = (plo, hi, Interval(piv.lo, iv.hi, piv.lo_closed, iv.hi_closed))
                continue
        out.append((lo, hi, iv))
    return [t[2] for t in out]


def _intervals_equal(r: list[Interval], a: list[Interval], ctx: Ctx) -> bool:
    r, a = _merge(r, ctx), _merge(a, ctx)
    if len(r) != len(a):
        return False
    for x, y in zip(r, a, strict=True):
        ctx.budget.check()
        # A bracket at an infinite end carries no meaning; at a finite end it is part of the answer.
        if not _inf_sign(x.lo) and x.lo_closed != y.lo_closed:
            return False
        if not _inf_sign(x.hi) and x.hi_closed != y.hi_closed:
            return False
        if not (scalar_equal(x.lo, y.lo, ctx) and scalar_equal(x.hi, y.hi, ctx)):
            return False
    return True


def _kind(node: Node) -> str:
    if isinstance(node, EmptySet):
        return "set"
    if isinstance(node, Reals | SetOp):
        return "intervals"
    if isinstance(node, Rel):
        return "intervals" if all(op in _INEQ for op in node.ops) or node.ops == ("!=",) else "scalar"
    if isinstance(node, Seq):
        if node.open == "{":
            return "set"
        if node.open == "":
            rels = node.items and all(isinstance(x, Rel) for x in node.items)
            if rels and any(o in _INEQ or o == "!=" for x in node.items for o in x.ops):  # type: ignore[union-attr]
                return "intervals"
            return "list"
        if node.open + node.close in ("()", "[]") and len(node.items) != 2:
            return "tuple"
        if node.open + node.close == "()":
            return "pair"  # a point or an open interval
        return "intervals"  # [a, b], (a, b], [a, b)
    return "scalar"


def _rel_list(node: Node) -> bool:
    return isinstance(node, Seq) and node.open == "" and all(isinstance(x, Rel) for x in node.items)


def _items(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Seq):
        return node.items
    if isinstance(node, EmptySet):
        return ()
    return (node,)


def _collection_equiv(ref: Node, ans: Node, ctx: Ctx) -> bool:
    kr, ka = _kind(ref), _kind(ans)
    if _rel_list(ref) and _rel_list(ans) and _unordered_equal(_items(ref), _items(ans), ctx):
        return True  # `x \\ge -3, x \\ne 0` on both sides: the same conditions, whatever they combine into
    if "intervals" in (kr, ka):
        other = ka if kr == "intervals" else kr
        if other in ("intervals", "pair", "set"):
            ir, ia = _as_intervals(ref, ctx), _as_intervals(ans, ctx)
            if ir is None or ia is None:
                return False
            return _intervals_equal(ir, ia, ctx)
        return False
    if kr == "list" and isinstance(ref, Seq) and ref.close == ";" and ka in ("list", "scalar", "set"):
        # the blanks of a cloze question (`5;10`) are answered in their order
        return _ordered_equal(_items(ref), _items(ans), ctx)
    if kr in ("set", "list", "scalar") and ka in ("set", "list", "scalar"):
        return _unordered_equal(_items(ref), _items(ans), ctx)
    if kr in ("pair", "tuple") and ka in ("pair", "tuple"):
        assert isinstance(ref, Seq) and isinstance(ans, Seq)
        if (ref.open, ref.close) != (ans.open, ans.close):
            return False
        return _ordered_equal(ref.items, ans.items, ctx)
    if {kr, ka} <= {"pair", "tuple", "list"}:
        # A bare list against a tuple: the order still matters.
        return _ordered_equal(_items(ref), _items(ans), ctx)
    return False


def _ordered_equal(xs: tuple[Node, ...], ys: tuple[Node, ...], ctx: Ctx) -> bool:
    if len(xs) != len(ys):
        return False
    return all(equivalent(_value_of(x, ctx), _value_of(y, ctx), ctx) for x, y in zip(xs, ys, strict=True))


def _dedupe(xs: tuple[Node, ...]) -> list[Node]:
    out: list[Node] = []
    for x in xs:
        if x not in out:
            out.append(x)
    return out


def _distinct_labels(xs: tuple[Node, ...]) -> bool:
    """Every item is an assignment, each to another name (`a = 4, b = 9`; not the solutions `x = 1, x = 2`)."""
    if len(xs) < 2 or not all(isinstance(x, Rel) and (_is_assignment(x) or _names_a_quantity(x)) for x in xs):
        return False
    names = [x.lhs_text for x in xs]  # type: ignore[union-attr]
    return len(set(names)) == len(names)


_EXTREME_RE = re.compile(r"(max|min|large|small|great|least)", re.IGNORECASE)


def _extreme(label: str) -> int:
    """+1 for a label naming a maximum (`Max`, `N_{\\max}`, `largest`), -1 for a minimum, 0 otherwise."""
    found = {m.group(1).lower() for m in _EXTREME_RE.finditer(label)}
    high, low = bool(found & {"max", "large", "great"}), bool(found & {"min", "small", "least"})
    return 0 if high == low else (1 if high else -1)


def _extreme_labels(xs: tuple[Node, ...]) -> bool:
    return all(_extreme(x.lhs_text) for x in xs if isinstance(x, Rel))


def _extremes_consistent(xs: tuple[Node, ...], ctx: Ctx) -> bool:
    """No value labelled a minimum is above a value labelled a maximum (`N_{\\min} = 7500, N_{\\max} = 2500` is not)."""
    lows, highs = [], []
    for x in xs:
        if isinstance(x, Rel) and _extreme(x.lhs_text):
            value = _real_value(x.args[-1], ctx)
            if value is not None:
                (highs if _extreme(x.lhs_text) > 0 else lows).append(value)
    return not (lows and highs) or max(lows) <= min(highs)


def _spliced(values: tuple[Node, ...]) -> tuple[Node, ...]:
    """Values of labelled solutions with a ± spliced in: `m = \\pm i, m = \\pm 2` gives i, -i, 2, -2."""
    if not any(_has_pm(v) and _is_scalar_pm(v) for v in values):
        return values
    return _items(_expand_pm(Seq("", "", values)))


def _unordered_equal(xs: tuple[Node, ...], ys: tuple[Node, ...], ctx: Ctx) -> bool:
    # Assignments in a list of solutions ("x = 1, y = 2") are matched whole when both sides are relations.
    if not (xs and ys and all(isinstance(x, Rel) for x in xs + ys)):
        if _distinct_labels(xs) and not any(isinstance(y, Rel) for y in ys) and len(xs) == len(ys):
            # `AB = 4, CD = 5` against `5, 4`: the reference names each value, so bare values follow its order
            return _ordered_equal(xs, ys, ctx)
        if _distinct_labels(ys) and not any(isinstance(x, Rel) for x in xs) and len(xs) == len(ys):
            # `a = -2, b = \frac{1}{3}` against `\frac{1}{3}, -2`: the answer says which value is which, so its
            # values follow the reference's order as written; `Max: 10, Min: 2` against `2, 10` names the extremes,
            # which only have to be consistent (the minimum is not above the maximum)
            if not _extremes_consistent(ys, ctx):
                return False
            if not _extreme_labels(ys):
                return _ordered_equal(xs, ys, ctx)
        xs = _spliced(tuple(_value_of(x, ctx) for x in xs))
        ys = _spliced(tuple(_value_of(y, ctx) for y in ys))
    left, right = _dedupe(xs), _dedupe(ys)
    if len(left) != len(right):
        return False
    used = [False] * len(right)
    for x in left:
        for j, y in enumerate(right):
            if not used[j] and equivalent(x, y, ctx):
                used[j] = True
                break
        else:
            return False
    return True


def _matrix_equiv(ref: Node, ans: Node, ctx: Ctx) -> bool:
    def cells(node: Node) -> tuple[tuple[int, int], list[Node]] | None:
        if isinstance(node, Matrix):
            return (len(node.rows), len(node.rows[0])), [c for row in node.rows for c in row]
        if (
            isinstance(node, Seq)
            and node.open in ("(", "[")
            and node.close in (")", "]")
            and node.open
            == {
                ")": "(",
                "]": "[",
            }.get(node.close)
        ):
            return (len(node.items), 1), list(node.items)
        return None

    cr, ca = cells(ref), cells(ans)
    if cr is None or ca is None:
        return False
    (shape_r, xs), (shape_a, ys) = cr, ca
    if shape_r != shape_a:
        # A row vector against a column vector or a tuple: same entries in the same order.
        if not (1 in shape_r and 1 in shape_a and len(xs) == len(ys)):
            return False
    return all(equivalent(x, y, ctx) for x, y in zip(xs, ys, strict=True))
