"""Warm runs for the bwrap backend: long-lived boxes, fresh namespaces for every run.

A cold run pays for bwrap's set-up (~6 ms of CPU) and, for Python, an interpreter start (~11 ms) and, for most
judged programs, `import typing` (~12 ms) before the first line of the program runs. Here each service process
keeps bwrap *boxes*, one per run it makes at once (the same user namespace, read-only minimal root and toolchain
mounts as a cold run, plus the service's work dir at `/aha-work`; started through a launcher already in its own
cgroup) whose command is `scripts/warm_zygote.py`: an interpreter that has done those imports once. Every run is a clone
of it in fresh mount, pid, network, ipc, uts and cgroup namespaces, with fresh tmpfs `/tmp` and `/dev/shm`, its own
program dir bound at `/box` (read-only unless the run writes there, as compiles do), a fresh `/proc`, and no
capabilities; it then execs the run's command, or runs a `python3 -I -B /box/<file>` program in the warm
interpreter itself. See `docs/code.md` ("Warm runs") for what runs share and why that is safe.

A box serves one run at a time, so the box's cgroup bounds each run: its limits are the run's plus the box's own
baseline, and CPU, peak memory and OOM kills are read as differences.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import resource
import socket
import struct
import threading
import time
from pathlib import Path

from sandboxes import cgroups, languages, scripts
from sandboxes.bwrap import launchers
from sandboxes.bwrap.mechanism import (
    LAUNCH_STATUS_FD,
    MB,
    NAMESPACE_ARGS,
    Pipes,
    StatusReader,
    judge,
    pump,
    read_available,
    recipe_of,
    rlimits,
    root_mounts,
    run_env,
    send_job,
    toolchain_args,
    wait_fd,
    write_all,
)
from sandboxes.config import SandboxSettings
from sandboxes.outcome import WALL
from sandboxes.types import Limits, RunResult, RunSpec, RunStatus

log = logging.getLogger(__name__)
_START_TIMEOUT_S = 30.0
_RETRY_S = 60.0  # after a box failed to start, Python runs go cold this long before the next attempt
_EXTRA_TASKS = 4  # the run's monitor and init, and the previous run's monitor while it exits


def eligible(spec: RunSpec, settings: SandboxSettings | None = None) -> bool:
    """Can a warm box take `spec`? Any run whose program dir is one of the work dirs (`settings.work_dir`), with
    cgroups, unless warm boxes are off. `settings` default: the environment's."""
    settings = settings or SandboxSettings.from_env()
    if not settings.warm or spec.box is None or spec.language is None or not spec.argv:
        return False
    if languages.get_recipe(spec.language) is None or _python() is None:
        return False
    try:
        if spec.box.resolve().parent != languages.work_root(settings.work_dir).resolve():
            return False
    except OSError:
        return False
    return os.path.isabs(spec.argv[0]) and cgroups.detect(settings.cgroups).version != "none"


def _python() -> str | None:
    """The interpreter the boxes run (the python recipe's)."""
    return languages.resolve_tool("python3")


def _mode(spec: RunSpec) -> str:
    """`python` for `python3 -I -B /box/<file>` (run in the warm interpreter itself), else `exec`."""
    argv = list(spec.argv)
    if (
        len(argv) == 4
        and argv[0] == _python()
        and argv[1:3] == ["-I", "-B"]
        and argv[3].startswith("/box/")
        and ".." not in argv[3].split("/")
    ):
        return "python"
    return "exec"


def run(spec: RunSpec, slot: int, settings: SandboxSettings) -> RunResult | None:
    """Run `spec` in one of this process's warm boxes (`slot` is held); None when no box can take it (run it cold)."""
    boxes = _boxes()
    box = boxes.take(slot, spec, settings)
    if box is None:
        return None
    try:
        return box.run(spec)
    finally:
        boxes.give_back(box)


