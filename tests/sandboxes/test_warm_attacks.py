"""Adversarial programs against the warm path of the bwrap backend (sandboxes/bwrap/warm.py and
sandboxes/scripts/warm_zygote.py).

Every run below goes through one warm box (one slot), so whatever a run could leave behind in the box's user
namespace, cgroup or zygote would reach the next run. Each test states what it attacks and asserts the concrete
observable that shows the attack failed. Four attacks this file found (prlimit on the run's init, the persistent
keyring, keys outliving their run) were closed by the program's seccomp filter; the one left, an accounting error
only, is an `xfail` naming it. The probes use x86_64 system call numbers.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from sandboxes import Limits, RunSpec, RunStatus, get_recipe, get_sandbox, isolation_report
from sandboxes.bwrap import warm
from sandboxes.programs import prepared, run_program

pytestmark = [
    pytest.mark.skipif(isolation_report("bwrap").get("cgroups") in (None, "none"), reason="the warm box needs cgroups"),
    pytest.mark.skipif(os.uname().machine != "x86_64", reason="the probes use x86_64 system call numbers"),
]


@pytest.fixture(autouse=True)
def one_slot(monkeypatch):
    monkeypatch.setenv("AHA_SANDBOX_SLOTS", "1")  # consecutive runs share one box
    monkeypatch.setenv("AHA_SANDBOX_WARM", "1")


@pytest.fixture
def fresh_box():
    """A box of its own for the test, closed afterwards (what the test leaves in it goes with it)."""
    warm.close_boxes()
    yield
    warm.close_boxes()


def run_py(code, stdin=b"", **kw):
    with prepared(get_recipe("python"), code) as prog:
        return run_program(get_sandbox("bwrap"), prog, stdin=stdin, limits=Limits(**kw))


def run_json(code, stdin=b"", **kw):
    """Run a probe that prints one JSON document last; its status must be OK."""
    res = run_py(code, stdin=stdin, **kw)
    assert res.status == RunStatus.OK, res
    return json.loads(res.stdout.decode().splitlines()[-1])


def next_run_is_whole(**kw):
    """The run after an attack, in the same box: forks, opens files, allocates, and prints exactly what it should."""
    code = (
        "import os\n"
        "fds = [os.open('/usr/lib/os-release', os.O_RDONLY) for _ in range(100)]\n"
        "for _ in range(10):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os._exit(7)\n"
        "    assert os.waitpid(pid, 0)[1] == 7 << 8\n"
        "x = bytes([1]) * (24 << 20)\n"
        "print(len(fds), len(x) >> 20, sorted(p for p in os.listdir('/proc') if p.isdigit()), os.listdir('/tmp'))\n"
    )
    res = run_py(code, **kw)
    assert res.status == RunStatus.OK and res.stdout == b"100 24 ['1', '2'] []\n", res


PRELUDE = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def err(ret):
    return 0 if ret >= 0 else ctypes.get_errno()
def attempt(label, fn):
    try:
        value = fn()
        out[label] = value if isinstance(value, (list, str)) else 'done'  # never an int: those are errnos
    except OSError as exc:
        out[label] = exc.errno
def write(path, data=b'1'):  # unbuffered: the error of the write itself, not lost in a later flush
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)
"""


def probe(body):
    """A program: the helpers above, then `body`."""
    return PRELUDE + body


# ------------------------------------------------------------------------------------------ the file system


