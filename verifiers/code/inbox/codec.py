"""Plain-value serialization shared by the judge and the in-sandbox harness (a standalone module, stdlib only: the
harness sent into the sandbox is this file followed by `test_runner.py`).

Values cross the program's process boundary only as data; the receiving side rebuilds them from exact builtin
types (and a few standard-library containers) that it makes itself, so nothing the program defines (`__eq__`,
`__hash__`, `__len__`, a rigged `int` subclass) ever runs where values are compared. Encoding is lenient about
what it is given (a subclass travels as its base type's value, a generator as the items it yields, a namedtuple as
a tuple, a numpy scalar as its Python number); decoding is strict about shapes, since the other side may be
hostile.

JSON objects are only tags: {"T": [...]} tuple, {"S"}/{"FS"} set/frozenset, {"D": [[k, v], ...]} dict,
{"CT"}/{"OD"} Counter/OrderedDict (as pairs), {"DQ": [...]} deque, {"G": [...]} the items an iterator yielded,
{"RG": [start, stop, step]} range, {"B"}/{"BA": base64} bytes/bytearray, {"C": [re, im]} complex,
{"F": "nan"|"inf"|"-inf"} non-finite float, {"X": hex} an int too long for a decimal string, {"FR": [n, d]}
Fraction, {"DE": str} Decimal, {"R": i} entry i of the message's object table, {"H": i} a program object that
stays in the program's process (a handle; only the harness gives these meaning).

Objects of other classes (`ListNode`, `TreeNode`, a dataclass) go by value into a flat *object table* of
[class name, [[attribute, value], ...]] entries, so shared nodes, cycles and 10^5-node lists cross without deep
nesting. The receiver rebuilds each entry as an instance of its own class of that name when it has one (the test's
`ListNode`) and as a `Record` of that name otherwise.
"""

import math
import sys

MAX_DEPTH = 200
MAX_ITEMS = 1 << 20  # items drawn from one iterator, and objects in one message
_BIG_BITS = 12000  # longer ints travel as hex: Python refuses decimal strings of over 4300 digits


class CodecError(ValueError):
    """A value that is not plain data (or a malformed encoding)."""


class Record:
    """An object whose class the receiving side does not have: its attributes under its class's name.

    Equality is identity, as for any object of a class without `__eq__` (the datasets' `ListNode`).
    """

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in list(vars(self).items())[:8])
        return f"{type(self).__name__}({fields})"


_RECORD_CLASSES = {}


def record_class(name):
    """The `Record` subclass named `name` (one per name, so objects of one class share a type)."""
    cls = _RECORD_CLASSES.get(name)
    if cls is None:
        if len(_RECORD_CLASSES) >= 1000:
            return Record
        cls = _RECORD_CLASSES[name] = type(name, (Record,), {"__module__": "aha.records"})
    return cls


def _module(name):
    # The modules behind the tagged kinds are imported only when such a value turns up (not on every start-up).
    return sys.modules.get(name) or __import__(name)


def _attrs(obj):
    """(name, value) pairs of an object's state: its __dict__ and any __slots__ it has set."""
    d = getattr(obj, "__dict__", None)
    out = [(k, v) for k, v in d.items() if type(k) is str] if type(d) is dict else []
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if type(slots) is str else slots:
            if type(name) is str and name not in ("__dict__", "__weakref__"):
                try:
                    out.append((name, object.__getattribute__(obj, name)))
                except AttributeError:
                    pass
    return out


