"""From labelled pieces to words per language: lid.176's probabilities plus the second opinions that keep terse
and close-language thoughts from being mislabelled (issue 13).

fastText is unreliable in two places that matter for a reasoning model's thought:
- short pieces. "Hmm. Wait." reads French, "Then … Thus … Hence" Tatar, "Maka" (Indonesian) Swedish at 0.999.
  The pieces of fewer than SHORT_WORDS words of one script are decided together, by a Viterbi pass over them in
  order: each piece's own probabilities are the evidence (floored, so one over-confident word cannot veto its
  neighbours), changing language between two of them costs SWITCH_COST nats, and the target gets a PRIOR bonus.
  A terse thought's connectives ("Let … Then … Answer") thereby say together what each cannot, while a short
  foreign sentence among others ("Vamos a ver.") keeps its own label when its evidence is clear;
- close languages (af/nl, gl/pt/es, da/no/sv, ne/hi, uk/ru, …). A piece of at least SHORT_WORDS words is the
  target's when fastText's top label is a close relative of the target, below CLOSE_UNSURE, and the target has at
  least CLOSE_RATIO of its probability; for any other language the bar is UNSURE and UNSURE_RATIO. A long piece
  fastText is still unsure of is split word by word (a two-state Viterbi over each word's probabilities), so
  "Primero we add dos y tres" is measured by its parts.

The target only ever gains pieces written in its own script: a Latin word in a Chinese thought is never Chinese.
"""

from __future__ import annotations

import math
from typing import Any, cast

from verifiers.language.model import LONG_TOKEN, LangId
from verifiers.language.text import UNSPACED_FAMILIES, Piece

SHORT_WORDS = 4.0
UNSURE = 0.8
UNSURE_RATIO = 0.2
CLOSE_UNSURE = 0.97
CLOSE_RATIO = 0.05
# A run of pinyin-shaped words is pinyin only when fastText is this unsure of it (it calls pinyin English or
# French with low confidence, and real Portuguese or Malay that happens to fit the syllables with high).
ROMANISED_UNSURE = 0.5
# English is lid.176's largest class, where pinyin it cannot read lands (0.6 for "Women xian qiu daoshu …"); real
# English prose never is 80 % pinyin syllables, so only a sure English label overrides.
ROMANISED_EN = 0.95
SWITCH_COST = 2.0
PRIOR = math.log(3.0)
FLOOR = 1e-3
# fastText is over-confident on one or two words ("Maka" Swedish at 0.999): their evidence is floored higher.
SHORT_FLOOR = 0.05
LINE_WEIGHT = 0.5
SPLIT_MIN = 0.02
# An unsure long piece takes the thought's majority label in its script when fastText gives it this share of the top.
MAJORITY_RATIO = 0.05
CLOSE_MAJORITY_MIN = 0.01
# Words of a long unsure piece: switching between two words costs more, since each word's evidence is weaker.
WORD_SWITCH_COST = 4.0
WORD_SURE = 0.15