def test_other_program_dirs_are_out_of_reach() -> None:
    # Attacks the cover over /aha-work (the service's work dir, every program's dir): by name, through /proc's
    # root and cwd links, `..` from /box and from an O_PATH fd, a symlink, file handles, open_tree, mountinfo.
    secret = "victim-secret-7c1d"
    with prepared(get_recipe("python"), f"print({secret!r})", files={"data/answer.txt": secret.encode()}) as victim:
        code = probe(r"""
name = sys.stdin.read().strip()
target = f'aha-work/{name}/main.py'
for path in (f'/{target}', f'/proc/self/root/{target}', f'/box/../{target}', f'/proc/self/cwd/../{target}',
             f'/tmp/../{target}', f'/proc/1/root/{target}', f'/proc/1/cwd/../../{target}'):
    attempt('read ' + path, lambda: open(path).read())
    attempt('write ' + path, lambda: write(path))
attempt('list /aha-work', lambda: os.listdir('/aha-work'))
attempt('list /proc/self/root/aha-work', lambda: os.listdir('/proc/self/root/aha-work'))
attempt('list /proc/1/root', lambda: os.listdir('/proc/1/root'))
box = os.open('/box', os.O_RDONLY | os.O_DIRECTORY)
attempt('openat ..', lambda: os.open(f'../{target}', os.O_RDONLY, dir_fd=box))
attempt('list openat ..', lambda: os.listdir(os.open('..', os.O_RDONLY | os.O_DIRECTORY, dir_fd=box)))
os.symlink(f'/aha-work/{name}', '/tmp/link')
attempt('symlink', lambda: open('/tmp/link/main.py').read())
handle = ctypes.create_string_buffer(8 + 128)
ctypes.c_uint32.from_buffer(handle).value = 128
mount_id = ctypes.c_int()
out['name_to_handle_at'] = err(libc.name_to_handle_at(-100, b'/box', handle, ctypes.byref(mount_id), 0))
out['open_by_handle_at'] = err(libc.open_by_handle_at(box, handle, 0))
tree = libc.syscall(428, -100, b'/box', 0x80000)  # open_tree(no clone): just an O_PATH fd
attempt('open_tree ..', lambda: os.listdir(f'/proc/self/fd/{tree}/../aha-work'))
out['name in mountinfo'] = name in open('/proc/self/mountinfo').read()
print(json.dumps(out))
""")
        res = run_py(code, stdin=victim.box.name.encode())
        assert res.status == RunStatus.OK, res
        out = json.loads(res.stdout)
        assert secret.encode() not in res.stdout + res.stderr
        assert (victim.box / "main.py").read_text() == f"print({secret!r})"  # nothing written through
    reads = {k: v for k, v in out.items() if k.startswith(("read ", "write ", "openat", "symlink"))}
    assert len(reads) == 16 and all(v in (2, 13) for v in reads.values()), reads  # ENOENT or EACCES, never opened
    assert out["list /aha-work"] == out["list /proc/self/root/aha-work"] == out["open_tree .."] == [], out
    assert out["list /proc/1/root"] == 13, out  # the run's init is not dumpable: its root link is closed
    assert "aha-work" in out["list openat .."] and "box" in out["list openat .."], out  # `..` of /box is `/`
    assert out["open_by_handle_at"] == 1, out  # EPERM: no CAP_DAC_READ_SEARCH
    assert out["name in mountinfo"] is False, out


def test_writes_outside_tmp_fail_and_leave_nothing() -> None:
    # Attacks the read-only root, /box, /dev, the cover, /proc/sys and sysrq: nothing may be written for a later run.
    code = probe(r"""
for path in ('/box/x', '/box/main.py', '/usr/x', '/usr/lib/os-release', '/etc/x', '/etc/ld.so.cache', '/x',
             '/dev/x', '/dev/shm/../x', '/dev/pts/x', '/aha-work/x', '/proc/sys/kernel/hostname',
             '/proc/sys/vm/drop_caches', '/proc/sys/kernel/core_pattern', '/proc/sysrq-trigger', '/proc/1/x'):
    attempt(path, lambda: write(path))
out['mknod'] = err(libc.mknod(b'/tmp/disk', 0o60666, 8 << 8))
out['chmod /box'] = err(libc.chmod(b'/box', 0o777))
print(json.dumps(out))
""")
    out = run_json(code)
    assert out.pop("mknod") == 1 and out.pop("chmod /box") in (1, 30), out
    assert out and all(v in (2, 13, 30) for v in out.values()), out  # ENOENT, EACCES or EROFS: never written
    look = "import os\nprint([os.path.exists(p) for p in ('/x', '/dev/x', '/usr/x', '/etc/x', '/aha-work/x')])"
    res = run_py(look)
    assert res.status == RunStatus.OK and res.stdout == b"[False, False, False, False, False]\n", res


# ------------------------------------------------------------------------------------------ the run's init


