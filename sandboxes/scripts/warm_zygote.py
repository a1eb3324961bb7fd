"""The warm zygote: the command of a long-lived bwrap box (standalone script, stdlib only).

It starts once per box, imports what programs and the judge harness commonly need (typing alone costs ~12 ms per
interpreter start), and then, for every run, clone()s a child in fresh namespaces. The box (bwrap) provides what
runs share: the user namespace, the read-only minimal root, no host paths (the service's work dir is mounted at
`/aha-work`, and covered in every run). Each run gets fresh mount, pid, network, ipc, uts and cgroup namespaces,
fresh tmpfs `/tmp` and `/dev/shm`, its own program dir at `/box`, a fresh `/proc`, and runs with no capabilities
at all, `no_new_privs`, and the run's rlimits. This process never sees a job: fds pass through it, nothing else.

Per run (fds arrive with the request over the control socket):
- init (pid 1 of the run, non-dumpable, no signal handlers): reads the job, mounts, brings `lo` up, forks the
  program's process; reports `{"child-pid"}` once that process is set up, then `{"exit-code"}`, and exits, which
  ends whatever is left in the run; a closed control pipe makes it kill the run;
- program process: drops every capability, sets the limits, and either execs the run's command (any language) or,
  for `python3 -I -B /box/<file>`, runs the file as `__main__` at the top level of this script, so exit codes,
  uncaught exceptions and interpreter shutdown work as for `python3 file`, without an interpreter start.
"""

import ctypes
import fcntl
import gc
import json
import os
import signal
import socket
import struct
import sys

# Preloaded for every run (not `random`/`tempfile`: their state would be the same in every forked run);
# `resource` sets the run's rlimits, `atexit` is what a Python run's exit calls (never imported by a program's hook).
PRELOAD = ("typing", "collections", "re", "math", "itertools", "functools", "heapq", "bisect", "select", "_json")
PRELOAD += ("resource", "atexit")
for _name in PRELOAD:
    try:
        __import__(_name)
    except ImportError:
        pass

# The first compile() in a process builds the AST node types (~1.4 ms): done here once, not in every run.
exec(compile("class _C:\n    def f(self, *a, **k):\n        return [x for x in a]\n", "<warm-up>", "exec"), {})

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = ctypes.PyDLL(None, use_errno=True).syscall  # keeps the GIL: the clone below must not drop it
_pyapi = ctypes.pythonapi

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
KEEP_FLAGS = 1 | 2 | 4 | 8 | 1024 | 2048 | 4096  # statvfs ST_* = MS_*: rdonly nosuid nodev noexec noatime ...
WORK = "/aha-work"  # where the box sees the service's work dir (every program dir); runs never do
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_CLEAR, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = 1, 7, -4, -5
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
SYS_CLONE = {"x86_64": 56, "aarch64": 220}[os.uname().machine]


class SetupError(Exception):
    pass


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def _mount(src, target, fstype, flags, data=None):
    _check(
        _libc.mount(
            src.encode() if src else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _prctl(option, arg):
    _check(_libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


def _loopback_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, 0x8913, req))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sh14x", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
    finally:
        s.close()


def _default_signals():
    """Every catchable signal back to its default disposition."""
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):  # the real-time range the C library keeps for itself
            pass


def _drop_privileges():
    """No capabilities in any set (and none to regain: empty bounding set, no_new_privs); verified."""
    _check(_libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0), "clear ambient capabilities")  # PR_CAP_AMBIENT_CLEAR_ALL
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:  # EINVAL: no such cap
            raise SetupError(f"drop capability {cap}: {os.strerror(ctypes.get_errno())}")
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = ctypes.create_string_buffer(24)  # two zeroed {effective, permitted, inheritable}
    _check(_libc.capset(ctypes.c_char_p(header), data), "capset")
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    status = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        if int(status.get(key, "1"), 16) != 0:
            raise SetupError(f"{key} is {status.get(key)} after dropping capabilities")
    if status.get("NoNewPrivs") != "1":
        raise SetupError("no_new_privs did not stick")


# A seccomp filter for the program (x86_64: prlimit64 302 and the x32 alias, keyring calls 248-250; i386 under
# int 0x80: prlimit64 340, keyring calls 286-288; aarch64: prlimit64 261, keyring calls 217-219).
# - prlimit64 on any process but itself fails: the run's init shares the program's uid, so the kernel would let a
#   program set its init's limits (RLIMIT_CPU 0 kills it) and turn its run into our error.
# - the keyring calls fail (as under Docker's default profile): keys are not namespaced by a run's namespaces, live
#   on after it, and count against the host uid's quota.
_ARCHES = {  # audit arch: (prlimit64 numbers, keyring call numbers)
    0xC000003E: ((302, 0x4000012E), (248, 249, 250, 0x400000F8, 0x400000F9, 0x400000FA)),  # x86_64, x32
    0x40000003: ((340,), (286, 287, 288)),  # i386 (int 0x80 on an x86_64 kernel)
    0xC00000B7: ((261,), (217, 218, 219)),  # aarch64
}


