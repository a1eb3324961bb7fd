"""A fixed, seeded corpus of attempts for the language verifier, and the verdicts it gave when they were recorded.

The speed work on `verifiers.language` (issue 13) must not change any verdict. This module builds the same attempts
on every run (the test corpora of this folder, the bench's chains of thought, and a few thousand random mixtures of
sentences in many languages with math, code, links, tags, invisible separators, folded letters, names, pinyin and
the like, from a fixed seed), and `test_verdicts.py` compares what the verifier says now with
`verdicts.jsonl.gz` (gzipped JSON lines, one per case).

Record again only when a verdict is meant to change: `.venv/bin/python -m tests.verifiers.language.verdict_corpus`.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import random
import sys
from pathlib import Path
from typing import Any

from verifiers.verdict import Attempt

from .samples import SENTENCES

HERE = Path(__file__).resolve().parent
RECORDED = HERE / "verdicts.jsonl.gz"
SEED = 1313
MIXTURES = 3000
LONG_MIXTURES = 60

# Math, code, links and the like, some with prose inside, some hostile (unclosed), some in another script.
_DECORATIONS = [
    "$x^2 + 1$",
    "$\\frac{1}{2}$",
    "$S_n = \\sum_{k=1}^{n} \\frac{1}{k(k+1)}$",
    "$\\text{we add two and three}$",
    "$\\text{if } x > 0$",
    "$中文$",
    "$\\alpha + \\beta = \\gamma$",
    "$x = 1",
    "$$x = 1$$",
    "$$ We add two and three to get five $$",
    "\\[ a^2 + b^2 = c^2 \\]",
    "\\( \\sin x \\)",
    "\\begin{equation} y = mx + b \\end{equation}",
    "\\begin{align} a &= b \\\\ c &= d \\end{align}",
    "\\begin{itemize} \\item first point here \\end{itemize}",
    "$$ x",
    "```python\nprint(sum(1 / (k * (k + 1)) for k in range(1, 4)))\n```",
    "```\n# compute the mean of all the values here\nx = 1\n```",
    "```python\n# 计算平均值\nx = sum(v) / len(v)\n```",
    '```python\nprint("the answer is the smaller value")\n```',
    "`np.sum`",
    "`for k in range(n)`",
    "```python\nx = 1",
    "https://example.com/a/b?q=1",
    "www.example.org/path",
    "https://example.org/first-we-add-the-two-numbers-then-divide-by-five-and-check",
    "mail@example.com",
    "学生@example.com",
    "http://中文.org",
    "<br/>",
    "<p class='x'>",
    "<p 中文>",
    "<|im_end|>",
    "\\textbf{important}",
    "\\boxed{3}",
    "$\\operatorname{Var}(X)$",
    "$60\\,\\text{km/h}$",
    "😀",
    "\u200b",
    "\u2800",
    "\u2060",
    "𝐅𝐢𝐫𝐬𝐭 𝐰𝐞 𝐚𝐝𝐝",
    "ＡＢＣ ｗｏｒｄｓ",
    "ﬁnd the ﬁrst",
    "℃",
    "№ 5",
    "㈠",
    "e\u0301te\u0301",
    "\ud800",
    "Python",
    "GPU",
    "ABC",
    "x",
    "So x",
    "sin x",
    "a b c",
    "F i r s t   w e   a d d   t h e   t w o",
    "women xian qiu daoshu ranhou ling daoshu dengyu ling",
    "urineun meonjeo munjereul jaseh-i ilgeoyo",
    "Then $x=2$.\nThus $y=3$.\nHence $x+y=5$.",
    "So x = 3.\nThen y = 6.",
    "Hmm. Wait.",
    "OK",
    "の",
    "ΑΣ λόγος",
    "1/2 + 1/6 = 2/3",
    "&nbsp;",
    "\\quad",
    "...",
    "！？",
    "\t",
]
_SEPARATORS = [" ", " ", "\n", "\n", "", "。", ". ", "! ", "; ", "\r\n", "\n\n", "，", "…"]
_THINK_LAYOUTS = ("plain", "plain", "plain", "prefilled", "none", "two", "unclosed")


def _load_bench() -> Any:
    """`bench/language_bench.py` as a module (bench/ is not a package)."""
    path = HERE.parents[2] / "bench" / "language_bench.py"
    spec = importlib.util.spec_from_file_location("_language_bench_for_tests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def _blind_rows() -> list[dict[str, Any]]:
    path = HERE / "blind_corpus.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _sentence_pool() -> dict[str, list[str]]:
    """Sentences by language: the samples and the blind corpus's lines."""
    pool: dict[str, list[str]] = {lang: list(group) for lang, group in SENTENCES.items()}
    for row in _blind_rows():
        for line in row["thought"].split("\n"):
            if line.strip():
                pool.setdefault(row["target"], []).append(line)
    return pool


def _wrap(rng: random.Random, thought: str) -> tuple[str, dict[str, Any]]:
    layout = rng.choice(_THINK_LAYOUTS)
    options: dict[str, Any] = {}
    if rng.random() < 0.3:
        options["scope"] = "response"
    summary = rng.choice(["The answer is 1.", "答案是 1。", "", "<answer>\\boxed{3}</answer>", "La respuesta es 2."])
    if layout == "plain":
        return f"<think>\n{thought}\n</think>\n{summary}", options
    if layout == "prefilled":
        options["think_prefilled"] = True
        return f"{thought}\n</think>\n{summary}", options
    if layout == "none":
        return thought, options
    if layout == "two":
        cut = len(thought) // 2
        return f"<think>{thought[:cut]}</think> {summary} <think>{thought[cut:]}</think>{summary}", options
    return f"<think>\n{thought}", options


