"""The bubblewrap backend: namespaces, a read-only minimal root, rlimits and a per-run cgroup.

One run:
1. take a machine-wide slot (`slots.run_slot`); when we are root the run gets its own host uid (base + slot),
   so a sandboxed process is never root outside and rlimits such as RLIMIT_NPROC apply to it;
2. with cgroups: take the slot's *launcher*, a process prepared ahead of time (see `_Launchers`) that already
   sits, idle and still our uid, in a fresh cgroup of its own. Given the argv it sets the run's rlimits, drops to
   the slot uid and execs bwrap, so bwrap and everything it forks are born in the run's cgroup with the limits
   applied. (Moving a live process into a cgroup waits for an RCU grace period, ~12 ms on cgroup v1, and an
   `prlimit` exec in the sandbox costs another; both are now off the run's path.)
   Without cgroups: start bwrap with the command behind util-linux `prlimit`;
3. stream stdin/stdout/stderr with byte caps while watching the wall clock;
4. kill the whole tree (the cgroup, and the pid namespace dies with its init), account, remove the cgroup.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import logging
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sandboxes import cgroups, config, languages, slots
from sandboxes.types import Limits, RunResult, RunSpec, RunStatus, failed_exit

log = logging.getLogger(__name__)

_MB = 1 << 20
# Config files some toolchains read at run time (the JVM's conf symlinks into /etc); nothing secret.
_ETC_FILES = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")


def _root_mounts() -> list[str]:
    """bwrap args for the read-only minimal root, mirroring how the host lays out /bin, /lib, ..."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    for path in (*_ETC_FILES, *sorted(glob.glob("/etc/java-*"))):
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


# Every sandbox: all namespaces (user, pid, ipc, uts, mount, net, cgroup: no network device but loopback).
_NAMESPACE_ARGS = (
    "--unshare-all",
    "--unshare-user",
    "--disable-userns",  # no nested user namespaces: less kernel attack surface
    "--die-with-parent",
    "--new-session",  # no TIOCSTI into a terminal we may have
    "--hostname",
    "sandbox",
    "--uid",
    "1000",
    "--gid",
    "1000",
)


def _toolchain_args(recipe: languages.Recipe | None) -> tuple[list[str], list[str]]:
    """bwrap args mounting the recipe's toolchains that live outside /usr, and the PATH that finds them."""
    args: list[str] = []
    path_dirs = ["/usr/local/bin", "/usr/bin", "/bin"]
    if recipe is not None:
        for prefix in languages.toolchain_mounts(recipe):
            args += ["--ro-bind", prefix, prefix]
            path_dirs.insert(0, f"{prefix}/bin")
    return args, path_dirs


def run_env(spec: RunSpec, path_dirs: list[str]) -> dict[str, str]:
    """The environment a sandboxed program sees."""
    return {"PATH": ":".join(path_dirs), "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp", **spec.env}


def _bwrap_path() -> str:
    return config.env_str("SANDBOX_BWRAP", "/usr/bin/bwrap")


