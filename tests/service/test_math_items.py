"""Math items through the HTTP service: verdicts, the answer-keyed cache, and undecided verdicts."""

from __future__ import annotations


def test_math_group_is_judged_once_per_distinct_answer(aha_server):
    server = aha_server({"AHA_WORKERS": "1"})
    reasoning = ["Half of it.", "Divide 1 by 2.", "It is one over two.", "Simple: 0.5 as a fraction."]
    items = [
        {
            "id": f"s{i}",
            "task": "math",
            "group": "q1",
            "reference": "\\frac{1}{2}",
            "completion": f"<think>{text}</think><answer>\\boxed{{1/2}}</answer>",
        }
        for i, text in enumerate(reasoning)
    ]
    items.append(
        {
            "id": "wrong",
            "task": "math",
            "group": "q1",
            "reference": "\\frac{1}{2}",
            "completion": "<think>hmm</think><answer>\\boxed{\\frac{1}{4}}</answer>",
        }
    )
    items.append(
        {
            "id": "none",
            "task": "math",
            "group": "q1",
            "reference": "\\frac{1}{2}",
            "completion": "<think>I give up</think>",
        }
    )
    with server.client() as c:
        out = c.post("/v1/score", json={"profile": "r1-zero", "items": items}).json()
        again = c.post("/v1/score", json={"profile": "r1-zero", "items": items[:1]}).json()
    results = {r["id"]: r for r in out["results"]}
    assert [results[f"s{i}"]["reward"] for i in range(4)] == [2.0] * 4
    assert results["s0"]["details"]["accuracy"]["extracted"] == "1/2"
    assert results["wrong"]["components"] == {"accuracy": 0.0, "format": 1.0}
    assert results["none"]["status"] == "no_answer" and results["none"]["reward"] == 0.0
    # 4 completions share one extracted answer: 3 math jobs (1/2, 1/4, nothing) + 6 format jobs
    assert out["stats"]["unique_jobs"] == 3 + 6
    assert again["results"][0]["cached"] is True
    assert results["s0"]["advantage"] > 0 > results["wrong"]["advantage"]


def test_unparseable_reference_gives_no_reward(aha_server):
    server = aha_server({"AHA_WORKERS": "1"})
    with server.client() as c:
        out = c.post(
            "/v1/score",
            json={"items": [{"task": "math", "completion": "\\boxed{3}", "reference": "\\frac{"}]},
        ).json()
    result = out["results"][0]
    assert result["status"] == "unparseable_reference" and result["reward"] is None