def _mixture(rng: random.Random, pool: dict[str, list[str]], langs: list[str], chunks: int) -> tuple[str, list[str]]:
    """A thought of `chunks` pieces: sentences of one to three languages, word-level mixes, decorations."""
    used = rng.sample(langs, rng.choice((1, 1, 2, 2, 3)))
    main = used[0]
    out: list[str] = []
    for _ in range(chunks):
        roll = rng.random()
        if roll < 0.55:
            lang = main if rng.random() < 0.6 else rng.choice(used)
            out.append(rng.choice(pool[lang]))
        elif roll < 0.7:
            # Words of two languages inside one sentence.
            a = rng.choice(pool[rng.choice(used)]).split()
            b = rng.choice(pool[rng.choice(used)]).split()
            cut_a, cut_b = rng.randint(0, len(a)), rng.randint(0, len(b))
            out.append(" ".join(a[:cut_a] + b[cut_b:]))
        elif roll < 0.8:
            # A sentence cut short or a few of its characters (terse thoughts, short pieces).
            s = rng.choice(pool[rng.choice(used)])
            out.append(s[: rng.randint(1, max(1, len(s)))])
        else:
            out.append(rng.choice(_DECORATIONS))
        out.append(rng.choice(_SEPARATORS))
    return "".join(out), used


def attempts() -> list[tuple[str, Attempt]]:
    """(name, attempt) of every case, in a fixed order."""
    cases: list[tuple[str, Attempt]] = []
    for row in _blind_rows():
        thought = row["thought"]
        target = row["target"]
        response = Attempt(completion=f"<think>{thought}</think>", language=target, options={"scope": "response"})
        cases.append((f"blind/{row['id']}/response", response))
        thought_only = Attempt(completion=f"<think>\n{thought}\n</think>\nOK.", language=target)
        cases.append((f"blind/{row['id']}/thought", thought_only))
        cases.append((f"blind/{row['id']}/prompt", Attempt(completion=thought, prompt=thought)))
    for lang, group in SENTENCES.items():
        sep = "" if lang in ("zh", "ja") else " "
        text = sep.join(group)
        for target in ("en", "zh", lang):
            cases.append((f"samples/{lang}/{target}", Attempt(completion=f"<think>{text}</think>", language=target)))
        for i, sentence in enumerate(group):
            cases.append((f"samples/{lang}/{i}", Attempt(completion=f"<think>{sentence}</think>", language=lang)))
    bench = _load_bench()
    for chars in (2_000, 20_000):
        for kind, lang, make in (
            ("english", "en", lambda seed, c=chars: bench._cot(bench._EN, c, seed)),
            ("chinese", "zh", lambda seed, c=chars: bench._cot(bench._ZH, c, seed)),
            ("mixed", "zh", lambda seed, c=chars: bench._mixed(c, seed)),
        ):
            for seed in range(4):
                for target in (lang, "en" if lang == "zh" else "zh"):
                    cot = make(seed)
                    cases.append((f"bench/{kind}/{chars}/{seed}/{target}",
                                  Attempt(completion=f"<think>\n{cot}\n</think>\nThe answer is 1.", language=target)))
    rng = random.Random(SEED)
    pool = _sentence_pool()
    langs = sorted(pool)
    targets = [*langs, "en", "en", "zh", None, None]
    for n in range(MIXTURES + LONG_MIXTURES):
        chunks = rng.randint(1, 40) if n < MIXTURES else rng.randint(150, 600)
        thought, used = _mixture(rng, pool, langs, chunks)
        completion, options = _wrap(rng, thought)
        target = rng.choice([*used, *used, rng.choice(targets)])
        prompt = None
        if target is None and rng.random() < 0.7:
            prompt = rng.choice(pool[rng.choice(used)])
        cases.append((f"mix/{n}", Attempt(completion=completion, prompt=prompt, language=target, options=options)))
    return cases


def digest(attempt: Attempt) -> str:
    """A short hash of what the attempt says, so a changed generator is told apart from a changed verdict."""
    raw = json.dumps([attempt.completion, attempt.prompt, attempt.language, attempt.options], ensure_ascii=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def verdict_record(name: str, attempt: Attempt, verdict: Any) -> dict[str, Any]:
    """What is compared: the score, the status, the details (the reason too: it quotes the shares)."""
    return {
        "name": name,
        "input": digest(attempt),
        "score": verdict.score,
        "status": str(verdict.status),
        "reason": verdict.reason,
        "details": verdict.details,
    }


def record(path: Path = RECORDED) -> int:
    """Write the current verdicts of every case to `path`; returns the number of cases."""
    from verifiers.language import verify

    lines = [
        json.dumps(verdict_record(name, a, verify(a)), ensure_ascii=False, sort_keys=True) for name, a in attempts()
    ]
    # mtime=0: the same verdicts give the same bytes, so a re-recording without a change leaves git clean.
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0))
    return len(lines)


def recorded(path: Path = RECORDED) -> list[dict[str, Any]]:
    """The recorded verdicts, in case order."""
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines() if line]


if __name__ == "__main__":
    print(f"recorded {record()} verdicts in {RECORDED}")
