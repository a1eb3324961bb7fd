"""Compile once, run every test in the sandbox, compare outside it."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sandboxes import Limits, RunResult, RunStatus, Sandbox, available_languages
from sandboxes.programs import Program, compile_program, prepared, run_program
from verifiers.code.compare import compare_output, values_equal
from verifiers.code.inbox import HARNESS_NAME, HarnessCode, codec, harness_file
from verifiers.code.reference import Reference, Test
from verifiers.verdict import CaseVerdict, Status, Verdict

SETUP_NAME = "__aha_setup.py"  # the reference's setup, which the worker runs before the program
_NOT_THE_PROGRAMS_FAILURE = (CaseVerdict.ACCEPTED, CaseVerdict.SKIPPED, CaseVerdict.SANDBOX_ERROR)
_RUN_TO_VERDICT = {
    RunStatus.RUNTIME_ERROR: CaseVerdict.RUNTIME_ERROR,
    RunStatus.TIME_LIMIT: CaseVerdict.TIME_LIMIT,
    RunStatus.MEMORY_LIMIT: CaseVerdict.MEMORY_LIMIT,
    RunStatus.OUTPUT_LIMIT: CaseVerdict.OUTPUT_LIMIT,
}


@dataclass
class Outcome:
    """Per-test verdicts so far, plus what went wrong on our side if anything."""

    tests: list[dict[str, Any]] = field(default_factory=list)
    sandbox_error: str = ""
    compile: dict[str, Any] | None = None
    out_of_time: bool = False  # the item's time ran out with no failure of the program's to blame


# A runtime's own threads (a JVM's collector, V8's) add some CPU beyond the program's; forked workers add much more.
_TREE_CPU_SLACK = 1.25


def _clip(data: bytes | str, n: int = 300) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= n else text[:n] + "…"


def test_wall_s(time_limit_s: float) -> float:
    """Wall seconds one function or assert test may take in the harness (and what the code budget counts per test):
    time to load the program and run the test at its CPU limit, with room for a slow host."""
    return 3 * time_limit_s + 2


def _limits(ref: Reference, output_bytes: int) -> Limits:
    return Limits(
        cpu_s=ref.time_limit_s,
        wall_s=ref.time_limit_s * 2 + 1,
        memory_mb=ref.memory_limit_mb,
        stack_mb=min(ref.memory_limit_mb, 1024),
        output_bytes=output_bytes,
    )


def _run_verdict(res: RunResult) -> str:
    return _RUN_TO_VERDICT.get(res.status, CaseVerdict.RUNTIME_ERROR)


def _stdio_test(sandbox: Sandbox, prog: Program, ref: Reference, test: Test) -> dict[str, Any]:
    cap = max(1 << 20, 2 * len(test.stdout.encode()) + 4096)
    res = run_program(sandbox, prog, stdin=test.stdin.encode(), limits=_limits(ref, cap))
    entry: dict[str, Any] = {"kind": "stdio", "time_s": round(res.cpu_s, 4), "wall_s": round(res.wall_s, 4)}
    if res.peak_memory_bytes:
        entry["memory_mb"] = round(res.peak_memory_bytes / (1 << 20), 2)
    if res.status == RunStatus.SANDBOX_ERROR:
        return {**entry, "verdict": CaseVerdict.SANDBOX_ERROR, "error": res.reason}
    if res.status != RunStatus.OK:
        return {**entry, "verdict": _run_verdict(res), "stderr": _clip(res.stderr), "reason": res.reason}
    if res.cpu_s > ref.time_limit_s * _TREE_CPU_SLACK + 0.05:
        # The CPU rlimit is per process: work spread over forked children escapes it, the run's cgroup does not.
        why = f"the program's processes used {res.cpu_s:.2f} s of CPU, over the {ref.time_limit_s:g} s limit"
        return {**entry, "verdict": CaseVerdict.TIME_LIMIT, "reason": why}
    got = res.stdout.decode("utf-8", "replace")
    if compare_output(got, test.stdout, ref.compare, ref.abs_tol, ref.rel_tol):
        return {**entry, "verdict": CaseVerdict.ACCEPTED}
    return {**entry, "verdict": CaseVerdict.WRONG_ANSWER, "got": _clip(got, 100)}


def _harness_tests(
    sandbox: Sandbox,
    prog: Program,
    ref: Reference,
    tests: list[Test],
    mode: str,
    harness: str,
    wall_left: float = float("inf"),
) -> list[dict]:
    """Run fn or code tests through the two-process harness (`harness`: its file in the box) in one sandbox run."""
    secret = secrets.token_hex(16)
    per_test_wall = test_wall_s(ref.time_limit_s)
    job: dict[str, Any] = {"secret": secret, "mode": mode, "time_limit_s": ref.time_limit_s}
    job["test_wall_s"] = per_test_wall
    job["stop"] = ref.stop_at_first_failure
    job["fn_name"] = ref.fn_name
    if ref.setup:
        job["setup"] = ref.setup
    if mode == "fn":
        job["tests"] = [{"args": codec.enc(tuple(t.args)), "kwargs": codec.enc(dict(t.kwargs))} for t in tests]
    else:
        job["tests"] = [{"code": t.code} for t in tests]
    n = len(tests)
    limits = Limits(
        cpu_s=n * ref.time_limit_s + 2,
        # within the item's time: tests the run does not reach then fail with the run's time limit
        wall_s=min(n * per_test_wall + 5, max(wall_left - 1, ref.time_limit_s * 2 + 1)),
        memory_mb=ref.memory_limit_mb + 32,  # + the runner process
        stack_mb=min(ref.memory_limit_mb, 1024),
        pids=32,
        output_bytes=64 << 20,
    )
    res = run_program(
        sandbox,
        prog,
        # "+": assert-style tests after the first each need a fresh worker, so the runner makes a spare to fork them
        stdin=(b"+" if mode == "code" and n > 1 else b"-") + json.dumps(job).encode(),
        limits=limits,
        argv=(prog.recipe.run[0], "-I", "-B", f"/box/{harness}"),
    )
    kind = "fn" if mode == "fn" else "code"
    if res.status == RunStatus.SANDBOX_ERROR:
        return [{"kind": kind, "verdict": CaseVerdict.SANDBOX_ERROR, "error": res.reason} for _ in tests]
    records: dict[int, dict] = {}
    finished = False
    for line in res.stdout.decode("utf-8", "replace").splitlines():
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(rec, dict):
            continue
        if rec.get("done") == secret:
            finished = True
        elif isinstance(rec.get("i"), int) and 0 <= rec["i"] < n and not finished:
            records[rec["i"]] = rec
    # Work in children the worker never reaped is billed to no test; the run's cgroup still counts it. Past the
    # tests' own CPU (with slack for the runner and tick rounding), the time limits were dodged: no test passes.
    billed = sum(float(r.get("t") or 0.0) for r in records.values())
    unbilled = res.cpu_s > billed * _TREE_CPU_SLACK + 0.5 + 0.02 * n
    out = []
    for i, test in enumerate(tests):
        rec = records.get(i)
        entry: dict[str, Any] = {"kind": kind}
        if rec is None:
            if ref.stop_at_first_failure and finished:
                entry.update(verdict=CaseVerdict.SKIPPED)
            else:
                verdict = _run_verdict(res) if res.status != RunStatus.OK else CaseVerdict.RUNTIME_ERROR
                entry.update(verdict=verdict, error="the harness did not reach this test", stderr=_clip(res.stderr))
            out.append(entry)
            continue
        entry["time_s"] = rec.get("t")
        verdict = str(rec.get("v"))
        if verdict == HarnessCode.RETURNED:
            verdict = _fn_verdict(rec, test, ref, entry)
        elif verdict == HarnessCode.SETUP_ERROR:  # the reference's own code failed here: we cannot judge the program
            verdict = CaseVerdict.SANDBOX_ERROR
            rec["e"] = f"the reference's setup failed in the sandbox: {rec.get('e', '')}"
        if verdict == CaseVerdict.ACCEPTED and not finished:
            # No proof that the harness ran to its end (exit, kill or tampering): no credit.
            verdict = CaseVerdict.RUNTIME_ERROR
            entry["error"] = "the harness did not finish"
        if verdict == CaseVerdict.ACCEPTED and unbilled:
            verdict = CaseVerdict.TIME_LIMIT
            entry["error"] = f"the program's processes used {res.cpu_s:.2f} s of CPU, its tests {billed:.2f} s"
        entry["verdict"] = verdict
        if rec.get("e"):
            entry["error"] = _clip(str(rec["e"]))
        out.append(entry)
    return out


def _fn_verdict(rec: dict, test: Test, ref: Reference, entry: dict) -> str:
    """accepted or wrong_answer for a function's result; a result we cannot rebuild or compare is wrong, never ours."""
    try:
        got = codec.dec(rec.get("r"), rec.get("o") or ())
    except (codec.CodecError, RecursionError) as exc:
        rec["e"] = f"result is not plain data: {exc}"
        return CaseVerdict.WRONG_ANSWER
    if values_equal(got, test.expected, ref.value_rules):
        return CaseVerdict.ACCEPTED
    entry["got"] = _clip(json.dumps(rec.get("r"), default=repr), 100)
    return CaseVerdict.WRONG_ANSWER