def _seccomp_program():
    """The classic-BPF filter above, as bytes of `struct sock_filter`."""
    ld, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
    allow, eperm = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    # (code, jt, jf, k); a jump target is a label, resolved below
    out = [(ld, 0, 0, 4)]  # seccomp_data.arch
    for arch, (prlimits, keyrings) in _ARCHES.items():
        block = [(ld, 0, 0, 0)]  # seccomp_data.nr
        block += [(jeq, "EPERM", 0, nr) for nr in keyrings]
        block += [(jeq, "ARG", 0, nr) for nr in prlimits]
        block.append((ret, 0, 0, allow))
        out.append((jeq, 0, len(block), arch))  # not this arch: skip its block
        out.extend(block)
    out.append((ret, 0, 0, allow))  # another arch: nothing of ours to filter
    labels = {"ARG": len(out)}
    out += [
        (ld, 0, 0, 20),  # args[0], high word
        (jeq, 0, "EPERM", 0),
        (ld, 0, 0, 16),  # args[0], low word: pid 0 is the caller itself
        (jeq, "ALLOW", "EPERM", 0),
    ]
    labels["ALLOW"] = len(out)
    out.append((ret, 0, 0, allow))
    labels["EPERM"] = len(out)
    out.append((ret, 0, 0, eperm))
    data = b""
    for i, (code, jt, jf, k) in enumerate(out):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        data += struct.pack("HBBI", code, jt, jf, k)
    return data


_SECCOMP = _seccomp_program()


