"""The bwrap sandbox with real toolchains: every language runs a known program, every limit is reachable."""

from __future__ import annotations

import os

import pytest

from sandboxes import Limits, RunStatus, available_languages, get_recipe, get_sandbox, isolation_report
from sandboxes.programs import compile_program, prepared, run_program

pytestmark = pytest.mark.skipif(isolation_report("bwrap").get("bwrap_version") is None, reason="bwrap missing")

ADD = {
    "python": "print(sum(map(int, input().split())))",
    "c": '#include <stdio.h>\nint main(){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);return 0;}',
    "cpp": '#include <iostream>\nint main(){int a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}',
    "java": "import java.util.*;\npublic class Main { public static void main(String[] x){"
    "Scanner s=new Scanner(System.in);System.out.println(s.nextInt()+s.nextInt());}}",
    "nodejs": 'const l=require("fs").readFileSync(0,"utf8").trim().split(/\\s+/).map(Number);console.log(l[0]+l[1]);',
    "go": 'package main\nimport "fmt"\nfunc main(){var a,b int;fmt.Scan(&a,&b);fmt.Println(a+b)}',
    "rust": "use std::io::*;\nfn main(){let mut s=String::new();stdin().read_to_string(&mut s).unwrap();"
    'let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();println!("{}",v[0]+v[1]);}',
}


def _run(lang: str, code: str, stdin: bytes = b"", **kw) -> tuple:
    sandbox = get_sandbox("bwrap")
    with prepared(get_recipe(lang), code) as prog:
        comp = compile_program(sandbox, prog)
        if comp is not None and comp.status != RunStatus.OK:
            return comp, None
        return comp, run_program(sandbox, prog, stdin=stdin, limits=Limits(**kw))


@pytest.mark.parametrize("lang", sorted(ADD))
@pytest.mark.usefixtures("python_path")  # the warm box runs every language too
def test_every_language_compiles_and_runs(lang: str) -> None:
    if lang not in available_languages():
        pytest.skip(f"{lang} toolchain not installed")
    comp, res = _run(lang, ADD[lang], b"2 40\n", cpu_s=5, wall_s=10, memory_mb=256)
    assert res is not None, comp
    assert res.status == RunStatus.OK, res
    assert res.stdout.strip() == b"42"


def test_report_is_cheap_and_says_how() -> None:
    rep = isolation_report("bwrap")
    assert rep["backend"] == "bwrap" and rep["cgroups"] in ("v1", "v2", "none")
    assert rep["runs"] in ("clones of a warm box", "cold sandbox per run")
    assert "python" in available_languages()


@pytest.mark.usefixtures("python_path")
def test_runtime_error_and_exit_code() -> None:
    _, res = _run("python", "import sys; sys.exit(3)")
    assert res.status == RunStatus.RUNTIME_ERROR and res.exit_code == 3


@pytest.mark.usefixtures("python_path")
def test_time_limit_cpu() -> None:
    _, res = _run("python", "while True: pass", cpu_s=1, wall_s=5)
    assert res.status == RunStatus.TIME_LIMIT


@pytest.mark.usefixtures("python_path")
def test_time_limit_wall_sleep() -> None:
    _, res = _run("python", "import time; time.sleep(30)", cpu_s=1, wall_s=1)
    assert res.status == RunStatus.TIME_LIMIT and res.wall_s < 5


@pytest.mark.usefixtures("python_path")
def test_memory_limit() -> None:
    _, res = _run("python", "x = bytearray(600 * 1024 * 1024); print(len(x))", memory_mb=128)
    assert res.status == RunStatus.MEMORY_LIMIT, res


@pytest.mark.usefixtures("python_path")
def test_output_limit_kills_flood() -> None:
    _, res = _run("python", "while True: print('y' * 1000)", output_bytes=100_000, wall_s=10)
    assert res.status == RunStatus.OUTPUT_LIMIT and res.stdout_truncated and len(res.stdout) <= 100_000


@pytest.mark.usefixtures("python_path")
def test_stderr_capped_and_flagged() -> None:
    _, res = _run("python", "import sys; sys.stderr.write('e' * 300000)", output_bytes=1000)
    assert res.status == RunStatus.OK and res.stderr_truncated and len(res.stderr) == 1000


@pytest.mark.usefixtures("python_path")
def test_closed_outputs_then_spin_still_times_out() -> None:
    _, res = _run("python", "import os\nos.close(1); os.close(2)\nwhile True: pass", cpu_s=30, wall_s=1.5)
    assert res.status == RunStatus.TIME_LIMIT


# ------------------------------------------------------------------------------------ launchers and cgroups
needs_cgroups = pytest.mark.skipif(
    isolation_report("bwrap").get("cgroups") == "none", reason="launchers are used with cgroups only"
)


@needs_cgroups
@pytest.mark.usefixtures("python_path")
def test_limits_apply_to_the_program() -> None:
    # The launcher sets the rlimits before it execs bwrap: the program must see them (and cannot raise them).
    code = (
        "import resource\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE), resource.getrlimit(resource.RLIMIT_CPU))\n"
        "try:\n    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096)); print('RAISED')\n"
        "except (ValueError, OSError):\n    print('kept')"
    )
    _, res = _run("python", code, cpu_s=3, open_files=77)
    assert res.status == RunStatus.OK, res
    assert res.stdout.split(b"\n")[:2] == [b"(77, 77) (3, 4)", b"kept"]


@needs_cgroups
@pytest.mark.usefixtures("python_path")
def test_no_memory_or_processes_carry_over_between_runs() -> None:
    # Each run gets a fresh cgroup prepared ahead: a big run must not raise the next runs' peak, and nothing
    # a run left running may be found by the next one on the same slot.
    _, big = _run("python", "x = bytearray(200 * 1024 * 1024); print(len(x))", memory_mb=400)
    assert big.status == RunStatus.OK and (big.peak_memory_bytes or 0) > 200 << 20, big
    spawn = "import subprocess\nsubprocess.Popen(['sleep', '60'], start_new_session=True)\nprint('left')"
    _, res = _run("python", spawn)
    assert res.status == RunStatus.OK and res.stdout == b"left\n"
    for _ in range(4):  # whichever slot comes up
        _, small = _run("python", "import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))")
        assert small.status == RunStatus.OK, small
        assert (small.peak_memory_bytes or 0) < 100 << 20, small
        assert int(small.stdout) <= 3  # the run's init, the program (and nothing from before)


@needs_cgroups
def test_waiting_launchers_hold_nothing_but_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    from sandboxes import cgroups
    from sandboxes.bwrap import launchers

    monkeypatch.setenv("AHA_SANDBOX_WARM", "0")  # launchers serve cold runs

    _run("python", "print(1)")
    pool = launchers.pool()
    for _ in range(100):  # refills happen in the background
        with pool.lock:
            if not pool.making.get(0) and not pool.making.get(1):
                break
        __import__("time").sleep(0.05)
    with pool.lock:
        waiting = [x for queue in pool.ready.values() for x in queue]
    assert waiting
    for launcher in waiting:
        assert launcher.alive()
        assert launcher.group.pids() == [launcher.pid]  # only the idle launcher, as our own uid (not the slot's)
        assert os.stat(f"/proc/{launcher.pid}").st_uid == os.geteuid()
    dirs = [d for x in waiting for d in x.group.dirs()]
    pool.close()
    assert not any(d.exists() for d in dirs)
    assert isinstance(cgroups.detect(), cgroups.CgroupSetup)