class _Box:
    """One bwrap box running the warm zygote, in its own cgroup, as the slot's uid."""

    def __init__(self, slot: int, spec: RunSpec, settings: SandboxSettings) -> None:
        self.slot = slot
        self.settings = settings
        self.key = _box_key(spec, settings)
        toolchain_args: list[str] = []
        for prefix in _toolchains(spec):
            toolchain_args += ["--ro-bind", prefix, prefix]
        self.group = cgroups.RunCgroup.create(cgroups.detect(), None, None)
        self.sock: socket.socket | None = None
        self.err_r = self.out_r = self.status_r = self.pidfd = -1
        self.baseline_pids: set[int] = set()
        self.limits_set: tuple[int, int] | None = None
        self.lock = threading.Lock()
        try:
            self._start(_python() or "python3", toolchain_args)
        except BaseException:
            self.close()
            raise

    def _start(self, python: str, toolchain_args: list[str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        status_r, status_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        self.out_r, self.err_r, self.status_r = out_r, err_r, status_r
        try:
            fds = [theirs.fileno(), out_w, err_w, status_w, ctl_r]
            pid = launchers.pool().spawn(launchers.slot_uid(self.slot, self.settings.uid_base), fds)
        finally:
            for fd in (out_w, err_w, status_w, ctl_r):
                os.close(fd)
            theirs.close()
        self.pidfd = os.pidfd_open(pid)
        try:
            self.group.attach(pid)
        except BaseException:
            os.close(ctl_w)
            raise
        argv = [
            self.settings.bwrap,
            *NAMESPACE_ARGS,
            "--cap-add",
            "ALL",  # inside the box's user namespace only: each run unshares and then drops every one of them
            *root_mounts(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--dir",
            "/box",
            "--bind",
            str(languages.work_root(self.settings.work_dir)),
            "/aha-work",  # every program dir: each run binds its own at /box, then covers this
            *toolchain_args,
            "--remount-ro",
            "/dev",  # shared by the box's runs: nothing may be left there for the next one
            "--remount-ro",
            "/",
            "--chdir",
            "/tmp",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/bin:/bin",
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--json-status-fd",
            str(LAUNCH_STATUS_FD),
            "--",
            python,
            "-I",
            "-B",
            "-c",
            scripts.source("warm_zygote"),
        ]
        send_job(ctl_w, argv, [(resource.RLIMIT_CORE, 0, 0)])
        self.sock.settimeout(_START_TIMEOUT_S)
        try:
            hello = self.sock.recv(16)
        except OSError as exc:
            raise OSError(f"the warm box did not start: {exc}; {read_available(err_r)}") from None
        if hello != b"ready":
            raise OSError(f"the warm box did not start: {read_available(err_r)}")
        self.sock.settimeout(None)
        self.baseline_bytes = self.group.usage_bytes() or 0
        self.baseline_tasks = self.group.task_count()
        self.baseline_pids = set(self.group.pids())

    def alive(self) -> bool:
        return self.sock is not None and not wait_fd(self.pidfd, 0.0)

    def run(self, spec: RunSpec) -> RunResult | None:
        with self.lock:
            return self._run(spec)

    def _run(self, spec: RunSpec) -> RunResult | None:
        limits = spec.limits
        group = self.group
        mode = _mode(spec)
        _, path_dirs = toolchain_args(recipe_of(spec))
        wanted = (limits.memory_mb * MB + self.baseline_bytes, limits.pids + self.baseline_tasks + _EXTRA_TASKS)
        try:
            if wanted != self.limits_set:  # most runs of a batch share their limits
                self.limits_set = None
                group.set_limits(*wanted)
                self.limits_set = wanted
        except OSError:  # e.g. a limit below what the box holds and cannot reclaim: start afresh, cold this time
            log.warning("the warm box refused the run's limits; closing it", exc_info=True)
            self.close()
            return None
        group.reset_peak()
        # What the box holds as the run starts (the zygote, and anything the last run's teardown still frees):
        # the run's peak is counted from here.
        start_bytes = max(self.baseline_bytes, group.usage_bytes() or 0)
        oom_before = group.oom_kills()
        cpu_before = group.cpu_seconds() or 0.0
        ours: list[int] = []
        theirs: list[int] = []
        for _ in range(5):  # stdin, stdout, stderr, status, ctl
            r, w = os.pipe()
            ours += [r, w]
        stdin_r, stdin_w, out_r, out_w, err_r, err_w, status_r, status_w, ctl_r, ctl_w = ours
        theirs = [stdin_r, out_w, err_w, status_w, ctl_r]
        try:
            assert self.sock is not None
            socket.send_fds(self.sock, [b"run"], theirs)
        except OSError:
            for fd in ours:
                os.close(fd)
            self.close()
            return None  # the box is gone: nothing of the program ran
        for fd in theirs:
            os.close(fd)
        pipes = Pipes.of_fds(stdin_w, out_r, err_r)
        ctl_open = True

        def stop() -> None:
            nonlocal ctl_open
            if ctl_open:
                ctl_open = False
                os.close(ctl_w)

        start = time.monotonic()
        try:
            job = json.dumps(
                {
                    "mode": mode,
                    "argv": list(spec.argv)[3:] if mode == "python" else list(spec.argv),
                    "box": spec.box.name if spec.box is not None else "",
                    "box_writable": spec.box_writable,
                    "tmpfs_bytes": limits.tmpfs_mb * MB,
                    "memory_bytes": limits.memory_mb * MB,
                    "cwd": spec.cwd,
                    "env": run_env(spec, path_dirs),
                    "rlimits": _run_rlimits(limits, self.baseline_tasks),
                }
            ).encode()
            try:
                write_all(ctl_w, struct.pack("I", len(job)) + job)
            except OSError:
                return self._broken("the warm box stopped taking runs")
            status = StatusReader(status_r)
            first = status.next_doc(deadline=time.monotonic() + 10)
            if first is None or "child-pid" not in first:
                stop()
                if first is None:
                    return self._broken("the warm box did not start the run")
                return RunResult(RunStatus.SANDBOX_ERROR, reason=f"sandbox setup failed: {first.get('setup-error')}")
            io = pump(pipes, spec.stdin, limits, deadline=start + limits.wall_s)
            if io.killed_reason:
                stop()
            doc = status.next_doc(deadline=start + limits.wall_s if not io.killed_reason else time.monotonic() + 5)
            if doc is None and not io.killed_reason:
                io.killed_reason = WALL  # closed its outputs but kept running
                stop()
                doc = status.next_doc(deadline=time.monotonic() + 5)
            wall = time.monotonic() - start
            if doc is None:
                return self._broken("the warm box did not end the run")
            cpu = max(0.0, (group.cpu_seconds() or 0.0) - cpu_before)
            peak = group.peak_bytes()
            peak = None if peak is None else max(0, peak - start_bytes)
            exit_docs = [doc] if "exit-code" in doc else []
            return judge(io, limits, exit_docs, wall, cpu, peak, lambda: group.oom_kills() > oom_before)
        finally:
            stop()
            pipes.close()
            with contextlib.suppress(OSError):
                os.close(status_r)
            if self.err_r != -1 and (noise := read_available(self.err_r)):
                log.warning("warm Python box said: %s", noise)  # drained, so it can never block on a full pipe

    def _broken(self, why: str) -> RunResult:
        err = read_available(self.err_r) if self.err_r != -1 else ""
        log.error("%s: %s", why, err)
        self.close()
        return RunResult(RunStatus.SANDBOX_ERROR, reason=f"{why}: {err}" if err else why)

    def close(self) -> None:
        """End the box: everything in its cgroup is killed and the cgroup removed."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.group.destroy()
        for fd in (self.out_r, self.err_r, self.status_r, self.pidfd):
            if fd != -1:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.out_r = self.err_r = self.status_r = self.pidfd = -1


def _toolchains(spec: RunSpec) -> tuple[str, ...]:
    """What a box must mount besides the minimal root: the run's toolchains outside /usr (usually none)."""
    recipe = recipe_of(spec)
    return languages.toolchain_mounts(recipe) if recipe is not None else ()


def _box_key(spec: RunSpec, settings: SandboxSettings) -> tuple[str, ...]:
    """Which boxes can take `spec`: those with its toolchains, made with the same work dir, bwrap and uids."""
    return (str(settings.work_dir), settings.bwrap, str(settings.uid_base), *_toolchains(spec))


def _run_rlimits(limits: Limits, box_tasks: int) -> list[tuple[int, int, int]]:
    """The run's rlimits; RLIMIT_NPROC counts the uid's processes in the box's user namespace, the box's included."""
    out = []
    for res, soft, hard in rlimits(limits, address_space=False):
        if res == resource.RLIMIT_NPROC:
            soft = hard = soft + box_tasks + _EXTRA_TASKS
        out.append((res, soft, hard))
    return out


class _Boxes:
    """This process's warm boxes: as many as it makes runs at once (a verifier worker: one), not one per slot.

    A box is taken for one run and given back. A new one runs as the uid of the slot its first run holds; reusing it
    under another slot is safe, since runs of different boxes share no namespace (the same host uid in two user
    namespaces can neither see nor signal the other, and RLIMIT_NPROC counts per user namespace).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: dict[tuple[str, ...], list[_Box]] = {}
        self.busy: set[_Box] = set()
        self.failed: dict[tuple[str, ...], float] = {}  # toolchains -> when a box with them last failed to start
        self.pid = os.getpid()
        self.closed = False
        atexit.register(self.close)

    def take(self, slot: int, spec: RunSpec, settings: SandboxSettings) -> _Box | None:
        key = _box_key(spec, settings)
        dead = []
        box = None
        with self.lock:
            queue = self.idle.get(key, [])
            while queue and box is None:
                candidate = queue.pop()
                if candidate.alive():
                    box = candidate
                else:
                    dead.append(candidate)
            if box is not None:
                self.busy.add(box)
            elif time.monotonic() - self.failed.get(key, -_RETRY_S) < _RETRY_S:
                return None
        for old in dead:
            old.close()
        if box is not None:
            return box
        try:
            box = _Box(slot, spec, settings)
        except Exception:
            log.exception("starting a warm box failed; runs take the cold path for a while")
            with self.lock:
                self.failed[key] = time.monotonic()
            return None
        with self.lock:
            self.busy.add(box)
        return box

    def give_back(self, box: _Box) -> None:
        with self.lock:
            self.busy.discard(box)
            keep = box.sock is not None and self.pid == os.getpid() and not self.closed
            if keep:
                self.idle.setdefault(box.key, []).append(box)
        if not keep:
            box.close()

    def pids(self, prepared: bool = True) -> set[int]:
        """Host pids of the boxes' own processes: bwrap's two, the zygote and, with `prepared`, its children (the
        next run's init, made ahead; a run's own processes live in the run's pid namespace and die with its init)."""
        with self.lock:
            boxes = [*self.busy, *(b for queue in self.idle.values() for b in queue)]
            own = {pid for box in boxes for pid in box.baseline_pids}
        for pid in list(own) if prepared else ():
            with contextlib.suppress(OSError, ValueError):
                own.update(int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
        return own

    def close(self) -> None:
        if os.getpid() != self.pid:
            return
        with self.lock:
            self.closed = True
            boxes = [b for queue in self.idle.values() for b in queue]
            self.idle = {}
        for box in boxes:
            box.close()


_BOXES: _Boxes | None = None
_BOXES_LOCK = threading.Lock()


def _boxes() -> _Boxes:
    global _BOXES
    with _BOXES_LOCK:
        if _BOXES is None or _BOXES.pid != os.getpid():
            _BOXES = _Boxes()
        return _BOXES


def box_pids(prepared: bool = True) -> set[int]:
    """Host pids that belong to this process's warm boxes, not to any run (for checks that runs leave nothing);
    without `prepared`, only the long-lived ones (not the next run's init, which changes with every run)."""
    return _boxes().pids(prepared)


def close_boxes() -> None:
    """Stop this process's idle warm boxes (new ones start on the next run)."""
    global _BOXES
    with _BOXES_LOCK:
        boxes, _BOXES = _BOXES, None
    if boxes is not None:
        boxes.close()
