"""Every example under examples/ runs, against a live Aha server, and prints the rewards it should."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.trainers.tokenizer import save_tokenizer

pytest.importorskip("verl", reason="the examples need the trainers (the trainer env, .venv/trainers)")
pytest.importorskip("trl", reason="the examples need the trainers (the trainer env, .venv/trainers)")
pytest.importorskip("openrlhf", reason="the examples need the trainers (the trainer env, .venv/trainers)")

ROOT = Path(__file__).resolve().parents[2]


def example(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_sandbox_fusion_example(aha_url):
    assert example("sandbox_fusion_client.py", "--url", aha_url).strip().endswith("'3\\n'")


def test_openrlhf_example(aha_url):
    # one reward server: OpenRLHF sends both queries in one request
    assert example("openrlhf_reward.py", "--url", aha_url).startswith("[2.0, 1.0] ")


def test_verl_example(aha_url, tmp_path):
    out = example("verl_reward_step.py", "--tokenizer", str(save_tokenizer(tmp_path / "tok")), "--url", aha_url)
    scores = [float(line.split()[0]) for line in out.splitlines()[:3]]
    assert scores == [2.0, 1.0, 1.0] and out.splitlines()[-1] == "requests sent: 1"


def test_trl_example_on_a_tiny_local_model(aha_url, tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.trainers.tokenizer import build_tokenizer

    tok = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    out = example(
        "trl_grpo.py", "--model", str(tmp_path / "model"), "--url", aha_url, "--max-steps", "1",
        "--max-completion-length", "32", "--output-dir", str(tmp_path / "out"),
    )
    assert "rewards/aha_math_r1_zero/mean" in out  # a random model earns nothing, but the step ran and logged