class Encoder:
    """Encodes values into JSON-ready data; objects of other classes go into one shared table.

    `handle_of(v)` may give an int for objects that stay where they are (sent as {"H": i}); `seed` objects take
    the first table entries in order, so a reply can describe the very objects a request sent.
    """

    def __init__(self, handle_of=None, seed=()):
        self.handle_of = handle_of
        self.entries = []
        self.objects = []
        self.index = {}
        self.todo = []
        for obj in seed:
            self._ref(obj)

    def _ref(self, obj):
        i = self.index.get(id(obj))
        if i is None:
            if len(self.objects) >= MAX_ITEMS:
                raise CodecError("too many objects")
            i = self.index[id(obj)] = len(self.objects)
            self.objects.append(obj)  # kept alive, so its id stays its own
            self.entries.append(None)
            self.todo.append(i)
        return {"R": i}

    def table(self):
        """The object table, complete: every object reached so far and every object reachable from those."""
        while self.todo:
            i = self.todo.pop()
            obj = self.objects[i]
            self.entries[i] = [type(obj).__name__, [[k, self.value(v)] for k, v in _attrs(obj)]]
        return self.entries

    def value(self, v, depth=0):
        """The JSON-ready encoding of `v`; raises CodecError for what cannot be encoded."""
        if depth > MAX_DEPTH:
            raise CodecError("value nested too deeply")
        t = type(v)
        if v is None or t is bool or t is str:
            return v
        if t is int:
            return v if v.bit_length() <= _BIG_BITS else {"X": hex(v)}
        if t is float:
            return v if math.isfinite(v) else {"F": repr(v)}
        d = depth + 1
        if t is list:
            return [self.value(x, d) for x in v]
        if t is tuple:
            return {"T": [self.value(x, d) for x in v]}
        if t is dict:
            return {"D": [[self.value(k, d), self.value(x, d)] for k, x in v.items()]}
        if t is set or t is frozenset:
            return {"S" if t is set else "FS": [self.value(x, d) for x in v]}
        if self.handle_of is not None:
            h = self.handle_of(v)
            if h is not None:
                return {"H": h}
        return self._other(v, t, d)

    def _other(self, v, t, d):
        import base64  # here, not at the top: most runs never send bytes

        if isinstance(v, int):  # IntEnum, a rigged subclass: its value, compared on the receiving side
            return self.value(int.__index__(v), d)
        if isinstance(v, float):
            return self.value(float.__float__(v), d)
        if isinstance(v, str):
            return str.__str__(v)
        if isinstance(v, (bytes, bytearray)):
            return {"BA" if isinstance(v, bytearray) else "B": base64.b64encode(bytes(v)).decode()}
        if isinstance(v, complex):
            return {"C": [v.real, v.imag]}
        module = getattr(t, "__module__", "") or ""
        if module.startswith("numpy") and getattr(v, "ndim", None) == 0 and hasattr(v, "item"):
            return self.value(v.item(), d - 1)  # a numpy scalar: its Python number (an array is not one)
        coll = sys.modules.get("collections")
        if isinstance(v, dict):
            tag = "D"
            if coll is not None and isinstance(v, coll.Counter):
                tag = "CT"
            elif coll is not None and isinstance(v, coll.OrderedDict):
                tag = "OD"
            return {tag: [[self.value(k, d), self.value(x, d)] for k, x in v.items()]}
        if isinstance(v, list):
            return [self.value(x, d) for x in v]
        if isinstance(v, tuple):  # a namedtuple: its values
            return {"T": [self.value(x, d) for x in v]}
        if isinstance(v, (set, frozenset)):
            return {"FS" if isinstance(v, frozenset) else "S": [self.value(x, d) for x in v]}
        if coll is not None and isinstance(v, coll.deque):
            return {"DQ": [self.value(x, d) for x in v]}
        if t is range:
            return {"RG": [self.value(v.start, d), self.value(v.stop, d), self.value(v.step, d)]}
        fractions, decimal = sys.modules.get("fractions"), sys.modules.get("decimal")
        if fractions is not None and isinstance(v, fractions.Fraction):
            return {"FR": [self.value(int(v.numerator), d), self.value(int(v.denominator), d)]}
        if decimal is not None and isinstance(v, decimal.Decimal):
            return {"DE": str(v)}
        if module == "builtins" or isinstance(v, type):
            if hasattr(v, "__next__") and hasattr(v, "__iter__"):
                return self._items(v, d)  # map, filter, zip, a generator ...
            raise CodecError(f"unsupported type {t.__name__}")
        if hasattr(v, "__next__") and hasattr(v, "__iter__"):
            return self._items(v, d)
        if type(getattr(v, "__dict__", None)) is dict or any("__slots__" in k.__dict__ for k in t.__mro__[:-1]):
            if module.startswith("numpy"):
                raise CodecError(f"unsupported type {t.__name__}")
            return self._ref(v)
        raise CodecError(f"unsupported type {t.__name__}")

    def _items(self, it, d):
        out = []
        for x in it:
            if len(out) >= MAX_ITEMS:
                raise CodecError("iterator yields too many items")
            out.append(self.value(x, d))
        return {"G": out}


_LIST_ITERATOR = type(iter([]))


