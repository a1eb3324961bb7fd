"""A fast, guarded parser for the LaTeX and plain-text answers models write.

It covers what boxed answers actually contain (numbers, fractions, roots, powers, trig and logs, constants, sets,
tuples, intervals, matrices, relations, percentages, degrees, units and `\\text{}`), builds the frozen tree of
`nodes`, and raises `ParseError` on anything else (the caller may then try latex2sympy2_extended). Parsing is
linear in the input; nesting depth and input size are bounded, so hostile input cannot blow the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

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
from verifiers.math.surface import LABEL_CMD, rewrite

MAX_INPUT_CHARS = 2000
MAX_DEPTH = 60
MAX_TOKENS = 2000


class ParseError(ValueError):
    """The input is not something this parser understands (or it is too large or too deep)."""


class AmbiguousAnswer(ParseError):
    """The input parses, but not into one value (`2 6`: numbers side by side are a list or a typo, not 12); no
    other parser should be asked to make sense of it."""


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str  # num, id, cmd, op, text, deg, end
    text: str
    pos: int
    space_before: bool = False


# Immutable lookup tables (module-level constants are the only shared data in this package).
GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi omicron rho "
    "sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Upsilon Phi Psi Omega ell".split()
)
FUNCS = frozenset(
    "sin cos tan cot sec csc arcsin arccos arctan arccot sinh cosh tanh coth log ln lg exp max min gcd lcm det "
    "sgn".split()
)
INVERSE_TRIG = {"sin": "arcsin", "cos": "arccos", "tan": "arctan", "cot": "arccot"}
# Commands that only decorate: their braced argument is parsed as if they were not there.
TRANSPARENT = frozenset(
    "mathbf boldsymbol bm mathit mathsf mathtt textbf textit emph boxed fbox displaystyle textstyle underline "
    "overline hat vec bar widehat overrightarrow tilde mathcal mathscr".split()
)
TEXT_CMDS = frozenset("text mbox textrm mathrm textnormal hbox textsf texttt operatorname".split())
IGNORED_CMDS = frozenset(
    "left right bigl bigr Bigl Bigr big Big bigg Bigg biggl biggr middle displaystyle textstyle limits nolimits "
    "quad qquad hline , ; : ! > enspace thinspace negthinspace cdotp hfill".split()
) | frozenset((" ",))
SIMPLE_CMDS = {
    "cdot": ("op", "*"),
    "times": ("op", "*"),
    "ast": ("op", "*"),
    "div": ("op", "/"),
    "le": ("op", "<="),
    "leq": ("op", "<="),
    "leqslant": ("op", "<="),
    "ge": ("op", ">="),
    "geq": ("op", ">="),
    "geqslant": ("op", ">="),
    "lt": ("op", "<"),
    "gt": ("op", ">"),
    "ne": ("op", "!="),
    "neq": ("op", "!="),
    "approx": ("op", "~="),
    "simeq": ("op", "~="),
    "equiv": ("op", "="),
    "langle": ("op", "("),
    "rangle": ("op", ")"),
    "lbrack": ("op", "["),
    "rbrack": ("op", "]"),
    "lbrace": ("cmd", "{"),
    "rbrace": ("cmd", "}"),
    "vert": ("op", "|"),
    "lvert": ("op", "|"),
    "rvert": ("op", "|"),
    "mid": ("op", "|"),
    "|": ("op", "|"),
    "Vert": ("op", "|"),
    "circ": ("deg", "circ"),
    "degree": ("deg", "circ"),
    "%": ("op", "%"),
    "$": ("skip", ""),
    "&": ("op", "&"),
    "_": ("op", "_"),
    "dots": ("skip", ""),
    "ldots": ("skip", ""),
    "cdots": ("skip", ""),
    "prime": ("skip", ""),
    "to": ("op", "="),
    "rightarrow": ("op", "="),
    "Rightarrow": ("op", "="),
    "implies": ("op", "="),
}
UNICODE = {
    "π": ("cmd", "pi"),
    "√": ("cmd", "sqrt"),
    "×": ("op", "*"),
    "·": ("op", "*"),
    "⋅": ("op", "*"),
    "÷": ("op", "/"),
    "−": ("op", "-"),
    "–": ("op", "-"),
    "≤": ("op", "<="),
    "≥": ("op", ">="),
    "≠": ("op", "!="),
    "≈": ("op", "~="),
    "∞": ("cmd", "infty"),
    "°": ("deg", "circ"),
    "∪": ("cmd", "cup"),
    "∩": ("cmd", "cap"),
    "∅": ("cmd", "emptyset"),
    "±": ("cmd", "pm"),
    "∈": ("cmd", "in"),
    "ℝ": ("cmd", "Reals"),
}
# Plain-text words with a mathematical meaning; any other run of letters is a product of single-letter symbols.
PLAIN_WORDS = {
    "sqrt": "sqrt",
    "pi": "pi",
    "inf": "infty",
    "infinity": "infty",
    "infty": "infty",
    "oo": "infty",
    "abs": "abs",
    "floor": "floor",
    "ceil": "ceil",
    "and": ",",
    "or": ",",
    **{f: f for f in FUNCS},
}
# Units and filler words dropped after a number (in \text{} anywhere, as plain multi-letter words).
UNITS = frozenset(
    """cm m km mm nm kg g mg lb lbs oz s sec secs second seconds min mins minute minutes h hr hrs hour hours day
    days week weeks month months year years dollar dollars cent cents euro euros pound pounds unit units sq square
    cubic meter meters metre metres centimeter centimeters inch inches foot feet ft yard yards mile miles mph kph
    km/h m/s l ml liter liters litre litres gallon gallons degree degrees deg rad radian radians percent people
    person persons students student apples books cups items ways times mi cm^2 m^2 ft^2 in^2 units^2 sq.
    dozen pages marbles boxes eggs tickets cars hours. cm. m. kg. calories mL L W J N V A Pa
    """.split()
)
WORD_RE = re.compile(r"[A-Za-z]+")
TEXT_ANSWER_RE = re.compile(r"[A-Za-z][A-Za-z .,'\-]*")
THIN_THOUSANDS_RE = re.compile(r"(\d)(?:\{,\}|\\,|\\ )(?=\d{3}(?!\d))")
THOUSANDS_RE = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
THOUSANDS_LEAD_RE = re.compile(r"\d{1,3}")
THOUSANDS_GROUP_RE = re.compile(r"\d{3}(?:\.\d+)?")
MATHLIKE_TEXT_RE = re.compile(r"[\s\d().,+\-*/^=<>A-Ea-e]*")

_OPS2 = ("<=", ">=", "!=", "**", "=<", "=>")
_OPS1 = frozenset("+-*/^_()[]{},;|!=<>&%'")


def tokenize(s: str) -> list[Tok]:
    """Split `s` into tokens, dropping spacing, sizing and unit noise; raise ParseError on unknown input."""
    if len(s) > MAX_INPUT_CHARS:
        raise ParseError("answer too long")
    out: list[Tok] = []
    _tokenize_into(s, 0, out, 0)
    if len(out) > MAX_TOKENS:
        raise ParseError("answer too long")
    return out


def _read_braced(s: str, i: int) -> tuple[str, int]:
    """Return the content of the `{...}` starting at s[i] and the index after it."""
    if i >= len(s) or s[i] != "{":
        raise ParseError("expected {")
    depth = 0
    j = i
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return s[i + 1 : j], j + 1
        j += 1
    raise ParseError("unbalanced braces")


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def _tokenize_into(s: str, base: int, out: list[Tok], depth: int) -> None:
    if depth > 8:
        raise ParseError("too deeply nested text")
    n = len(s)
    i = 0
    space = False
    while i < n:
        if len(out) > MAX_TOKENS:
            raise ParseError("answer too long")
        c = s[i]
        if c.isspace() or c == "~" or c == "$":
            space = True
            i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and s[i + 1].isdigit()):
            j = i
            while j < n and s[j].isdigit():
                j += 1
            if j < n and s[j] == "." and j + 1 < n and s[j + 1].isdigit():
                j += 1
                while j < n and s[j].isdigit():
                    j += 1
            # Plain-text scientific notation (1.5e-3, 2E10): only when digits follow the e.
            if j < n and s[j] in "eE":
                k = j + 1
                if k < n and s[k] in "+-":
                    k += 1
                if k < n and s[k].isdigit() and not (k + 1 < n and s[k + 1].isalpha()):
                    while k < n and s[k].isdigit():
                        k += 1
                    j = k
            out.append(Tok("num", s[i:j], base + i, space))
            space = False
            i = j
            continue
        if c.isalpha() and c.isascii():
            j = i
            while j < n and s[j].isascii() and s[j].isalpha():
                j += 1
            word = s[i:j]
            lw = word.lower()
            if lw in PLAIN_WORDS and (j - i > 1):
                tgt = PLAIN_WORDS[lw]
                if tgt == ",":
                    out.append(Tok("op", ",", base + i, space))
                else:
                    out.append(Tok("cmd", tgt, base + i, space))
            elif len(word) > 1 and (word in UNITS or lw in UNITS) and out and _after_value(out[-1]):
                # "5 cm", "12 dollars", "12 cm^2": a unit (with its exponent) after a number is not part of the value
                j = _skip_unit_exponent(s, j)
            else:
                for k, ch in enumerate(word):
                    out.append(Tok("id", ch, base + i + k, space if k == 0 else False))
            space = False
            i = j
            continue
        if c == "\\":
            j = i + 1
            if j < n and s[j].isalpha():
                while j < n and s[j].isalpha():
                    j += 1
                name = s[i + 1 : j]
            else:
                name = s[i + 1 : j + 1] if j < n else ""
                j += 1
            i = _command(s, i, j, name, base, out, depth, space)
            space = False
            continue
        if c in UNICODE:
            kind, text = UNICODE[c]
            out.append(Tok(kind, text, base + i, space))
            space = False
            i += 1
            continue
        two = s[i : i + 2]
        if two in _OPS2:
            norm = {"**": "^", "=<": "<=", "=>": ">="}.get(two, two)
            out.append(Tok("op", norm, base + i, space))
            space = False
            i += 2
            continue
        if c in _OPS1:
            if c == "'":  # primes (f'(x)) are rare in answers; treat as noise
                i += 1
                continue
            out.append(Tok("op", c, base + i, space))
            space = False
            i += 1
            continue
        raise ParseError(f"unexpected character {c!r}")


def _after_value(t: Tok) -> bool:
    """Whether a unit may follow this token: a number, a closing bracket or degree sign, or a constant (`16\\pi`)."""
    return t.kind in ("num", "op", "deg") or (t.kind == "cmd" and t.text == "pi")


def _skip_unit_exponent(s: str, j: int) -> int:
    """The index after the exponent of a unit (`^2`, `^{3}`) that starts at s[j] (after spaces), else j."""
    k = _skip_ws(s, j)
    if k >= len(s) or s[k] != "^":
        return j
    k = _skip_ws(s, k + 1)
    if k < len(s) and s[k] == "{":
        return _read_braced(s, k)[1]
    if k < len(s) and s[k].isdigit():
        return k + 1
    return j


def _command(s: str, i: int, j: int, name: str, base: int, out: list[Tok], depth: int, space: bool) -> int:
    """Handle the command `\\name` spanning s[i:j]; return the index to continue from."""
    n = len(s)
    if name in IGNORED_CMDS or name == "":
        if name in ("left", "right") and j < n and s[j] == ".":
            return j + 1
        k = _skip_ws(s, j)
        if name == "left" and k < n and s[k] == "|":
            # `\\left|` can only open a bar, so unlike a bare `|` it may start a product: `2\\left|x\\right|`
            out.append(Tok("lbar", "|", base + k, space))
            return k + 1
        return j
    if name in SIMPLE_CMDS:
        kind, text = SIMPLE_CMDS[name]
        if kind != "skip":
            out.append(Tok(kind, text, base + i, space))
        return j
    if name in ("{", "}"):
        out.append(Tok("cmd", name, base + i, space))
        return j
    if name == "\\":
        out.append(Tok("op", "\\\\", base + i, space))
        return j
    if name in TRANSPARENT:
        k = _skip_ws(s, j)
        if k < n and s[k] == "{":
            inner, end = _read_braced(s, k)
            out.append(Tok("op", "{", base + k, space))
            _tokenize_into(inner, base + k + 1, out, depth + 1)
            out.append(Tok("op", "}", base + end - 1, False))
            return end
        return j
    if name in TEXT_CMDS:
        k = _skip_ws(s, j)
        if k >= n or s[k] != "{":
            return j
        inner, end = _read_braced(s, k)
        content = inner.strip()
        if name == "operatorname":
            out.append(Tok("cmd", content, base + i, space))
            return end
        low = content.lower().rstrip(".")
        if not content:
            return end
        if low in UNITS or content in UNITS:
            # `12\text{ cm}^2` is 12 square centimetres: the exponent belongs to the unit, not to the number.
            return _skip_unit_exponent(s, end) if out and _after_value(out[-1]) else end
        if low in ("or", "and", "or:", ","):
            out.append(Tok("op", ",", base + k, space))
            return end
        if MATHLIKE_TEXT_RE.fullmatch(content) or (len(content) == 1 and content.isalpha()) or low in PLAIN_WORDS:
            _tokenize_into(content, base + k + 1, out, depth + 1)
            return end
        # A unit phrase after a number ("5 \text{ square feet}", `16\pi \text{ units}^2`): drop it and its exponent.
        words = WORD_RE.findall(content)
        if words and out and _after_value(out[-1]) and all(w in UNITS for w in words):
            return _skip_unit_exponent(s, end)
        out.append(Tok("text", content, base + i, space))
        return end
    if name == "mathbb":
        k = _skip_ws(s, j)
        if k < n and s[k] == "{":
            inner, end = _read_braced(s, k)
        elif k < n:
            inner, end = s[k], k + 1
        else:
            raise ParseError("bad \\mathbb")
        if inner.strip() == "R":
            out.append(Tok("cmd", "Reals", base + i, space))
            return end
        raise ParseError("unsupported \\mathbb")
    if name in ("begin", "end"):
        k = _skip_ws(s, j)
        env, end = _read_braced(s, k)
        env = env.strip().rstrip("*")
        if name == "begin" and env == "array":
            # Skip the column spec: \begin{array}{cc}
            k2 = _skip_ws(s, end)
            if k2 < n and s[k2] == "{":
                _, end = _read_braced(s, k2)
        out.append(Tok("cmd", f"{name}:{env}", base + i, space))
        return end
    if name in ("frac", "dfrac", "tfrac", "cfrac", "sqrt", "binom", "dbinom", "tbinom"):
        canon = {"dfrac": "frac", "tfrac": "frac", "cfrac": "frac", "dbinom": "binom", "tbinom": "binom"}.get(
            name, name
        )
        out.append(Tok("cmd", canon, base + i, space))
        # \frac12 and \sqrt2: an unbraced digit argument is a single digit.
        k = _skip_ws(s, j)
        nargs = 1 if canon == "sqrt" else 2
        while nargs and k < n and s[k].isdigit():
            out.append(Tok("num", s[k], base + k, False))
            k = _skip_ws(s, k + 1)
            nargs -= 1
        return k if nargs < (1 if canon == "sqrt" else 2) else j
    if name == LABEL_CMD:
        inner, end = _read_braced(s, _skip_ws(s, j))
        out.append(Tok("id", f"label:{inner.strip()}", base + i, space))
        return end
    if name == "not":
        raise ParseError("negated relation")
    out.append(Tok("cmd", name, base + i, space))
    return j


_INFINITY = Const("inf")
_NOT_FACTOR_CMDS = frozenset(("pm", "mp", "cup", "cap", "in", "}", "Reals", "rfloor", "rceil"))
_CIRC = "circ"
_REL_OPS = frozenset(("=", "<", ">", "<=", ">=", "!=", "~="))
_INEQ_OPS = frozenset(("<", ">", "<=", ">="))
_APPLY_RE = re.compile(r"([A-Za-z])\s*(?:\\left)?\(\s*([A-Za-z])\s*(?:\\right)?\)")
_CLOSERS = frozenset((")", "]", "}", ",", ";", "&", "\\\\", "|", "=", "<", ">", "<=", ">=", "!=", "~="))


class Parser:
    """Recursive-descent parser over the token list (one instance per parse, so it is thread-safe)."""

    def __init__(self, src: str, toks: list[Tok], reference: bool = False):
        self.reference = reference
        self.src = src
        self.toks = toks
        self.i = 0
        self.depth = 0

    # -- token helpers
    def peek(self, k: int = 0) -> Tok:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else Tok("end", "", len(self.src))

    def next(self) -> Tok:
        t = self.peek()
        self.i += 1
        return t

    def at(self, kind: str, text: str | None = None) -> bool:
        t = self.peek()
        return t.kind == kind and (text is None or t.text == text)

    def expect(self, kind: str, text: str) -> None:
        if not self.at(kind, text):
            raise ParseError(f"expected {text!r}")
        self.i += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("expression nested too deeply")

    # -- grammar
    def parse(self) -> Node:
        node = self.parse_list(top=True)
        if self.peek().kind != "end":
            raise ParseError(f"unexpected {self.peek().text!r}")
        return node

    def parse_list(self, top: bool = False) -> Node:
        items = [self.parse_rel()]
        sep = False
        semicolons_only = True
        while self.at("op", ",") or self.at("op", ";"):
            semicolons_only = semicolons_only and self.at("op", ";")
            self.i += 1
            sep = True
            if self.peek().kind == "end" or (self.peek().kind == "op" and self.peek().text in (")", "]", "}")):
                break
            if self.at("cmd", "}"):
                break
            items.append(self.parse_rel())
        if not sep:
            return items[0]
        # blanks separated by semicolons only (`5;10`, gaokao cloze answers) are answered in their order
        return Seq("", ";" if semicolons_only else "", tuple(items))

    def parse_rel(self) -> Node:
        start = self.peek().pos
        first = self.parse_setexpr()
        if not (self.peek().kind == "op" and self.peek().text in _REL_OPS) and not self.at("cmd", "in"):
            return first
        lhs_text = self.src[start : self.peek().pos].strip()
        ops: list[str] = []
        args = [first]
        texts = [lhs_text]
        while (self.peek().kind == "op" and self.peek().text in _REL_OPS) or self.at("cmd", "in"):
            t = self.next()
            ops.append("in" if t.text == "in" else t.text)
            begin = self.peek().pos
            args.append(self.parse_setexpr())
            texts.append(self.src[begin : self.peek().pos].strip())
        if all(op in _INEQ_OPS for op in ops):
            # `0 < g(x) < 2`: a function's value is one quantity bounded by the chain, not the product g*x
            args = [_applied(t) or a for a, t in zip(args, texts, strict=True)]
        rel = Rel(tuple(ops), tuple(args), lhs_text)
        return _approx(rel) if self.reference else _plain_approx(rel)

    def parse_setexpr(self) -> Node:
        left = self.parse_pm()
        while self.at("cmd", "cup") or self.at("cmd", "cap") or self.at("op", "U"):
            op = "union" if self.next().text in ("cup", "U") else "inter"
            right = self.parse_pm()
            if isinstance(left, SetOp) and left.op == op:
                left = SetOp(op, left.args + (right,))
            else:
                left = SetOp(op, (left, right))
        return left

    def parse_pm(self) -> Node:
        left = self.parse_add()
        if self.at("cmd", "pm") or self.at("cmd", "mp"):
            self.i += 1
            right = self.parse_add()
            return PlusMinus(left, right)
        return left

    def parse_add(self) -> Node:
        self.enter()
        terms = [self.parse_mul()]
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            op = self.next().text
            t = self.parse_mul()
            terms.append(Neg(t) if op == "-" else t)
        self.depth -= 1
        return terms[0] if len(terms) == 1 else Add(tuple(terms))

    def starts_factor(self, t: Tok) -> bool:
        if t.kind in ("num", "id", "text", "lbar"):
            return True
        if t.kind == "op":
            # `|` never starts an implicit product: it would be ambiguous with the closing bar of |x|.
            return t.text in ("(", "[", "{")
        if t.kind == "cmd":
            return t.text not in _NOT_FACTOR_CMDS and not t.text.startswith("end:")
        return False

    def parse_mul(self) -> Node:
        self.enter()
        node = self.parse_unary()
        while True:
            t = self.peek()
            if t.kind == "op" and t.text in ("*", "/"):
                self.i += 1
                rhs = self.parse_unary()
                node = _mul(node, rhs) if t.text == "*" else Div(node, rhs)
            elif self.starts_factor(t):
                mixed = self.try_mixed(node)
                if mixed is not None:
                    node = mixed
                    continue
                if t.kind == "num" and self.peek(-1).kind == "num":
                    # `2 6`, `3 \, 4`, `3~4`: nobody writes a product of two literals that way.
                    raise AmbiguousAnswer("numbers side by side")
                node = _mul(node, self.parse_unary())
            else:
                break
        self.depth -= 1
        return node

    def try_mixed(self, whole: Node) -> Node | None:
        """`2\\frac{1}{2}` and plain `2 1/2` are mixed numbers (5/2), as MATH and GSM8K write them."""
        if not (isinstance(whole, Num) and not whole.is_float and whole.val.denominator == 1 and whole.val >= 0):
            return None
        t = self.peek()
        if t.kind == "cmd" and t.text == "frac":
            save = self.i
            frac = self.parse_primary()
            if (
                isinstance(frac, Div)
                and isinstance(frac.num, Num)
                and isinstance(frac.den, Num)
                and (self.peek().text not in ("^", "*", "/", "!") or self.degree_exponent() > 0)
            ):
                if frac.num.val.denominator == 1 and frac.den.val.denominator == 1 and frac.den.val != 0:
                    return self.mixed_sign(Add((whole, frac)))
            self.i = save
            return None
        if (
            t.kind == "num"
            and t.space_before
            and self.peek(1).kind == "op"
            and self.peek(1).text == "/"
            and self.peek(2).kind == "num"
            and "." not in t.text + self.peek(2).text
        ):
            self.i += 3
            return self.mixed_sign(Add((whole, Div(Num(Fraction(t.text)), Num(Fraction(self.peek(-1).text))))))
        return None

    def mixed_sign(self, mixed: Node) -> Node:
        """A `%` or degree sign after a mixed number applies to all of it: `33\\frac{1}{3}\\%` is 1/3."""
        t = self.peek()
        if t.kind == "op" and t.text == "%":
            self.i += 1
            return Percent(mixed)
        if t.kind == "deg":
            self.i += 1
            return Degree(mixed)
        k = self.degree_exponent()
        if k:
            self.i += k
            return Degree(mixed)
        return mixed

    def degree_exponent(self) -> int:
        """The number of tokens of a `^\\circ` or `^{\\circ}` at the current token, else 0."""
        if not self.at("op", "^"):
            return 0
        if self.peek(1).kind == "deg":
            return 2
        if self.peek(1).text == "{" and self.peek(2).kind == "deg" and self.peek(3).text == "}":
            return 4
        return 0

    def parse_unary(self) -> Node:
        self.enter()
        t = self.peek()
        if t.kind == "op" and t.text == "-":
            self.i += 1
            node: Node = Neg(self.parse_unary())
        elif t.kind == "op" and t.text == "+":
            self.i += 1
            node = self.parse_unary()
        elif t.kind == "cmd" and t.text in ("pm", "mp"):
            self.i += 1
            node = PlusMinus(None, self.parse_unary())
        else:
            node = self.parse_postfix()
        self.depth -= 1
        return node

    def parse_postfix(self) -> Node:
        node = self.parse_primary()
        while True:
            t = self.peek()
            if t.kind == "op" and t.text == "^":
                self.i += 1
                exp = self.parse_exponent()
                node = Degree(node) if exp is None else Pow(node, exp)
            elif t.kind == "op" and t.text == "!":
                self.i += 1
                node = Func("factorial", (node,))
            elif t.kind == "op" and t.text == "%":
                self.i += 1
                node = Percent(node)
            elif t.kind == "deg":
                self.i += 1
                node = Degree(node)
            else:
                return node

    def parse_exponent(self) -> Node | None:
        """The exponent after `^`; None means a degree sign (`^\\circ`)."""
        self.enter()
        t = self.peek()
        if t.kind == "deg":
            self.i += 1
            self.depth -= 1
            return None
        if t.kind == "op" and t.text == "{":
            if self.peek(1).kind == "deg" and self.peek(2).kind == "op" and self.peek(2).text == "}":
                self.i += 3
                self.depth -= 1
                return None
            self.i += 1
            node = self.parse_list()
            self.expect("op", "}")
        elif t.kind == "op" and t.text in ("-", "+"):
            self.i += 1
            inner = self.parse_exponent()
            if inner is None:
                raise ParseError("bad exponent")
            node = Neg(inner) if t.text == "-" else inner
        else:
            node = self.parse_primary()
            if self.at("op", "^"):
                self.i += 1
                e2 = self.parse_exponent()
                if e2 is None:
                    raise ParseError("bad exponent")
                node = Pow(node, e2)
        self.depth -= 1
        return node

    def parse_arg(self) -> Node:
        """A LaTeX macro argument: `{...}` or a single token."""
        if self.at("op", "{"):
            self.i += 1
            node = self.parse_list()
            self.expect("op", "}")
            return node
        if self.peek().kind == "num" and len(self.peek().text) > 1:
            t = self.next()
            return _num(t.text)
        return self.parse_primary()

    def parse_group(self, open_: str) -> Node:
        """After `(` or `[`: a parenthesised expression, a tuple, or an interval (either closer may end it)."""
        if self.peek().kind == "op" and self.peek().text in (")", "]"):
            close = self.next().text
            return Seq(open_, close, ())
        items = [self.parse_rel()]
        while self.at("op", ",") or self.at("op", ";"):
            self.i += 1
            items.append(self.parse_rel())
        t = self.next()
        if not (t.kind == "op" and t.text in (")", "]")):
            raise ParseError(f"unclosed {open_}")
        if len(items) == 1 and open_ == "(" and t.text == ")":
            return items[0]
        if len(items) == 1 and open_ == "[" and t.text == "]":
            return items[0]
        if len(items) == 1:
            raise ParseError("mismatched brackets")
        return Seq(open_, t.text, tuple(items))

    def subscript_word(self) -> str | None:
        """`m_{\\max}`, `x_{\\min}`: a function name used as a subscript label (consumed), else None."""
        t0, t1, t2 = self.peek(), self.peek(1), self.peek(2)
        if t0.text == "{" and t1.kind == "cmd" and t1.text in ("max", "min") and t2.text == "}":
            self.i += 3
            return t1.text
        if t0.kind == "cmd" and t0.text in ("max", "min"):
            self.i += 1
            return t0.text
        return None

    def parse_func_arg(self) -> Node:
        """The argument of \\sin-like functions: parenthesised, braced, or a short juxtaposition (`\\sin 2x`)."""
        if self.at("op", "("):
            self.i += 1
            node = self.parse_group("(")
            return node
        if self.at("op", "{"):
            return self.parse_arg()
        node = self.parse_unary()
        while self.peek().kind == "id" or (self.peek().kind == "cmd" and self.peek().text in ("pi",) + tuple(GREEK)):
            node = _mul(node, self.parse_postfix())
        return node

    def parse_primary(self) -> Node:
        self.enter()
        try:
            return self._primary()
        finally:
            self.depth -= 1

    def _primary(self) -> Node:
        t = self.next()
        k, x = t.kind, t.text
        if k == "num":
            return _num(x)
        if k == "id":
            if x == "e":
                return Const("e")
            if x == "i":
                return Const("i")
            name = x
            if self.at("op", "_"):
                self.i += 1
                word = self.subscript_word()
                name = f"{x}_{word if word is not None else _sub_name(self.parse_arg())}"
            return Sym(name)
        if k == "text":
            return Text(x)
        if k == "op":
            if x == "(" or x == "[":
                return self.parse_group(x)
            if x == "{":
                if self.at("op", "}"):
                    self.i += 1
                    return EmptySet()
                node = self.parse_list()
                self.expect("op", "}")
                if isinstance(node, Seq) and node.open == "":
                    return Seq("{", "}", node.items)
                return node
            if x == "|":
                node = self.parse_add()
                self.expect("op", "|")
                return Func("abs", (node,))
            raise ParseError(f"unexpected {x!r}")
        if k == "cmd":
            return self._command(x)
        if k == "lbar":
            node = self.parse_add()
            self.expect("op", "|")
            return Func("abs", (node,))
        if k == "deg":
            raise ParseError("stray degree sign")
        raise ParseError("unexpected end of answer")

    def _command(self, x: str) -> Node:
        if x == "{":
            if self.at("cmd", "}"):
                self.i += 1
                return EmptySet()
            items = [self.parse_rel()]
            while self.at("op", ",") or self.at("op", ";"):
                self.i += 1
                items.append(self.parse_rel())
            self.expect("cmd", "}")
            return Seq("{", "}", tuple(items))
        if x == "frac":
            num = self.parse_arg()
            den = self.parse_arg()
            return Div(num, den)
        if x == "binom":
            a = self.parse_arg()
            b = self.parse_arg()
            return Func("binom", (a, b))
        if x == "sqrt":
            index: Node | None = None
            if self.at("op", "["):
                self.i += 1
                index = self.parse_add()
                self.expect("op", "]")
            if self.at("op", "("):
                self.i += 1
                arg = self.parse_group("(")
            else:
                arg = self.parse_arg()
            return Func("sqrt", (arg,)) if index is None else Func("root", (arg, index))
        if x == "pi":
            return Const("pi")
        if x in ("infty", "infinity"):
            return _INFINITY
        if x in ("emptyset", "varnothing"):
            return EmptySet()
        if x == "Reals":
            return Reals()
        if x in GREEK:
            if self.at("op", "_"):  # `\\omega_{d}`, `\\theta_w`: a subscripted Greek name
                self.i += 1
                return Sym(f"{x}_{_sub_name(self.parse_arg())}")
            return Sym(x)
        if x in ("lfloor", "lceil"):
            node = self.parse_add()
            t = self.next()
            if t.text not in ("rfloor", "rceil"):
                raise ParseError("unclosed floor/ceil")
            return Func("floor" if x == "lfloor" else "ceil", (node,))
        if x in ("abs", "floor", "ceil"):
            return Func(x, (self.parse_func_arg(),))
        if x.startswith("begin:"):
            return self.parse_env(x[6:])
        if x in FUNCS or x in ("arcsin", "arccos", "arctan"):
            return self.parse_function(x)
        raise ParseError(f"unknown command \\{x}")

    def parse_function(self, name: str) -> Node:
        power: Node | None = None
        base: Node | None = None
        if name == "lg":
            name, base = "log", Num(Fraction(10))
        if self.at("op", "^"):
            self.i += 1
            power = self.parse_exponent()
            if power is None:
                raise ParseError("bad function power")
        if self.at("op", "_") and name == "log":
            self.i += 1
            base = self.parse_arg()
        if name in ("max", "min", "gcd", "lcm") and self.at("op", "("):
            self.i += 1
            node = self.parse_group("(")
            args = node.items if isinstance(node, Seq) else (node,)
            return Func(name, tuple(args))
        arg = self.parse_func_arg()
        if name == "ln":
            name = "log"
        if power is not None and isinstance(power, Neg) and power.arg == Num(Fraction(1)) and name in INVERSE_TRIG:
            return Func(INVERSE_TRIG[name], (arg,))
        f: Node = Func(name, (arg,) if base is None else (arg, base))
        if name == "exp":
            f = Pow(Const("e"), arg)
        return f if power is None else Pow(f, power)

    def parse_env(self, env: str) -> Node:
        if env not in ("pmatrix", "bmatrix", "matrix", "Bmatrix", "vmatrix", "smallmatrix", "array", "Vmatrix"):
            raise ParseError(f"unsupported environment {env}")
        rows: list[tuple[Node, ...]] = []
        row: list[Node] = []
        while True:
            if self.at("cmd", f"end:{env}"):
                self.i += 1
                break
            if self.peek().kind == "end":
                raise ParseError("unclosed matrix")
            if self.at("op", "\\\\"):
                self.i += 1
                if row:
                    rows.append(tuple(row))
                row = []
                continue
            if self.at("op", "&"):
                self.i += 1
                continue
            row.append(self.parse_rel())
        if row:
            rows.append(tuple(row))
        if not rows or any(len(r) != len(rows[0]) for r in rows):
            raise ParseError("ragged matrix")
        m = Matrix(tuple(rows))
        return Func("det", (m,)) if env in ("vmatrix", "Vmatrix") else m


def _applied(text: str) -> Sym | None:
    """`g(x)` (a one-letter function of a one-letter variable) as the name of its value, else None."""
    m = _APPLY_RE.fullmatch(text)
    return Sym(f"{m.group(1)}({m.group(2)})") if m else None


def _is_decimal(node: Node) -> bool:
    while isinstance(node, Neg | Percent):
        node = node.arg
    return isinstance(node, Num) and node.is_float


def _approx(rel: Rel) -> Node:
    """`\\approx` is `=` except in a reference that gives an exact value and its rounding
    (`\\frac{1+\\sqrt{5}}{2} \\approx 1.618`): that is the exact value (a decimal answer is then judged by the
    rounding rule, which the reference's own decimal passes), or, when the exact side holds a decimal itself
    (`\\cos(-2.01) \\approx -0.425`), the decimal."""
    if "~=" not in rel.ops:
        return rel
    if rel.ops == ("~=",) and _is_decimal(rel.args[1]) and not any(isinstance(n, Sym) for n in walk(rel.args[0])):
        exact_side = rel.args[0]
        return rel.args[1] if any(isinstance(n, Num) and n.is_float for n in walk(exact_side)) else exact_side
    return _plain_approx(rel)


def _plain_approx(rel: Rel) -> Rel:
    """`\\approx` read as `=` (in an answer, `3 \\approx 3.5` must not stand for 3)."""
    if "~=" not in rel.ops:
        return rel
    return Rel(tuple("=" if op == "~=" else op for op in rel.ops), rel.args, rel.lhs_text)


def _sub_name(node: Node) -> str:
    if isinstance(node, Num):
        return str(node.val)
    if isinstance(node, Sym):
        return node.name
    if isinstance(node, Const):
        return node.name
    if isinstance(node, Mul):
        return "".join(_sub_name(a) for a in node.args)
    # `a_{n+2}`, `a_{n-1}`: an index expression names a term of a sequence, written as it is structured (so the
    # fast parser keeps these, which otherwise cost latex2sympy hundreds of milliseconds)
    if isinstance(node, Add):
        return "+".join(_sub_name(a) for a in node.args)
    if isinstance(node, Neg):
        return "-" + _sub_name(node.arg)
    if isinstance(node, Func) and node.name in ("max", "min"):
        return node.name
    raise ParseError("complex subscript")


# An exact rational of 1e999999999 has a billion digits: numbers past this exponent are not parsed as exact.
MAX_EXPONENT = 1000
_EXPONENT = re.compile(r"[eE]([+-]?\d+)$")


def _num(text: str) -> Num:
    exponent = _EXPONENT.search(text)
    if exponent is not None and abs(int(exponent.group(1))) > MAX_EXPONENT:
        raise ParseError(f"number {text[:40]!r} has an exponent beyond ±{MAX_EXPONENT}")
    try:
        val = Fraction(text)
    except (ValueError, ZeroDivisionError) as e:
        raise ParseError(f"bad number {text!r}") from e
    return Num(val, is_float=("." in text or "e" in text or "E" in text), text=text)


def _mul(a: Node, b: Node) -> Node:
    if isinstance(a, Mul):
        return Mul(a.args + (b,))
    return Mul((a, b))


def parse(s: str, reference: bool = False) -> Node:
    """Parse one answer string (LaTeX or plain text, without `$` or `\\boxed`) into a tree; `reference` reads
    `exact \\approx decimal` as the exact value (trusted text only: in an answer it could hide a hedge).

    Raises ParseError when the input is outside the supported language, too long or nested too deeply.
    """
    s = s.strip()
    if not s:
        raise ParseError("empty answer")
    if len(s) > MAX_INPUT_CHARS:
        raise ParseError("answer too long")
    # LaTeX thousands separators: 1{,}000 and 1\,000.
    s = THIN_THOUSANDS_RE.sub(r"\1", s)
    s = rewrite(s)
    if "\\{" in s:
        builder = _set_builder(s, reference)
        if builder is not None:
            return builder
        algebra = _builder_algebra(s, reference)
        if algebra is not None:
            return algebra
    if ":" in s:
        ratio = _ratio(s, reference)
        if ratio is not None:
            return ratio
        if reference:
            described = _described(s)
            if described is not None:
                return described
    if THOUSANDS_RE.fullmatch(s):
        return _num(s.replace(",", ""))
    if _ALL_REALS_RE.fullmatch(s):
        return Reals()
    text = _as_text_answer(s)
    if text is not None:
        return Text(text)
    toks = tokenize(s)
    if not toks:
        raise ParseError("empty answer")
    money = _thousands(toks)
    if money is not None:
        return money
    if all(t.kind == "text" for t in toks):
        return Text(" ".join(_norm_text(t.text) for t in toks))
    return Parser(s, toks, reference).parse()


_SET_BUILDER_RE = re.compile(
    r"\s*(?:\\left)?\\\{\s*([A-Za-z])\s*(?:\\mid|\\vert|\\middle\||\||:)(.*?)(?:\\right)?\\\}"
    r"(?:\s*\\setminus\s*(\\\{[^{}]*\\\}))?\s*"
)
_OR_RE = re.compile(r"\\text\{\s*or\s*\}|\\lor|\bor\b")
_AND_RE = re.compile(r"\\text\{\s*and\s*\}|\\land|\band\b|,")


def _set_builder(s: str, reference: bool) -> Node | None:
    """`\\{x \\mid -3 < x \\le 5\\}` is the set its condition describes, here the interval (-3, 5]: the
    condition's parts joined by "and" (or a comma) intersect, by "or" unite, and `\\setminus \\{1\\}` removes
    points. Every part must be a relation in the bound variable alone (`\\{x | x = 3k, k \\in Z\\}` is not)."""
    m = _SET_BUILDER_RE.fullmatch(s)
    if m is None:
        return None
    var, cond, minus = m.group(1), m.group(2), m.group(3)
    groups: list[Node] = []
    for alternative in _OR_RE.split(cond):
        parts: list[Node] = []
        for text in _AND_RE.split(alternative):
            try:
                node = parse(text, reference)
            except ParseError:
                return None
            syms = {n.name for n in walk(node) if isinstance(n, Sym)}
            if not isinstance(node, Rel) or syms != {var}:
                return None
            parts.append(node)
        groups.append(parts[0] if len(parts) == 1 else SetOp("inter", tuple(parts)))
    node = groups[0] if len(groups) == 1 else SetOp("union", tuple(groups))
    if minus is not None:
        try:
            node = SetOp("minus", (node, parse(minus, reference)))
        except ParseError:
            return None
    return node


_BUILDER_START_RE = re.compile(r"\\\{\s*[A-Za-z]\s*(?:\\mid|\\vert|\\middle\||\||:)")
_SET_OPS = {"\\cup": "union", "\\cap": "inter", "\\setminus": "minus"}
_SET_OP_RE = re.compile(r"\\(?:cup|cap|setminus)(?![A-Za-z])|[{}()\[\]]")


def _builder_algebra(s: str, reference: bool) -> Node | None:
    """Set-builder sets combined with other sets, `\\{x \\mid x > 1\\} \\cup \\{0\\}`: the string is split at its
    top-level `\\cup`, `\\cap` and `\\setminus` (outside every bracket), each operand is parsed on its own, and the
    operations apply left to right. Only tried when a set-builder operand is present (the parser reads the rest)."""
    if _BUILDER_START_RE.search(s) is None and "\\setminus" not in s:
        return None
    operands: list[str] = []
    ops: list[str] = []
    depth, start = 0, 0
    for m in _SET_OP_RE.finditer(s):
        tok = m.group()
        if tok in "{([":
            depth += 1
        elif tok in "})]":
            depth -= 1
        elif depth == 0:
            operands.append(s[start : m.start()])
            ops.append(_SET_OPS[tok])
            start = m.end()
    operands.append(s[start:])
    if not ops:
        return None
    try:
        nodes = [parse(text, reference) for text in operands]
    except ParseError:
        return None
    node = nodes[0]
    for op, nxt in zip(ops, nodes[1:], strict=True):
        node = SetOp(op, (node, nxt))
    return node


_RATIO_ROOT = r"\\sqrt\{\d+\}|\\sqrt\d"
_RATIO_SIDE_RE = re.compile(rf"\s*(?:[\d.]+|\\d?frac\{{\d+\}}\{{\d+\}}|{_RATIO_ROOT})(?:\s*(?:{_RATIO_ROOT}))?\s*")
_CLOCK_RE = re.compile(r"\s*\d{1,2}\s*:\s*\d\d\s*")


def _described(s: str) -> Node | None:
    """A reference that states a condition and then its set, `-1<x \\leqslant 1:(-1,1]` or `x<-7:(-\\infty,-7)`
    (college_math writes them so): the set after the last colon, when it is one (an interval, a union, the reals
    or the empty set). References only: in an answer the two sides could disagree."""
    k = s.rfind(":")
    try:
        node = parse(s[k + 1 :], reference=True)
    except ParseError:
        return None
    if isinstance(node, Seq) and node.open in "([" and node.open and node.close in ")]" and len(node.items) == 2:
        return node
    return node if isinstance(node, SetOp | Reals | EmptySet) else None


def _ratio(s: str, reference: bool) -> Node | None:
    """`10:3` (two numbers, no variable, one colon) is the ratio 10/3; anything else is left to the parser."""
    left, sep, right = s.partition(":")
    if not sep or ":" in right or not (_RATIO_SIDE_RE.fullmatch(left) and _RATIO_SIDE_RE.fullmatch(right)):
        return None
    if _CLOCK_RE.fullmatch(s):
        return None  # `4:30` reads as a time of day as much as a ratio: never 4/30
    try:
        a, b = parse(left, reference), parse(right, reference)
    except ParseError:
        return None
    if any(isinstance(n, Sym | Rel | Seq | SetOp | Text) for side in (a, b) for n in walk(side)):
        return None
    return Div(a, b)


def _thousands(toks: list[Tok]) -> Node | None:
    """A number with thousands separators once its currency sign and unit are gone (`\\$1,200`, `$1,200.50`,
    `1,200 \\text{ dollars}`, `1,200\\%`), else None. The tokens must be exactly that number: digits and commas
    with no space between them (`1, 200` stays a list)."""
    i, n = 0, len(toks)
    neg = n > 0 and toks[0].kind == "op" and toks[0].text == "-"
    i += neg
    if i >= n or toks[i].kind != "num" or not THOUSANDS_LEAD_RE.fullmatch(toks[i].text):
        return None
    digits = [toks[i].text]
    i += 1
    while i + 1 < n and toks[i].kind == "op" and toks[i].text == "," and toks[i + 1].kind == "num":
        if toks[i].space_before or toks[i + 1].space_before or "." in digits[-1]:
            return None
        if not THOUSANDS_GROUP_RE.fullmatch(toks[i + 1].text):
            return None
        digits.append(toks[i + 1].text)
        i += 2
    percent = i < n and toks[i].kind == "op" and toks[i].text == "%"
    i += percent
    if len(digits) < 2 or i != n:
        return None
    node: Node = _num("".join(digits))
    if percent:
        node = Percent(node)
    return Neg(node) if neg else node


def _norm_text(s: str) -> str:
    return " ".join(s.replace("\\", " ").lower().strip(" .").split())


# The words for the whole real line: "all real numbers", `\\text{all reals}`, "every real number".
_ALL_REALS_RE = re.compile(
    r"\s*(?:\\text(?:rm)?\{\s*)?(?:all|every|any)\s+real\s*(?:numbers?|values?|s)?\s*(?:of\s+[a-z])?\s*\}?\s*\.?\s*",
    re.IGNORECASE,
)


def _as_text_answer(s: str) -> str | None:
    """A plain word answer (`Monday`, `no solution`): returned normalised, else None."""
    inner = s
    for wrapper in ("\\text{", "\\textbf{", "\\mathrm{", "\\mbox{"):
        if inner.startswith(wrapper) and inner.endswith("}"):
            inner = inner[len(wrapper) : -1]
    inner = inner.strip()
    if inner.lower() in ("yes", "no"):
        return inner.lower()  # a decision (`No` is never the product N·o)
    if not TEXT_ANSWER_RE.fullmatch(inner):
        return None
    words = WORD_RE.findall(inner)
    long_words = [w for w in words if len(w) >= 3 and w.lower() not in PLAIN_WORDS]
    if not long_words:
        return None
    return _norm_text(inner)