# Script families a language is written in; every language not listed is written in Latin letters.
_SCRIPTS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("zh", "ja", "wuu", "yue"), frozenset({"cjk"})),
    "ko": frozenset({"hangul"}),
    **dict.fromkeys(
        (
            "ru",
            "uk",
            "be",
            "bg",
            "mk",
            "kk",
            "ky",
            "tg",
            "mn",
            "ba",
            "cv",
            "ce",
            "os",
            "sah",
            "tt",
            "tyv",
            "udm",
            "krc",
            "kv",
            "mhr",
            "mrj",
            "myv",
            "xal",
            "bxr",
            "av",
            "lez",
            "rue",
            "sr",
            "sh",
            "uz",
            "az",
        ),
        frozenset({"cyrillic", "latin"}),
    ),
    **dict.fromkeys(
        ("ar", "fa", "ur", "ps", "ckb", "arz", "azb", "mzn", "pnb", "sd", "ug", "lrc", "ku"),
        frozenset({"arabic", "latin"}),
    ),
    **dict.fromkeys(
        (
            "hi",
            "mr",
            "ne",
            "sa",
            "new",
            "bh",
            "mai",
            "gom",
            "bn",
            "as",
            "bpy",
            "pa",
            "gu",
            "or",
            "ta",
            "te",
            "kn",
            "ml",
            "si",
            "dty",
        ),
        frozenset({"indic"}),
    ),
    **dict.fromkeys(("th", "lo", "km", "my"), frozenset({"sea"})),
    "el": frozenset({"greek"}),
    "hy": frozenset({"armenian"}),
    "ka": frozenset({"georgian"}),
    "xmf": frozenset({"georgian"}),
    "am": frozenset({"ethiopic"}),
    "he": frozenset({"hebrew"}),
    "yi": frozenset({"hebrew"}),
}
_LATIN_ONLY = frozenset({"latin"})
_FIRST_GUESS = frozenset({"en"})

# For each target, the languages fastText mistakes it for (a smaller language read as its big neighbour): a piece
# labelled with one of them gets the relaxed second opinion (CLOSE_UNSURE, CLOSE_RATIO), and a short one counts for
# the target. Directed and narrow on purpose: Spanish is not Portuguese because both are Romance.
_CLOSE_TO: dict[str, str] = {
    "af": "nl",
    "nl": "af",
    "gl": "pt es",
    "pt": "gl",
    "es": "gl ca ast",
    "ca": "es oc",
    "oc": "ca fr",
    "da": "no nn sv",
    "no": "da nn sv",
    "nn": "no da",
    "sv": "da no",
    "ne": "hi mr sa new bh mai",
    "hi": "ne mr sa bh mai",
    "mr": "hi ne",
    "ms": "id jv su",
    "id": "ms jv su",
    "uk": "ru be bg",
    "be": "ru uk",
    "ru": "uk be bg",
    "bg": "mk ru",
    "mk": "bg sr",
    "cs": "sk",
    "sk": "cs",
    "sl": "hr sh",
    "fa": "tg",
    "tg": "fa",
    "ur": "hi",
    "de": "lb als bar nds",
    "lb": "de",
    "tr": "az",
    "az": "tr",
}
_CLOSE: dict[str, frozenset[str]] = {code: frozenset(near.split()) | {code} for code, near in _CLOSE_TO.items()}


def word_counts(model: LangId, parts: list[Piece], same: frozenset[str], target: str | None) -> dict[str, float]:
    """Words per language of `parts`; `same` is the set of labels that count as the target (empty: no target)."""
    # A piece whose script allows one language (Hangul, Greek, Chinese without kana) has it: no model, no second
    # opinion (none can move it: a second opinion gives a piece to the target only on the target's probability).
    # Comprehensions rather than one loop: a long thought has hundreds of pieces, and each statement of a loop body
    # costs more than a comprehension's test.
    labels: list[str | None] = [
        langs[0] if (langs := piece.langs) is not None and len(langs) == 1 else None for piece in parts
    ]
    open_pieces = [i for i, lang in enumerate(labels) if lang is None]
    split = _label_open(model, parts, open_pieces, labels, same, target) if open_pieces else set()
    # Every piece has its label now (`_label_open` labels each open one).
    final = cast(list[str], labels)
    counts: dict[str, float] = {}
    get = counts.get
    if not split or target is None:
        for piece, lang in zip(parts, final, strict=True):
            counts[lang] = get(lang, 0.0) + piece.words
        return counts
    for i, (piece, lang) in enumerate(zip(parts, final, strict=True)):
        if i in split and piece.langs is None:
            for la, n in _split_words(model, piece.text.lower(), lang, target).items():
                counts[la] = get(la, 0.0) + n
            continue
        counts[lang] = get(lang, 0.0) + piece.words
    return counts


