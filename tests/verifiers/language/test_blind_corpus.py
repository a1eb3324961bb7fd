"""The blind corpus: chains of thought in 30 languages with known shares, written and labelled by a helper that had
not read the verifier's code (issue 13). Every line is scored through the real verifier, with the scope of the `r1`
profile's `language` component (the whole response; the thought is the whole completion here), and must land within
its tolerance; a line whose `expected` is null has no language-bearing word and must be `no_answer`.

KNOWN_MISSES are the lines the verifier still gets wrong, each with the reason; they are strict xfails, so a fix
shows up as a failure to be moved out of the list. One label was fixed in the file (`hack-en-url-email`, see its
note): it contradicted the project's rule that non-Latin letters count inside URLs and e-mail shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import verifiers.language as lang
from verifiers.verdict import Attempt, Status

CORPUS = Path(__file__).resolve().parent / "blind_corpus.jsonl"
ROWS = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
# The `r1` profile's options of the `language` component (service/profiles.py); the verifier is tested on its own.
OPTIONS = {"scope": "response"}

_CODESWITCH = (
    "a few English words inside sentences of another language that fastText is sure of: the sentence is labelled "
    "as a whole, and word-level evidence (each word read alone) is too noisy to split sure sentences (tried: "
    "Afrikaans or Swahili words read as English on their own)"
)
KNOWN_MISSES = {
    "en-mixed-codeswitch": "foreign words inside sure English sentences; " + _CODESWITCH,
    "es-mixed-codeswitch": _CODESWITCH,
    "pt-mixed-codeswitch": _CODESWITCH,
    "de-mixed-codeswitch": _CODESWITCH,
    "tr-mixed-codeswitch": _CODESWITCH,
    "id-mixed-codeswitch": _CODESWITCH,
    "pl-mixed-codeswitch": _CODESWITCH,
    "sw-mixed-2-4": "Swahili sentences between English ones read as English at high confidence (lid.176 is weak on sw)",
    "pt-terse-integral": "'Calculamos' and 'Portanto a integral vale' read as English or Spanish with Portuguese "
    "outside fastText's top labels: no second opinion can recover it",
}


def _verdict(row: dict) -> lang.Verdict:  # type: ignore[name-defined]
    return lang.verify(Attempt(completion=f"<think>{row['thought']}</think>", language=row["target"], options=OPTIONS))


def _agrees(row: dict, v: lang.Verdict) -> bool:  # type: ignore[name-defined]
    if row["expected"] is None:
        return v.status == Status.NO_ANSWER
    return v.status != Status.NO_ANSWER and abs(v.score - row["expected"]) <= row["tolerance"]


def test_the_corpus_is_the_blind_one() -> None:
    assert len(ROWS) >= 300
    assert len({r["target"] for r in ROWS}) >= 12
    assert {"terse", "verbose", "mixed", "pure", "hack"} <= {r["kind"] for r in ROWS}
    assert len({r["id"] for r in ROWS}) == len(ROWS)
    assert set(KNOWN_MISSES) <= {r["id"] for r in ROWS}


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(r, id=r["id"], marks=pytest.mark.xfail(reason=KNOWN_MISSES[r["id"]], strict=True))
        if r["id"] in KNOWN_MISSES
        else pytest.param(r, id=r["id"])
        for r in ROWS
    ],
)
def test_corpus_line_scores_its_share(row: dict) -> None:
    v = _verdict(row)
    assert _agrees(row, v), (row["expected"], row["tolerance"], v.score, v.status, v.details.get("shares"), row["note"])


def test_agreement_is_at_least_what_was_reported() -> None:
    agree = sum(_agrees(r, _verdict(r)) for r in ROWS)
    assert agree >= len(ROWS) - len(KNOWN_MISSES)