def _install_seccomp():
    prog = ctypes.create_string_buffer(_SECCOMP, len(_SECCOMP))
    fprog = struct.pack("HxxxxxxP", len(_SECCOMP) // 8, ctypes.addressof(prog))
    buf = ctypes.create_string_buffer(fprog, len(fprog))
    _check(_libc.prctl(22, 2, buf, 0, 0), "seccomp filter")  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def _read_job(fd):
    head = b""
    while len(head) < 4:
        chunk = os.read(fd, 4 - len(head))
        if not chunk:
            raise SetupError("no job")
        head += chunk
    (size,) = struct.unpack("I", head)
    parts = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise SetupError("truncated job")
        parts.append(chunk)
        size -= len(chunk)
    return json.loads(b"".join(parts))


def _write_doc(fd, doc):
    os.write(fd, json.dumps(doc).encode() + b"\n")


def _clone(flags):
    """fork(), but the child starts in new namespaces (and so is pid 1 of its own pid namespace).

    Python has no clone(); this is os.fork() with the raw system call in the middle, the GIL held throughout.
    """
    _pyapi.PyOS_BeforeFork()
    pid = _syscall(ctypes.c_long(SYS_CLONE), ctypes.c_ulong(flags | signal.SIGCHLD), None, None, None, None)
    if pid == 0:
        _pyapi.PyOS_AfterFork_Child()
        return 0
    errno = ctypes.get_errno()
    _pyapi.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(errno, f"clone: {os.strerror(errno)}")
    return pid


def _prepare_namespaces():
    """What a run needs before its job is known: mounts of its own, a fresh /proc, loopback up."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for sub in ("sys", "sysrq-trigger", "irq", "bus"):  # as bwrap's --proc: read-only where it can reach the host
        path = f"/proc/{sub}"
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _loopback_up()


def _setup_mounts(job):
    """The run's own /tmp, /dev/shm and /box (its program dir); the other program dirs covered."""
    flags = MS_NOSUID | MS_NODEV
    # tmpfs pages are charged to the box's cgroup but to no process: capped below the memory limit, files alone
    # can never leave the memory limit nothing to kill but the run's init or the zygote
    memory = job["memory_bytes"]
    _mount("tmpfs", "/tmp", "tmpfs", flags, f"size={min(job['tmpfs_bytes'], memory // 2)},mode=0755")
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", flags, f"size={min(job['tmpfs_bytes'], memory // 4)},mode=1777")
    # The program's dir: bound from the service's work dir (mounted whole in the box), which is then covered
    name = job["box"]
    if not name or "/" in name or name in (".", ".."):
        raise SetupError(f"bad program dir {name!r}")
    _mount(f"{WORK}/{name}", "/box", None, MS_BIND)
    kept = os.statvfs("/box").f_flag & KEEP_FLAGS  # flags the host locked on that mount must be kept
    _mount(None, "/box", None, MS_REMOUNT | MS_BIND | kept | flags | (0 if job["box_writable"] else MS_RDONLY))
    # (bwrap's mounts are locked to the box, so the work dir is covered, not unmounted: nothing reaches below)
    _mount("tmpfs", WORK, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")


def _init(arm):
    """pid 1 of one run, in its fresh namespaces: made ahead, it waits for the run's fds on `arm`, then sets up
    the rest, starts the program's process, reports, reaps.

    It holds the status and control pipes, so it is non-dumpable (nothing in the run can ptrace it or open its
    /proc files) and, as the namespace's init, immune to the run's signals. Its exit ends everything in the run.
    """
    try:
        # As the namespace's init it gets only the signals it handles: it handles none (Python's SIGINT handler
        # would let the program end its init with a KeyboardInterrupt and turn its run into a sandbox error).
        for sig in (signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the box's zygote gone: the run goes too
        _prctl(PR_SET_DUMPABLE, 0)
        _prepare_namespaces()
    except BaseException as exc:  # noqa: B036 - the box's log says why; the run that needed it gets no start
        os.write(2, f"aha warm box: preparing a run: {exc}\n".encode())
        os._exit(1)
    try:
        msg, fds, _, _ = socket.recv_fds(arm, 16, 8)
    except OSError:
        os._exit(0)
    arm.close()
    if not msg or len(fds) != 5:
        os._exit(0)
    stdin_r, out_w, err_w, status_w, ctl_r = fds
    try:
        job = _read_job(ctl_r)
        _setup_mounts(job)
        ok_r, ok_w = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(ok_r)
            os.close(status_w)
            os.close(ctl_r)
            return _program([stdin_r, out_w, err_w, ok_w], job)
        for fd in (stdin_r, out_w, err_w, ok_w):
            os.close(fd)
        null = os.open("/dev/null", os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.close(null)
        ok = b""
        while chunk := os.read(ok_r, 512):
            ok += chunk
        os.close(ok_r)
        if ok != b"ok":
            _write_doc(status_w, {"setup-error": ok.decode("utf-8", "replace") or "the run's process died"})
            os._exit(0)
        _write_doc(status_w, {"child-pid": child})
        code = _wait(child, os.pidfd_open(child), ctl_r)
        _write_doc(status_w, {"exit-code": code})
    except BaseException as exc:  # noqa: B036 - ours, never the program's
        try:
            _write_doc(status_w, {"setup-error": f"{type(exc).__name__}: {exc}"[:400]})
        except OSError:
            pass
    os._exit(0)


def _wait(child, pidfd, ctl_r):
    """The program's exit status (128+N for signal N), reaping orphans meanwhile; a closed `ctl_r` kills it."""
    import select

    while True:
        ready, _, _ = select.select([pidfd, ctl_r], [], [], 0.05)
        if ctl_r in ready:
            os.kill(child, signal.SIGKILL)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return 127
            if pid == 0:
                break
            if pid == child:
                return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _program(fds, job):
    stdin_r, out_w, err_w, ok_w = fds
    try:
        os.setsid()
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _prctl(PR_SET_DUMPABLE, 1)  # as any exec'd program (the init before it is not)
        os.dup2(stdin_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.set_inheritable(ok_w, False)
        os.closerange(3, ok_w)
        os.closerange(ok_w + 1, 1 << 16)
        # A fresh session keyring; the user keyring belongs to the box's user namespace, so empty it too.
        if SYS_KEYCTL is not None:
            _libc.syscall(SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None)
            _libc.syscall(SYS_KEYCTL, KEYCTL_CLEAR, KEY_SPEC_USER_KEYRING)
            _libc.syscall(SYS_KEYCTL, KEYCTL_CLEAR, KEY_SPEC_USER_SESSION_KEYRING)
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")  # the memory limit takes the program before the box's zygote
        _drop_privileges()
        _install_seccomp()  # needs no_new_privs, which _drop_privileges set
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        import resource  # preloaded

        for res, soft, hard in job["rlimits"]:
            resource.setrlimit(res, (soft, hard))
        # An ignored signal stays ignored across exec, and the service's own parent may have ignored some (nohup's
        # SIGHUP, a background shell's SIGINT and SIGQUIT), as Python ignores SIGPIPE and SIGXFSZ: every run starts
        # from the defaults, an exec'd program with all of them, a Python one as any Python program starts.
        _default_signals()
        if job["mode"] != "exec":
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        os.write(ok_w, b"ok")
    except BaseException as exc:  # noqa: B036 - any failure here is ours, never the program's
        try:
            os.write(ok_w, f"setup: {exc}".encode()[:400] or b"setup failed")
        finally:
            os._exit(127)
    os.close(ok_w)
    argv = job["argv"]
    if job["mode"] == "exec":
        try:
            os.execve(argv[0], argv, os.environ)
        except OSError as exc:  # as a shell: the program could not be started
            os.write(2, f"{argv[0]}: {exc.strerror}\n".encode())
            os._exit(127 if exc.errno == 2 else 126)
    return argv


def _serve():
    """Arm a run, hand it the next request's fds, wait for its end; repeat until the control socket closes.

    Returns only in a program's process. The next run is armed (cloned into its namespaces) once the last one's
    namespace is empty, so a fork bomb's processes never count against it, and before its request arrives.
    """
    import select

    sock = socket.socket(fileno=os.dup(0))
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # each run's init is reaped by the kernel
    # Everything imported so far stays put: the collector never walks (and so never copies) it in a run.
    gc.collect()
    gc.freeze()
    sock.send(b"ready")
    while True:
        arm, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = _clone(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)
            error = ""
        except OSError as exc:
            pid, error = -1, str(exc)
        if pid == 0:
            sock.close()
            arm.close()
            return _init(theirs)
        theirs.close()
        pidfd = os.pidfd_open(pid) if pid > 0 else -1
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 64, 8)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        if len(fds) == 5:
            if pid > 0:
                try:
                    socket.send_fds(arm, [b"go"], fds)
                except OSError as exc:  # the armed run died before it was needed (the box's log says why)
                    error = f"the prepared run is gone: {exc}"
            if error:
                os.write(fds[3], json.dumps({"setup-error": error}).encode() + b"\n")
        for fd in fds:
            os.close(fd)
        arm.close()
        if pidfd != -1:
            select.select([pidfd], [], [])  # the run's end (its init reaped: its namespace is empty)
            os.close(pidfd)


def _as_main(argv):
    """The `__main__` module and code of `python3 -I -B argv[0]`, or the exit status if it cannot start."""
    import types

    path = argv[0]
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        sys.stderr.write(f"{sys.executable}: can't open file {path!r}: [Errno {exc.errno}] {exc.strerror}\n")
        return None, 2
    try:
        if path.endswith(".pyc"):
            import marshal
            from importlib._bootstrap_external import MAGIC_NUMBER

            if data[:4] != MAGIC_NUMBER:
                raise RuntimeError("Bad magic number in .pyc file")
            code = marshal.loads(data[16:])
        else:
            code = compile(data, path, "exec", dont_inherit=True)
    except Exception as exc:  # as the interpreter reports a script that does not compile: no traceback
        sys.excepthook(type(exc), exc.with_traceback(None), None)
        return None, 1
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    sys.argv = list(argv)
    sys.orig_argv = [sys.executable, "-I", "-B", *argv]
    sys.setrecursionlimit(sys.getrecursionlimit() + 1)  # the frame below that runs it: the same depth as a script
    return module, code


def _exit_code(exc):
    """What the interpreter does with an exception that ends the program (SystemExit, or a traceback)."""
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        try:
            sys.stderr.write(f"{code}\n")
        except Exception:
            pass
        return 1
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # not this script's frame
    try:
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
    except Exception:
        pass
    return 130 if isinstance(exc, KeyboardInterrupt) else 1


def _finish(code, module):
    """Interpreter shutdown as far as a program can tell, without tearing down the preloaded modules.

    (A full finalization of a forked warm interpreter costs ~13 ms: it touches, and so copies, every page.)
    Non-daemon threads are joined, atexit handlers run, the program's globals are released (so its objects'
    `__del__` and unclosed files' flushes happen), cycles collected, stdio flushed; then the process ends.
    """
    for step in ("threads", "atexit", "globals"):
        try:
            if step == "threads" and "threading" in sys.modules:
                sys.modules["threading"]._shutdown()
            elif step == "atexit":
                import atexit

                atexit._run_exitfuncs()
            elif step == "globals" and module is not None:
                module.__dict__.clear()
                gc.collect()
        except BaseException as exc:  # noqa: B036 - as at interpreter exit: reported, the exit code stands
            more = _exit_code(exc)
            code = code or more
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            code = code or 120  # as CPython: stdout could not be flushed
    os._exit(code)


if __name__ == "__main__":
    _aha_main, _aha_code = _as_main(_serve())
    if _aha_main is None:
        _finish(_aha_code, None)
    try:
        exec(_aha_code, _aha_main.__dict__)
        _aha_status = 0
    except BaseException as _aha_exc:  # noqa: B036 - the program's end, whatever it was
        _aha_status = _exit_code(_aha_exc)
        del _aha_exc
    _finish(_aha_status, _aha_main)