def _budget_left(deadline: float | None) -> float:
    return float("inf") if deadline is None else deadline - time.monotonic()


def _program_spent_it(ref: Reference, results: dict[int, dict]) -> bool:
    """Whether the program's own runs used the item's time: a time-limit failure, or runs that took on average at
    least half the time limit each (a program that sleeps just under the wall limit, test after test)."""
    if any(r.get("verdict") == CaseVerdict.TIME_LIMIT for r in results.values()):
        return True
    walls = [float(r["wall_s"]) for r in results.values() if isinstance(r.get("wall_s"), int | float)]
    return bool(walls) and sum(walls) / len(walls) >= ref.time_limit_s / 2


def _out_of_time(ref: Reference, results: dict[int, dict], todo: list[int], kind: str, outcome: Outcome) -> None:
    """The item's time is spent before these tests could run. When the program's own slow runs spent it, they are
    failures too (a sleeping program must not turn its 0 into an undecided timeout); otherwise the host was slow and
    the verdict is undecided."""
    if _program_spent_it(ref, results):
        why = "not run: the item's time was spent on the program's own slow runs"
        for i in todo:
            results[i] = {"kind": kind, "verdict": CaseVerdict.TIME_LIMIT, "reason": why}
    elif any(r.get("verdict") not in _NOT_THE_PROGRAMS_FAILURE for r in results.values()):
        # The program already failed a test: that decides the item (a slow wrong program must not turn its 0 into
        # an undecided timeout by running the item's time out); the tests not run earn nothing.
        why = "not run: the item's time ran out after a failed test"
        for i in todo:
            results[i] = {"kind": kind, "verdict": CaseVerdict.SKIPPED, "reason": why}
    else:
        outcome.out_of_time = True


