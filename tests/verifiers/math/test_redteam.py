"""A red team of the math reward path (a helper that read the code and looked for completions that earn 1.0
without stating the reference's answer): every finding it made that is fixed stays fixed, beside the honest
answers each rule must keep accepting."""

from __future__ import annotations

import pytest

from verifiers.math import cache_key, verify
from verifiers.verdict import Attempt

Q1612 = "Find (in closed form) the difference between the number of positive integers at most $2^{2017}$ ..."

# (finding, reference, completion, prompt): none of these states the reference's answer
HACKS = [
    ("F1a decimal .0 made a 1e-6 tolerance", "2^{1009}", "\\boxed{2^{1009} - 1.0}", Q1612),
    ("F1b off by one as a decimal", "3986729", "\\boxed{3986728.0}", None),
    ("F1c +0.0 on 2^n vs 2^n - 1", "2^{100}-1", "\\boxed{2^{100}+0.0}", None),
    ("F1d factorial off by 2.5", "10!", "\\boxed{3628802.5}", None),
    ("F1e a truncation, not a rounding", "\\pi", "\\boxed{3.141592}", None),
    ("F2a the variable m read as metres", "$6m$", "\\boxed{6}", None),
    ("F2b the same, squared", "$6m$", "\\boxed{6m^2}", None),
    ("F2c the variable s read as seconds", "$2s$", "\\boxed{2}", "Express the speed in terms of s."),
    ("F4a or and a number word", "12", "\\boxed{12 \\text{ or thirteen}}", None),
    ("F4b or so", "12", "\\boxed{\\text{Seems } 12 \\text{ or so}}", None),
    ("F4e circa", "12", "\\boxed{\\text{circa } 12}", None),
    ("F4f a bound", "12", "\\boxed{12 \\text{ lower bound}}", None),
    ("F4c excluding", "12", "\\boxed{\\text{excluding } 12}", None),
    ("F4d untrue", "12", "\\boxed{12 \\text{ is untrue}}", None),
    ("F5a a second span after 'the answer is'", "12", "The answer is $12$ or $13$.", None),
    ("F5b a second line", "12", "The final answer is 12\nor 13", None),
    ("F5c a number word after the number", "12", "Answer: 12 fifteen", None),
    ("F5d a retraction after the number", "12", "Answer: 12 is wrong", None),
    ("F5e a hedge in parentheses", "12", "The answer is $12$ (or perhaps $13$).", None),
    ("F6a two boxes side by side, a hedge", "12", "\\boxed{13} vs \\boxed{12}", None),
    ("F6f a box after a LaTeX comment sign", "12", "\\boxed{13} % \\boxed{12}", None),
    ("F7a the answer only in a capitalised thought", "12", "<THINK>\\boxed{12}</THINK> I could not solve it.", None),
    ("F7b the same in <thinking> tags", "12", "<thinking>\\boxed{12}</thinking> I could not solve it.", None),
    ("F8a two choice letters after 'option is'", "B", "the correct option is B or C", None),
    ("F9 ordered blanks as a set", "$5$;$10$", "\\boxed{\\{10, 5\\}}", None),
    ("F10a a percent of a fraction", "0.14", "\\boxed{0.14\\%}", None),
    ("F10b the same against 1/7", "\\frac{1}{7}", "\\boxed{0.143\\%}", None),
    ("F12b a unit of another kind than the reference's", "12\\text{ cm}", "\\boxed{12 \\text{ kg}}", None),
    ("F12d a variable after a parenthesis read as a unit", "x+1", "\\boxed{(x+1)m}", None),
    ("units: metres for a question in feet", "12", "\\boxed{12\\text{ m}}", "How long is it, in feet?"),
    # second red team (whole reward path): a decimal near a short decimal reference is a near miss
    ("R2-F01a a near miss of a short decimal", "12.5", "\\boxed{12.54}", None),
    ("R2-F01b a tie of a short decimal", "12.5", "\\boxed{12.45}", None),
    ("R2-F01c the same above", "12.5", "\\boxed{12.55}", None),
    ("R2-F01d three digits", "1.25", "\\boxed{1.254}", None),
    ("R2-F01e three digits below", "0.125", "\\boxed{0.1249}", None),
    ("R2-F09 a repeating decimal's first digits only", "0.\\overline{3}", "\\boxed{0.3}", None),
]

