"""The bubblewrap backend: namespaces, a read-only minimal root, rlimits and a per-run cgroup.

One run:
1. take a machine-wide slot (`slots.run_slot`); when we are root the run gets its own host uid (base + slot),
   so a sandboxed process is never root outside and rlimits such as RLIMIT_NPROC apply to it;
2. start bwrap with `--block-fd`: it creates the namespaces and then waits, before the program exists;
3. read the child's pid from `--json-status-fd`, move it into the run's cgroup and set its rlimits (everything
   it forks inherits both), then release it;
4. stream stdin/stdout/stderr with byte caps while watching the wall clock;
5. kill the whole tree (the pid namespace dies with its init, and the cgroup is emptied), reap, account.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

from sandboxes import cgroups, config, languages, slots
from sandboxes.types import Limits, RunResult, RunSpec, RunStatus

log = logging.getLogger(__name__)

_MB = 1 << 20
# Config files some toolchains read at run time (the JVM's conf symlinks into /etc); nothing secret.
_ETC_FILES = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
# Messages runtimes print when an allocation fails under RLIMIT_AS / -Xmx, so that case reads as memory_limit.
_OOM_MARKERS = (
    b"MemoryError",
    b"std::bad_alloc",
    b"java.lang.OutOfMemoryError",
    b"fatal error: runtime: out of memory",
    b"memory allocation of",
    b"JavaScript heap out of memory",
    b"Cannot allocate memory",
)


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


def _bwrap_path() -> str:
    return config.env_str("SANDBOX_BWRAP", "/usr/bin/bwrap")


def bwrap_version() -> str | None:
    """`bwrap --version`, or None when bubblewrap is missing."""
    try:
        proc = subprocess.run([_bwrap_path(), "--version"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return proc.stdout.strip() or None


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

    def _argv(self, spec: RunSpec, status_w: int, block_r: int) -> list[str]:
        limits = spec.limits
        recipe = languages.get_recipe(spec.language) if spec.language else None
        args = [
            _bwrap_path(),
            "--unshare-all",  # user, pid, ipc, uts, mount, net, cgroup: no network device but loopback
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
        path_dirs = ["/usr/local/bin", "/usr/bin", "/bin"]
        if recipe is not None:
            for prefix in languages.toolchain_mounts(recipe):
                args += ["--ro-bind", prefix, prefix]
                path_dirs.insert(0, f"{prefix}/bin")
        args += ["--remount-ro", "/"]  # the root tmpfs bwrap builds is writable otherwise
        env = {"PATH": ":".join(path_dirs), "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp", **spec.env}
        args += ["--chdir", spec.cwd, "--clearenv"]
        for key, value in env.items():
            args += ["--setenv", key, value]
        no_as = cgroups.detect().version != "none" or (recipe is not None and not recipe.address_space_limit)
        prefix = _prlimit_prefix(limits, address_space=not no_as)
        args += ["--json-status-fd", str(status_w), "--block-fd", str(block_r), "--", *prefix, *spec.argv]
        return args

    def _run(self, spec: RunSpec, slot: int) -> RunResult:
        limits = spec.limits
        setup = cgroups.detect()
        group: cgroups.RunCgroup | None = None
        if setup.version != "none":
            group = cgroups.RunCgroup.create(setup, limits.memory_mb * _MB, limits.pids)
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
            child = int(first["child-pid"])
            if group is not None:
                group.attach(child)
            start = time.monotonic()
            os.write(block_w, b"x")
            os.close(block_w)
            block_w = -1
            io = _stream(proc, spec.stdin, limits, deadline=start + limits.wall_s)
            if not io.killed_reason and not _wait_exit(proc.pid, start + limits.wall_s):
                io.killed_reason = "wall"  # closed its outputs but kept running
            if io.killed_reason:
                _kill(proc, group)
            _, wait_status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(wait_status)
            wall = time.monotonic() - start
            if group is not None:
                group.kill_all()  # stragglers that outlived their init (there should be none)
            tail = status_reader.rest()
            exit_docs = [d for d in tail if "exit-code" in d]
            cpu = usage.ru_utime + usage.ru_stime  # misses processes bwrap's init did not reap before exiting
            if group is not None:
                cpu = group.cpu_seconds() or cpu
            peak = group.peak_bytes() if group is not None else usage.ru_maxrss * 1024
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
                return RunResult(
                    RunStatus.SANDBOX_ERROR,
                    reason="sandbox setup failed: " + io.stderr.decode("utf-8", "replace").strip()[:500],
                    **common,
                )
            code = int(exit_docs[-1]["exit-code"])
            # bwrap reports a child killed by signal N as 128+N
            sig = code - 128 if code > 128 else None
            exit_code = None if sig else code
            if code == 0:
                return RunResult(RunStatus.OK, exit_code=0, **common)
            oom = group.oom_killed() if group is not None else False
            if (
                oom
                or (sig is None and any(m in io.stderr for m in _OOM_MARKERS))
                or (sig == signal.SIGABRT and b"bad_alloc" in io.stderr)
            ):
                return RunResult(
                    RunStatus.MEMORY_LIMIT,
                    exit_code=exit_code,
                    signal=sig,
                    reason=f"memory limit {limits.memory_mb} MiB",
                    **common,
                )
            if sig in (signal.SIGXCPU, signal.SIGKILL) and cpu >= limits.cpu_s * 0.95:
                return RunResult(RunStatus.TIME_LIMIT, signal=sig, reason=f"CPU time limit {limits.cpu_s:g}s", **common)
            if sig == signal.SIGXFSZ:
                return RunResult(
                    RunStatus.OUTPUT_LIMIT, signal=sig, reason=f"file size limit {limits.file_size_mb} MiB", **common
                )
            return RunResult(RunStatus.RUNTIME_ERROR, exit_code=exit_code, signal=sig, **common)
        finally:
            if block_w != -1:
                os.close(block_w)
            if proc is not None and proc.returncode is None:
                _kill(proc, group)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(proc.pid, 0)
                proc.returncode = -9
            for stream in (proc.stdin, proc.stdout, proc.stderr) if proc is not None else ():
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            os.close(status_r)
            if group is not None:
                group.destroy()

    def _setup_failed(self, proc: subprocess.Popen[bytes], what: str) -> RunResult:
        _kill(proc, None)
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            err = b""
        return RunResult(RunStatus.SANDBOX_ERROR, reason=f"{what}: {err.decode('utf-8', 'replace').strip()[:500]}")


def _kill(proc: subprocess.Popen[bytes], group: cgroups.RunCgroup | None) -> None:
    # Killing bwrap's session kills the monitor; its init gets SIGKILL from --die-with-parent and the kernel
    # then kills everything else in the pid namespace. The cgroup sweep covers the window in between.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if group is not None:
        group.kill_all()


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