def judge(ref: Reference, program: str, sandbox: Sandbox, deadline: float | None = None) -> Outcome:
    """Compile the program once and run every test in `sandbox`; per-test verdicts in order.

    `deadline` (a `time.monotonic()` value) is when the judgement must be over: tests that cannot finish by then are
    not started (see `_out_of_time`).
    """
    outcome = Outcome()
    if ref.recipe.name not in available_languages(sandbox.settings):
        outcome.sandbox_error = f"language {ref.recipe.name} is not available on this host"
        return outcome
    files = {}
    harness = HARNESS_NAME
    if any(t.kind in ("fn", "code") for t in ref.tests):
        harness, data = harness_file(ref.recipe.run[0])
        files[harness] = data
        if ref.setup:
            files[SETUP_NAME] = ref.setup.encode("utf-8", "surrogatepass")
    with prepared(ref.recipe, program, files, work_dir=sandbox.settings.work_dir) as prog:
        comp = compile_program(sandbox, prog)
        if comp is not None:
            outcome.compile = {"status": str(comp.status), "time_s": round(comp.wall_s, 3)}
            if comp.status == RunStatus.SANDBOX_ERROR:
                outcome.sandbox_error = f"compile: {comp.reason}"
                return outcome
            if comp.status != RunStatus.OK:
                outcome.compile["stderr"] = _clip(comp.stderr, 1000)
                outcome.tests = [{"kind": t.kind, "verdict": CaseVerdict.COMPILE_ERROR} for t in ref.tests]
                return outcome
        results: dict[int, dict] = {}
        groups: dict[str, list[int]] = {"fn": [], "code": []}
        for i, t in enumerate(ref.tests):
            if t.kind in groups:
                groups[t.kind].append(i)
        failed = False
        stdio = [i for i, t in enumerate(ref.tests) if t.kind == "stdio"]
        for pos, i in enumerate(stdio):
            if failed and ref.stop_at_first_failure:
                results[i] = {"kind": "stdio", "verdict": CaseVerdict.SKIPPED}
                continue
            if _budget_left(deadline) < _limits(ref, 0).wall_s + 1:
                _out_of_time(ref, results, stdio[pos:], "stdio", outcome)
                break
            results[i] = _stdio_test(sandbox, prog, ref, ref.tests[i])
            failed = failed or results[i]["verdict"] != CaseVerdict.ACCEPTED
        if outcome.out_of_time:
            return outcome
        for mode, idx in groups.items():
            if not idx:
                continue
            if failed and ref.stop_at_first_failure:
                for i in idx:
                    results[i] = {"kind": mode, "verdict": CaseVerdict.SKIPPED}
                continue
            if _budget_left(deadline) < ref.time_limit_s * 2 + 1:
                _out_of_time(ref, results, idx, mode, outcome)
                if outcome.out_of_time:
                    return outcome
                continue
            tests = [ref.tests[i] for i in idx]
            for i, entry in zip(
                idx, _harness_tests(sandbox, prog, ref, tests, mode, harness, _budget_left(deadline)), strict=True
            ):
                results[i] = entry
                failed = failed or entry["verdict"] != CaseVerdict.ACCEPTED
        outcome.tests = [results[i] for i in range(len(ref.tests))]
        errors = [t.get("error", "") for t in outcome.tests if t["verdict"] == CaseVerdict.SANDBOX_ERROR]
        if errors:
            outcome.sandbox_error = errors[0]
    return outcome


