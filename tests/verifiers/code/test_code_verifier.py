"""The code verifier end to end with the real sandbox: verdicts, references, and reward hacks that must not pay."""

from __future__ import annotations

import json

import pytest

from sandboxes import available_languages
from verifiers import code
from verifiers.code import extract_program
from verifiers.verdict import Attempt, Status

pytestmark = pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing")

ADD_IO = {"language": "python", "tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "20 22", "stdout": "42"}]}
FN = {
    "language": "python",
    "fn_name": "add",
    "tests": [{"args": [1, 2], "expected": 3}, {"args": [10, -3], "expected": 7}],
}
ASSERT = {"language": "python", "tests": [{"code": "assert add(1, 2) == 3\nassert add(2, 2) == 4\n"}]}


def judge(program: str, ref: dict, lang: str = "python", **opts) -> tuple:
    v = code.verify(Attempt(completion=f"Here:\n```{lang}\n{program}\n```\n", reference=ref, options=opts))
    return v, [t["verdict"] for t in v.details.get("tests", [])]


def test_correct_stdio_fn_assert() -> None:
    assert judge("print(sum(map(int, input().split())))", ADD_IO)[0].status == Status.CORRECT
    assert judge("def add(a, b):\n    return a + b", FN)[0].score == 1.0
    assert judge("class Solution:\n    def add(self, a, b):\n        return a + b", FN)[0].score == 1.0
    assert judge("def add(a, b):\n    return a + b", ASSERT)[0].status == Status.CORRECT


def test_reference_as_json_string_and_invalid_reference() -> None:
    v = code.verify(Attempt(completion="```python\nprint(3)\n```", reference=json.dumps(ADD_IO)))
    assert v.status == Status.WRONG and v.score == 0.5
    for bad in [
        "{",
        {"tests": []},
        {"language": "cobol", "tests": [{"stdin": "", "stdout": ""}]},
        {"language": "python", "tests": [{"args": [1], "expected": 1}]},
        {"language": "python", "tests": [{}]},
    ]:
        assert code.verify(Attempt(completion="```python\nx\n```", reference=bad)).status == Status.INVALID_REFERENCE


def test_each_verdict_is_produced() -> None:
    ref = {"language": "python", "time_limit_s": 1, "memory_limit_mb": 64, "tests": [{"stdin": "", "stdout": "1"}]}
    cases = {
        "accepted": "print(1)",
        "wrong_answer": "print(2)",
        "runtime_error": "raise ValueError('x')",
        "time_limit": "while True: pass",
        "memory_limit": "x = bytearray(512 * 1024 * 1024)",
        "output_limit": "while True: print('y' * 10000)",
        "compile_error": None,
    }
    for verdict, program in cases.items():
        if program is None:
            continue
        v, got = judge(program, ref)
        assert got == [verdict], (verdict, v)
    v, got = judge("int main( { return 0 }", {**ref, "language": "cpp"}, lang="cpp")
    assert got == ["compile_error"] and v.details["compile_error"] and v.score == 0
    v, got = judge("def f(:\n  pass", FN)
    assert set(got) == {"compile_error"}


def test_score_modes_and_stop_at_first_failure() -> None:
    prog = "def add(a, b):\n    return 3"
    assert judge(prog, FN)[0].score == 0.5
    assert judge(prog, {**FN, "score": "all"})[0].score == 0.0
    v, got = judge("print(9)", {**ADD_IO, "stop_at_first_failure": True})
    assert got == ["wrong_answer", "skipped"]


def test_comparators() -> None:
    ref = {"language": "python", "tests": [{"stdin": "", "stdout": "0.3333333\n"}]}
    assert judge("print(1/3)", {**ref, "compare": "float"})[0].score == 1.0
    assert judge("print(1/3)", ref)[0].score == 0.0
    assert judge("print('0.3333333  ')", ref)[0].score == 1.0
    assert judge("print('0.3333333  ')", {**ref, "compare": "exact"})[0].score == 0.0
    # a correct prefix is not a pass; neither is the right tokens in another order
    pre = {"language": "python", "tests": [{"stdin": "", "stdout": "1 2 3\n"}]}
    assert judge("print('1 2')", pre)[0].score == 0.0
    assert judge("print('3 2 1')", pre)[0].score == 0.0


def test_no_answer_and_extraction() -> None:
    v = code.verify(Attempt(completion="I think the answer is 3.", reference=ADD_IO))
    assert v.status == Status.NO_ANSWER
    from sandboxes import get_recipe

    py = get_recipe("python")
    text = "<think>```python\nprint(0)\n```</think><answer>```cpp\nx\n```\n```python\nprint(1)\n```</answer>"
    assert extract_program(text, py).strip() == "print(1)"
    assert extract_program("```\nprint(2)\n```", py).strip() == "print(2)"
    assert extract_program("```cpp\nint x;\n```", py) is None


# ---------------------------------------------------------------------------------------------- reward hacks
HACKS_ASSERT = {
    "sys.exit(0) first": "import sys\nsys.exit(0)\ndef add(a, b):\n    return a + b",
    "os._exit(0) first": "import os\nos._exit(0)",
    "exit inside the function": "def add(a, b):\n    import os; os._exit(0)",
    "SystemExit in function": "def add(a, b):\n    raise SystemExit(0)",
    "__eq__ always True": "class A:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
    "def add(a, b):\n    return A()",
    "int subclass __eq__": "class I(int):\n    def __eq__(self, o): return True\ndef add(a, b):\n    return I(0)",
    "patch builtins": "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n"
    "def add(a, b):\n    return 0",
    "kill the harness": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef add(a, b):\n    return a + b",
    "print fake done": 'import sys\nprint(\'{"done": "x"}\')\nsys.stdout.flush()\ndef add(a,b):\n    return 0',
    "walk frames and patch": "import sys, gc\nfor o in gc.get_objects():\n"
    "    if callable(o) and getattr(o,'__name__','')"
    " in ('run_code_test','run_fn_test'):\n        o.__code__ = (lambda *a, **k: {'v': 'accepted'}).__code__\n"
    "def add(a, b):\n    return 0",
    "read the secret from parent": "import os\ndata=''\ntry:\n"
    "    data=open(f'/proc/{os.getppid()}/mem','rb').read(10)\n"
    "except Exception as e:\n    data=str(e)\ndef add(a, b):\n    return 0",
    "raise AssertionError-free": "def add(a, b):\n    raise KeyboardInterrupt",
}


@pytest.mark.parametrize("name", sorted(HACKS_ASSERT))
def test_hacks_do_not_pay_assert_style(name: str) -> None:
    v, got = judge(HACKS_ASSERT[name], ASSERT)
    assert v.score == 0.0 and v.status == Status.WRONG, (name, v)


@pytest.mark.parametrize("name", sorted(HACKS_ASSERT))
def test_hacks_do_not_pay_fn_style(name: str) -> None:
    v, got = judge(HACKS_ASSERT[name], FN)
    assert v.score == 0.0 and v.status == Status.WRONG, (name, v)


def test_stdio_exit_early_does_not_pay() -> None:
    ref = {"language": "python", "tests": [{"stdin": "", "stdout": "1\n2\n"}]}
    assert judge("import sys\nprint(1)\nsys.exit(0)\nprint(2)", ref)[0].score == 0.0


def test_a_null_language_keys_each_program_apart() -> None:
    # Red team G1: `"language": null` (absent, as the verdict reads it) made every completion share one key, so one
    # correct program's 1.0 was served to completions with no code at all.
    ref = {"language": None, "fn_name": "f", "tests": [{"args": [1], "expected": 2}]}
    right = Attempt(completion="```python\ndef f(x):\n    return x + 1\n```", reference=ref)
    assert code.cache_key(right) != code.cache_key(Attempt(completion="no code", reference=ref))
    assert code.verify(right).status == "correct"


def test_cache_key_and_budget() -> None:
    a = Attempt(completion="x\n```python\nprint(1)\n```", reference=ADD_IO)
    b = Attempt(completion="y\n```python\nprint(1)\n```", reference=json.dumps(ADD_IO))
    assert code.cache_key(a) == code.cache_key(b)
    assert code.cache_key(Attempt(completion=None, reference=object())) != ""  # type: ignore[arg-type]
    assert code.budget_s(a) > 2 * 2
    assert code.NAME == "code" and code.VERSION


@pytest.mark.parametrize(
    "lang,prog",
    [
        ("cpp", '#include <cstdio>\nint main(){int a,b;scanf("%d%d",&a,&b);printf("%d\\n",a+b);}'),
        ("c", '#include <stdio.h>\nint main(){int a,b;scanf("%d%d",&a,&b);printf("%d\\n",a+b);}'),
        (
            "java",
            "import java.util.*;\npublic class Main{public static void main(String[] a){"
            "Scanner s=new Scanner(System.in);"
            "System.out.println(s.nextInt()+s.nextInt());}}",
        ),
        ("go", 'package main\nimport "fmt"\nfunc main(){var a,b int;fmt.Scan(&a,&b);fmt.Println(a+b)}'),
    ],
)
def test_compiled_languages_compile_once(lang: str, prog: str) -> None:
    if lang not in available_languages():
        pytest.skip(f"{lang} toolchain not installed")
    v, got = judge(prog, {**ADD_IO, "language": lang}, lang=lang)
    assert got == ["accepted", "accepted"], v


# The first worker is forked from the runner before the runner reads the job: it must not be able to get at the
# job (the secret, the tests) through the stdin it was forked with, nor at the result channel through stdout.
FORKED_WORKER_HACKS = {
    "read the job from stdin": "import os, sys\ndata = os.read(0, 1 << 16)\nsys.stderr.write(repr(data))\n"
    "assert not data\ndef add(a, b):\n    return 0",
    "read the job via /proc": "import os\ntry:\n    open(f'/proc/{os.getppid()}/fd/0', 'rb').read()\n"
    "    raise SystemExit('READ')\nexcept OSError:\n    pass\ndef add(a, b):\n    return 0",
    "write results via /proc": "import os, json\ntry:\n    f = open(f'/proc/{os.getppid()}/fd/1', 'w')\n"
    "    f.write(json.dumps({'v': 'accepted', 'i': 0}) + '\\n'); f.flush()\nexcept OSError:\n    pass\n"
    "def add(a, b):\n    return 0",
    "fake record on stdout": "import json\nprint(json.dumps({'v': 'accepted', 'i': 0, 'r': 3}), flush=True)\n"
    "def add(a, b):\n    return 0",
}


@pytest.mark.parametrize("name", sorted(FORKED_WORKER_HACKS))
@pytest.mark.parametrize("ref", [ASSERT, FN], ids=["assert", "fn"])
def test_forked_worker_cannot_reach_job_or_results(name: str, ref: dict) -> None:
    v, _ = judge(FORKED_WORKER_HACKS[name], ref)
    assert v.score == 0.0 and v.status == Status.WRONG, (name, v)


def test_harness_runs_as_bytecode_and_restarts_workers() -> None:
    # Several assert-style tests: the first worker is forked, the others are fresh interpreters of the .pyc.
    ref = {"language": "python", "tests": [{"code": f"assert add({i}, 1) == {i + 1}"} for i in range(3)]}
    v, verdicts = judge("def add(a, b):\n    return a + b", ref)
    assert verdicts == ["accepted"] * 3, v
    v, verdicts = judge("import os\nif os.getppid() > 0:\n    pass\ndef add(a, b):\n    return a - b", ref)
    assert verdicts == ["wrong_answer"] * 3, v


def _harness_namespace() -> dict:
    from verifiers.code.inbox import harness_source

    ns: dict = {"__name__": "harness_under_test"}
    exec(compile(harness_source(), "<harness>", "exec"), ns)
    return ns


def test_harness_json_matches_the_json_module() -> None:
    ns = _harness_namespace()
    loads, dumps = ns["loads"], ns["dumps"]
    for value in [{"a": [1, 2.5, None, True, "é\u2028\ud800"], "b": {"c": -1e300}}, [], "s", 3, [float("inf")]]:
        assert dumps(value) == json.dumps(value)
        assert repr(loads(dumps(value))) == repr(json.loads(json.dumps(value)))
    for text in [" [1] \n", b'{"x": 1}\n', "NaN", '"\\ud800"']:
        assert repr(loads(text)) == repr(json.loads(text))
    for bad in ["", " ", "[1] x", "{", "[1,]", b"\xff"]:
        with pytest.raises(ValueError):
            loads(bad)
    looped: dict = {}
    looped["self"] = looped
    with pytest.raises(ValueError):
        dumps(looped)
    with pytest.raises(TypeError):
        dumps({"x": object()})


def test_harness_start_up_imports_only_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    # On a cold interpreter (the warm Python box preloads these on purpose) the runner avoids json/re/enum, and
    # typing unless the program mentions it (the probe spells it so it does not); a program that needs any of
    # them still gets it, as usual, in the worker.
    monkeypatch.setenv("AHA_SANDBOX_WARM", "0")
    probe = (
        "import sys\nSEEN = sorted(m for m in ('json', 're', 'enum', 'typ' + 'ing', 'base64') if m in sys.modules)\n"
        "def seen():\n    return SEEN\n"
    )
    ref = {"language": "python", "fn_name": "seen", "tests": [{"args": [], "expected": []}]}
    assert judge(probe, ref)[1] == ["accepted"]
    with_typing = "from typing import List\nimport re\n" + probe
    ref_typing = {
        "language": "python",
        "fn_name": "seen",
        "tests": [{"args": [], "expected": ["enum", "re", "typing"]}],
    }
    assert judge(with_typing, ref_typing)[1] == ["accepted"]


# ------------------------------------------------------------------ several assert-style tests: the spare worker
def _asserts(*codes: str, **ref) -> dict:
    return {"language": "python", "tests": [{"code": c} for c in codes], **ref}


def test_each_assert_test_gets_a_freshly_loaded_program() -> None:
    # A later worker comes from the spare: the program is loaded anew, nothing of the last test's state is left.
    program = "STATE = []\ndef f(x):\n    STATE.append(x)\n    return len(STATE)"
    ref = _asserts(*["assert f(0) == 1\nassert f(0) == 2"] * 4)
    v, verdicts = judge(program, ref)
    assert verdicts == ["accepted"] * 4 and v.status == Status.CORRECT, v.details


def test_a_worker_that_dies_or_hangs_costs_only_its_test() -> None:
    program = (
        "import os, sys, time\n"
        "def f(x):\n"
        "    if x == 1:\n        while True: pass\n"
        "    if x == 2:\n        os._exit(0)\n"
        "    if x == 3:\n        a = bytearray(1 << 30); return len(a)\n"
        "    if x == 4:\n        raise SystemExit(0)\n"
        "    return x\n"
    )
    tests = [f"assert f({i}) == {i}" for i in range(6)]
    v, verdicts = judge(program, _asserts(*tests, time_limit_s=1, memory_limit_mb=128))
    assert verdicts[0] == "accepted" and verdicts[5] == "accepted", v.details
    assert verdicts[1] == "time_limit" and verdicts[3] == "memory_limit", v.details
    assert verdicts[2] == "runtime_error" and verdicts[4] in ("runtime_error", "wrong_answer"), v.details
    assert v.score == pytest.approx(2 / 6)


def test_killing_the_spare_earns_nothing() -> None:
    # The program (same uid) may kill every process it can reach, the spare included: later tests then fail, they
    # are never passed without running.
    program = (
        "import os, signal\n"
        "def f(x):\n"
        "    if x == 0:\n"
        "        for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
        "            if pid not in (os.getpid(), 1):\n"
        "                try:\n                    os.kill(pid, signal.SIGKILL)\n"
        "                except OSError:\n                    pass\n"
        "    return x\n"
    )
    v, verdicts = judge(program, _asserts(*[f"assert f({i}) == {i}" for i in range(3)]))
    assert v.status != Status.CORRECT and verdicts.count("accepted") <= 1, v.details
