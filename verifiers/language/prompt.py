"""The question inside a prompt: the text whose language is the thought's target when the item gives none.

A prompt is often a chat template around the question (a system line, role markers, R1-Zero's "A conversation
between User and Assistant …" preamble) plus an English instruction ("Please reason step by step, and put your
final answer within \\boxed{}."). Those are the trainer's, not the question's: a Chinese question wrapped in them is
Chinese (issue 13 row 10). So the target is read from the last user turn when the prompt has role markers, with
instruction sentences of that kind left out; the rest of the prompt is the fallback when nothing is left.
"""

from __future__ import annotations

import re

# The last user turn of the common chat templates (ChatML/Qwen, Llama 3, DeepSeek, Gemma, Mistral, R1-Zero).
_USER_TURNS = (
    re.compile(r"<\|im_start\|>\s*user\s*\n(.*?)(?:<\|im_end\|>|<\|im_start\|>|\Z)", re.S),
    re.compile(
        r"<\|start_header_id\|>\s*user\s*<\|end_header_id\|>(.*?)(?:<\|eot_id\|>|<\|start_header_id\|>|\Z)", re.S
    ),
    re.compile(r"<｜User｜>(.*?)(?:<｜Assistant｜>|<｜end▁of▁sentence｜>|\Z)", re.S),
    re.compile(r"<start_of_turn>\s*user\s*\n(.*?)(?:<end_of_turn>|<start_of_turn>|\Z)", re.S),
    re.compile(r"\[INST\](.*?)(?:\[/INST\]|\Z)", re.S),
    re.compile(r"(?<!\w)(?:User|USER|Human|Question)\s*:\s*(.*?)(?:\s(?:Assistant|ASSISTANT|Answer)\s*:|\Z)", re.S),
)
# Sentences that instruct the model rather than pose the problem, in any language: they are left out.
_INSTRUCTION = re.compile(
    r"step[ -]by[ -]step|final answer|\\boxed|reasoning process|<think>|</think>|<answer>|show your work|"
    r"think carefully|put your answer|within \\\\?boxed|output format|respond in|answer in",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def question_text(prompt: str) -> str:
    """The question of `prompt`: its last user turn when it has role markers, without instruction sentences."""
    turn = prompt
    for pattern in _USER_TURNS:
        found = pattern.findall(prompt)
        if found and found[-1].strip():
            turn = found[-1]
            break
    kept = [s for s in _SENTENCE_END.split(turn) if s.strip() and not _INSTRUCTION.search(s)]
    return "\n".join(kept) if kept else turn
