"""The TRL adapter refuses a set-up that could only give TRL None (zero advantages), and sees a pre-filled <think>."""

from __future__ import annotations

import pytest

from service.integrations.trl import AhaReward, RewardSetupError

GOOD_AFTER_PREFILL = "reasoning</think><answer>4</answer>"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"component": "format"}, "component 'format' is not part of profile 'accuracy'"),
        ({"component": "acuracy"}, "unknown component 'acuracy'; known: accuracy, cosine"),
        ({"profile": "r1_zero"}, "unknown profile 'r1_zero'"),
        ({"reference_column": None}, "task 'math' needs ground truth"),
        ({"task": "format", "profile": "r1-zero", "component": "accuracy"}, "not part of profile"),
        ({"profile": "dapo", "options": {"overlong": {"max_len": 10}}}, "unknown option(s) 'max_len' for overlong"),
    ],
)
def test_wrong_setup_fails_at_construction(kwargs, message):
    with pytest.raises(RewardSetupError) as info:
        AhaReward("http://127.0.0.1:1", **kwargs)
    assert message in str(info.value)


def test_wrong_setup_fails_at_first_call(url):
    with pytest.raises(RewardSetupError, match="no column 'solution'; its columns: answer"):
        AhaReward(url)(prompts=["p"], completions=["4"], answer=["4"], trainer_state=None)
    with pytest.raises(RewardSetupError, match="unknown task 'maths'"):
        AhaReward(url, task="maths")(prompts=["p"], completions=["4"], solution=["4"])
    with pytest.raises(RewardSetupError, match="needs a reference"):
        AhaReward(url)(prompts=["p"], completions=["4"], solution=[None])


class _PrefillTemplate:
    """The part of a tokenizer the adapter uses, rendering as DeepSeek-R1 distills do (tested with a real tokenizer
    in tests/trainers)."""

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<|User|>{m['content']}" for m in messages) + "<|Assistant|><think>\n"


def test_prefilled_think_is_seen_through_the_tokenizer_or_the_flag(url):
    prompt = [{"role": "user", "content": "2+2?"}]
    plain = AhaReward(url, profile="r1-zero", component="format")
    assert plain(prompts=[prompt], completions=[GOOD_AFTER_PREFILL], solution=["4"]) == [0.0]
    rendered = AhaReward(url, profile="r1-zero", tokenizer=_PrefillTemplate())
    assert rendered(prompts=[prompt], completions=[GOOD_AFTER_PREFILL], solution=["4"]) == [2.0]
    flagged = AhaReward(url, profile="r1-zero", think_prefilled=True)
    assert flagged(prompts=[prompt], completions=[GOOD_AFTER_PREFILL], solution=["4"]) == [2.0]
