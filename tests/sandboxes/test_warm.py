"""The warm box: runs end as they do in a cold sandbox, and nothing passes from one run to the next."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from sandboxes import Limits, RunSpec, RunStatus, get_recipe, get_sandbox, isolation_report
from sandboxes.bwrap import warm
from sandboxes.programs import prepared, run_program

pytestmark = pytest.mark.skipif(
    isolation_report("bwrap").get("cgroups") in (None, "none"), reason="the warm box needs per-box cgroups"
)


@pytest.fixture(autouse=True)
def one_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """One slot, so consecutive runs share one box (the case where something could carry over)."""
    monkeypatch.setenv("AHA_SANDBOX_SLOTS", "1")
    monkeypatch.setenv("AHA_SANDBOX_WARM", "1")


def run_py(code: str, stdin: bytes = b"", **kw):
    with prepared(get_recipe("python"), code) as prog:
        return run_program(get_sandbox("bwrap"), prog, stdin=stdin, limits=Limits(**kw))


def test_runs_use_a_warm_interpreter() -> None:
    res = run_py("import sys\nprint('typing' in sys.modules)")
    assert res.status == RunStatus.OK and res.stdout == b"True\n", res  # preloaded, never imported by the program
    assert warm.box_pids()


def test_the_program_gets_fresh_namespaces_and_no_privileges() -> None:
    code = r"""
import os, socket
status = dict(line.split(':', 1) for line in open('/proc/self/status'))
print([status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs')])
print(os.getuid(), os.getgid(), os.getpid(), sorted(p for p in os.listdir('/proc') if p.isdigit()))
print(socket.gethostname(), sorted(os.listdir('/tmp')), sorted(os.listdir('/dev/shm')))
for path in ('/box/x', '/dev/x', '/usr/x', '/x'):
    try:
        open(path, 'w'); print('WROTE', path)
    except OSError:
        pass
open('/tmp/ok', 'w').write('1'); open('/dev/shm/ok', 'w').write('1')
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); c = socket.create_connection(s.getsockname())
print('loopback', sorted(os.listdir('/sys/class/net')) if os.path.isdir('/sys/class/net') else 'no /sys')
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
# no new user namespace (where capabilities could be had again), no mount namespace, no mounts, no chroot
print([libc.unshare(flag) for flag in (0x10000000, 0x00020000)], libc.umount2(b'/aha-work', 2),
      libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), libc.chroot(b'/tmp'), os.listdir('/aha-work'))
"""
    res = run_py(code)
    assert res.status == RunStatus.OK, res
    lines = res.stdout.decode().splitlines()
    zero = "0000000000000000"
    assert lines[0] == str([zero, zero, zero, zero, zero, "1"])
    assert lines[1] == "1000 1000 2 ['1', '2']"  # the run's own init and the program: no zygote, no other run
    assert lines[2] == "sandbox [] []"
    assert "WROTE" not in res.stdout.decode()
    assert lines[3].startswith("loopback")
    assert lines[4] == "[-1, -1] -1 -1 -1 []", lines  # and the work dir of other programs is covered, empty


def test_nothing_carries_over_between_runs_of_one_box() -> None:
    leave = r"""
import ctypes, os, random, typing
typing.LEAK = 1
open('/tmp/leak', 'w').write('x'); open('/dev/shm/leak', 'w').write('x')
libc = ctypes.CDLL(None, use_errno=True)
for ring in (-4, -5):  # the user and user-session keyrings
    libc.syscall(248, b'user', b'leak%d' % -ring, b'secret', 6, ring)  # add_key (x86_64)
shm = libc.shmget(0x4A4A, 4096, 0o1666)  # IPC_CREAT | 0666
print(random.random(), shm >= 0)
"""
    look = r"""
import ctypes, os, random, typing
libc = ctypes.CDLL(None, use_errno=True)
found = [libc.syscall(250, 10, b'user', b'leak%d' % -ring, 0) for ring in (-4, -5)]  # KEYCTL_SEARCH
print(random.random(), hasattr(typing, 'LEAK'), os.listdir('/tmp'), os.listdir('/dev/shm'), found,
      libc.shmget(0x4A4A, 0, 0) >= 0)
