"""verl's inputs/outputs code ground truth and Arrow-style nulls are read as Aha references."""

from __future__ import annotations

import json

import pytest

from verifiers import code
from verifiers.code.reference import ReferenceError_, parse_reference
from verifiers.verdict import Attempt, Status


def test_verl_stdio_inputs_outputs():
    ref = parse_reference(json.dumps({"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]}))
    assert [(t.kind, t.stdin, t.stdout) for t in ref.tests] == [("stdio", "1 2\n", "3\n"), ("stdio", "3 4\n", "7\n")]
    assert ref.recipe.name == "python" and ref.fn_name is None


def test_verl_stdio_lines_as_lists():
    ref = parse_reference({"inputs": [["1", "2"]], "outputs": [["3"]]})
    assert (ref.tests[0].stdin, ref.tests[0].stdout) == ("1\n2\n", "3\n")


def test_verl_call_based_prime_and_taco_shapes():
    prime = parse_reference({"fn_name": "add", "inputs": ["1\n2", "[1]\n[2]"], "outputs": ["3", "[[1, 2]]"]})
    assert [(t.kind, t.args, t.expected) for t in prime.tests] == [("fn", (1, 2), 3), ("fn", ([1], [2]), [1, 2])]
    assert prime.fn_name == "add" and "numbers" in prime.lenient
    taco = parse_reference({"fn_name": "f", "inputs": [[1, 2], ["a"]], "outputs": [[3], ["b", "c"]]})
    assert [(t.args, t.expected) for t in taco.tests] == [((1, 2), 3), (("a",), ["b", "c"])]


def test_verl_shapes_that_make_no_sense_are_invalid():
    with pytest.raises(ReferenceError_, match="inputs has 2 entries, outputs has 1"):
        parse_reference({"inputs": ["1", "2"], "outputs": ["1"]})
    with pytest.raises(ReferenceError_, match="non-empty lists"):
        parse_reference({"inputs": [], "outputs": []})
    with pytest.raises(ReferenceError_, match="not JSON lines"):
        parse_reference({"fn_name": "f", "inputs": ["{bad"], "outputs": ["1"]})


def test_arrow_struct_nulls_mean_absent():
    # What datasets/pyarrow give for a list of structs whose rows have different keys.
    raw = {
        "language": "python",
        "fn_name": None,
        "compare": None,
        "setup": None,
        "time_limit_s": None,
        "tests": [
            {"stdin": "1\n", "stdout": "1\n", "args": None, "expected": None, "code": None},
            {"stdin": None, "stdout": None, "args": None, "expected": None, "code": "assert True"},
        ],
    }
    ref = parse_reference(raw)
    assert [t.kind for t in ref.tests] == ["stdio", "code"] and ref.compare == "whitespace"
    fn = parse_reference({"fn_name": "f", "tests": [{"args": [1], "expected": None, "stdin": None, "code": None}]})
    assert fn.tests[0].kind == "fn" and fn.tests[0].expected is None
    with pytest.raises(ReferenceError_, match="expected must be given"):
        parse_reference({"fn_name": "f", "tests": [{"args": [1]}]})


@pytest.mark.parametrize(
    ("reference", "options", "fragment"),
    [
        # red team R2-F10/F11: a string flag and a misspelt key silently changed the verdict
        ({"stop_at_first_failure": "false"}, {}, "must be true or false"),
        ({}, {"stop_at_first_failure": "false"}, "must be true or false"),
        ({"comparator": "float"}, {}, "did you mean 'compare'"),
        ({"time_limit": 5}, {}, "did you mean 'time_limit_s'"),
    ],
)
def test_a_misspelt_key_or_a_string_flag_is_an_invalid_reference(reference, options, fragment):
    ref = {"language": "python", "tests": [{"stdin": "", "stdout": "3\n"}], **reference}
    verdict = code.verify(Attempt("```python\nprint(3)\n```", ref, options=options))
    assert verdict.status == Status.INVALID_REFERENCE and fragment in verdict.reason, verdict


def test_metadata_keys_of_a_data_set_are_ignored():
    ref = {"language": "python", "tests": [{"stdin": "", "stdout": "3\n"}], "name": "p3", "difficulty": "easy"}
    assert code.verify(Attempt("```python\nprint(3)\n```", ref)).status == Status.CORRECT
