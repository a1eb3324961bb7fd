"""Units around an answer: a number with the wrong unit is a wrong answer.

The comparison drops a unit after a number (`12\\text{ cm}` is 12), which is right when the unit is the one asked
for and wrong when it is another unit of the same kind: `\\frac{600}{7}\\text{ m/s}` does not answer a question
asked "in km/h" whose reference is `\\frac{600}{7}`. The unit asked for is read from the reference when it carries
one (`576\\pi\\;m^{2}`), else from the question ("in $\\mathrm{km}/\\mathrm{h}$", "in cm", "how many feet"). Only
units of this table are judged, and only against a unit of the same kind; an answer without a unit, or with a
unit the table does not know, is left to the comparison as before. All regexes are linear.
"""

from __future__ import annotations

import re

# unit word -> (canonical name, kind)
_UNITS: dict[str, tuple[str, str]] = {}
for _kind, _groups in {
    "length": [
        ("mm", "millimeter millimeters millimetre millimetres"),
        ("cm", "centimeter centimeters centimetre centimetres"),
        ("m", "meter meters metre metres"),
        ("km", "kilometer kilometers kilometre kilometres"),
        ("in", "inch inches"),
        ("ft", "foot feet"),
        ("yd", "yard yards yds"),
        ("mi", "mile miles"),
        ("furlong", "furlongs"),
    ],
    "time": [
        ("s", "sec secs second seconds"),
        ("min", "mins minute minutes"),
        ("h", "hr hrs hour hours"),
        ("day", "days"),
        ("week", "weeks"),
        ("year", "years yr yrs"),
    ],
    "mass": [
        ("mg", "milligram milligrams"),
        ("g", "gram grams"),
        ("kg", "kilogram kilograms"),
        ("lb", "lbs pound pounds"),
    ],
}.items():
    for _name, _words in _groups:
        for _word in (_name, *_words.split()):
            _UNITS[_word] = (_name, _kind)

_WRAP_RE = re.compile(r"\\(?:text|mathrm|textrm|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACE_RE = re.compile(r"\\[,;:! ]|~|\\quad")
# a unit expression: words joined by / (km/h, m/s), optionally squared or cubed (m^2, square meters)
_POWER = r"(?:\s*\^\s*\{?[23]\}?)?"
_UNIT_EXPR = rf"(?:(?:square|cubic|sq\.?)\s+)?[A-Za-z]+{_POWER}(?:\s*/\s*[A-Za-z]+{_POWER})?"
# after a digit, a closing brace or parenthesis, or \pi; never part of a command (`\min`) or a name (`2x`)
_TRAILING_RE = re.compile(rf"(?:[\d}})]|\\pi)\s*(?<![\\A-Za-z])({_UNIT_EXPR})\s*\.?\s*$")
_ASKED_RE = re.compile(rf"\b(?:in|how many|number of)\s+\$?\s*({_UNIT_EXPR})", re.IGNORECASE)


def _plain(s: str) -> str:
    s = _WRAP_RE.sub(r" \1 ", s)
    s = _SPACE_RE.sub(" ", s)
    return s.replace("$", " ")


def _canonical(expr: str) -> tuple[str, str] | None:
    """`km/h` -> ("km/h", "length/time"); `square meters` -> ("m^2", "length^2"); None for an unknown unit."""
    expr = expr.strip().lower()
    power = ""
    if expr.startswith(("square ", "sq ", "sq. ")):
        power, expr = "^2", expr.split(None, 1)[1]
    elif expr.startswith("cubic "):
        power, expr = "^3", expr.split(None, 1)[1]
    parts = []
    for part in expr.split("/"):
        m = re.fullmatch(r"\s*([a-z]+)\s*(?:\^\s*\{?([23])\}?)?\s*", part)
        if m is None or m.group(1) not in _UNITS:
            return None
        name, kind = _UNITS[m.group(1)]
        exp = f"^{m.group(2)}" if m.group(2) else ""
        parts.append((name + exp, kind + exp))
    if power and len(parts) == 1:
        parts = [(parts[0][0] + power, parts[0][1] + power)]
    return "/".join(p[0] for p in parts), "/".join(p[1] for p in parts)


def trailing_unit(text: str) -> tuple[str, str] | None:
    """The known unit written after the value at the end of `text`, canonical, with its kind."""
    m = _TRAILING_RE.search(_plain(text))
    return None if m is None else _canonical(m.group(1))


def without_unit(text: str) -> str | None:
    """`text` without its known trailing unit (its LaTeX wrappers unwrapped), or None when it has none. The unit
    must stand apart (a space, a spacing command or `\\text{}`): in `6m` or `(x+1)m` the letter is a variable."""
    plain = _plain(text)
    m = _TRAILING_RE.search(plain)
    if m is None or _canonical(m.group(1)) is None or not plain[: m.start(1)][-1:].isspace():
        return None
    return plain[: m.start(1)]


def asked_unit(prompt: object) -> tuple[str, str] | None:
    """The unit the question asks for ("in km/h", "how many feet"), when it names exactly one known unit."""
    if not isinstance(prompt, str):
        return None
    found = {u for m in _ASKED_RE.finditer(_plain(prompt[-2000:])) if (u := _canonical(m.group(1))) is not None}
    return found.pop() if len(found) == 1 else None


def unit_conflict(answer: str, reference: str, prompt: object) -> str | None:
    """Why the answer's unit is not the one asked for (None when it is, or when nothing can be said)."""
    mine = trailing_unit(answer)
    if mine is None:
        return None
    own = trailing_unit(reference)
    wanted = own or asked_unit(prompt)
    if wanted is None or wanted[0] == mine[0]:
        return None
    if wanted[1] != mine[1] and own is None:
        return None  # the question's words may name a unit of something else
    return f"the answer is in {mine[0]}, the {'reference is' if own else 'question asks for'} {wanted[0]}"
