"""The cold path: a fresh bwrap sandbox for one run.

With cgroups, the slot's launcher (`launchers.py`), already in a fresh cgroup of its own, sets the run's rlimits,
drops to the slot uid and execs bwrap; without cgroups, bwrap starts with the command behind util-linux `prlimit`.
Then the pipes are pumped with byte caps under the wall clock, the whole tree is killed (the cgroup, and the pid
namespace dies with its init), and the run is accounted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

from sandboxes.bwrap import launchers
from sandboxes.bwrap.mechanism import (
    LAUNCH_STATUS_FD,
    MB,
    NAMESPACE_ARGS,
    Pipes,
    StatusReader,
    address_space_ok,
    judge,
    prlimit_prefix,
    pump,
    read_available,
    recipe_of,
    rlimits,
    root_mounts,
    run_env,
    toolchain_args,
    wait_exit,
    wait_fd,
)
from sandboxes.config import SandboxSettings
from sandboxes.outcome import WALL
from sandboxes.types import RunResult, RunSpec, RunStatus


def argv(bwrap: str, spec: RunSpec, status_w: int, block_r: int | None, *, prlimit: bool) -> list[str]:
    """bwrap's command line for one cold run of `spec`; with `prlimit` (no cgroup), the rlimits set in front of the
    command, RLIMIT_AS included where the runtime tolerates it."""
    limits = spec.limits
    args = [
        bwrap,
        *NAMESPACE_ARGS,
        *root_mounts(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(limits.tmpfs_mb * MB),
        "--tmpfs",
        "/tmp",
    ]
    if spec.box is not None:
        args += ["--bind" if spec.box_writable else "--ro-bind", str(spec.box), "/box"]
    mounts, path_dirs = toolchain_args(recipe_of(spec))
    args += mounts
    args += ["--remount-ro", "/"]  # the root tmpfs bwrap builds is writable otherwise
    args += ["--chdir", spec.cwd, "--clearenv"]
    for key, value in run_env(spec, path_dirs).items():
        args += ["--setenv", key, value]
    args += ["--json-status-fd", str(status_w)]
    if block_r is not None:
        args += ["--block-fd", str(block_r)]
    prefix = prlimit_prefix(limits, address_space=address_space_ok(spec)) if prlimit else []
    args += ["--", *prefix, *spec.argv]
    return args


def run_launched(spec: RunSpec, slot: int, settings: SandboxSettings) -> RunResult:
    """One cold run through the slot's launcher, in its own cgroup (`slot` is held)."""
    limits = spec.limits
    pool = launchers.pool()
    uid = launchers.slot_uid(slot, settings.uid_base)
    launcher = pool.take(slot, uid)
    group = launcher.group
    try:
        # The launcher becomes bwrap's monitor in the cgroup: one more process than the program's budget.
        group.set_limits(limits.memory_mb * MB, limits.pids + 1)
        group.reset_peak()
        start = time.monotonic()
        launcher.launch(argv(settings.bwrap, spec, LAUNCH_STATUS_FD, None, prlimit=False), rlimits(limits, False))
        status_reader = StatusReader(launcher.status_r)
        first = status_reader.next_doc(deadline=time.monotonic() + 10)
        if first is None or "child-pid" not in first:
            group.kill_all()
            err = read_available(launcher.stderr_r)
            return RunResult(RunStatus.SANDBOX_ERROR, reason=f"bwrap did not start the sandbox: {err}")
        out = pump(launcher.pipes, spec.stdin, limits, deadline=start + limits.wall_s)
        if not out.killed_reason and not wait_fd(launcher.pidfd, start + limits.wall_s):
            out.killed_reason = WALL  # closed its outputs but kept running
        wall = time.monotonic() - start
        group.kill_all()  # after a kill, and stragglers that outlived their init (there should be none)
        wait_fd(launcher.pidfd, time.monotonic() + 5)
        tail = status_reader.rest()
        cpu = group.cpu_seconds() or 0.0
        exit_docs = [d for d in tail if "exit-code" in d]
        return judge(out, limits, exit_docs, wall, cpu, group.peak_bytes(), group.oom_killed)
    finally:
        launcher.close()
        pool.refill(slot, uid)


def run_direct(spec: RunSpec, slot: int, settings: SandboxSettings) -> RunResult:
    """One cold run without cgroups: rlimits only, set by `prlimit` in the sandbox (`slot` is held)."""
    limits = spec.limits
    status_r, status_w = os.pipe()
    block_r, block_w = os.pipe()
    drop: dict = {}
    if os.geteuid() == 0:
        uid = launchers.slot_uid(slot, settings.uid_base)
        drop = {"user": uid, "group": uid, "extra_groups": []}
    proc: subprocess.Popen[bytes] | None = None
    start = time.monotonic()
    try:
        try:
            proc = subprocess.Popen(
                argv(settings.bwrap, spec, status_w, block_r, prlimit=True),
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
        status_reader = StatusReader(status_r)
        first = status_reader.next_doc(deadline=time.monotonic() + 10)
        if first is None or "child-pid" not in first:
            return _setup_failed(proc, "bwrap did not start the sandbox")
        start = time.monotonic()
        os.write(block_w, b"x")
        os.close(block_w)
        block_w = -1
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        out = pump(Pipes(proc.stdin, proc.stdout, proc.stderr), spec.stdin, limits, deadline=start + limits.wall_s)
        if not out.killed_reason and not wait_exit(proc.pid, start + limits.wall_s):
            out.killed_reason = WALL  # closed its outputs but kept running
        if out.killed_reason:
            _kill(proc)
        _, wait_status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        wall = time.monotonic() - start
        tail = status_reader.rest()
        exit_docs = [d for d in tail if "exit-code" in d]
        cpu = usage.ru_utime + usage.ru_stime  # misses processes bwrap's init did not reap before exiting
        return judge(out, limits, exit_docs, wall, cpu, usage.ru_maxrss * 1024, lambda: False)
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


def _setup_failed(proc: subprocess.Popen[bytes], what: str) -> RunResult:
    _kill(proc)
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        err = b""
    return RunResult(RunStatus.SANDBOX_ERROR, reason=f"{what}: {err.decode('utf-8', 'replace').strip()[:500]}")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    # Killing bwrap's session kills the monitor; its init gets SIGKILL from --die-with-parent and the kernel
    # then kills everything else in the pid namespace.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