def test_the_runs_init_cannot_be_read_written_traced_or_signalled() -> None:
    # Attacks pid 1 (it holds the status and control pipes): ptrace, process_vm_readv/writev, pidfd_getfd, kcmp,
    # its /proc files, signals through kill and pidfd_send_signal (SIGSTOP included), its priority.
    assert run_py("print('warm-up')").status == RunStatus.OK
    box_before = warm.box_pids(prepared=False)
    code = probe(r"""
import signal
out['ptrace attach'] = err(libc.ptrace(16, 1, None, None))
out['ptrace seize'] = err(libc.ptrace(0x4206, 1, None, None))
buf = ctypes.create_string_buffer(64)
class IoVec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
local, remote = IoVec(ctypes.cast(buf, ctypes.c_void_p), 64), IoVec(0x400000, 64)
out['process_vm_readv'] = err(libc.process_vm_readv(1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
out['process_vm_writev'] = err(libc.process_vm_writev(1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
pidfd = os.pidfd_open(1)
out['pidfd_getfd'] = sorted({err(libc.syscall(438, pidfd, fd, 0)) for fd in range(64)})
out['kcmp'] = err(libc.syscall(312, 1, 2, 0, 0, 0))
for name in ('mem', 'environ', 'maps', 'auxv', 'stack', 'syscall', 'pagemap', 'exe', 'fd', 'fdinfo', 'map_files',
             'cwd', 'root'):
    path = '/proc/1/' + name
    attempt('read ' + name, lambda: os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read(1) and 'read')
for name in ('mem', 'oom_score_adj', 'comm', 'clear_refs', 'coredump_filter', 'timerslack_ns', 'uid_map',
             'setgroups', 'sched', 'attr/current'):
    path = '/proc/1/' + name
    attempt('write ' + name, lambda: write(path))
for sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM, signal.SIGINT, signal.SIGSEGV, signal.SIGUSR1):
    os.kill(1, sig)
    libc.syscall(424, pidfd, sig, None, 0)  # pidfd_send_signal: the same rules
out['setpriority'] = err(libc.setpriority(0, 1, 19))
out['sched_setaffinity'] = err(libc.sched_setaffinity(1, 8, ctypes.byref(ctypes.c_ulong(1))))
import time
time.sleep(0.1)
out['init state'] = [l.split()[1] for l in open('/proc/1/status') if l.startswith('State:')][0]
print(json.dumps(out))
""")
    out = run_json(code)
    assert out.pop("init state") == "S", out  # not stopped, not killed: still waiting for the program
    assert out.pop("pidfd_getfd") == [1], out  # EPERM for every fd number
    for key in ("ptrace attach", "ptrace seize", "process_vm_readv", "process_vm_writev", "kcmp"):
        assert out.pop(key) == 1, key  # EPERM: init is not dumpable
    assert out.pop("setpriority") == 1 and out.pop("sched_setaffinity") == 1, out
    assert out and all(v in (1, 13) for v in out.values()), out  # EPERM or EACCES for each /proc file
    assert warm.box_pids(prepared=False) == box_before  # the zygote and bwrap untouched
    next_run_is_whole()


def test_nothing_outside_the_run_is_visible_or_signalable() -> None:
    # Attacks the box's own processes (zygote, bwrap) by their host pids, and everything reachable by kill(-1) from a
    # child of the program (which can only end the program itself: a verdict on it, not a sandbox error).
    assert run_py("print('warm-up')").status == RunStatus.OK
    box_before = warm.box_pids(prepared=False)
    code = probe(r"""
import signal, time
out['procs'] = sorted(p for p in os.listdir('/proc') if p.isdigit())
host_pids = [int(p) for p in sys.stdin.read().split()]
out['host pids'] = sorted({err(libc.kill(p, signal.SIGKILL)) for p in host_pids})
out['kill(0)'] = [err(libc.kill(p, 0)) for p in (1, 2)]
print(json.dumps(out), flush=True)
if os.fork() == 0:
    os.kill(-1, signal.SIGKILL)  # everything it may signal: its parent, the program
    os._exit(0)
time.sleep(5)
print('not reached')
""")
    res = run_py(code, stdin=" ".join(map(str, sorted(box_before))).encode())
    assert res.status == RunStatus.RUNTIME_ERROR and res.signal == signal.SIGKILL, res
    out = json.loads(res.stdout.decode().splitlines()[0])
    assert out == {"procs": ["1", "2"], "host pids": [3], "kill(0)": [0, 0]}, out  # ESRCH: none exists here
    assert b"not reached" not in res.stdout
    assert warm.box_pids(prepared=False) == box_before
    next_run_is_whole()


def test_a_program_cannot_kill_its_init_through_its_cpu_rlimit() -> None:
    # Attacks pid 1 through the one thing a same-uid process could still change on it: its rlimits (prlimit64 checks
    # uids, not dumpability). A hard RLIMIT_CPU of 0 would make the kernel SIGKILL init once a tick finds it running;
    # reaping orphans makes it run. The program's seccomp filter refuses prlimit64 on any other process (EPERM).
    code = r"""
import ctypes, os, resource, time
libc = ctypes.CDLL(None, use_errno=True)
print('prlimit', libc.prlimit(1, resource.RLIMIT_CPU, (ctypes.c_ulong * 2)(0, 0), None), flush=True)
end = time.monotonic() + 5
while time.monotonic() < end:
    pid = os.fork()
    if pid == 0:
        for _ in range(30):
            if os.fork() == 0:
                os._exit(0)
        os._exit(0)  # its exited children become the init's to reap
    os.waitpid(pid, 0)
print('survived')
"""
    res = run_py(code, wall_s=15)
    next_run_is_whole()  # a new box replaces the broken one
    assert res.status == RunStatus.OK and res.stdout == b"prlimit -1\nsurvived\n", res


