"""Programs that attack the sandbox. None may escape, and none may leave anything behind."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from sandboxes import Limits, RunStatus, get_recipe, get_sandbox, isolation_report
from sandboxes.bwrap import warm
from sandboxes.programs import prepared, run_program

pytestmark = [
    pytest.mark.skipif(isolation_report("bwrap").get("bwrap_version") is None, reason="bwrap missing"),
    pytest.mark.usefixtures("python_path"),  # each attack on the warm box and on a cold sandbox
]


def run_py(code: str, **kw):
    with prepared(get_recipe("python"), code) as prog:
        return run_program(get_sandbox("bwrap"), prog, limits=Limits(**kw))


def test_fork_bomb_is_contained() -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    start = time.monotonic()
    res = run_py(code, cpu_s=2, wall_s=3, pids=32)
    assert res.status in (RunStatus.TIME_LIMIT, RunStatus.RUNTIME_ERROR)
    assert time.monotonic() - start < 15
    # nothing of it survives the run (the kernel may need a moment to finish reaping the namespace); the only
    # sandbox-uid processes left are the warm boxes' own (bwrap, the zygote, the next run's idle init)
    for _ in range(40):
        box = warm.box_pids()  # the next run's init is prepared once this one's namespace is empty
        out = subprocess.run(["ps", "-eo", "uid,pid,comm"], capture_output=True, text=True).stdout
        rows = [line.split() for line in out.splitlines()]
        left = [r for r in rows if r[0].isdigit() and int(r[0]) >= 61000 and int(r[1]) not in box]
        if not left:
            break
        time.sleep(0.1)
    assert not left


def test_memory_bomb() -> None:
    res = run_py("a = []\nwhile True:\n    a.append(bytearray(10**7))", memory_mb=100, wall_s=10)
    assert res.status == RunStatus.MEMORY_LIMIT


def test_no_network() -> None:
    code = (
        "import socket\nfor host, port in [('1.1.1.1', 53), ('8.8.8.8', 443), ('10.0.0.1', 80)]:\n"
        "    s = socket.socket(); s.settimeout(1)\n"
        "    try:\n        s.connect((host, port)); print('CONNECTED')\n"
        "    except OSError as e:\n        print('blocked', e.errno)\n"
        "import os; print(sorted(os.listdir('/sys/class/net')) if os.path.exists('/sys/class/net') else 'nosys')"
    )
    res = run_py(code)
    assert b"CONNECTED" not in res.stdout and res.stdout.count(b"blocked") == 3


def test_cannot_write_outside_workdir() -> None:
    code = (
        "import os\nfor p in ['/usr/x', '/etc/x', '/box/x', '/x', '/proc/sys/kernel/hostname']:\n"
        "    try:\n        open(p, 'w').write('pwn'); print('WROTE', p)\n"
        "    except OSError as e:\n        print('denied', p)\n"
        "open('/tmp/ok', 'w').write('fine'); print('tmp ok')"
    )
    res = run_py(code)
    assert b"WROTE" not in res.stdout and b"tmp ok" in res.stdout
    assert not os.path.exists("/usr/x")


def test_cannot_read_host_files() -> None:
    code = (
        "import os\nfor p in ['/etc/shadow', '/etc/passwd', '/root', '/work', '/home', '/proc/1/environ']:\n"
        "    print(p, os.path.exists(p))\n"
        "print(sorted(os.listdir('/')))\nprint(len(os.listdir('/proc')))"
    )
    res = run_py(code)
    text = res.stdout.decode()
    for p in ("/etc/shadow", "/etc/passwd", "/root", "/work", "/home"):
        assert f"{p} False" in text
    assert "/proc/1/environ True" in text  # pid 1 is the sandbox's own init, not the host's


def test_cannot_kill_parent_or_host_processes() -> None:
    code = (
        "import os, signal\nprint('ppid', os.getppid())\n"
        "for pid in range(1, 200):\n    try:\n        os.kill(pid, 0); print('sees', pid)\n"
        "    except OSError:\n        pass\n"
        f"try:\n    os.kill({os.getpid()}, signal.SIGKILL); print('KILLED')\nexcept OSError:\n    print('no')"
    )
    res = run_py(code)
    pids = [int(line.split()[1]) for line in res.stdout.decode().splitlines() if line.startswith("sees")]
    assert max(pids) < 10  # only its own pid namespace
    assert b"KILLED" not in res.stdout or os.getpid() not in pids


def test_not_root_outside() -> None:
    # Files the program creates in a writable work dir show its host uid: never root when we are root.
    with prepared(get_recipe("python"), "open('/box/made', 'w').write('x')") as prog:
        res = run_program(get_sandbox("bwrap"), prog, limits=Limits(), box_writable=True, cwd="/box")
        assert res.status == RunStatus.OK, res
        owner = os.stat(prog.box / "made").st_uid
    assert owner != 0 or os.geteuid() != 0
