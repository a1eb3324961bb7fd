"""`aha score`: JSONL in, one result per line out, in-process or through a server, resumable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

GOOD = "<think>x</think><answer>1</answer>"


def write_items(path: Path) -> list[str]:
    lines = [
        json.dumps({"id": "a", "task": "format", "completion": GOOD, "group": "g"}),
        "{not json",
        json.dumps({"id": "b", "task": "format", "completion": "nope", "group": "g"}),
        "",
        json.dumps({"id": "c", "task": "format"}),
        json.dumps({"id": "d", "task": "format", "completion": GOOD, "group": "g"}),
        json.dumps([1, 2]),
    ]
    path.write_text("\n".join(lines) + "\n")
    return lines


def run_score(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "score", "-q", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def aha(*args: str) -> dict:
    proc = run_score(*args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_results(results: list[dict]) -> None:
    assert [r["id"] for r in results] == ["a", "line-2", "b", "c", "d", "line-7"]
    assert [r["status"] for r in results] == [
        "correct",
        "invalid_item",
        "wrong",
        "invalid_item",
        "correct",
        "invalid_item",
    ]
    assert "not valid JSON" in results[1]["reason"]
    assert "completion: Field required" in results[3]["reason"]
    assert "expected a JSON object" in results[5]["reason"]
    # Advantages over the whole group g (rewards 1, 0, 1), even with one item per batch.
    mean, std = 2 / 3, (((1 / 3) ** 2 * 2 + (2 / 3) ** 2) / 2) ** 0.5
    assert results[0]["advantage"] == pytest.approx((1 - mean) / (std + 1e-4))
    assert results[2]["advantage"] == pytest.approx((0 - mean) / (std + 1e-4))


def test_score_in_process(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_items(src)
    summary = aha(str(src), "-o", str(out), "--profile", "format", "--batch-size", "1")
    assert summary["items"] == 6 and summary["statuses"] == {"correct": 2, "invalid_item": 3, "wrong": 1}
    check_results(read(out))


def test_score_through_a_server_matches_in_process(tmp_path, aha_server):
    server = aha_server()
    src = tmp_path / "in.jsonl"
    write_items(src)
    aha(str(src), "-o", str(tmp_path / "local.jsonl"), "--profile", "format")
    aha(str(src), "-o", str(tmp_path / "remote.jsonl"), "--profile", "format", "--url", server.url)
    local, remote = read(tmp_path / "local.jsonl"), read(tmp_path / "remote.jsonl")
    strip = [{k: v for k, v in r.items() if k != "cached"} for r in local]
    assert strip == [{k: v for k, v in r.items() if k != "cached"} for r in remote]


def test_resume_keeps_done_lines_and_cuts_a_torn_one(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_items(src)
    aha(str(src), "-o", str(out), "--profile", "format")
    full = out.read_text().splitlines(keepends=True)
    marked = json.loads(full[0])
    marked["reason"] = "kept from the first run"
    out.write_text(json.dumps(marked) + "\n" + full[1] + full[2][:25])  # two done lines and a torn third
    summary = aha(str(src), "-o", str(out), "--profile", "format")
    assert summary["resumed_from"] == 2
    results = read(out)
    assert results[0]["reason"] == "kept from the first run"
    check_results(results)
    summary = aha(str(src), "-o", str(out), "--profile", "format", "--no-resume")
    assert summary["resumed_from"] == 0 and read(out)[0]["reason"] == "well-formed r1-zero layout"


def test_an_output_of_another_run_is_not_resumed(tmp_path):
    # Red team R2-F06: resuming into an output written for another input or profile put a's results in b's file.
    src, other, out = tmp_path / "in.jsonl", tmp_path / "other.jsonl", tmp_path / "out.jsonl"
    write_items(src)
    other.write_text(json.dumps({"id": "z", "task": "format", "completion": GOOD}) + "\n")
    aha(str(src), "-o", str(out), "--profile", "format")
    before = out.read_text()

    def refused(*args: str) -> str:
        proc = run_score(*args)
        assert proc.returncode != 0
        return proc.stderr

    assert "input" in refused(str(other), "-o", str(out), "--profile", "format")
    assert "request" in refused(str(src), "-o", str(out), "--profile", "r1-zero")
    assert out.read_text() == before  # nothing written over
    (tmp_path / "out.jsonl.run.json").unlink()
    assert "does not say which input" in refused(str(src), "-o", str(out), "--profile", "format")
    summary = aha(str(other), "-o", str(out), "--profile", "format", "--no-resume")
    assert summary["items"] == 1 and [r["id"] for r in read(out)] == ["z"]