def test_lowering_inits_open_files_limit_never_makes_a_sandbox_error() -> None:
    # Attacks the window between the program's start and its init's last descriptor (the pidfd it waits on): an
    # RLIMIT_NOFILE of 0 set on pid 1 as early as the program can (refused by the filter). Repeated: it was a race.
    code = "import ctypes\nctypes.CDLL(None).prlimit(1, 7, (ctypes.c_ulong * 2)(0, 0), None)\nprint('ran')\n"
    results = [run_py(code) for _ in range(40)]
    next_run_is_whole()
    assert [(r.status, r.stdout) for r in results] == [(RunStatus.OK, b"ran\n")] * 40, [r.reason for r in results]


def test_init_survives_its_other_rlimits_being_lowered() -> None:
    # Attacks pid 1 through the rest of its rlimits (address space, data, stack, file size, processes, pending
    # signals, locked memory, files): all refused by the filter, and the run ends normally.
    code = r"""
import ctypes, resource, time
libc = ctypes.CDLL(None, use_errno=True)
rets = []
for res in (resource.RLIMIT_AS, resource.RLIMIT_DATA, resource.RLIMIT_STACK, resource.RLIMIT_FSIZE,
            resource.RLIMIT_NPROC, resource.RLIMIT_SIGPENDING, resource.RLIMIT_MEMLOCK):
    rets.append(libc.prlimit(1, res, (ctypes.c_ulong * 2)(0, 0), None))
time.sleep(0.1)  # by now init waits on the program's pidfd: no descriptor to open any more
rets.append(libc.prlimit(1, resource.RLIMIT_NOFILE, (ctypes.c_ulong * 2)(0, 0), None))
time.sleep(0.2)
print(rets)
raise SystemExit(3)
"""
    res = run_py(code)
    assert res.status == RunStatus.RUNTIME_ERROR and res.exit_code == 3, res
    assert res.stdout == b"[-1, -1, -1, -1, -1, -1, -1, -1]\n", res  # every one refused (the seccomp filter)
    next_run_is_whole()


def test_the_status_cannot_be_forged() -> None:
    # Attacks the status pipe (held only by init): fake status documents on every fd number, through /proc/1/fd, on
    # stdout and stderr; then a failing exit. The result must be the program's real one.
    code = r"""
import os
doc = b'{"child-pid": 2}\n{"exit-code": 0}\n'
written = []
for fd in range(3, 1024):
    try:
        os.write(fd, doc); written.append(fd)
    except OSError:
        pass
for fd in range(0, 16):
    try:
        with open(f'/proc/1/fd/{fd}', 'wb') as f:
            f.write(doc); written.append(('init', fd))
    except OSError:
        pass
os.write(1, doc); os.write(2, doc)
print(written, flush=True)
raise SystemExit(3)
"""
    res = run_py(code)
    assert res.status == RunStatus.RUNTIME_ERROR and res.exit_code == 3, res
    assert res.stdout == b'{"child-pid": 2}\n{"exit-code": 0}\n[]\n', res
    next_run_is_whole()


def test_a_hung_program_that_hides_from_the_host_is_a_time_limit() -> None:
    # Attacks the end of a run: stdout and stderr closed (the host sees EOF), SIGTERM/SIGINT/SIGHUP ignored, a new
    # session, a daemon grandchild, the program asleep. The wall limit must end it, as a time limit, and nothing of it
    # may reach the next run.
    code = r"""
import os, signal, time
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
os.close(1); os.close(2)
time.sleep(60)
"""
    res = run_py(code, wall_s=1)
    assert res.status == RunStatus.TIME_LIMIT and res.wall_s < 5, res
    next_run_is_whole()


# ------------------------------------------------------------------------------------------ leftovers


