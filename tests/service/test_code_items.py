"""Code items of every installed language through the engine's worker processes (their memory limit included)."""

from __future__ import annotations

import asyncio

import pytest

from sandboxes import available_languages
from service.engine import build_engine
from service.models import ScoreRequest
from service.settings import Settings

PROGRAMS = {
    "python": "import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)",
    "c": '#include <stdio.h>\nint main(){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);}',
    "cpp": "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}",
    "java": "import java.util.*;\npublic class Main { public static void main(String[] x){"
    " Scanner s=new Scanner(System.in); long a=s.nextLong(), b=s.nextLong(); System.out.println(a+b);} }",
    "nodejs": "const v=require('fs').readFileSync(0,'utf8').trim().split(/\\s+/).map(Number);console.log(v[0]+v[1]);",
    "go": 'package main\nimport "fmt"\nfunc main(){ var a,b int64; fmt.Scan(&a,&b); fmt.Println(a+b) }',
    "rust": "use std::io::*;\nfn main(){let mut s=String::new();stdin().read_to_string(&mut s).unwrap();"
    'let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();println!("{}",v[0]+v[1]);}',
}
FENCE = {"nodejs": "javascript"}
TESTS = [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "40 2\n", "stdout": "42\n"}]


def test_every_available_language_scores_through_the_engine():
    languages = [lang for lang in PROGRAMS if lang in available_languages()]
    if not languages:
        pytest.skip("no language toolchain is installed")
    items = []
    for lang in languages:
        fence = FENCE.get(lang, lang)
        good = f"<think>easy</think>\n```{fence}\n{PROGRAMS[lang]}\n```"
        wrong = PROGRAMS[lang].replace("a+b", "a-b").replace("a + b", "a - b").replace("v[0]+v[1]", "v[0]")
        bad = f"```{fence}\n{wrong}\n```"
        ref = {"language": lang, "tests": TESTS}
        items += [
            {"id": f"{lang}-ok", "task": "code", "completion": good, "reference": ref},
            {"id": f"{lang}-bad", "task": "code", "completion": bad, "reference": ref},
        ]
    engine = build_engine(Settings(workers=2))
    try:
        out = asyncio.run(engine.score(ScoreRequest(items=items, profile="r1-zero", weights={"format": 0.0})))
    finally:
        asyncio.run(engine.close())
    by_id = {r.id: r for r in out.results}
    for lang in languages:
        ok, bad = by_id[f"{lang}-ok"], by_id[f"{lang}-bad"]
        assert (ok.status, ok.reward) == ("correct", 1.0), (lang, ok.reason)
        assert bad.status == "wrong" and bad.reward == 0.0, (lang, bad.reason)
    assert {"python", "c", "cpp"} <= set(languages), "the set-up installs at least these toolchains"
