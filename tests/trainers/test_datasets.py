"""A code reference stored as an Arrow struct column (Hugging Face datasets) scores as the reference it was."""

from __future__ import annotations

import pytest

from service.integrations.client import AhaClient

datasets = pytest.importorskip("datasets", reason="datasets is not installed here (the trainer env has it)")

PROGRAM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
FN_PROGRAM = "```python\ndef add(a, b):\n    return a + b\n```"


def test_struct_column_nulls_are_absent_keys(aha_url, tmp_path):
    rows = [
        {"language": "python", "tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "5 5\n", "stdout": "10\n"}]},
        {
            "language": "python",
            "fn_name": "add",
            "compare": "exact",
            "tests": [{"args": [1, 2], "expected": 3}, {"code": "assert add(2, 2) == 4"}],
        },
    ]
    data = datasets.Dataset.from_dict({"reference": rows, "completion": [PROGRAM, FN_PROGRAM]})
    data.to_parquet(tmp_path / "code.parquet")
    back = datasets.load_dataset("parquet", data_files=str(tmp_path / "code.parquet"), split="train")
    stored = back[0]["reference"]
    assert stored["fn_name"] is None and stored["tests"][0]["code"] is None  # what Arrow makes of absent keys
    items = [{"task": "code", "completion": r["completion"], "reference": r["reference"]} for r in back]
    with AhaClient(aha_url) as client:
        results = client.score(items)["results"]
    assert [(r["status"], r["reward"]) for r in results] == [("correct", 1.0), ("correct", 1.0)], results