def test_nothing_a_run_leaves_reaches_the_next_run() -> None:
    # Attacks the boundary between consecutive runs of one box: a daemon holding everything below, abstract and
    # path unix sockets, SysV shm/msg/sem, a POSIX message queue and semaphore, an flock on a /usr file, an inotify
    # watch, an open pty, files in /tmp and /dev/shm.
    leave = r"""
import ctypes, fcntl, os, signal, socket, time
libc = ctypes.CDLL(None, use_errno=True)
made = []
s = socket.socket(socket.AF_UNIX); s.bind(b'\0aha-leak'); s.listen()
for path in ('/tmp/aha-leak.sock', '/dev/shm/aha-leak.sock'):
    u = socket.socket(socket.AF_UNIX); u.bind(path); u.listen(); made.append(u)
made += [libc.shmget(0x4A4A, 4096, 0o1666) >= 0, libc.msgget(0x4A4B, 0o1666) >= 0, libc.semget(0x4A4C, 1, 0o1666) >= 0]
made.append(libc.mq_open(b'/aha-leak', os.O_CREAT | os.O_RDWR, 0o666, None) >= 0)
libc.sem_open.restype = ctypes.c_void_p
made.append(bool(libc.sem_open(b'/aha-leak-sem', os.O_CREAT, 0o666, 1)))
lock = open('/usr/lib/os-release', 'rb'); fcntl.flock(lock, fcntl.LOCK_EX)
ino = libc.inotify_init(); made.append(libc.inotify_add_watch(ino, b'/usr/lib/os-release', 0xfff) > 0)
pty = os.open('/dev/ptmx', os.O_RDWR | os.O_NOCTTY); libc.unlockpt(pty); made.append(os.listdir('/dev/pts'))
open('/tmp/aha-leak', 'w').write('x'); open('/dev/shm/aha-leak', 'w').write('x')
if os.fork() == 0:
    os.setsid()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
time.sleep(0.1)
print(made[2:])
"""
    res = run_py(leave)
    assert res.status == RunStatus.OK and res.stdout == b"[True, True, True, True, True, True, ['0', 'ptmx']]\n", res
    look = probe(r"""
import fcntl, socket
for addr in (b'\0aha-leak', '/tmp/aha-leak.sock', '/dev/shm/aha-leak.sock'):
    attempt(repr(addr), lambda: socket.socket(socket.AF_UNIX).connect(addr))
out['sysv'] = [libc.shmget(0x4A4A, 0, 0), libc.msgget(0x4A4B, 0), libc.semget(0x4A4C, 0, 0)]
out['mq'] = libc.mq_open(b'/aha-leak', os.O_RDWR, 0, None)
libc.sem_open.restype = ctypes.c_void_p
out['sem'] = bool(libc.sem_open(b'/aha-leak-sem', 0))
attempt('flock', lambda: fcntl.flock(open('/usr/lib/os-release', 'rb'), fcntl.LOCK_EX | fcntl.LOCK_NB))
out['pts'] = sorted(os.listdir('/dev/pts'))
out['procs'] = sorted(p for p in os.listdir('/proc') if p.isdigit())
out['files'] = sorted(os.listdir('/tmp')) + sorted(os.listdir('/dev/shm'))
print(json.dumps(out))
""")
    assert run_json(look) == {
        "b'\\x00aha-leak'": 111,  # ECONNREFUSED: no such abstract socket here
        "'/tmp/aha-leak.sock'": 2,
        "'/dev/shm/aha-leak.sock'": 2,
        "sysv": [-1, -1, -1],
        "mq": -1,
        "sem": False,
        "flock": "done",
        "pts": ["ptmx"],
        "procs": ["1", "2"],
        "files": [],
    }


KEY_LOOK = probe(r"""
buf = ctypes.create_string_buffer(128)
found = []
for line in open('/proc/keys'):  # every key this uid may view, by serial
    if 'aha-leak' in line:
        n = libc.syscall(250, 11, int(line.split()[0], 16), buf, 128)  # KEYCTL_READ
        found.append([line.split()[-2].rstrip(':'), buf.raw[:max(n, 0)].decode()])
persistent = libc.syscall(250, 22, -1, -3)  # KEYCTL_GET_PERSISTENT, linked into the session keyring
key = libc.syscall(250, 10, persistent, b'user', b'aha-leak-persistent', 0)  # KEYCTL_SEARCH
n = libc.syscall(250, 11, key, buf, 128) if key > 0 else -1
out['persistent'] = buf.raw[:max(n, 0)].decode()
out['found'] = sorted(found)
print(json.dumps(out))
""")


@pytest.mark.usefixtures("fresh_box")
def test_the_persistent_keyring_does_not_carry_over() -> None:
    # Attacks the keyrings of the box's shared user namespace (the persistent one outlives any run): the keyring
    # calls are refused to the program (EPERM), as under Docker's default seccomp profile.
    leave = r"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
ring = libc.syscall(250, 22, -1, -3)  # KEYCTL_GET_PERSISTENT
print(ring > 0, libc.syscall(248, b'user', b'aha-leak-persistent', b'secret-1', 8, ring) > 0)  # add_key
"""
    res = run_py(leave)
    assert res.status == RunStatus.OK and res.stdout == b"False False\n", res
    out = run_json(KEY_LOOK)
    assert out["persistent"] == "", out


@pytest.mark.usefixtures("fresh_box")
def test_a_key_does_not_outlive_its_run() -> None:
    # Attacks key lifetime: keys are global kernel objects owned by the box's host uid, not by the run (so the
    # program may not make any).
    leave = r"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
key = libc.syscall(248, b'user', b'aha-leak-serial', b'secret-2', 8, -3)  # add_key to the session keyring
perm = libc.syscall(250, 5, key, 0x3F3F3F3F)  # KEYCTL_SETPERM: everyone may read
link = libc.syscall(250, 8, key, -4)  # KEYCTL_LINK into the user keyring, which outlives the run
print(key > 0, perm, link)
"""
    res = run_py(leave)
    assert res.status == RunStatus.OK and res.stdout == b"False -1 -1\n", res
    out = run_json(KEY_LOOK)
    assert [key for key in out["found"] if key[0] == "aha-leak-serial"] == [], out


