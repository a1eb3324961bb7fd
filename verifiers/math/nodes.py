"""The small, immutable syntax tree that answers and references are parsed into.

Every node is a frozen dataclass, so a parsed reference can be shared (and cached) between threads safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class Num:
    """A literal number; `is_float` is true when it was written with a decimal point or an exponent. `text` is
    the literal as written (for a decimal: its digits tell how it was rounded); it takes no part in equality."""

    val: Fraction
    is_float: bool = False
    text: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Sym:
    """A free variable such as `x` or `a_1`."""

    name: str


@dataclass(frozen=True, slots=True)
class Const:
    """A named constant: `pi`, `e`, `i` or `inf`."""

    name: str


@dataclass(frozen=True, slots=True)
class Add:
    """A sum of terms."""

    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Mul:
    """A product of factors."""

    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Div:
    """A quotient `num / den`."""

    num: Node
    den: Node


@dataclass(frozen=True, slots=True)
class Neg:
    """Unary minus."""

    arg: Node


@dataclass(frozen=True, slots=True)
class Pow:
    """`base ^ exp`."""

    base: Node
    exp: Node


@dataclass(frozen=True, slots=True)
class Func:
    """A function application: sin, cos, sqrt, root (x, n), log (x, base), abs, floor, factorial, binom, ..."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Percent:
    """`x%`: worth x/100, but compared leniently against a side without a percent sign."""

    arg: Node


@dataclass(frozen=True, slots=True)
class Degree:
    """`x^\\circ`: compared as x, or as x*pi/180 against a side in radians."""

    arg: Node


@dataclass(frozen=True, slots=True)
class PlusMinus:
    """`a \\pm b` (or `\\pm b` with `a` = None): the two values a+b and a-b."""

    a: Node | None
    b: Node


@dataclass(frozen=True, slots=True)
class Rel:
    """A relation chain `args[0] ops[0] args[1] ops[1] ...`; `lhs_text` is the source of the first side."""

    ops: tuple[str, ...]
    args: tuple[Node, ...]
    lhs_text: str = ""


@dataclass(frozen=True, slots=True)
class Seq:
    """A bracketed or bare comma list. `open`/`close` are one of `(`, `)`, `[`, `]`, `{`, `}`, or `` (bare)."""

    open: str
    close: str
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class SetOp:
    """`\\cup` (op "union") or `\\cap` (op "inter") of sets or intervals."""

    op: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Matrix:
    """A matrix, row by row (a column vector is a one-column matrix)."""

    rows: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True, slots=True)
class Text:
    """A textual answer such as `Monday` or `even`, compared case-insensitively."""

    text: str


@dataclass(frozen=True, slots=True)
class EmptySet:
    """The empty set."""


@dataclass(frozen=True, slots=True)
class Reals:
    """The real line (`\\mathbb{R}`)."""


Node = (
    Num
    | Sym
    | Const
    | Add
    | Mul
    | Div
    | Neg
    | Pow
    | Func
    | Percent
    | Degree
    | PlusMinus
    | Rel
    | Seq
    | SetOp
    | Matrix
    | Text
    | EmptySet
    | Reals
)


def walk(node: Node):
    """Yield every node of the tree, depth first (iteratively, so deep trees cannot overflow the stack)."""
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Add | Mul | Func | Rel | Seq | SetOp):
            stack.extend(n.args if not isinstance(n, Seq) else n.items)
        elif isinstance(n, Div):
            stack.extend((n.num, n.den))
        elif isinstance(n, Pow):
            stack.extend((n.base, n.exp))
        elif isinstance(n, Neg | Percent | Degree):
            stack.append(n.arg)
        elif isinstance(n, PlusMinus):
            stack.append(n.b)
            if n.a is not None:
                stack.append(n.a)
        elif isinstance(n, Matrix):
            for row in n.rows:
                stack.extend(row)