# Honest answers next to them, which the same rules must keep accepting.
HONEST = [
    ("a percent sign as a unit", "14", "\\boxed{14\\%}", None),
    ("a fraction as a percent", "0.14", "\\boxed{14\\%}", None),
    ("a reference rounded by the data set", "12.5663706", "\\boxed{4\\pi}", None),
    ("an answer rounded correctly", "\\pi", "\\boxed{3.141593}", None),
    ("a decimal that is exact", "\\frac{1}{2}", "\\boxed{0.5}", None),
    ("a unit word after a span", "12", "The answer is $12$ dollars.", None),
    ("a unit the reference also has", "$576\\pi\\;m^{2}$", "\\boxed{576\\pi \\text{ square meters}}", None),
    ("the unit asked for", "12", "\\boxed{12\\text{ m}}", "How long is it, in meters?"),
    ("the blanks in order", "$5$;$10$", "\\boxed{5} \\text{ and } \\boxed{10}", None),
    ("the variable kept", "$6m$", "\\boxed{6m}", None),
    ("an answer after a thought in capitals", "12", "<THINK>so 12?</THINK> The answer is \\boxed{12}.", None),
    ("a choice letter stated", "B", "So the correct option is B.", None),
    ("a box corrected by the next", "2", "\\boxed{1} wait, no: \\boxed{2}", None),
    ("a decimal that a 4-digit reference rounds", "0.6827", "\\boxed{0.68269}", None),
    ("a decimal that a reference with a trailing zero rounds", "18.90", "\\boxed{18.904}", None),
    ("an exact value that a short decimal rounds", "12.6", "\\boxed{4\\pi}", None),
    ("R2-F09 a repeating decimal answer", "\\frac13", "\\boxed{0.\\overline{3}}", None),
    ("R2-F09 a repeating decimal reference", "0.\\overline{36}", "\\boxed{\\frac{4}{11}}", None),
    ("R2-F09 a block after fixed digits", "\\frac{68}{55}", "\\boxed{1.2\\overline{36}}", None),
    ("two blanks boxed apart", "$5$;$10$", "Hence $a_1 = \\boxed{5}$ and $a_2 + a_3 = \\boxed{10}$.", None),
]


@pytest.mark.parametrize(("finding", "reference", "completion", "prompt"), HACKS, ids=[h[0][:3] for h in HACKS])
def test_a_hack_earns_nothing(finding: str, reference: str, completion: str, prompt: str | None) -> None:
    verdict = verify(Attempt(completion=completion, reference=reference, prompt=prompt))
    assert verdict.score == 0.0 and verdict.status != "correct", (finding, verdict)


@pytest.mark.parametrize(("what", "reference", "completion", "prompt"), HONEST, ids=[h[0] for h in HONEST])
def test_an_honest_answer_still_earns(what: str, reference: str, completion: str, prompt: str | None) -> None:
    verdict = verify(Attempt(completion=completion, reference=reference, prompt=prompt))
    assert verdict.status == "correct", (what, verdict)


def test_the_unit_asked_for_is_part_of_the_cache_key() -> None:
    # C1: "in feet" and "in meters" judge `12 m` differently, so they must not share a cached verdict.
    def key(prompt: str) -> str:
        return cache_key(Attempt(completion="\\boxed{12\\text{ m}}", reference="12", prompt=prompt))

    assert key("How long is it, in feet?") != key("How long is it, in meters?")
    assert key("How long is it, in meters?") == key("In meters, how long is it?")