def test_preloaded_modules_and_interpreter_state_are_private_to_a_run() -> None:
    # Attacks the zygote's memory image shared by every Python run: monkeypatched preloaded modules, builtins,
    # sys.path/meta_path/excepthook/recursion limit, gc.unfreeze, and the small-int cache rewritten through ctypes.
    leave = r"""
import atexit, builtins, collections, ctypes, gc, heapq, json, math, re, signal, sys, typing
typing.List = None
re.sub = lambda *a, **k: 'PWNED'
re._cache.clear()
collections.Counter = dict
json.dumps = lambda *a, **k: 'PWNED'
math.pi = 3
heapq.heappush = None
builtins.len = lambda x: 0
sys.setrecursionlimit(50)
sys.path.insert(0, '/tmp')
class Finder:
    def find_spec(self, *a, **k):
        raise ImportError('PWNED')
sys.meta_path.insert(0, Finder())
sys.excepthook = lambda *a: None
signal.signal(signal.SIGTERM, signal.SIG_IGN)
gc.unfreeze()
ctypes.c_long.from_address(id(7) + 24).value = 8  # the int 7 now reads 8, in this process
sys.stdout.write('%d\n' % (3 + 4))
"""
    res = run_py(leave)
    assert res.status == RunStatus.OK and res.stdout == b"8\n", res  # the rewrite took effect in its own run
    look = r"""
import collections, fractions, heapq, json, math, re, signal, sys, typing
heap = []
heapq.heappush(heap, 3)
print(3 + 4, len('abc'), re.sub('a', 'b', 'aaa'), typing.List[int], collections.Counter('aab')['a'], json.dumps([1]),
      math.pi, sys.getrecursionlimit() > 500, '/tmp' in sys.path, fractions.Fraction(1, 2),
      sys.excepthook is sys.__excepthook__, signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, heap)
"""
    for _ in range(2):
        res = run_py(look)
        assert res.status == RunStatus.OK, res
        assert res.stdout == b"7 3 bbb typing.List[int] 2 [1] 3.141592653589793 True False 1/2 True True [3]\n", res


# ------------------------------------------------------------------------------------------ exhaustion


def test_a_memory_bomb_leaves_the_next_run_whole() -> None:
    # Attacks the box's cgroup (shared by its runs) with anonymous memory up to the OOM killer.
    bomb = "x = []\nwhile True:\n    x.append(bytes([1]) * (1 << 20))\n"
    res = run_py(bomb, memory_mb=64)
    assert res.status == RunStatus.MEMORY_LIMIT, res
    next_run_is_whole(memory_mb=64)


def test_tmpfs_beyond_the_memory_limit_leaves_the_next_run_whole() -> None:
    # Attacks with memory no process owns: /tmp and /dev/shm filled past the memory limit by small processes (so the
    # OOM killer runs out of program processes while the files still hold the memory). A verdict, not our error.
    code = (
        "import os\nos.execv('/bin/sh', ['sh', '-c', 'head -c 60M /dev/zero > /tmp/a; "
        "head -c 60M /dev/zero > /dev/shm/b; head -c 60M /dev/zero > /tmp/c; echo done'])\n"
    )
    res = run_py(code, memory_mb=64)
    assert res.status in (RunStatus.MEMORY_LIMIT, RunStatus.OK), res  # OK: the shell outlived its killed children
    next_run_is_whole(memory_mb=64)


IN_FLIGHT = r"""
import os, socket
chunk = b'x' * (1 << 20)
fds = []
for i in range(3):
    fd = os.memfd_create('hog') if i < 2 else os.open('/tmp/hog', os.O_RDWR | os.O_CREAT)
    for _ in range(60):
        os.write(fd, chunk)
    fds.append(fd)
a, b = socket.socketpair()
socket.send_fds(a, [b'x'], [a.fileno(), b.fileno(), *fds])  # a cycle only the unix GC can free
socket.send_fds(b, [b'x'], [a.fileno(), b.fileno(), *fds])
print('left')
"""


def test_memory_kept_alive_in_flight_does_not_starve_the_next_run() -> None:
    # Attacks the box's cgroup with 180 MiB of shmem kept alive after the run by an SCM_RIGHTS cycle (freed only by
    # the unix GC): the next run, with the same limits, must still get its whole memory.
    res = run_py(IN_FLIGHT, memory_mb=256)
    assert res.status == RunStatus.OK and res.stdout == b"left\n", res
    res = run_py("x = bytes([1]) * (220 << 20)\nprint(len(x) >> 20)", memory_mb=256)
    assert res.status == RunStatus.OK and res.stdout == b"220\n", res


