"""TRL's GRPOTrainer, a few steps on a tiny randomly initialised model, with Aha reward functions on a live server.

The model is first taught (a few hundred plain torch steps) to answer the one prompt with one well-formed answer,
so the rewards of the GRPO steps are known: the chat template pre-fills ``<think>`` as DeepSeek-R1 distills' does,
and the completion starts inside the thought.
"""

from __future__ import annotations

import pytest

from tests.trainers.tokenizer import build_tokenizer

trl = pytest.importorskip("trl", reason="TRL is not installed here (it lives in the trainer env, .venv/trainers)")
torch = pytest.importorskip("torch")

from service.integrations.trl import AhaReward, AsyncAhaReward  # noqa: E402

TARGET = "r</think><answer>4</answer>"  # after the template's "<think>\n": a perfect r1-zero answer
QUESTION = [{"role": "user", "content": "What is 2+2?"}]


class Recording(AhaReward):
    """An AhaReward that keeps what TRL gave it and what it answered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[list[str], list[float | None]]] = []

    def __call__(self, prompts, completions, **columns):
        rewards = super().__call__(prompts, completions, **columns)
        self.calls.append(([c[-1]["content"] for c in completions], rewards))
        return rewards


class AsyncRecording(AsyncAhaReward):
    """The async flavour, which TRL awaits on its own event loop."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[list[float | None]] = []

    async def __call__(self, prompts, completions, **columns):
        rewards = await super().__call__(prompts, completions, **columns)
        self.calls.append(rewards)
        return rewards


def tiny_model(tok):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=128, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, bos_token_id=None, tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def teach(model, tok, steps: int = 300) -> None:
    """Plain next-token training on the prompt's one answer (loss on the answer only)."""
    prompt = tok.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    a = tok(TARGET, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = torch.tensor([p + a])
    labels = torch.tensor([[-100] * len(p) + a])
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, labels=labels).loss
        optim.zero_grad()
        loss.backward()
        optim.step()
        if loss.item() < 0.01:
            break


def test_grpo_trainer_steps_with_aha_rewards(aha_url, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    tok = build_tokenizer()
    model = tiny_model(tok)
    teach(model, tok)
    seen = Recording(aha_url, profile="r1-zero", reference_column="solution", tokenizer=tok, name="aha_r1_zero")
    blind = Recording(aha_url, profile="r1-zero", component="format", name="aha_format_blind")  # no tokenizer
    accuracy = AsyncRecording(aha_url, profile="r1-zero", component="accuracy", tokenizer=tok, name="aha_acc_async")
    args = GRPOConfig(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=24, learning_rate=1e-6, beta=0.0, temperature=0.2, logging_steps=1,
        report_to="none", save_strategy="no", use_cpu=True, bf16=False, seed=0,
    )
    data = Dataset.from_dict({"prompt": [QUESTION] * 8, "solution": ["4"] * 8})
    rewards = [seen, blind, accuracy]
    trainer = GRPOTrainer(model=model, reward_funcs=rewards, args=args, train_dataset=data, processing_class=tok)
    trainer.train()

    assert len(seen.calls) == len(blind.calls) == len(accuracy.calls) == 2  # one call per step
    pairs = [(c, r) for completions, rewards in seen.calls for c, r in zip(completions, rewards, strict=True)]
    blind_rewards = [r for _, rewards in blind.calls for r in rewards]
    accuracies = [r for rewards in accuracy.calls for r in rewards]
    perfect = [i for i, (c, _) in enumerate(pairs) if c == TARGET]
    assert perfect, f"the taught model never produced its answer: {pairs}"
    for i in perfect:
        assert pairs[i][1] == 2.0  # accuracy + format, the opened thought seen through the template
        assert blind_rewards[i] == 0.0  # the same completion without the template: no opening <think>
        assert accuracies[i] == 1.0
    logged = [h["rewards/aha_r1_zero/mean"] for h in trainer.state.log_history if "rewards/aha_r1_zero/mean" in h]
    assert logged and all(v > 0 for v in logged)
