"""A character-level Hugging Face tokenizer built in the test (no hub download), with tag tokens and a chat template."""

from __future__ import annotations

import string
from pathlib import Path

TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
DEEPSEEK_EOS = "<｜end▁of▁sentence｜>"
# DeepSeek-R1 distills' template: the generation prompt opens the thought.
PREFILL_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<｜User｜>{{ m['content'] }}"
    "{% else %}<｜Assistant｜>{{ m['content'] }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}"
)


def build_tokenizer(eos: str = DEEPSEEK_EOS, chat_template: str = PREFILL_TEMPLATE):
    """A PreTrainedTokenizerFast: one token per printable character, whole tokens for tags and specials."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", eos, "<｜User｜>", "<｜Assistant｜>"]
    vocab = {t: i for i, t in enumerate(specials + TAGS + sorted(set(string.printable)))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="?"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token=eos, chat_template=chat_template)
    tok.add_special_tokens({"additional_special_tokens": specials[2:]})
    tok.add_tokens(TAGS)
    return tok


def save_tokenizer(directory: Path, **kwargs) -> Path:
    """Save a built tokenizer where verl's ``hf_tokenizer(path)`` loads it."""
    build_tokenizer(**kwargs).save_pretrained(directory)
    return directory