def bwrap_version() -> str | None:
    """`bwrap --version`, or None when bubblewrap is missing."""
    try:
        proc = subprocess.run([_bwrap_path(), "--version"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return proc.stdout.strip() or None


def _rlimits(limits: Limits, address_space: bool) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for the sandboxed process; the same limits `_prlimit_prefix` sets."""
    cpu = max(1, int(limits.cpu_s + 0.999))
    out = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),  # soft < hard: SIGXCPU first, SIGKILL one second later
        (resource.RLIMIT_FSIZE, limits.file_size_mb * _MB, limits.file_size_mb * _MB),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (resource.RLIMIT_STACK, limits.stack_mb * _MB, limits.stack_mb * _MB),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, limits.pids, limits.pids),
    ]
    if address_space:
        out.append((resource.RLIMIT_AS, (limits.memory_mb + 64) * _MB, (limits.memory_mb + 64) * _MB))
    return out


def _prlimit_prefix(limits: Limits, address_space: bool) -> list[str]:
    """util-linux `prlimit` in front of the command: the sandboxed process lowers its own limits.

    (Setting them from outside needs CAP_SYS_RESOURCE over another uid, which hosts often withhold.)
    """
    cpu = max(1, int(limits.cpu_s + 0.999))
    args = [
        "/usr/bin/prlimit",
        # soft < hard: SIGXCPU first (a clean time_limit), SIGKILL one second later if it is ignored
        f"--cpu={cpu}:{cpu + 1}",
        f"--fsize={limits.file_size_mb * _MB}",
        f"--nofile={limits.open_files}",
        f"--stack={limits.stack_mb * _MB}",
        "--core=0",
        f"--nproc={limits.pids}",
    ]
    if address_space:
        args.append(f"--as={(limits.memory_mb + 64) * _MB}")
    return [*args, "--"]


class BwrapSandbox:
    """Runs programs under bubblewrap. Stateless: safe to share between threads."""

    name = "bwrap"

    def run(self, spec: RunSpec) -> RunResult:
        """Run `spec` isolated; never raises (our failures come back as `sandbox_error`)."""
        try:
            with slots.run_slot() as slot:
                return self._run(spec, slot)
        except slots.SlotTimeout as exc:
            return RunResult(RunStatus.SANDBOX_ERROR, reason=str(exc))
        except Exception as exc:  # a bug or a host problem must not look like a verdict on the program
            log.exception("sandbox run failed")
            return RunResult(RunStatus.SANDBOX_ERROR, reason=f"{type(exc).__name__}: {exc}")

    def _argv(self, spec: RunSpec, status_w: int, block_r: int | None, *, prlimit: bool = True) -> list[str]:
        limits = spec.limits
        recipe = languages.get_recipe(spec.language) if spec.language else None
        args = [
            _bwrap_path(),
            *_NAMESPACE_ARGS,
            *_root_mounts(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(limits.tmpfs_mb * _MB),
            "--tmpfs",
            "/tmp",
        ]
        if spec.box is not None:
            args += ["--bind" if spec.box_writable else "--ro-bind", str(spec.box), "/box"]
        toolchain_args, path_dirs = _toolchain_args(recipe)
        args += toolchain_args
        args += ["--remount-ro", "/"]  # the root tmpfs bwrap builds is writable otherwise
        args += ["--chdir", spec.cwd, "--clearenv"]
        for key, value in run_env(spec, path_dirs).items():
            args += ["--setenv", key, value]
        args += ["--json-status-fd", str(status_w)]
        if block_r is not None:
            args += ["--block-fd", str(block_r)]
        prefix = _prlimit_prefix(limits, address_space=_address_space(spec)) if prlimit else []
        args += ["--", *prefix, *spec.argv]
        return args

    def _run(self, spec: RunSpec, slot: int) -> RunResult:
        if cgroups.detect().version != "none":
            from sandboxes import warm  # it builds on this module

            if warm.eligible(spec):
                result = warm.run(spec, slot)
                if result is not None:
                    return result
            return self._run_launched(spec, slot)
        return self._run_direct(spec, slot)

    def _run_launched(self, spec: RunSpec, slot: int) -> RunResult:
        limits = spec.limits
        launcher = _launchers().take(slot)
        group = launcher.group
        try:
            # The launcher becomes bwrap's monitor in the cgroup: one more process than the program's budget.
            group.set_limits(limits.memory_mb * _MB, limits.pids + 1)
            group.reset_peak()
            start = time.monotonic()
            launcher.launch(self._argv(spec, _LAUNCH_STATUS_FD, None, prlimit=False), _rlimits(spec.limits, False))
            status_reader = _StatusReader(launcher.status_r)
            first = status_reader.next_doc(deadline=time.monotonic() + 10)
            if first is None or "child-pid" not in first:
                group.kill_all()
                err = _read_available(launcher.stderr_r)
                return RunResult(RunStatus.SANDBOX_ERROR, reason=f"bwrap did not start the sandbox: {err}")
            io = _stream(launcher, spec.stdin, limits, deadline=start + limits.wall_s)
            if not io.killed_reason and not _wait_fd(launcher.pidfd, start + limits.wall_s):
                io.killed_reason = "wall"  # closed its outputs but kept running
            wall = time.monotonic() - start
            group.kill_all()  # after a kill, and stragglers that outlived their init (there should be none)
            _wait_fd(launcher.pidfd, time.monotonic() + 5)
            tail = status_reader.rest()
            cpu = group.cpu_seconds() or 0.0
            return _result(io, limits, group, [d for d in tail if "exit-code" in d], wall, cpu, group.peak_bytes())
        finally:
            launcher.close()
            _launchers().refill(slot)

    def _run_direct(self, spec: RunSpec, slot: int) -> RunResult:
        limits = spec.limits
        status_r, status_w = os.pipe()
        block_r, block_w = os.pipe()
        drop: dict = {}
        if os.geteuid() == 0:
            uid = config.sandbox_uid_base() + slot
            drop = {"user": uid, "group": uid, "extra_groups": []}
        proc: subprocess.Popen[bytes] | None = None
        start = time.monotonic()
        try:
            try:
                proc = subprocess.Popen(
                    self._argv(spec, status_w, block_r),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    pass_fds=(status_w, block_r),
                    start_new_session=True,
                    env={"PATH": "/usr/bin:/bin"},
                    **drop,
                )
            finally:
                os.close(status_w)
                os.close(block_r)
            status_reader = _StatusReader(status_r)
            first = status_reader.next_doc(deadline=time.monotonic() + 10)
            if first is None or "child-pid" not in first:
                return self._setup_failed(proc, "bwrap did not start the sandbox")
            start = time.monotonic()
            os.write(block_w, b"x")
            os.close(block_w)
            block_w = -1
            io = _stream(proc, spec.stdin, limits, deadline=start + limits.wall_s)
            if not io.killed_reason and not _wait_exit(proc.pid, start + limits.wall_s):
                io.killed_reason = "wall"  # closed its outputs but kept running
            if io.killed_reason:
                _kill(proc)
            _, wait_status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(wait_status)
            wall = time.monotonic() - start
            tail = status_reader.rest()
            exit_docs = [d for d in tail if "exit-code" in d]
            cpu = usage.ru_utime + usage.ru_stime  # misses processes bwrap's init did not reap before exiting
            return _result(io, limits, None, exit_docs, wall, cpu, usage.ru_maxrss * 1024)
        finally:
            if block_w != -1:
                os.close(block_w)
            if proc is not None and proc.returncode is None:
                _kill(proc)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(proc.pid, 0)
                proc.returncode = -9
            for stream in (proc.stdin, proc.stdout, proc.stderr) if proc is not None else ():
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            os.close(status_r)

    def _setup_failed(self, proc: subprocess.Popen[bytes], what: str) -> RunResult:
        _kill(proc)
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            err = b""
        return RunResult(RunStatus.SANDBOX_ERROR, reason=f"{what}: {err.decode('utf-8', 'replace').strip()[:500]}")


def _address_space(spec: RunSpec) -> bool:
    """RLIMIT_AS only where no cgroup bounds memory and the runtime tolerates it."""
    recipe = languages.get_recipe(spec.language) if spec.language else None
    return cgroups.detect().version == "none" and (recipe is None or recipe.address_space_limit)


def _result(
    io: _IO,
    limits: Limits,
    group: cgroups.RunCgroup | None,
    exit_docs: list[dict],
    wall: float,
    cpu: float,
    peak: int | None,
) -> RunResult:
    """How the run ended, from what bwrap reported, the cgroup's accounting and how we stopped it."""
    common = {
        "stdout": bytes(io.stdout),
        "stderr": bytes(io.stderr),
        "stdout_truncated": io.stdout_truncated,
        "stderr_truncated": io.stderr_truncated,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_memory_bytes": peak,
    }
    if io.killed_reason == "wall":
        return RunResult(RunStatus.TIME_LIMIT, reason=f"wall time limit {limits.wall_s:g}s", **common)
    if io.killed_reason == "output":
        return RunResult(RunStatus.OUTPUT_LIMIT, reason=f"stdout over {limits.output_bytes} bytes", **common)
    if not exit_docs:
        if group is not None and group.oom_killed():
            # the memory limit took bwrap's own process (a tmpfs full of files is charged to no process)
            return RunResult(RunStatus.MEMORY_LIMIT, reason=f"memory limit {limits.memory_mb} MiB", **common)
        return RunResult(
            RunStatus.SANDBOX_ERROR,
            reason="sandbox setup failed: " + io.stderr.decode("utf-8", "replace").strip()[:500],
            **common,
        )
    code = int(exit_docs[-1]["exit-code"])
    if code == 0:
        return RunResult(RunStatus.OK, exit_code=0, **common)
    return failed_exit(code, limits, common, oom_killed=group is not None and group.oom_killed())


def _kill(proc: subprocess.Popen[bytes]) -> None:
    # Killing bwrap's session kills the monitor; its init gets SIGKILL from --die-with-parent and the kernel
    # then kills everything else in the pid namespace.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_fd(fd: int, deadline: float) -> bool:
    """Wait until `fd` (a pidfd: the process exited) is readable, or `deadline`; False on timeout."""
    sel = selectors.DefaultSelector()
    try:
        sel.register(fd, selectors.EVENT_READ)
        return bool(sel.select(max(0.0, deadline - time.monotonic())))
    finally:
        sel.close()


def _read_available(fd: int) -> str:
    """Whatever `fd` holds right now (bwrap's complaint when it failed to start), without blocking."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 4096).decode("utf-8", "replace").strip()[:500]
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------------ launchers
_LAUNCH_STATUS_FD = 3  # where the launcher puts bwrap's --json-status-fd (0-2 are the program's stdio)

# The zygote: a small interpreter of our own uid, started once per service process. It forks launchers on
# request and reaps them (SIGCHLD ignored). A launcher gets the run's pipes, waits (our uid, doing nothing) until
# the argv arrives, then sets the rlimits, drops to the slot uid and execs bwrap. EOF instead of an argv (we
# closed it, or died) makes it exit; EOF on the socket makes the zygote exit.
_ZYGOTE = r"""
import fcntl, json, os, resource, signal, socket, struct, sys
sock = socket.socket(fileno=int(sys.argv[1]))
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
def launcher(fds, uid):
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 32) for fd in fds]
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    os.closerange(5, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    os.setsid()
    data = b""
    while chunk := os.read(4, 1 << 16):
        data += chunk
    os.close(4)
    if not data:
        return
    job = json.loads(data)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    if uid >= 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    for res, soft, hard in job["rlimits"]:
        resource.setrlimit(res, (soft, hard))
    os.execve(job["argv"][0], job["argv"], {"PATH": "/usr/bin:/bin"})
while True:
    try:
        msg, fds, _, _ = socket.recv_fds(sock, 16, 8)
    except OSError:
        break
    if not msg:
        break
    pid = os.fork()
    if pid == 0:
        try:
            launcher(fds, struct.unpack("i", msg[:4])[0])
        except BaseException as exc:
            os.write(2, f"aha launcher: {exc}\n".encode())
        finally:
            os._exit(127)
    for fd in fds:
        os.close(fd)
    sock.send(struct.pack("i", pid))
"""


class _Zygote:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _ZYGOTE, str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
        )
        theirs.close()
        self.sock = ours
        self.lock = threading.Lock()

    def spawn(self, uid: int, fds: list[int]) -> int:
        with self.lock:
            socket.send_fds(self.sock, [struct.pack("i", uid)], fds)
            reply = self.sock.recv(8)
        if len(reply) != 4:
            raise OSError("the launcher zygote is gone")
        return int(struct.unpack("i", reply)[0])

    def close(self) -> None:
        self.sock.close()  # EOF: it exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)


@dataclass
class _Launcher:
    """A launcher waiting in its own fresh cgroup, and our ends of the pipes it will hand to bwrap."""

    pid: int
    pidfd: int
    group: cgroups.RunCgroup
    stdin: object  # raw binary file objects, as `_stream` expects
    stdout: object
    stderr: object
    stderr_r: int
    status_r: int
    ctl_w: int

    def alive(self) -> bool:
        return not _wait_fd(self.pidfd, 0.0)

    def launch(self, argv: list[str], rlimits: list[tuple[int, int, int]]) -> None:
        data = json.dumps({"argv": argv, "rlimits": rlimits}).encode()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.ctl_w, view) :]
        finally:
            os.close(self.ctl_w)
            self.ctl_w = -1

    def close(self) -> None:
        """Kill whatever is left in the cgroup, remove it, close our ends."""
        self.group.destroy()
        for f in (self.stdin, self.stdout, self.stderr):
            with contextlib.suppress(OSError):
                f.close()  # type: ignore[attr-defined]
        for fd in (self.status_r, self.ctl_w, self.pidfd):
            if fd != -1:
                with contextlib.suppress(OSError):
                    os.close(fd)


class _Launchers:
    """Up to `DEPTH` ready launchers per slot, made in the background after each run (the attach wait included).

    Two, so that a slot whose next run starts at once (several threads queue for few slots) still finds one
    while the replacement of the one just used waits out its attach.
    """

    DEPTH = 2

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready: dict[int, list[_Launcher]] = {}
        self.making: dict[int, int] = {}
        self.zygote: _Zygote | None = None
        self.closed = False
        self.pid = os.getpid()  # a forked child of ours (a worker pool) must make its own
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="aha-launcher")
        cgroups.sweep_stale(cgroups.detect())
        atexit.register(self.close)

    def take(self, slot: int) -> _Launcher:
        while True:
            with self.lock:
                queue = self.ready.get(slot)
                launcher = queue.pop(0) if queue else None
            if launcher is None:
                return self._make(slot)
            if launcher.alive():
                return launcher
            launcher.close()

    def refill(self, slot: int) -> None:
        with self.lock:
            missing = self.DEPTH - len(self.ready.get(slot, ())) - self.making.get(slot, 0)
            if self.closed or missing <= 0:
                return
            self.making[slot] = self.making.get(slot, 0) + missing
        for _ in range(missing):
            self.executor.submit(self._refill, slot)

    def _refill(self, slot: int) -> None:
        try:
            launcher = self._make(slot)
        except Exception:  # the run that needs it will make one itself and report the failure
            log.exception("preparing a sandbox launcher failed")
            with self.lock:
                self.making[slot] -= 1
            return
        with self.lock:
            self.making[slot] -= 1
            queue = self.ready.setdefault(slot, [])
            keep = not self.closed and len(queue) < self.DEPTH
            if keep:
                queue.append(launcher)
        if not keep:
            launcher.close()

    def _spawn(self, uid: int, fds: list[int]) -> int:
        with self.lock:
            if self.zygote is None or self.zygote.proc.poll() is not None:
                self.zygote = _Zygote()
            zygote = self.zygote
        return zygote.spawn(uid, fds)

    def _make(self, slot: int) -> _Launcher:
        group = cgroups.RunCgroup.create(cgroups.detect(), None, None)
        ours: list[int] = []
        theirs: list[int] = []
        try:
            for _ in range(5):  # stdin, stdout, stderr, status, ctl
                r, w = os.pipe()
                ours.append(r)
                ours.append(w)
            stdin_r, stdin_w, out_r, out_w, err_r, err_w, status_r, status_w, ctl_r, ctl_w = ours
            theirs = [stdin_r, out_w, err_w, status_w, ctl_r]
            uid = config.sandbox_uid_base() + slot if os.geteuid() == 0 else -1
            pid = self._spawn(uid, theirs)
            for fd in theirs:
                os.close(fd)
            theirs = []
            pidfd = os.pidfd_open(pid)
            launcher = _Launcher(
                pid=pid,
                pidfd=pidfd,
                group=group,
                stdin=os.fdopen(stdin_w, "wb", buffering=0),
                stdout=os.fdopen(out_r, "rb", buffering=0),
                stderr=os.fdopen(err_r, "rb", buffering=0),
                stderr_r=err_r,
                status_r=status_r,
                ctl_w=ctl_w,
            )
        except BaseException:
            for fd in ours:
                with contextlib.suppress(OSError):
                    os.close(fd)
            group.destroy()
            raise
        try:
            group.attach(pid)  # the slow part (an RCU grace period on v1); the launcher is idle until launch
        except BaseException:
            launcher.close()
            raise
        return launcher

    def close(self) -> None:
        if os.getpid() != self.pid:
            return  # inherited through fork: the processes and cgroups are our parent's
        with self.lock:
            self.closed = True
            zygote, self.zygote = self.zygote, None
        self.executor.shutdown(wait=True)  # nothing is added once closed
        with self.lock:
            ready, self.ready = [x for queue in self.ready.values() for x in queue], {}
        for launcher in ready:
            launcher.close()
        if zygote is not None:
            zygote.close()


_LAUNCHERS: _Launchers | None = None
_LAUNCHERS_LOCK = threading.Lock()


def _launchers() -> _Launchers:
    global _LAUNCHERS
    with _LAUNCHERS_LOCK:
        if _LAUNCHERS is None or _LAUNCHERS.closed or _LAUNCHERS.pid != os.getpid():
            _LAUNCHERS = _Launchers()
        return _LAUNCHERS


def _wait_exit(pid: int, deadline: float) -> bool:
    """Wait for `pid` to exit until `deadline` without reaping it; False on timeout."""
    fd = os.pidfd_open(pid)
    try:
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        ready = sel.select(max(0.0, deadline - time.monotonic()))
        sel.close()
        return bool(ready)
    finally:
        os.close(fd)


class _StatusReader:
    """Reads the JSON documents bwrap writes to --json-status-fd."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = ""
        self.decoder = json.JSONDecoder()

    def _pop(self) -> dict | None:
        text = self.buf.lstrip()
        if not text:
            return None
        try:
            doc, end = self.decoder.raw_decode(text)
        except json.JSONDecodeError:
            return None
        self.buf = text[end:]
        return doc if isinstance(doc, dict) else {}

    def next_doc(self, deadline: float) -> dict | None:
        """The next document, or None at EOF or the deadline."""
        while True:
            doc = self._pop()
            if doc is not None:
                return doc
            sel = selectors.DefaultSelector()
            sel.register(self.fd, selectors.EVENT_READ)
            ready = sel.select(max(0.0, deadline - time.monotonic()))
            sel.close()
            if not ready:
                return None
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None
            self.buf += chunk.decode("utf-8", "replace")

    def rest(self) -> list[dict]:
        """Everything left once bwrap has exited (the write end is closed by then)."""
        docs = []
        while True:
            doc = self.next_doc(deadline=time.monotonic() + 1)
            if doc is None:
                return docs
            docs.append(doc)


class _IO:
    def __init__(self) -> None:
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.stdout_truncated = False
        self.stderr_truncated = False
        self.killed_reason = ""


def _stream(proc: subprocess.Popen[bytes], data: bytes, limits: Limits, deadline: float) -> _IO:
    """Feed stdin and collect capped stdout/stderr until both close, the deadline passes, or stdout floods."""
    io = _IO()
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    view = memoryview(data)
    if data:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
    else:
        proc.stdin.close()
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    cap = limits.output_bytes
    try:
        while len(sel.get_map()) > 0:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                io.killed_reason = "wall"
                break
            for key, _ in sel.select(timeout):
                f = key.fileobj
                if f is proc.stdin:
                    try:
                        n = os.write(proc.stdin.fileno(), view[:65536])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        n = len(view)
                    view = view[n:]
                    if not view:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(f)
                    continue
                if f is proc.stdout:
                    room = cap - len(io.stdout)
                    io.stdout += chunk[:room]
                    if len(chunk) > room:
                        io.stdout_truncated = True
                        io.killed_reason = "output"
                        return io
                else:
                    room = cap - len(io.stderr)
                    io.stderr += chunk[: max(0, room)]
                    if len(chunk) > room:
                        io.stderr_truncated = True  # keep draining so the program is not blocked on it
    finally:
        sel.close()
    return io