def _label_open(
    model: LangId,
    parts: list[Piece],
    open_pieces: list[int],
    labels: list[str | None],
    same: frozenset[str],
    target: str | None,
) -> set[int]:
    """Label the pieces of `open_pieces` (those of no fixed language) in `labels` (see the module docstring), and
    return the unsure long pieces to be measured word by word."""
    close = (_CLOSE.get(target or "", frozenset()) | same) if target else frozenset()
    # One pass over the pieces sorts them (a thought has hundreds): fastText's features are lower-case heavy (all-caps
    # English reads as Spanish otherwise); the short pieces of each script also form one line (see
    # `_short_viterbi`), ranked in the same model call; `free` are the long pieces of no fixed language.
    texts: dict[int, str] = dict(zip(open_pieces, [parts[i].text.lower() for i in open_pieces], strict=True))
    short_by_family: dict[str, list[int]] = {}
    free: list[int] = []
    romanised_short: set[str] = set()
    for i in open_pieces:
        piece = parts[i]
        if piece.langs is None and not piece.romanised:
            if piece.words < SHORT_WORDS:
                short_by_family.setdefault(piece.family, []).append(i)
            else:
                free.append(i)
        elif piece.romanised and piece.words < SHORT_WORDS:
            romanised_short.add(piece.family)
    families = list(short_by_family)
    line_texts = [" ".join(texts[i] for i in short_by_family[f]) for f in families]
    # A long piece of no fixed language whose top label already is the target's (or, without a target, any long
    # piece) needs no probability: the cheap top-1 call (`LangId.top1`) settles it, as it does a long piece in a
    # script the target is not written in (never the target's either). So do the short pieces of a script when each
    # of them and their line have the target on top: every step of their Viterbi pass then favours the target, so
    # its answer is the target for all. The rest gets every probability the second opinions read, in one call.
    scripts = _SCRIPTS.get(target or "", _LATIN_ONLY)
    short_members = [i for f in families for i in short_by_family[f]]
    # The target's labels are tried first when a piece could be in the target's language (its script's); else
    # English, lid.176's largest class and the usual second language of a thought (the Latin sentences of a Chinese
    # one): the order only sets what is tried first, never the answer.
    members = free + short_members
    likely = same if any(parts[i].family in scripts for i in members) else _FIRST_GUESS
    # A piece of a script written with spaces has as many words as its text splits into (both ways of cutting
    # pieces build it so), which spares `top1` splitting every text: -1 marks the others.
    sizes = [-1 if (piece := parts[i]).family in UNSPACED_FAMILIES else int(piece.words) for i in members]
    if sizes and min(sizes) >= 0:
        at = dict(zip(members, sizes, strict=True))
        sizes += [sum(at[i] for i in short_by_family[f]) for f in families]
    tops = model.top1([texts[i] for i in members] + line_texts, likely, sizes if not sizes or min(sizes) >= 0 else None)
    top_of = dict(zip(members, tops, strict=False))
    settled = (
        {i: top_of[i] for i in free if top_of[i] in same or parts[i].family not in scripts}
        if same
        else {i: top_of[i] for i in free}
    )
    sure_families = {
        f
        for f, line_top in zip(families, tops[len(free) + len(short_members) :], strict=True)
        if same
        and f in scripts
        and f not in romanised_short
        and line_top in same
        and all(top_of[i] in same for i in short_by_family[f])
    }
    open_families = [f for f in families if f not in sure_families]
    sure_short = {i for f in sure_families for i in short_by_family[f]}
    need = [i for i in open_pieces if i not in settled and i not in sure_short]
    everything = model.ranked(
        [texts[i] for i in need] + [line_texts[families.index(f)] for f in open_families],
        [parts[i].langs for i in need] + [None] * len(open_families),
        want=close,
    )
    # A settled piece's ranking is its label alone, with probability 1 (built only where it is read, below).
    ranked: dict[int, list[tuple[str, float]]] = dict(zip(need, everything, strict=False))
    line_ranked = dict(zip(open_families, everything[len(need) :], strict=True))
    short: dict[str, list[int]] = {}
    unsure: list[int] = []
    # A settled piece keeps its label (it is the target's, or no second opinion applies to its script).
    for i, lang in settled.items():
        labels[i] = lang
    for i in [i for i in open_pieces if i not in settled] if settled else open_pieces:
        piece, top = parts[i], ranked.get(i, [])
        lang, p1 = top[0] if top else ("und", 0.0)
        if piece.romanised and (p1 < ROMANISED_UNSURE or (lang == "en" and p1 < ROMANISED_EN)):
            lang = piece.romanised
        elif piece.words < SHORT_WORDS and piece.langs is None:
            short.setdefault(piece.family, []).append(i)
            continue
        elif lang not in same and target is not None and piece.family in scripts:
            lang, is_unsure = _long_opinion(top, target, same, close)
            if is_unsure:
                unsure.append(i)
        labels[i] = lang
    split: set[int] = set()
    # Labels of `close` that are not the target's: without any (a target of no close relative) nothing to relabel.
    close_only = close - same
    relabel = [i for i in open_pieces if labels[i] in close_only] if close_only and target is not None else []
    if relabel or unsure:
        # An unsure long piece follows the thought's own majority in its script when that is a plausible second
        # opinion ("As die lys leeg is, gee ons nul terug" reads English at 0.6 in an Afrikaans thought).
        majority = _majorities(parts, labels)
        # A sentence in a close relative of the target, inside a thought that is mostly the target's, is the
        # target's when fastText gives the target any real chance ("Polo tanto a resposta é" reads Portuguese).
        for i in relabel:
            top = ranked[i] if i in ranked else [(labels[i] or "und", 1.0)]
            if majority.get(parts[i].family) == target and _mass(top, same) >= CLOSE_MAJORITY_MIN:
                labels[i] = target
        for i in unsure:
            top, major = ranked[i], majority.get(parts[i].family)
            if major and major != labels[i] and dict(top).get(major, 0.0) >= MAJORITY_RATIO * top[0][1]:
                labels[i] = major
            elif target is not None and _mass(top, same) >= SPLIT_MIN:
                split.add(i)
    for family, members in short.items():
        if family in sure_families:
            for i in members:
                labels[i] = target
            continue
        line = (
            line_ranked[family]
            if short_by_family.get(family) == members
            else model.ranked([" ".join(texts[i] for i in members)], [None], want=close)[0]
        )
        allow_target = target is not None and family in scripts
        for i, lang in zip(
            members,
            _short_viterbi([ranked[i] for i in members], line, target if allow_target else None, same, close),
            strict=True,
        ):
            labels[i] = lang
    return split


