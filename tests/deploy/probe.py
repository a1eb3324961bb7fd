"""What a deployment must get right, as `/v1/score` items with the verdict each must get: math, format, one correct
and one wrong program in each of the seven languages, and the programs that test the per-run limits.

Used by the deployment tests against a container and by `python -m tests.deploy.probe URL KEY` by hand.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import httpx

FENCE = "`" * 3

# Each reads two integers and prints their sum; the wrong ones print the difference.
SUM_PROGRAMS: dict[str, str] = {
    "python": "a, b = map(int, input().split())\nprint(a + b)\n",
    "c": '#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);return 0;}\n',
    "cpp": "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}\n",
    "java": (
        "import java.util.*;\npublic class Main { public static void main(String[] x) {"
        " Scanner s = new Scanner(System.in); long a = s.nextLong(), b = s.nextLong();"
        " System.out.println(a + b); } }\n"
    ),
    "nodejs": (
        "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n"
    ),
    "go": ('package main\nimport "fmt"\nfunc main() { var a, b int64; fmt.Scan(&a, &b); fmt.Println(a + b) }\n'),
    "rust": (
        "use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap();"
        " let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();"
        ' println!("{}", v[0] + v[1]); }\n'
    ),
}
SUM_TESTS = [{"stdin": "2 3\n", "stdout": "5\n"}, {"stdin": "-7 10\n", "stdout": "3\n"}]

MEMORY_BOMB = "x = []\nwhile True:\n    x.append(bytearray(16 << 20))\n"
FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"


def wrong(language: str) -> str:
    """The language's sum program turned into a difference program (a wrong answer)."""
    program = SUM_PROGRAMS[language]
    return program.replace("a + b", "a - b").replace("a+b", "a-b").replace("v[0] + v[1]", "v[0] - v[1]")


def code_item(item_id: str, language: str, program: str, tests: list[dict] | None = None, **ref: Any) -> dict:
    """A code item whose completion is `program` in a fence of `language`."""
    completion = f"{FENCE}{language}\n{program}{FENCE}\n"
    reference = {"language": language, "tests": tests or SUM_TESTS, **ref}
    return {"id": item_id, "task": "code", "completion": completion, "reference": reference}


@dataclass(frozen=True)
class Expect:
    """What one item must come back as: its reward (None = undecided) and, when given, its accuracy status."""

    reward: float | None
    status: str | None = None


def correctness_items() -> list[tuple[dict, Expect]]:
    """Math, format and all seven languages, each right and wrong: every reward is known."""
    items: list[tuple[dict, Expect]] = [
        (
            {"id": "math-right", "task": "math", "completion": "so \\boxed{\\frac{1}{2}}", "reference": "0.5"},
            Expect(1.0),
        ),
        ({"id": "math-wrong", "task": "math", "completion": "so \\boxed{3}", "reference": "1/2"}, Expect(0.0)),
    ]
    for language in SUM_PROGRAMS:
        items.append((code_item(f"{language}-right", language, SUM_PROGRAMS[language]), Expect(1.0)))
        items.append((code_item(f"{language}-wrong", language, wrong(language)), Expect(0.0)))
    return items


def format_items() -> list[tuple[dict, Expect]]:
    """Format-only items (profile `format`): the R1-Zero layout, held and broken."""
    return [
        ({"id": "format-right", "task": "format", "completion": "<think>a</think><answer>b</answer>"}, Expect(1.0)),
        ({"id": "format-wrong", "task": "format", "completion": "no tags at all"}, Expect(0.0)),
    ]


def limit_items() -> list[tuple[dict, Expect]]:
    """A memory bomb (undecided `out_of_memory`... or a 0 with `memory_limit`), a fork bomb, then a clean run."""
    return [
        (code_item("memory-bomb", "python", MEMORY_BOMB, memory_limit_mb=128), Expect(0.0, "memory_limit")),
        (code_item("fork-bomb", "python", FORK_BOMB), Expect(0.0)),
        (code_item("after-bombs", "python", SUM_PROGRAMS["python"]), Expect(1.0)),
    ]


def score(url: str, key: str, items: list[dict], profile: str | None = None, timeout: float = 300) -> list[dict]:
    """POST the items to `url`/v1/score; the results in order (raises on an HTTP error)."""
    body: dict[str, Any] = {"items": items}
    if profile:
        body["profile"] = profile
    r = httpx.post(f"{url}/v1/score", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=timeout)
    r.raise_for_status()
    return r.json()["results"]


def mismatches(pairs: list[tuple[dict, Expect]], results: list[dict]) -> list[str]:
    """One line per item whose reward (or status) is not what it must be; empty when all are right."""
    out = []
    for (item, want), got in zip(pairs, results, strict=True):
        acc = (got.get("details") or {}).get("accuracy") or {}
        tests = acc.get("tests") or acc.get("results") or []
        statuses = {t.get("verdict") for t in tests if isinstance(t, dict)}
        if got["reward"] != want.reward or (want.status and want.status not in statuses | {acc.get("status")}):
            out.append(
                f"{item['id']}: reward {got['reward']} (want {want.reward}), status {got['status']}, "
                f"reason {got.get('reason')!r}, accuracy {json.dumps(acc)[:400]}"
            )
    return out


def main() -> int:
    url, key = sys.argv[1], sys.argv[2]
    bad = []
    for pairs, profile in ((correctness_items(), None), (format_items(), "format"), (limit_items(), None)):
        bad += mismatches(pairs, score(url, key, [item for item, _ in pairs], profile))
    print("\n".join(bad) or "all right")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
