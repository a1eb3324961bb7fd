"""What every bwrap run is made of, cold or warm: the namespaces, the read-only minimal root, the rlimits, the
environment, bwrap's status documents, and the pump that feeds and drains the program's pipes."""

from __future__ import annotations

import glob
import json
import os
import resource
import selectors
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sandboxes import languages
from sandboxes.outcome import WALL, Captured, classify
from sandboxes.types import Limits, RunResult, RunSpec

MB = 1 << 20
LAUNCH_STATUS_FD = 3  # where a launcher puts bwrap's --json-status-fd (0-2 are the program's stdio)
# Config files some toolchains read at run time (the JVM's conf symlinks into /etc); nothing secret.
_ETC_FILES = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")

# Every sandbox: all namespaces (user, pid, ipc, uts, mount, net, cgroup: no network device but loopback).
NAMESPACE_ARGS = (
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


def root_mounts() -> list[str]:
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


def toolchain_args(recipe: languages.Recipe | None) -> tuple[list[str], list[str]]:
    """bwrap args mounting the recipe's toolchains that live outside /usr, and the PATH that finds them."""
    args: list[str] = []
    path_dirs = ["/usr/local/bin", "/usr/bin", "/bin"]
    if recipe is not None:
        for prefix in languages.toolchain_mounts(recipe):
            args += ["--ro-bind", prefix, prefix]
            path_dirs.insert(0, f"{prefix}/bin")
    return args, path_dirs


def recipe_of(spec: RunSpec) -> languages.Recipe | None:
    """The run's language recipe, if it names one."""
    return languages.get_recipe(spec.language) if spec.language else None


def run_env(spec: RunSpec, path_dirs: list[str]) -> dict[str, str]:
    """The environment a sandboxed program sees."""
    return {"PATH": ":".join(path_dirs), "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp", **spec.env}


def bwrap_version(bwrap: str) -> str | None:
    """`bwrap --version` of the binary `bwrap`, or None when it is missing."""
    try:
        proc = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return proc.stdout.strip() or None


def rlimits(limits: Limits, address_space: bool) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for the sandboxed process; the same limits `prlimit_prefix` sets."""
    cpu = max(1, int(limits.cpu_s + 0.999))
    out = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),  # soft < hard: SIGXCPU first, SIGKILL one second later
        (resource.RLIMIT_FSIZE, limits.file_size_mb * MB, limits.file_size_mb * MB),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (resource.RLIMIT_STACK, limits.stack_mb * MB, limits.stack_mb * MB),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, limits.pids, limits.pids),
    ]
    if address_space:
        out.append((resource.RLIMIT_AS, (limits.memory_mb + 64) * MB, (limits.memory_mb + 64) * MB))
    return out


def prlimit_prefix(limits: Limits, address_space: bool) -> list[str]:
    """util-linux `prlimit` in front of the command: the sandboxed process lowers its own limits.

    (Setting them from outside needs CAP_SYS_RESOURCE over another uid, which hosts often withhold.)
    """
    flags = {
        resource.RLIMIT_CPU: "cpu",
        resource.RLIMIT_FSIZE: "fsize",
        resource.RLIMIT_NOFILE: "nofile",
        resource.RLIMIT_STACK: "stack",
        resource.RLIMIT_CORE: "core",
        resource.RLIMIT_NPROC: "nproc",
        resource.RLIMIT_AS: "as",
    }
    args = ["/usr/bin/prlimit"]
    for res, soft, hard in rlimits(limits, address_space):
        args.append(f"--{flags[res]}={soft}:{hard}")
    return [*args, "--"]


def address_space_ok(spec: RunSpec) -> bool:
    """Whether the run's runtime tolerates RLIMIT_AS (set only where no cgroup bounds memory)."""
    recipe = recipe_of(spec)
    return recipe is None or recipe.address_space_limit


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to the blocking `fd`."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def send_job(ctl_w: int, argv: list[str], limits: list[tuple[int, int, int]]) -> None:
    """Hand a waiting launcher its bwrap argv and rlimits, then close its control pipe (it execs on EOF)."""
    try:
        write_all(ctl_w, json.dumps({"argv": argv, "rlimits": limits}).encode())
    finally:
        os.close(ctl_w)


def wait_fd(fd: int, deadline: float) -> bool:
    """Wait until `fd` (a pidfd: the process exited) is readable, or `deadline`; False on timeout."""
    sel = selectors.DefaultSelector()
    try:
        sel.register(fd, selectors.EVENT_READ)
        return bool(sel.select(max(0.0, deadline - time.monotonic())))
    finally:
        sel.close()


def wait_exit(pid: int, deadline: float) -> bool:
    """Wait for `pid` to exit until `deadline` without reaping it; False on timeout."""
    fd = os.pidfd_open(pid)
    try:
        return wait_fd(fd, deadline)
    finally:
        os.close(fd)


def read_available(fd: int) -> str:
    """Whatever `fd` holds right now (bwrap's complaint when it failed to start), without blocking."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 4096).decode("utf-8", "replace").strip()[:500]
    except OSError:
        return ""


class StatusReader:
    """Reads the JSON documents bwrap (or the warm zygote, in bwrap's format) writes to --json-status-fd."""

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


class Stream(Protocol):
    """One end of a pipe to the program: all the pump needs of it."""

    def fileno(self) -> int: ...  # pragma: no cover - protocol

    def close(self) -> None: ...  # pragma: no cover - protocol


@dataclass
class Pipes:
    """Our ends of the program's stdin, stdout and stderr."""

    stdin: Stream
    stdout: Stream
    stderr: Stream

    @classmethod
    def of_fds(cls, stdin_w: int, stdout_r: int, stderr_r: int) -> Pipes:
        """Unbuffered file objects over raw pipe fds (which they then own)."""
        return cls(
            os.fdopen(stdin_w, "wb", buffering=0),
            os.fdopen(stdout_r, "rb", buffering=0),
            os.fdopen(stderr_r, "rb", buffering=0),
        )

    def close(self) -> None:
        """Close our three ends (already closed ones are fine)."""
        for f in (self.stdin, self.stdout, self.stderr):
            try:
                f.close()
            except OSError:
                pass


def pump(pipes: Pipes, data: bytes, limits: Limits, deadline: float) -> Captured:
    """Feed stdin and collect capped stdout/stderr until both close, the deadline passes, or stdout floods."""
    out = Captured()
    sel = selectors.DefaultSelector()
    view = memoryview(data)
    if data:
        os.set_blocking(pipes.stdin.fileno(), False)
        sel.register(pipes.stdin, selectors.EVENT_WRITE)
    else:
        pipes.stdin.close()
    sel.register(pipes.stdout, selectors.EVENT_READ)
    sel.register(pipes.stderr, selectors.EVENT_READ)
    cap = limits.output_bytes
    try:
        while len(sel.get_map()) > 0:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                out.killed_reason = WALL
                break
            for key, _ in sel.select(timeout):
                f = key.fileobj
                if f is pipes.stdin:
                    try:
                        n = os.write(key.fd, view[:65536])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        n = len(view)
                    view = view[n:]
                    if not view:
                        sel.unregister(pipes.stdin)
                        pipes.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(f)
                    continue
                if f is pipes.stdout:
                    if not out.take_stdout(chunk, cap):
                        return out
                else:
                    out.take_stderr(chunk, cap)
    finally:
        sel.close()
    return out


def judge(
    out: Captured,
    limits: Limits,
    exit_docs: list[dict],
    wall: float,
    cpu: float,
    peak: int | None,
    oom: Callable[[], bool],
) -> RunResult:
    """How a bwrap run ended, from what bwrap reported (`exit_docs`), the accounting and how we stopped it."""
    return classify(
        out,
        limits,
        exit_code=int(exit_docs[-1]["exit-code"]) if exit_docs else None,
        wall_s=wall,
        cpu_s=cpu,
        peak_memory_bytes=peak,
        oom_killed=oom,
        no_exit=lambda: "sandbox setup failed: " + out.stderr.decode("utf-8", "replace").strip()[:500],
    )
