"""The engine in-process (the same object the HTTP app and the CLI use): combining, advantages, de-duplication."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import pytest

from service.engine import Engine, Overloaded, build_engine
from service.models import ScoreRequest
from service.settings import Settings

GOOD = "<think>r</think><answer>4</answer>"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    eng = build_engine(
        Settings(
            workers=1,
            custom_tasks={
                "echo": "tests.service.chaos.echo",
                "ghost": "tests.service.chaos.not_there",
                "faulty": "tests.service.chaos.faulty",
            },
            max_queue=10,
        )
    )
    yield eng
    asyncio.run(eng.close())


def score(engine: Engine, **body):
    return asyncio.run(engine.score(ScoreRequest(**body)))


def echo(answer: str, group: str | None = "g", **extra) -> dict:
    return {"task": "echo", "completion": answer, "reference": "1", "group": group, **extra}


def test_grpo_advantage_is_group_normalised_with_sample_std(engine):
    out = score(engine, items=[echo("1"), echo("0"), echo("0"), echo("1", group="h"), echo("0", group="h")])
    rewards = [r.reward for r in out.results]
    assert rewards == [1.0, 0.0, 0.0, 1.0, 0.0]
    mean, std = 1 / 3, math.sqrt(((2 / 3) ** 2 + 2 * (1 / 3) ** 2) / 2)
    assert out.results[0].advantage == pytest.approx((1 - mean) / (std + 1e-4))
    assert out.results[1].advantage == pytest.approx((0 - mean) / (std + 1e-4))
    assert out.results[3].advantage == pytest.approx(0.5 / (math.sqrt(0.5) + 1e-4))


def test_center_mode_and_none_mode(engine):
    centred = score(engine, items=[echo("1"), echo("0"), echo("0")], advantage="center")
    assert [r.advantage for r in centred.results] == pytest.approx([2 / 3, -1 / 3, -1 / 3])
    none = score(engine, items=[echo("1"), echo("0")], advantage="none")
    assert [r.advantage for r in none.results] == [None, None]


def test_items_without_reward_are_left_out_of_their_group(engine):
    out = score(engine, items=[echo("1"), echo("0"), {"task": "echo", "completion": "1", "group": "g"}])
    assert out.results[2].status == "invalid_item" and out.results[2].advantage is None
    assert out.results[0].advantage == pytest.approx(0.5 / (math.sqrt(0.5) + 1e-4))


def test_weights_combine_components(engine):
    out = score(engine, profile="r1-zero", weights={"format": 0.25}, items=[echo(GOOD), echo("1")])
    # accuracy (echo) is wrong for GOOD, right for "1"; format the other way round
    assert out.results[0].components == {"accuracy": 0.0, "format": 1.0}
    assert out.results[0].reward == 0.25
    assert out.results[1].reward == 1.0
    assert out.results[1].status == "correct"  # the accuracy verdict speaks for the item


def test_signed_accuracy_maps_to_plus_minus_one(engine):
    out = score(
        engine,
        profile="accuracy",
        options={"accuracy": {"signed": True}},
        items=[echo("1"), echo("2")],
        advantage="none",
    )
    assert [r.reward for r in out.results] == [1.0, -1.0]


def test_duplicates_are_judged_once(engine):
    out = score(engine, items=[echo("7", id=str(i)) for i in range(50)] + [echo("8")], use_cache=False)
    assert out.stats.unique_jobs == 2 and out.stats.verified == 2
    assert [r.id for r in out.results[:3]] == ["0", "1", "2"]


def test_conversational_completions_and_prompts(engine):
    out = score(
        engine,
        profile="format",
        items=[
            {
                "task": "format",
                "prompt": [{"role": "user", "content": "Solve it. <think>"}],
                "completion": [{"role": "assistant", "content": "thinking</think><answer>4</answer>"}],
            }
        ],
    )
    assert out.results[0].reward == 1.0



def test_content_parts_are_read_as_their_text(engine):
    # Red team R2-F14: OpenAI-style content parts made the whole batch a 422.
    parts = [{"type": "text", "text": "thinking</think>"}, {"type": "image_url", "image_url": {"url": "x"}}]
    parts.append({"type": "text", "text": "<answer>4</answer>"})
    prompt = [{"role": "user", "content": [{"type": "text", "text": "Solve it. <think>"}]}]
    items = [
        {"task": "format", "prompt": prompt, "completion": [{"role": "assistant", "content": parts}]},
        {"task": "format", "prompt": "Solve it. <think>", "completion": "thinking</think><answer>4</answer>"},
    ]
    out = score(engine, profile="format", items=items)
    assert [r.reward for r in out.results] == [1.0, 1.0]

def test_overload_is_refused_while_work_is_in_flight(engine):
    async def scenario() -> None:
        engine._in_flight_items = 10  # as if other requests held all 10 queue slots
        try:
            with pytest.raises(Overloaded) as info:
                await engine.score(ScoreRequest(items=[echo("1"), echo("1")]))
            assert info.value.retry_after >= 1
        finally:
            engine._in_flight_items = 0
        ok = await engine.score(ScoreRequest(items=[echo("1"), echo("1")]))
        assert ok.results[0].reward == 1.0

    asyncio.run(scenario())


def test_a_batch_larger_than_the_room_left_is_admitted_while_the_queue_is_below_its_mark(engine):
    async def scenario() -> None:
        engine._in_flight_items = 9  # one slot of ten left: a three-item batch still gets in, so it is not starved
        try:
            out = await engine.score(ScoreRequest(items=[echo("1"), echo("1"), echo("0")]))
        finally:
            engine._in_flight_items = 0
        assert [r.reward for r in out.results] == [1.0, 1.0, 0.0]

    asyncio.run(scenario())


def test_unavailable_component_gives_no_reward_rather_than_a_fake_one(engine):
    out = score(engine, profile="r1-zero", items=[{"task": "ghost", "completion": GOOD, "reference": "4"}])
    r = out.results[0]
    assert r.reward is None and r.status == "unavailable"
    assert r.components == {"accuracy": None, "format": 1.0}
    assert "cannot import tests.service.chaos.not_there" in r.reason
    assert engine.registry.report()["tasks"]["ghost"]["usable"] is False


def test_verifier_bugs_stay_on_their_items(engine):
    items = [{"task": "faulty", "completion": c, "reference": "x"} for c in ("bad-key", "raise", "wrong-type", "ok")]
    out = score(engine, items=items)
    statuses = [r.status for r in out.results]
    assert statuses == ["verifier_error", "verifier_error", "verifier_error", "correct"]
    assert "cache_key raised KeyError" in out.results[0].reason
    assert "ZeroDivisionError: boom" in out.results[1].reason
    assert "returned float" in out.results[2].reason
    assert [r.reward for r in out.results] == [None, None, None, 1.0]


def math_item(answer: str, **extra) -> dict:
    return {
        "task": "math",
        "reference": "42",
        "completion": f"<think>so</think><answer>\\boxed{{{answer}}}</answer>",
        **extra,
    }


def test_dapo_profile_is_signed_accuracy_plus_overlong_penalty(engine):
    out = score(
        engine,
        profile="dapo",
        advantage="none",
        items=[
            math_item("42", length=1000),
            math_item("41", length=1000),
            math_item("42", length=16384 + 2048),  # halfway into the 4096-token buffer
            math_item("42", length=30000),
        ],
    )
    assert [r.reward for r in out.results] == pytest.approx([1.0, -1.0, 0.5, 0.0])
    assert out.results[2].components == pytest.approx({"accuracy": 1.0, "overlong": -0.5})
    assert out.results[2].details["overlong"]["length_unit"] == "tokens"


def test_shaping_components_on_request(engine):
    out = score(
        engine,
        profile="accuracy",
        weights={"cosine": 1.0, "tag_count": 1.0, "repetition": 1.0},
        options={"cosine": {"max_length": 100}},
        advantage="none",
        items=[math_item("42"), math_item("7")],
    )
    right, wrong = out.results
    assert right.components["cosine"] > 0.5 and -0.5 < wrong.components["cosine"] < 0.0
    assert right.components["tag_count"] == 0.0  # open-r1's tag_count wants newlines around the tags
    assert right.components["repetition"] == 0.0
    assert right.reward == pytest.approx(1.0 + right.components["cosine"])


def test_missing_shaping_option_is_an_item_error(engine):
    out = score(engine, profile="accuracy", weights={"overlong": 1.0}, items=[math_item("42")])
    assert out.results[0].status == "invalid_item"
    assert "overlong: missing option 'max_length'" in out.results[0].reason


def test_r1_profile_scores_language_consistency(engine):
    english = "<think>First I add the two numbers, then I check the sum again carefully.</think> The answer is 42."
    chinese = "<think>首先我把两个数字相加，然后再仔细检查一下结果是否正确。</think> The answer is \\boxed{42}."
    out = score(
        engine,
        profile="r1",
        advantage="none",
        items=[
            {"task": "math", "reference": "42", "completion": english.replace("42.", "\\boxed{42}."), "language": "en"},
            {"task": "math", "reference": "42", "completion": chinese, "language": "en"},
        ],
    )
    en, zh = out.results
    assert en.components == pytest.approx({"accuracy": 1.0, "format": 1.0, "language": 1.0}) and en.reward == 3.0
    # the r1 profile scores the whole response: only the summary's "The answer is" is English
    assert 0.05 < zh.components["language"] < 0.3
    assert zh.details["language"]["target"] == "en"


def test_cosine_alone_still_judges_accuracy(engine):
    out = score(
        engine,
        profile="accuracy",
        weights={"accuracy": 0.0, "cosine": 1.0},
        options={"cosine": {"max_length": 100}},
        advantage="none",
        items=[math_item("42"), math_item("7")],
    )
    right, wrong = out.results
    assert right.reward == right.components["cosine"] and right.reward > 0.5
    assert wrong.reward == wrong.components["cosine"] and wrong.reward < 0
    assert right.components["accuracy"] == 1.0  # reported, but weighs nothing