"""
    if os.uname().machine != "x86_64":
        pytest.skip("the probe uses x86_64 system call numbers")
    first = run_py(leave)
    assert first.status == RunStatus.OK and first.stdout.split()[1] == b"True", first
    second = run_py(look)
    assert second.status == RunStatus.OK, second
    rnd, rest = second.stdout.split(b" ", 1)
    assert rnd != first.stdout.split()[0]  # random state is not shared through the zygote
    assert rest == b"False [] [] [-1, -1] False\n"


PROGRAMS = {
    "exit code": "import sys\nsys.exit(3)",
    "exit message": "import sys\nsys.exit('bye')",
    "exit none": "raise SystemExit",
    "os._exit": "import os\nprint('x', flush=True)\nos._exit(5)",
    "traceback": "def f():\n    raise ValueError('boom')\nf()",
    "keyboard interrupt": "raise KeyboardInterrupt",
    "atexit": "import atexit\natexit.register(print, 'at exit')\nprint('main')",
    "thread joined": "import threading, time\n"
    "def late():\n    time.sleep(0.05)\n    print('thread')\nthreading.Thread(target=late).start()\nprint('main')",
    "unflushed file": "out = open(1, 'w', closefd=False)\nout.write('through a second file object\\n')",
    "__del__": "class A:\n    def __del__(self):\n        print('deleted')\na = A()\nprint('main')",
    "stdin": "import sys\nprint(sys.stdin.read()[::-1])",
    "input at EOF": "input()\ninput()",
    "argv and main": "import sys\nprint(sys.argv, __name__, __file__, __builtins__.__name__)",
    "syntax error": "def f(:\n    pass",
    "recursion": "def f(n):\n    return f(n + 1)\nf(0)",
    "self signal": "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)",
    "stderr": "import sys\nsys.stderr.write('to stderr\\n')\nprint('to stdout')",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_warm_and_cold_runs_end_the_same(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code = PROGRAMS[name]
    warm_res = run_py(code, stdin=b"abc\n")
    monkeypatch.setenv("AHA_SANDBOX_WARM", "0")
    cold_res = run_py(code, stdin=b"abc\n")
    for field in ("status", "exit_code", "signal", "stdout", "stderr"):
        assert getattr(warm_res, field) == getattr(cold_res, field), (field, warm_res, cold_res)


def test_the_run_cannot_end_its_init_or_the_box() -> None:
    assert run_py("print('warm-up')").status == RunStatus.OK
    before = warm.box_pids(prepared=False)
    code = (
        "import os, signal\n"
        "for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP):\n"
        "    os.kill(1, sig)\n"
        "try:\n    os.kill(-1, signal.SIGKILL)\n"  # all it may signal: in its own namespace, nothing (ESRCH)
        "except ProcessLookupError:\n    pass\n"
        "print('still here')\n"
    )
    res = run_py(code)
    assert res.status == RunStatus.OK and res.stdout == b"still here\n", res
    assert warm.box_pids(prepared=False) == before
    assert run_py("print(6 * 7)").stdout == b"42\n"


def test_a_dead_box_is_replaced() -> None:
    assert run_py("print(1)").status == RunStatus.OK
    for pid in warm.box_pids():
        with contextlib.suppress(ProcessLookupError):  # killing one may already have ended the others
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    res = run_py("print(2)")
    assert res.status == RunStatus.OK and res.stdout == b"2\n", res


def test_a_setup_failure_is_our_error_not_a_verdict() -> None:
    with prepared(get_recipe("python"), "print(1)") as prog:
        spec = RunSpec(
            argv=[warm._python(), "-I", "-B", "/box/main.py"], box=prog.box, cwd="/no/such", language="python"
        )
        assert warm.eligible(spec)
        res = get_sandbox("bwrap").run(spec)
    assert res.status == RunStatus.SANDBOX_ERROR and "setup" in res.reason, res


def test_which_runs_a_box_takes_and_how() -> None:
    python = [warm._python(), "-I", "-B", "/box/main.py"]
    with prepared(get_recipe("python"), "print(1)") as prog:
        assert warm.eligible(RunSpec(argv=python, box=prog.box, language="python"))
        assert warm.eligible(RunSpec(argv=["/box/main"], box=prog.box, box_writable=True, language="c"))
        assert warm._mode(RunSpec(argv=python, box=prog.box, language="python")) == "python"
        assert warm._mode(RunSpec(argv=[python[0], "-c", "1"], box=prog.box, language="python")) == "exec"
        assert warm._mode(RunSpec(argv=[*python[:3], "/box/../etc/x.py"], box=prog.box, language="python")) == "exec"
    # only the service's own program dirs (the box mounts their parent), absolute commands, known languages
    assert not warm.eligible(RunSpec(argv=python, box=Path("/tmp"), language="python"))
    with prepared(get_recipe("python"), "print(1)") as prog:
        assert not warm.eligible(RunSpec(argv=["python3", "x.py"], box=prog.box, language="python"))
        assert not warm.eligible(RunSpec(argv=python, box=prog.box, language="cobol"))


C_PROGRAMS = {
    "echo sum": '#include <stdio.h>\nint main(){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);return 0;}',
    "exit code": "int main(){return 7;}",
    "segfault": "int main(){volatile int *p = 0; return *p;}",
    "sigpipe": "#include <stdio.h>\n#include <unistd.h>\nint main(){int p[2];pipe(p);close(p[0]);"
    'write(p[1],"x",1);puts("not reached");return 0;}',
    "file size": '#include <stdio.h>\nint main(){FILE*f=fopen("/tmp/big","w");'
    'for(long i=0;i<(70L<<20);i++)fputc(1,f);fclose(f);puts("wrote");return 0;}',
}


@pytest.mark.parametrize("name", sorted(C_PROGRAMS))
def test_compiled_programs_end_the_same_warm_and_cold(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandboxes.programs import compile_program

    results = []
    for mode in ("1", "0"):
        monkeypatch.setenv("AHA_SANDBOX_WARM", mode)
        with prepared(get_recipe("c"), C_PROGRAMS[name]) as prog:
            comp = compile_program(get_sandbox("bwrap"), prog)  # a writable /box: the binary comes back
            assert comp is not None and comp.status == RunStatus.OK, comp
            assert (prog.box / "main").exists()
            results.append(run_program(get_sandbox("bwrap"), prog, stdin=b"2 40\n", limits=Limits()))
    warm_res, cold_res = results
    for field in ("status", "exit_code", "signal", "stdout"):
        assert getattr(warm_res, field) == getattr(cold_res, field), (field, warm_res, cold_res)


def test_a_fork_bomb_does_not_spill_into_the_next_run() -> None:
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    res = run_py(bomb, cpu_s=1, wall_s=2, pids=32)
    assert res.status in (RunStatus.TIME_LIMIT, RunStatus.RUNTIME_ERROR), res
    forks = "import os\nfor _ in range(20):\n    pid = os.fork()\n    if pid == 0:\n        os._exit(0)\n"
    forks += "    os.waitpid(pid, 0)\nprint('forked')"
    after = run_py(forks, pids=32)  # at once, in the same box: the bomb's processes are gone, not counted
    assert after.status == RunStatus.OK and after.stdout == b"forked\n", after


def test_a_process_keeps_one_box_per_run_it_makes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not one per slot: on a big machine every verifier process would otherwise end up with a box for every slot.
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("AHA_SANDBOX_SLOTS", "4")
    warm.close_boxes()
    for _ in range(6):
        assert run_py("print(1)").status == RunStatus.OK
    pool = warm._boxes()
    assert sum(len(q) for q in pool.idle.values()) == 1 and not pool.busy
    with ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda _: run_py("import time; time.sleep(0.2); print(2)"), range(4)))
    assert all(r.status == RunStatus.OK for r in results)
    assert sum(len(q) for q in pool.idle.values()) <= 2 and not pool.busy