@pytest.mark.xfail(
    strict=False,  # the kernel's unix-socket garbage collector may run first
    reason="KNOWN (accounting only): memory a run keeps alive in flight is still charged to the box's cgroup "
    "when the next run starts; its peak is counted from there, so the next run's peak_memory_bytes is far too low",
)
def test_the_next_runs_peak_memory_is_its_own() -> None:
    # Attacks the peak-memory figure of the next run (counted from the box's usage when it starts).
    res = run_py(IN_FLIGHT, memory_mb=256)
    assert res.status == RunStatus.OK, res
    res = run_py("x = bytes([1]) * (200 << 20)\nprint(len(x) >> 20)", memory_mb=256)
    assert res.status == RunStatus.OK and res.stdout == b"200\n", res
    assert res.peak_memory_bytes is not None and res.peak_memory_bytes >= 200 << 20, res.peak_memory_bytes


def test_a_process_and_descriptor_bomb_leaves_the_next_run_whole() -> None:
    # Attacks the box's pids limit and RLIMIT_NPROC (counted in the box's user namespace) and file descriptors:
    # every process the run may have, each holding every descriptor it may open, until the wall limit.
    code = r"""
import os, time
def hold():
    fds = []
    try:
        while True:
            fds.append(os.open('/usr/lib/os-release', os.O_RDONLY))
    except OSError:
        pass
    time.sleep(60)
while True:
    try:
        if os.fork() == 0:
            hold()
    except OSError:
        break
hold()
"""
    res = run_py(code, pids=32, wall_s=1.5)
    assert res.status == RunStatus.TIME_LIMIT, res
    next_run_is_whole(pids=32)


# ------------------------------------------------------------------------------------------ privileges


def test_no_privilege_can_be_regained() -> None:
    # Attacks the dropped capabilities: capset, ambient raise, securebits, keep-caps, no_new_privs off, PR_SET_MM,
    # setuid/setgroups, every new namespace (a new user namespace would bring a full set), and a setuid-root binary
    # (secure-exec would make ld.so ignore LD_DEBUG: its statistics show the exec gained nothing).
    code = probe(r"""
import subprocess
hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
out['capset'] = err(libc.capset(hdr, (ctypes.c_uint32 * 6)(*[0xFFFFFFFF] * 6)))
out['ambient raise'] = err(libc.prctl(47, 2, 21, 0, 0))
out['securebits'] = err(libc.prctl(28, 0x2F, 0, 0, 0))
out['no_new_privs off'] = err(libc.prctl(38, 0, 0, 0, 0))
out['PR_SET_MM'] = err(libc.prctl(35, 8, 0x1000, 0, 0))
out['setuid 0'] = err(libc.setuid(0))
out['setgroups'] = err(libc.setgroups(0, None))
out['unshare'] = [err(libc.unshare(f)) for f in (0x10000000, 0x20000, 0x20000000, 0x40000000, 0x4000000, 0x8000000,
                                                 0x2000000)]
libc.prctl(8, 1, 0, 0, 0)  # keep-caps: nothing to keep
p = subprocess.run(['/usr/bin/mount', '--version'], env=dict(os.environ, LD_DEBUG='statistics'), capture_output=True)
out['setuid binary secure'] = b'runtime linker statistics' not in p.stderr
p = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'none', '/aha-work'], capture_output=True)
out['setuid mount'] = p.returncode
status = dict(line.split(':', 1) for line in open('/proc/self/status'))
out['status'] = [status[k].strip() for k in ('Uid', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs')]
print(json.dumps(out))
""")
    out = run_json(code)
    zero = "0000000000000000"
    assert out.pop("status") == ["1000\t1000\t1000\t1000", zero, zero, zero, zero, zero, "1"], out
    assert out.pop("setuid binary secure") is False and out.pop("setuid mount") != 0, out
    unshare = out.pop("unshare")
    assert unshare[0] in (1, 28) and unshare[1:] == [1] * 6, unshare  # ENOSPC: no nested user namespace at all
    assert out == {
        "capset": 1,
        "ambient raise": 1,
        "securebits": 1,
        "no_new_privs off": 22,
        "PR_SET_MM": 1,
        "setuid 0": 22,  # uid 0 is not even mapped in the box
        "setgroups": 1,
    }


