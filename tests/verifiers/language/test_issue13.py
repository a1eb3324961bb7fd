"""Issue 13, rows 1-6 and 8-11: the red team's hacks of the language reward and the false negatives it found.

Every case goes through the real verifier with the real lid.176 model; no mocks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import verifiers.language as lang
from verifiers.language.model import get_model
from verifiers.verdict import Attempt, Status

from .samples import SENTENCES

HERE = Path(__file__).resolve().parent
EN = "First we differentiate the function, set the derivative to zero and solve for the critical points."
EN2 = "Then we check the sign of the second derivative to decide which point is the minimum."
ZH = "我们先求导数，然后令导数等于零，解出临界点，再检查二阶导数的符号来确定极值。"
RU_WORDS = "Сначала я внимательно прочитаю условие задачи и запишу всё что нам известно потом решим уравнение".split()


def score(thought: str, target: str | None = "en", prompt: str | None = None) -> lang.Verdict:  # type: ignore[name-defined]
    return lang.verify(Attempt(completion=f"<think>\n{thought}\n</think>\nDone.", language=target, prompt=prompt))


# --- the numpy inference is lid.176 -----------------------------------------------------------------------------


def _corpus_thoughts() -> list[str]:
    path = HERE / "blind_corpus.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["thought"] for line in path.read_text().splitlines() if line.strip()]


def test_numpy_inference_gives_fasttexts_labels_and_probabilities() -> None:
    model = get_model()
    assert model.lid is not None
    lines = [s.lower() for group in SENTENCES.values() for s in group]
    lines += [t.lower().replace("\n", " ") for t in _corpus_thoughts()]
    lines += ["then thus hence", "so", "", "x", "ünïcödé wörds", "我们 先 求导", "\ud800 broken"]
    lines = [line.encode("utf-8", "replace").decode("utf-8") for line in lines]
    logp = model.lid.logprobs([line.split() for line in lines])
    labels = model.lid.labels
    for line, row in zip(lines, logp, strict=True):
        for p, label in model._ft.predict(line + "\n", 3, 0.0, "replace"):
            mine = float(2.718281828459045 ** row[labels.index(label.removeprefix("__label__"))])
            assert abs(mine - p) < 1e-4, (line, label, p, mine)
        assert labels[int(row.argmax())] == model._ft.predict(line + "\n", 1, 0.0, "replace")[0][1][9:], line
    # The greedy top-1 path (what settles most pieces) gives fastText's own top label too.
    assert model.top1(lines) == model._fasttext_top1(lines)


# --- row 1: English hidden in math, code, tags and links, target zh ---------------------------------------------

HIDDEN_EN = {
    "inline math": f"${EN}$",
    "backticks": f"`{EN}`",
    "fence": f"```\n{EN}\n{EN2}\n```",
    "fence never closed": f"```\n{EN}\n{EN2}",
    "display $$": f"$$ {EN} $$",
    "equation": f"\\begin{{equation}} {EN} \\end{{equation}}",
    "tag attributes": f"<p {EN}>",
    "url slug": "https://example.org/" + "-".join(EN.replace(",", "").rstrip(".").split()),
    "operatorname": f"$\\operatorname{{{EN}}}$",
    "textsc": f"$\\textsc{{{EN}}}$",
    "nested text": f"$\\text{{{EN} {{so}} {EN2}}}$",
    "code comment": f"```python\n# {EN}\nx = 1\n```",
    "code string": f'```python\nprint("{EN}")\n```',
}


@pytest.mark.parametrize("name", HIDDEN_EN)
def test_english_hidden_in_math_and_code_counts_against_chinese(name: str) -> None:
    v = score(f"{ZH[:6]}。\n{HIDDEN_EN[name]}", "zh")
    assert v.score < 0.3, (name, v.details)
    assert v.details["shares"].get("en", 0) > 0.7


@pytest.mark.parametrize("name", HIDDEN_EN)
def test_the_same_english_scores_as_english(name: str) -> None:
    v = score(HIDDEN_EN[name], "en")
    assert v.score == 1.0, (name, v.details)


def test_an_unclosed_fence_or_dollar_does_not_hide_the_rest() -> None:
    assert score(f"{ZH}\n```python\nx = 1\n{EN}\n{EN2}", "zh").score < 0.5
    assert score(f"{ZH} $x = 1\n{EN}\n{EN2}", "zh").score < 0.5


@pytest.mark.parametrize(
    "formula",
    [
        r"$x^2 + \sin x = \frac{dx}{dt}$",
        r"$\mathrm{d}x$",
        r"$\operatorname{Var}(X)$",
        r"$60\,\text{km/h}$",
        "```python\nfor k in range(10):\n    total = sum(values)\n```",
        "`numpy.linalg.solve`",
    ],
)
def test_formulas_and_code_are_still_not_prose(formula: str) -> None:
    v = score(f"{ZH}\n{formula}", "zh")
    assert v.score == 1.0, v.details


# --- row 2: Han + one kana is not Japanese by itself ------------------------------------------------------------


def test_chinese_with_a_kana_per_sentence_is_not_japanese() -> None:
    text = "我们先求导数の，然后令导数等于零。解出临界点の，再检查二阶导数的符号来确定极值。所以答案是二の。"
    assert score(text, "ja").score < 0.7
    assert score(text, "zh").score > 0.3
    assert score("\n".join(SENTENCES["ja"]), "ja").score == 1.0  # real Japanese is still Japanese


# --- row 3: invisible separators and emoji are spaces ------------------------------------------------------------


@pytest.mark.parametrize("joiner", ["\u2800", "\u200b", "\u2060", "\U0001f600", "\u00a0"])
def test_words_joined_by_invisible_characters_are_counted_one_by_one(joiner: str) -> None:
    v = score(f"{EN} {EN2}\n{joiner.join(RU_WORDS)}", "en")
    english = len((EN + " " + EN2).replace(",", "").split())
    assert v.details["words"] == pytest.approx(english + len(RU_WORDS))
    assert v.score == pytest.approx(english / (english + len(RU_WORDS)), abs=0.05)


# --- row 4: mathematical alphanumerics are their letters --------------------------------------------------------


def test_math_bold_english_is_english() -> None:
    bold = "".join(chr(0x1D41A + ord(c) - 97) if c.islower() else c for c in EN.lower())
    assert score(bold, "zh").score == 0.0
    assert score(bold, "en").score == 1.0
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in EN)
    assert score(fullwidth, "zh").score == 0.0
    assert score(fullwidth, "en").score == 1.0
    assert score(f"{ZH}\n${bold}$", "zh").details["shares"]["en"] > 0.35  # also inside math (16 of 39 words)


# --- row 5: English interleaved with Chinese filler is English --------------------------------------------------


def test_capitalised_words_interleaved_with_filler_are_not_names() -> None:
    v = score("好的 First 的 We 的 Add 的 The 的 Two 的 Numbers 的 Then 的 Divide。", "zh")
    assert v.score < 0.5 and v.details["shares"].get("en", 0) > 0.4
    assert score("为了保险起见，我用 Python 验证一下这个结果。", "zh").score == 1.0  # a real name stays a name


# --- row 6: pinyin and romanised Korean are not English ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Women xian qiu daoshu, ranhou ling daoshu dengyu ling.",
        "Shouxian women xuyao ba suoyou shuzi jia qilai, ranhou chuyi geshu, suoyi pingjunzhi shi liu. " * 4,
        "Urineun meonjeo munjereul jal ilgeoya hamnida geurigo gyesanhamnida.",
    ],
)
def test_romanised_chinese_and_korean_are_not_english(text: str) -> None:
    assert score(text, "en").score == 0.0


def test_portuguese_with_pinyin_shaped_words_stays_portuguese() -> None:
    assert score("Vou criar a função que recebe a lista e devolve a soma.", "pt").score == 1.0


# --- row 8: terse, math-heavy thoughts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Then $x=2$.\nThus $y=3$.\nHence $x+y=5$.", "en"),
        ("So x = 3.\nThen y = 6.", "en"),
        ("Hmm. Wait. Let me think.", "en"),
        ("Let $a_1=3$, $d=4$.\nThen $a_{10}=39$.\nAnswer: $210$.", "en"),
        ("Sea $a_1=3$.\nEntonces $a_{10}=39$.\nRespuesta: $210$.", "es"),
        ("Soit $a_1=3$.\nAlors $a_{10}=39$.\nDonc $S=210$.", "fr"),
        ("Sei $a_1=3$.\nDann ist $a_{10}=39$.\nAlso $S=210$.", "de"),
    ],
)
def test_terse_math_thoughts_score_their_language(text: str, target: str) -> None:
    v = score(text, target)
    assert v.score == 1.0, v.details


def test_terse_foreign_thought_is_still_foreign() -> None:
    assert score("Sea $a_1=3$.\nEntonces $a_{10}=39$.\nLuego $S=210$.\nRespuesta: $210$.", "en").score <= 0.3


# --- row 9: close and low-resource languages -------------------------------------------------------------------

CLOSE = {
    "ms": "Pertama, kita perlu menjumlahkan semua nombor dalam senarai itu. Kemudian kita bahagikan jumlah itu "
    "dengan bilangan nombor yang ada.",
    "af": "Eerstens moet ons al die getalle in die lys bymekaartel. Dan deel ons die totaal deur die aantal getalle.",
    "gl": "Primeiro temos que sumar todos os números da lista. Despois dividimos a suma entre a cantidade de "
    "números que hai.",
    "no": "Først må vi legge sammen alle tallene i listen. Deretter deler vi summen på antall tall.",
    "da": "Først skal vi lægge alle tallene i listen sammen. Derefter dividerer vi summen med antallet af tal.",
    "sv": "Först måste vi lägga ihop alla talen i listan. Sedan delar vi summan med antalet tal.",
    "ne": "पहिले हामीले सूचीका सबै संख्याहरू जोड्नुपर्छ। त्यसपछि हामी योगफललाई संख्याहरूको गनतीले भाग गर्छौं।",
    "hi": "पहले हमें सूची की सभी संख्याओं को जोड़ना होगा। फिर हम योग को संख्याओं की गिनती से भाग देंगे।",
    "sw": "Kwanza tunahitaji kujumlisha namba zote kwenye orodha. Kisha tunagawanya jumla kwa idadi ya namba.",
}


@pytest.mark.parametrize("target", CLOSE)
def test_close_and_low_resource_languages_score_one(target: str) -> None:
    v = score(CLOSE[target], target)
    assert v.score >= 0.9, v.details


def test_close_languages_are_not_each_other_when_fastText_is_sure() -> None:
    assert score(CLOSE["af"], "en").score == 0.0
    assert score("\n".join(SENTENCES["es"]), "pt").score <= 0.1


# --- row 10: the prompt's language is the question's ------------------------------------------------------------

ZH_COT = SENTENCES["zh"][0] + SENTENCES["zh"][2]


@pytest.mark.parametrize(
    "prompt",
    [
        "求 $2+3$ 的值。",
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n求 $2+3$ 的值。 Please reason "
        "step by step, and put your final answer within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n",
        "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
        "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
        "User: 计算 $2+3$ 的值。 Assistant: <think>",
        "<｜begin▁of▁sentence｜><｜User｜>一个数加上3等于5，这个数是多少？<｜Assistant｜><think>\n",
    ],
)
def test_target_is_the_questions_language(prompt: str) -> None:
    v = score(ZH_COT, None, prompt=prompt)
    assert (v.details["target"], v.details["target_source"]) == ("zh", "prompt")
    assert v.score == 1.0


def test_an_english_question_in_a_template_is_english() -> None:
    prompt = "<|im_start|>user\nWhat is the sum of two and three?<|im_end|>\n<|im_start|>assistant\n"
    assert score(EN, None, prompt=prompt).details["target"] == "en"


# --- row 11: short foreign sentences and mixing inside a sentence -------------------------------------------------


def test_a_short_foreign_sentence_keeps_its_own_label() -> None:
    text = f"{EN}\nVamos a ver ahora.\n{EN2}"
    v = score(text, "en")
    assert v.status == Status.PARTIAL
    assert v.details["shares"].get("es", 0) > 0.05


def test_mixing_inside_one_sentence_is_measured_by_its_parts() -> None:
    v = score("Primero we add dos y tres, luego we multiply the result by four.", "en")
    assert 0.3 <= v.score <= 0.8, v.details


# --- the word caches under threads and resets ---------------------------------------------------------------------


def _word_lines(seed: int) -> list[list[str]]:
    import random

    rng = random.Random(seed)
    words = [w.lower() for group in SENTENCES.values() for s in group for w in s.split()]
    return [
        [rng.choice(words) + rng.choice(["", "s", "x", "ing"]) for _ in range(rng.randint(1, 12))] for _ in range(40)
    ]


def test_word_caches_are_right_under_threads_and_resets(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    import verifiers.language.lid as lid_module

    path = get_model().path
    reference = lid_module.Lid(path)
    expected = {seed: reference.logprobs(_word_lines(seed)) for seed in range(24)}
    shared = lid_module.Lid(path)
    monkeypatch.setattr(lid_module, "_CACHE_ROWS", 300)  # resets every few calls
    monkeypatch.setattr(lid_module, "_WORD_LP_ROWS", 200)

    def run(seed: int) -> bool:
        lines = _word_lines(seed)
        ok = np.allclose(shared.logprobs(lines), expected[seed])
        tokens = [t for line in lines for t in line]
        return ok and np.allclose(shared.word_logprobs(tokens), reference.logprobs([[t] for t in tokens]), atol=1e-4)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(run, list(range(24)) * 4))


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 200_000,  # one huge word: fastText's C++ takes it, not the numpy path's Python n-gram loop
        "приветмир" * 20_000,
        " ".join(f"word{chr(97 + i % 26)}" * 20 for i in range(3000)),
        " ".join("".join(chr(97 + (i * 7 + j * 13) % 26) for j in range(8)) for i in range(50_000)),
        "まず問題文をよく読んで" * 5_000,
        "Primero we add dos y tres, luego we multiply. " * 2_000,  # many word-level splits
    ],
)
def test_hostile_thoughts_are_scored_quickly(hostile: str) -> None:
    import time

    started = time.perf_counter()
    v = score(hostile, "en")
    assert time.perf_counter() - started < 3.0
    assert v.decided


def test_an_unclosed_display_math_keeps_sentences_apart() -> None:
    es = "\n".join(SENTENCES["es"][:3])
    v = score(f"$$ x = 1\n{EN}\n{EN2}\n{es}", "en")
    assert v.details["shares"].get("es", 0) > 0.3, v.details


def test_without_numpy_the_verifier_says_unavailable() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "import verifiers.language as L; from verifiers.verdict import Attempt\n"
        "v = L.verify(Attempt('<think>Let me check this step again carefully.</think>', language='en'))\n"
        "print(v.status, L.model_status()['ok'])"
    )
    repo = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "unavailable"


def test_both_ways_of_summing_the_tree_agree() -> None:
    import numpy as np

    import verifiers.language.lid as lid_module

    lid = get_model().lid
    for rows in (1, lid_module._FEW_ROWS, lid_module._FEW_ROWS + 1, 200):
        hidden = np.random.default_rng(rows).normal(0, 0.3, (rows, lid.dim))
        walked = lid.logprobs_of_hidden(hidden)
        few, lid_module._FEW_ROWS = lid_module._FEW_ROWS, 10**6
        try:
            gathered = lid.logprobs_of_hidden(hidden)
        finally:
            lid_module._FEW_ROWS = few
        assert np.allclose(walked, gathered, atol=1e-9)


def test_the_greedy_best_label_is_the_argmax_of_every_label() -> None:
    import numpy as np

    lid = get_model().lid
    rng = np.random.default_rng(5)
    # Sure and unsure vectors alike (a small norm spreads the probability), so both the greedy answer and the
    # fallback to every label's score are exercised.
    for scale in (0.01, 0.1, 0.3, 1.0, 3.0):
        hidden = rng.normal(0, scale, (300, lid.dim))
        assert (lid.best_of_hidden(hidden) == lid.logprobs_of_hidden(hidden).argmax(axis=1)).all(), scale


def test_a_sure_label_among_a_few_is_the_argmax_and_each_path_scores_as_node_by_node() -> None:
    import numpy as np

    lid = get_model().lid
    rng = np.random.default_rng(7)
    inner = lid._nlabels - 1
    for labels in (lid._common, (lid.index["en"],), (lid.index["zh"], lid.index["wuu"], lid.index["yue"])):
        for scale in (0.1, 1.0, 3.0):
            hidden = rng.normal(0, scale, (200, lid.dim))
            found, label = lid._sure_among(hidden, labels)
            assert (label[found] == lid.logprobs_of_hidden(hidden[found]).argmax(axis=1)).all()
            for j in labels:
                # The distinct nodes scored once give each path the score of its own steps, node by node.
                column = lid._path_columns[lid._path_starts[j] : lid._path_ends[j]]
                f = 1.0 / (1.0 + np.exp(-np.einsum("nd,pd->np", hidden, lid._output[column % inner])))
                score = np.add.reduceat(np.log(np.where(column >= inner, f, 1.0 - f) + 1e-5), [0], axis=1)[:, 0]
                assert ((score > lid._greedy_sure) == (found & (label == j))).all()


def test_the_greedy_best_label_is_fasttexts_on_word_salad() -> None:
    import random

    model = get_model()
    rng = random.Random(11)
    words = [w.lower() for group in SENTENCES.values() for s in group for w in s.split()]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) for _ in range(3000)]
    assert model.top1(lines) == model._fasttext_top1(lines)


def test_top1_given_the_word_counts_answers_as_without_them() -> None:
    import random

    import numpy as np

    from verifiers.language.lid import Lid
    from verifiers.language.model import LONG_TOKEN, _load

    rng = random.Random(3)
    words = [w.lower() for group in SENTENCES.values() for s in group for w in s.split() if len(w) <= LONG_TOKEN]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(300)]
    long_word = "x" * (LONG_TOKEN + 5)
    # The model of its own: the long word must not stay in the shared cache.
    model = _load.__wrapped__(None)
    assert isinstance(model.lid, Lid)
    for batch, short in ((lines, True), ([*lines[:50], f"the {long_word} end", *lines[50:]], False)):
        sizes = [len(line.split()) for line in batch]
        tokens = " ".join(batch).split()
        # The counted path answers for short words only (None: the caller measures every line).
        assert (model.lid.best_of_tokens(np.array(sizes), tokens, (), LONG_TOKEN) is not None) == short
        assert model.top1(batch, frozenset({"en"}), sizes) == model.top1(batch, frozenset({"en"}))
        assert model.top1(batch, sizes=sizes) == model._fasttext_top1(batch)
    # A long word in the cache (a direct call) makes every token measured again, so the long line still goes to
    # fastText's predict.
    model.lid.hidden([[long_word]])
    batch = [*lines[:50], f"the {long_word} end", *lines[50:]]
    sizes = [len(line.split()) for line in batch]
    assert model.lid.best_of_tokens(np.array(sizes), " ".join(batch).split(), (), LONG_TOKEN) is None
    assert model.top1(batch, sizes=sizes) == model._fasttext_top1(batch)


def test_new_words_in_a_batch_get_the_same_vectors_as_one_by_one() -> None:
    import random

    import numpy as np

    lid = get_model().lid
    rng = random.Random(2)
    words = sorted({w.lower() for group in SENTENCES.values() for s in group for w in s.split() if w.isascii()})
    words += ["".join(chr(rng.randint(33, 126)) for _ in range(rng.randint(1, 45))) for _ in range(500)]
    words = list(dict.fromkeys(w for w in words if w != "</s>"))
    single = np.array([lid._word_vector(w) for w in words])
    assert (lid._ascii_vectors(words) == single).all()  # to the last bit: a word's vector never depends on its batch