def _majorities(parts: list[Piece], labels: list[str | None]) -> dict[str, str]:
    """The label with the most words among the labelled pieces of each script."""
    words: dict[str, dict[str, float]] = {}
    for piece, lang in zip(parts, labels, strict=True):
        if lang is not None:
            family = words.setdefault(piece.family, {})
            family[lang] = family.get(lang, 0.0) + piece.words
    return {family: max(by_lang, key=by_lang.__getitem__) for family, by_lang in words.items()}


def _mass(top: list[tuple[str, float]], group: frozenset[str]) -> float:
    return sum(p for la, p in top if la in group)


def _long_opinion(
    top: list[tuple[str, float]], target: str, same: frozenset[str], close: frozenset[str]
) -> tuple[str, bool]:
    """The label of a piece of at least SHORT_WORDS words, and whether fastText stays unsure of it."""
    lang, p1 = top[0]
    pt = _mass(top, same)
    if lang in close and p1 < CLOSE_UNSURE and pt >= CLOSE_RATIO * p1:
        return target, False
    if p1 < UNSURE:
        return (target, False) if pt >= UNSURE_RATIO * p1 else (lang, True)
    return lang, False


def _short_viterbi(
    tops: list[list[tuple[str, float]]],
    line: list[tuple[str, float]],
    target: str | None,
    same: frozenset[str],
    close: frozenset[str],
) -> list[str]:
    """Labels of a script's short pieces, in order (see the module docstring)."""
    import numpy as np  # lazily: without numpy the package still imports and says `unavailable`

    states: list[str] = [target] if target else []
    for top in tops:
        for la, _ in top[:2]:
            if la not in states and not (target and la in same):
                states.append(la)
    if not states:
        return ["und"] * len(tops)
    emit = np.empty((len(tops), len(states)))
    for i, top in enumerate(tops):
        probs = dict(top)
        for j, state in enumerate(states):
            if target and state == target:
                # A short piece labelled with a close relative of the target counts for the target.
                group = close if top and top[0][0] in close else same
                emit[i, j] = np.log(max(_mass(top, group), SHORT_FLOOR)) + PRIOR
            else:
                emit[i, j] = np.log(max(probs.get(state, 0.0), SHORT_FLOOR))
    if line:
        # The pieces read together: what the connectives of a terse thought say as a whole, given to each piece
        # at LINE_WEIGHT (a short foreign sentence among others still keeps clear evidence of its own).
        probs = dict(line)
        line_group = close if line[0][0] in close else same
        emit += LINE_WEIGHT * np.array(
            [
                np.log(max(_mass(line, line_group) if target and s == target else probs.get(s, 0.0), FLOOR))
                for s in states
            ]
        )
    return [states[j] for j in _viterbi(emit, SWITCH_COST)]


