"""Plain-value serialization shared by the judge and the in-sandbox harness (this file is copied into it).

Only exact builtin types pass: a subclass of int with a rigged `__eq__`, or any user object, cannot be encoded,
so a function result is compared as data, outside the program's reach. JSON objects are used only as tags:
{"T": [...]} tuple, {"S": [...]} set, {"FS": [...]} frozenset, {"D": [[k, v], ...]} dict, {"B": base64}
bytes, {"C": [re, im]} complex, {"F": "nan"|"inf"|"-inf"} non-finite float.
"""

import math

MAX_DEPTH = 200


class CodecError(ValueError):
    """A value that is not plain data (or a malformed encoding)."""


def enc(v, depth=0):
    """Encode a plain Python value as JSON-ready data; raises CodecError for anything else."""
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    t = type(v)
    if v is None or t is bool or t is str or t is int:
        return v
    if t is float:
        return v if math.isfinite(v) else {"F": repr(v)}
    if t is list:
        return [enc(x, depth + 1) for x in v]
    if t is tuple:
        return {"T": [enc(x, depth + 1) for x in v]}
    if t is set or t is frozenset:
        return {"S" if t is set else "FS": [enc(x, depth + 1) for x in v]}
    if t is dict:
        return {"D": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
    if t is bytes:
        import base64  # here, not at the top: the harness's start-up should not pay for it on every run

        return {"B": base64.b64encode(v).decode()}
    if t is complex:
        return {"C": [v.real, v.imag]}
    raise CodecError(f"unsupported type {t.__name__}")


def dec(v, depth=0):
    """Inverse of `enc`, strict about shapes; raises CodecError on anything unexpected."""
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    t = type(v)
    if v is None or t is bool or t is str or t is int or t is float:
        return v
    if t is list:
        return [dec(x, depth + 1) for x in v]
    if t is dict and len(v) == 1:
        ((tag, body),) = v.items()
        try:
            if tag == "T" and type(body) is list:
                return tuple(dec(x, depth + 1) for x in body)
            if tag == "S" and type(body) is list:
                return {dec(x, depth + 1) for x in body}
            if tag == "FS" and type(body) is list:
                return frozenset(dec(x, depth + 1) for x in body)
            if tag == "D" and type(body) is list:
                return {dec(k, depth + 1): dec(x, depth + 1) for k, x in body}
            if tag == "B" and type(body) is str:
                import base64

                return base64.b64decode(body, validate=True)
            if tag == "C" and type(body) is list and len(body) == 2:
                return complex(float(body[0]), float(body[1]))
            if tag == "F" and body in ("nan", "inf", "-inf"):
                return float(body)
        except (TypeError, ValueError) as exc:
            raise CodecError(f"bad {tag} value: {exc}") from None
    raise CodecError(f"malformed value of type {t.__name__}")