class Decoder:
    """Rebuilds values from an encoding (which may be hostile: every shape is checked).

    `table` is the message's object table; `new_object(name)` makes an empty object for an entry (default: a
    `Record` of that name); `handle(i)` gives meaning to {"H": i} (default: an error); `seed` objects stand for
    the first entries and are updated in place by `finish()` (the objects a request sent, changed by the call).
    """

    def __init__(self, table=(), new_object=None, handle=None, seed=()):
        if type(table) is not list and table != ():
            raise CodecError("malformed object table")
        if len(table) > MAX_ITEMS:
            raise CodecError("too many objects")
        self.handle = handle
        self.table = table
        self.objects = []
        for i, entry in enumerate(table):
            if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str or type(entry[1]) is not list:
                raise CodecError("malformed object entry")
            if i < len(seed):
                self.objects.append(seed[i])
            else:
                name = entry[0] if entry[0].isidentifier() else "Object"
                self.objects.append(new_object(name) if new_object is not None else record_class(name)())

    def finish(self):
        """Set every table object's attributes (seed objects lose the state they had); returns the objects."""
        states = []
        for obj, (_, attrs) in zip(self.objects, self.table, strict=False):
            state = {}
            for pair in attrs:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                    raise CodecError("malformed attribute")
                name = pair[0]
                if name.isidentifier() and not name.startswith("__") and not _is_method(type(obj), name):
                    state[name] = self.value(pair[1])
            states.append(state)
        for obj, state in zip(self.objects, states, strict=True):  # only once all of it decoded: none half-updated
            d = getattr(obj, "__dict__", None)
            if type(d) is dict:
                d.clear()
                d.update(state)
            else:
                for name, value in state.items():
                    try:
                        object.__setattr__(obj, name, value)
                    except (AttributeError, TypeError):
                        pass
        return self.objects

    def value(self, v, depth=0):
        """The value `v` encodes; raises CodecError on anything unexpected."""
        if depth > MAX_DEPTH:
            raise CodecError("value nested too deeply")
        t = type(v)
        if v is None or t is bool or t is str or t is int or t is float:
            return v
        d = depth + 1
        if t is list:
            return [self.value(x, d) for x in v]
        if t is dict and len(v) == 1:
            ((tag, body),) = v.items()
            try:
                return self._tagged(tag, body, d)
            except (TypeError, ValueError, ArithmeticError) as exc:  # CodecError is a ValueError
                if isinstance(exc, CodecError):
                    raise
                raise CodecError(f"bad {tag} value: {exc}") from None
        raise CodecError(f"malformed value of type {t.__name__}")

    def _pairs(self, body, d):
        if type(body) is not list:
            raise CodecError("malformed pairs")
        out = []
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                raise CodecError("malformed pair")
            out.append((self.value(pair[0], d), self.value(pair[1], d)))
        return out

    def _tagged(self, tag, body, d):
        if tag == "R" and type(body) is int and 0 <= body < len(self.objects):
            return self.objects[body]
        if tag == "H" and type(body) is int and self.handle is not None:
            return self.handle(body)
        if type(body) is list:
            if tag == "T":
                return tuple(self.value(x, d) for x in body)
            if tag == "S":
                return {self.value(x, d) for x in body}
            if tag == "FS":
                return frozenset(self.value(x, d) for x in body)
            if tag == "D":
                return dict(self._pairs(body, d))
            if tag == "G":
                return iter([self.value(x, d) for x in body])
            if tag == "CT":
                return _module("collections").Counter(dict(self._pairs(body, d)))
            if tag == "OD":
                return _module("collections").OrderedDict(self._pairs(body, d))
            if tag == "DQ":
                return _module("collections").deque(self.value(x, d) for x in body)
            if tag == "C" and len(body) == 2 and all(type(x) in (int, float) for x in body):
                return complex(body[0], body[1])
            if tag in ("RG", "FR") and len(body) == (3 if tag == "RG" else 2):
                parts = [self.value(x, d) for x in body]
                if all(type(x) is int for x in parts):
                    return range(*parts) if tag == "RG" else _module("fractions").Fraction(*parts)
        if type(body) is str:
            if tag in ("B", "BA"):
                import base64

                data = base64.b64decode(body, validate=True)
                return bytearray(data) if tag == "BA" else data
            if tag == "F" and body in ("nan", "inf", "-inf"):
                return float(body)
            if tag == "X" and len(body) < 1 << 22:
                return int(body, 16)  # a power-of-two base: no digit limit, linear time
            if tag == "DE" and len(body) < 1 << 12:
                return _module("decimal").Decimal(body)
        raise CodecError(f"malformed {tag} value")


def _is_method(cls, name):
    """Is `name` a method or descriptor of `cls`? Data never replaces those (a rebuilt object keeps its methods)."""
    attr = getattr(cls, name, None)
    return attr is not None and (callable(attr) or hasattr(type(attr), "__get__"))


def enc(v):
    """Encode a value without objects (raises CodecError if it holds any): what a reference's args need."""
    encoder = Encoder()
    data = encoder.value(v)
    if encoder.objects:
        raise CodecError("objects cannot be encoded here")
    return data


def dec(v, table=()):
    """Decode a value (objects become `Record`s, handles are an error)."""
    decoder = Decoder(table)
    out = decoder.value(v)
    decoder.finish()
    return out