def _viterbi(emit: Any, switch_cost: float) -> list[int]:
    """The best state sequence for (steps × states) log-evidence, a switch between steps costing `switch_cost`."""
    import numpy as np  # lazily: without numpy the package still imports and says `unavailable`

    n, k = emit.shape
    score = emit[0].copy()
    back = np.zeros((n, k), dtype=np.int64)
    for i in range(1, n):
        best = int(score.argmax())
        switch = score[best] - switch_cost
        stay = score >= switch
        back[i] = np.where(stay, np.arange(k), best)
        score = np.where(stay, score, switch) + emit[i]
    path = [int(score.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i][path[-1]]))
    return path[::-1]


def _split_words(model: LangId, text: str, lang: str, other: str) -> dict[str, float]:
    """Words of one piece per language: a two-state Viterbi over each word's own lid.176 probabilities (cached per
    word), so "Primero we add dos y tres" or a Spanish sentence with an English "edge case" is measured by its
    parts. A word leaves the piece's language only on clear evidence: switching costs WORD_SWITCH_COST each way."""
    import numpy as np  # lazily: without numpy the package still imports and says `unavailable`

    tokens = text.split()
    index = model.lid.index
    if other not in index or lang not in index or any(len(t) > LONG_TOKEN for t in tokens):
        return {lang: float(len(tokens))}
    lp = model.lid.word_logprobs(tokens)
    floor = float(np.log(FLOOR))
    stay = np.maximum(lp[:, index[lang]], floor)
    move = lp[:, index[other]]
    # Only a word fastText reads as the other language on its own (WORD_SURE) can move: a single word of a
    # low-resource language gets little probability for its own language, so a ratio alone would move it.
    move = np.where(move >= np.log(WORD_SURE), move, floor + np.minimum(stay, 0.0) - WORD_SWITCH_COST).tolist()
    stay = stay.tolist()
    if all(m <= s for m, s in zip(move, stay, strict=True)):
        return {lang: float(len(tokens))}
    path = _viterbi(np.array([stay, move]).T, WORD_SWITCH_COST)
    moved = float(sum(path))
    counts = {lang: len(tokens) - moved}
    if moved:
        counts[other] = moved
    return counts