def test_no_mount_namespace_or_hostname_change_sticks() -> None:
    # Attacks the mount table and the uts namespace: mount, bind, remount, umount (of the cover too), pivot_root,
    # chroot, fsopen, open_tree(CLONE), setns into init's namespaces, sethostname; the next run's view is unchanged.
    look = "import socket\nprint(socket.gethostname(), len(open('/proc/self/mountinfo').readlines()))"
    before = run_py(look)
    assert before.status == RunStatus.OK and before.stdout.startswith(b"sandbox "), before
    code = probe(r"""
out['mount tmpfs'] = err(libc.mount(b'none', b'/aha-work', b'tmpfs', 0, None))
out['mount bind'] = err(libc.mount(b'/aha-work', b'/tmp', None, 4096, None))
out['remount /box rw'] = err(libc.mount(None, b'/box', None, 32 | 4096, None))
out['umount'] = [err(libc.umount2(p, 2)) for p in (b'/aha-work', b'/box', b'/proc', b'/tmp', b'/dev/shm', b'/proc/sys')]
os.makedirs('/tmp/root/old')
out['pivot_root'] = err(libc.syscall(155, b'/tmp/root', b'/tmp/root/old'))
out['chroot'] = err(libc.chroot(b'/tmp'))
out['fsopen'] = err(libc.syscall(430, b'tmpfs', 0))
out['open_tree clone'] = err(libc.syscall(428, -100, b'/aha-work', 1 | 0x80000))
out['setns'] = [err(libc.setns(os.open(f'/proc/1/ns/{ns}', os.O_RDONLY), 0)) if os.access(f'/proc/1/ns/{ns}', os.R_OK)
                else 'closed' for ns in ('mnt', 'net', 'pid', 'user')]
out['sethostname'] = err(libc.sethostname(b'pwned', 5))
out['setdomainname'] = err(libc.setdomainname(b'pwned', 5))
print(json.dumps(out))
""")
    out = run_json(code)
    assert out.pop("setns") == ["closed"] * 4, out
    assert out.pop("umount") == [1] * 6, out
    assert out and all(v == 1 for v in out.values()), out  # EPERM, each
    after = run_py(look)
    assert after.status == RunStatus.OK and after.stdout == before.stdout, (before, after)


def test_the_network_is_loopback_only() -> None:
    # Attacks the run's network namespace: interfaces, raw and packet sockets, routes out, a netlink link creation.
    code = probe(r"""
import socket
out['interfaces'] = [name for _, name in socket.if_nameindex()]
attempt('packet', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
attempt('raw icmp', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt('udp out', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(('1.1.1.1', 53)))
attempt('tcp out', lambda: socket.create_connection(('10.0.2.2', 80), timeout=1))
attempt('udp6 out', lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).connect(('2606:4700::1111', 53)))
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
import struct
name = b'dummy0\0\0'
attr = struct.pack('HH', 4 + len(name), 3) + name  # IFLA_IFNAME
kind = b'dummy\0\0\0'
info = struct.pack('HH', 4 + 4 + len(kind), 18) + struct.pack('HH', 4 + len(kind), 1) + kind  # IFLA_LINKINFO/KIND
body = struct.pack('BxHiII', 0, 0, 0, 0, 0) + attr + info
msg = struct.pack('IHHII', 16 + len(body), 16, 0x1 | 0x4 | 0x400 | 0x200, 1, 0) + body  # RTM_NEWLINK, ACK|CREATE|EXCL
nl.send(msg)
reply = nl.recv(4096)
out['rtm_newlink'] = -struct.unpack('i', reply[16:20])[0]
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
socket.create_connection(s.getsockname()).send(b'x')
out['loopback'] = s.accept()[0].recv(1).decode()
print(json.dumps(out))
""")
    out = run_json(code)
    assert out == {
        "interfaces": ["lo"],
        "packet": 1,
        "raw icmp": 1,
        "udp out": 101,
        "tcp out": 101,
        "udp6 out": 101,
        "rtm_newlink": 1,
        "loopback": "x",
    }, out


def test_an_exec_run_inherits_nothing_from_the_box() -> None:
    # Attacks the exec path (any language): descriptors of init or the zygote left open across exec, signal
    # dispositions inherited from the warm interpreter, capabilities.
    with prepared(get_recipe("python"), "print(1)") as prog:
        spec = RunSpec(
            argv=[
                "/bin/sh",
                "-c",
                # `exec`: the status read is of the process the run started (same pid), not of a shell that
                # blocks signals while it waits for its child
                "ls /proc/$$/fd; exec grep -E '^(SigIgn|SigBlk|CapEff|CapBnd|NoNewPrivs)' /proc/$$/status",
            ],
            box=prog.box,
            language="python",
        )
        assert warm.eligible(spec) and warm._mode(spec) == "exec"
        res = get_sandbox("bwrap").run(spec)
    zero = "0000000000000000"
    fields = ("SigBlk", "SigIgn", "CapEff", "CapBnd", "NoNewPrivs")
    expected = ["0", "1", "2"] + [f"{k}:\t{zero if k != 'NoNewPrivs' else '1'}" for k in fields]
    assert res.status == RunStatus.OK and res.stdout.decode().splitlines() == expected, res
