"""Values across the boundary and their comparison (issue 10, rows 4, 5 and 7), without and with the sandbox."""

from __future__ import annotations

import collections
import math
from fractions import Fraction

import pytest

from sandboxes import available_languages
from verifiers import code
from verifiers.code.compare import ValueRules, values_equal
from verifiers.code.inbox import codec
from verifiers.code.reference import ReferenceError_, parse_reference
from verifiers.verdict import Attempt, Status

STRICT = ValueRules()


def roundtrip(value):
    encoder = codec.Encoder()
    data = encoder.value(value)
    table = encoder.table()
    return codec.dec(data, table)


def test_plain_values_round_trip_exactly() -> None:
    for value in [
        None,
        True,
        0,
        -(10**30),
        1.5,
        "é\ud800",
        [1, [2]],
        (1, (2,)),
        {1: "a", (1, 2): None},
        {1, 2},
        frozenset({3}),
        b"\x00\xff",
        bytearray(b"x"),
        1 + 2j,
        7**20000,
        range(1, 10, 3),
        Fraction(1, 3),
        collections.Counter("aab"),
        collections.OrderedDict(b=1, a=2),
        collections.deque([1, 2]),
    ]:
        back = roundtrip(value)
        assert type(back) is type(value) and back == value, value
    assert math.isnan(roundtrip(float("nan")))
    assert roundtrip(float("-inf")) == float("-inf")