def to_verdict(ref: Reference, outcome: Outcome, program: str) -> Verdict:
    """Score and status from the per-test verdicts."""
    details: dict[str, Any] = {"language": ref.recipe.name, "program_chars": len(program), "score_mode": ref.score}
    if outcome.compile is not None:
        details["compile"] = outcome.compile
    if outcome.sandbox_error:
        details["tests"] = outcome.tests
        return Verdict(0.0, Status.SANDBOX_ERROR, f"sandbox error: {outcome.sandbox_error}"[:300], details)
    if outcome.out_of_time:
        details["tests"] = outcome.tests
        return Verdict(0.0, Status.TIMEOUT, "the item's time ran out before every test could run", details)
    tests = outcome.tests
    incomplete = next((t for t in tests if t["verdict"] == CaseVerdict.REFERENCE_INCOMPLETE), None)
    if incomplete is not None:  # the reference cannot judge the program: no reward either way
        details["tests"] = tests
        why = str(incomplete.get("error", "incomplete reference"))[:300]
        return Verdict(0.0, Status.INVALID_REFERENCE, why, details)
    passed = sum(t["verdict"] == CaseVerdict.ACCEPTED for t in tests)
    total = len(tests)
    details.update(tests=tests, passed=passed, total=total)
    if total and passed == total:
        return Verdict(1.0, Status.CORRECT, f"all {total} tests passed", details)
    score = 0.0 if ref.score == "all" else passed / total
    if tests and all(t["verdict"] == CaseVerdict.COMPILE_ERROR for t in tests):
        details[CaseVerdict.COMPILE_ERROR] = True
        return Verdict(0.0, Status.WRONG, "compile_error", details)
    first = next(t for t in tests if t["verdict"] != CaseVerdict.ACCEPTED)
    return Verdict(score, Status.WRONG, f"{passed}/{total} tests passed; first failure: {first['verdict']}", details)