def test_other_kinds_travel_as_their_value() -> None:
    Point = collections.namedtuple("Point", "x y")
    assert roundtrip(Point(1, 2)) == (1, 2) and type(roundtrip(Point(1, 2))) is tuple
    d = collections.defaultdict(list, {"a": [1]})
    assert type(roundtrip(d)) is dict and roundtrip(d) == {"a": [1]}
    assert list(roundtrip(x * 2 for x in range(3))) == [0, 2, 4]
    assert list(roundtrip(map(str, [1]))) == ["1"]

    class Rigged(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    back = roundtrip(Rigged(0))
    assert type(back) is int and back == 0 and back != 3  # its value, not its __eq__


def test_objects_go_by_value_in_a_flat_table() -> None:
    class Node:
        def __init__(self, val, nxt=None):
            self.val, self.next = val, nxt

    head = None
    for i in range(50000):  # far deeper than any nesting limit
        head = Node(i, head)
    back = roundtrip(head)
    assert type(back).__name__ == "Node" and isinstance(back, codec.Record)
    count = 0
    while back is not None:
        count += 1
        back = back.next
    assert count == 50000
    a = Node(1)
    a.next = a  # a cycle
    back = roundtrip(a)
    assert back.next is back


@pytest.mark.parametrize(
    "bad",
    [
        {"T": 1},
        {"D": [[[1], 2]]},
        {"S": [[1]]},
        {"R": 0},
        {"H": 1},
        {"X": "zz"},
        {"F": "1"},
        {"C": [1]},
        {"RG": [1, 2, 0]},
        {"FR": [1, 0]},
        {"DE": "x"},
        {"B": "!!"},
        {"Q": []},
        {"T": [], "S": []},
        {},
    ],
)
def test_malformed_encodings_are_refused(bad) -> None:
    with pytest.raises(codec.CodecError):
        codec.dec(bad)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    deep: list = []
    for _ in range(codec.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(codec.CodecError):
        codec.Encoder().value(deep)
    with pytest.raises(codec.CodecError):
        codec.dec(deep)


def test_comparison_is_type_exact_by_default() -> None:
    assert values_equal(5, 5, STRICT) and values_equal([1, "a"], [1, "a"], STRICT)
    assert values_equal((1, 2), [1, 2], STRICT)  # JSON has no tuples
    assert not values_equal(5.0, 5, STRICT)  # row 5
    assert not values_equal(5, 5.0, STRICT)
    assert not values_equal(True, 1, STRICT) and not values_equal(1, True, STRICT)
    assert not values_equal({1, 2, 3}, [1, 2, 3], STRICT)  # row 5: a set is not a sorted list
    assert not values_equal({1: "a"}, {"1": "a"}, STRICT)  # row 5: int keys are not string keys
    assert not values_equal("1", 1, STRICT)
    assert values_equal(iter([1, 2]), [1, 2], STRICT)  # a generator's items
    assert values_equal(collections.Counter("aab"), {"a": 2, "b": 1}, STRICT)
    assert not values_equal(collections.deque([1]), [1], STRICT)  # as in Python: deque([1]) != [1]


def test_leniency_is_asked_for() -> None:
    assert values_equal(5.0, 5, ValueRules(lenient=frozenset({"numbers"})))
    assert values_equal({3, 1, 2}, [1, 2, 3], ValueRules(lenient=frozenset({"sets"})))
    assert values_equal({"b", "a"}, ["a", "b"], ValueRules(lenient=frozenset({"sets"})))
    assert not values_equal({1, 2}, [1, 1, 2], ValueRules(lenient=frozenset({"sets"})))
    assert values_equal({1: "a", None: 1}, {"1": "a", "null": 1}, ValueRules(lenient=frozenset({"keys"})))
    assert not values_equal({1: "a", "1": "b"}, {"1": "a"}, ValueRules(lenient=frozenset({"keys"})))
    assert values_equal(5, 5.0000001, ValueRules(floats=True))  # float comparison implies numbers
    with pytest.raises(ReferenceError_):
        parse_reference({"tests": [{"stdin": "", "stdout": ""}], "lenient": ["everything"]})


def test_comparisons_that_cannot_be_made_are_unequal_never_errors() -> None:
    # row 4: 10**400 against a float overflowed float() and made the verdict a sandbox error
    assert not values_equal(10**400, 1.5, STRICT)
    assert not values_equal(10**400, 1.5, ValueRules(floats=True))
    assert not values_equal(1.5, 10**400, ValueRules(floats=True))
    assert values_equal(10**400, 10**400, ValueRules(floats=True))
    assert not values_equal([10**400], [1e308], ValueRules(floats=True, lenient=frozenset({"numbers"})))
    assert not values_equal(object(), [1], STRICT)


@pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing")
@pytest.mark.parametrize(
    ("result", "expected", "lenient", "score"),
    [
        ("10 ** 400", 1.5, [], 0.0),  # row 4: a 0, not a null reward
        ("10 ** 400", [1.5], ["numbers"], 0.0),
        ("float('inf')", 10**400, [], 0.0),
        ("{3, 1, 2}", [1, 2, 3], [], 0.0),  # row 5
        ("5.0", 5, [], 0.0),
        ("{1: 'a'}", {"1": "a"}, [], 0.0),
        ("{3, 1, 2}", [1, 2, 3], ["sets"], 1.0),
        ("5.0", 5, ["numbers"], 1.0),
        ("{1: 'a'}", {"1": "a"}, ["keys"], 1.0),
    ],
)
def test_function_results_end_to_end(result: str, expected, lenient: list, score: float) -> None:
    ref = {"language": "python", "fn_name": "f", "lenient": lenient, "tests": [{"args": [], "expected": expected}]}
    v = code.verify(Attempt(completion=f"```python\ndef f():\n    return {result}\n```", reference=ref))
    assert v.decided and v.score == score, v
    assert v.status == (Status.CORRECT if score else Status.WRONG)


@pytest.mark.parametrize(
    ("got", "expected", "equal"),
    [
        ("1000000000", "1000000007", False),  # red team G7: an integer answer is exact, whatever the tolerance
        ("1000000007", "1000000007", True),
        ("2.0", "2", True),
        ("2.5", "2", False),
        ("3.1415927", "3.14159265", True),  # a real number within the tolerances
        ("3.15", "3.14159265", False),
        ("1_000", "1000", False),  # not a number as checkers read output
        ("Infinity", "1e400", False),
        ("0.5 7", "0.5000001 7", True),
        ("0.5 8", "0.5000001 7", False),
    ],
)
def test_float_mode_compares_tokens_as_checkers_do(got: str, expected: str, equal: bool) -> None:
    from verifiers.code.compare import compare_output

    assert compare_output(got, expected, "float") is equal
