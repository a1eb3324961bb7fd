"""Launchers: processes made ahead of a run, each idle in a fresh cgroup of its own, that exec bwrap on request.

Moving a live process into a cgroup waits for an RCU grace period (~12 ms on cgroup v1), and a `prlimit` exec in
the sandbox costs another; a launcher pays both before the run needs it. They come from a *zygote*: a small
interpreter of our own uid, started once per service process (`scripts/launcher_zygote.py`), that forks launchers
on request. A launcher gets the run's pipes, waits (our uid, doing nothing) until the argv arrives, then sets the
rlimits, drops to the slot uid and execs bwrap, so bwrap and everything it forks are born in the run's cgroup with
the limits applied. The warm boxes are started through launchers too.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sandboxes import cgroups, scripts
from sandboxes.bwrap.mechanism import Pipes, send_job, wait_fd

log = logging.getLogger(__name__)


class Zygote:
    """The launcher zygote: forks a launcher per request and reaps them; EOF on its socket makes it exit."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", scripts.source("launcher_zygote"), str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
        )
        theirs.close()
        self.sock = ours
        self.lock = threading.Lock()

    def spawn(self, uid: int, fds: list[int]) -> int:
        """Fork a launcher that will run as `uid` (-1: ours) with `fds` as its fds 0-4; its pid."""
        with self.lock:
            socket.send_fds(self.sock, [struct.pack("i", uid)], fds)
            reply = self.sock.recv(8)
        if len(reply) != 4:
            raise OSError("the launcher zygote is gone")
        return int(struct.unpack("i", reply)[0])

    def close(self) -> None:
        """Let it exit (EOF on its socket)."""
        self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)


def slot_uid(slot: int, uid_base: int) -> int:
    """The host uid a slot's runs drop to when we are root (never root itself); -1: stay our own uid."""
    return uid_base + slot if os.geteuid() == 0 else -1


@dataclass
class Launcher:
    """A launcher waiting in its own fresh cgroup, and our ends of the pipes it will hand to bwrap."""

    uid: int  # what it drops to (-1: our own)
    pid: int
    pidfd: int
    group: cgroups.RunCgroup
    pipes: Pipes
    stderr_r: int
    status_r: int
    ctl_w: int

    def alive(self) -> bool:
        """Whether it still waits for its argv."""
        return not wait_fd(self.pidfd, 0.0)

    def launch(self, argv: list[str], limits: list[tuple[int, int, int]]) -> None:
        """Exec bwrap with `argv` under `limits` (resource, soft, hard) in the launcher's cgroup."""
        ctl_w, self.ctl_w = self.ctl_w, -1
        send_job(ctl_w, argv, limits)

    def close(self) -> None:
        """Kill whatever is left in the cgroup, remove it, close our ends."""
        self.group.destroy()
        self.pipes.close()
        for fd in (self.status_r, self.ctl_w, self.pidfd):
            if fd != -1:
                with contextlib.suppress(OSError):
                    os.close(fd)


class Launchers:
    """Up to `DEPTH` ready launchers per slot, made in the background after each run (the attach wait included).

    Two, so that a slot whose next run starts at once (several threads queue for few slots) still finds one
    while the replacement of the one just used waits out its attach.
    """

    DEPTH = 2

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready: dict[int, list[Launcher]] = {}
        self.making: dict[int, int] = {}
        self.zygote: Zygote | None = None
        self.closed = False
        self.pid = os.getpid()  # a forked child of ours (a worker pool) must make its own
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="aha-launcher")
        cgroups.sweep_stale(cgroups.detect())
        atexit.register(self.close)

    def take(self, slot: int, uid: int) -> Launcher:
        """A live launcher for `slot` that drops to `uid` (`slot_uid`): a ready one, else one made now."""
        while True:
            with self.lock:
                queue = self.ready.get(slot)
                launcher = queue.pop(0) if queue else None
            if launcher is None:
                return self._make(uid)
            if launcher.alive() and launcher.uid == uid:
                return launcher
            launcher.close()

    def refill(self, slot: int, uid: int) -> None:
        """Top `slot`'s ready launchers (dropping to `uid`) up to `DEPTH`, in the background."""
        with self.lock:
            missing = self.DEPTH - len(self.ready.get(slot, ())) - self.making.get(slot, 0)
            if self.closed or missing <= 0:
                return
            self.making[slot] = self.making.get(slot, 0) + missing
        for _ in range(missing):
            self.executor.submit(self._refill, slot, uid)

    def _refill(self, slot: int, uid: int) -> None:
        try:
            launcher = self._make(uid)
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

    def spawn(self, uid: int, fds: list[int]) -> int:
        """A bare launcher (no cgroup of its own yet) with `fds` as its fds 0-4, from the zygote; its pid."""
        with self.lock:
            if self.zygote is None or self.zygote.proc.poll() is not None:
                self.zygote = Zygote()
            zygote = self.zygote
        return zygote.spawn(uid, fds)

    def _make(self, uid: int) -> Launcher:
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
            pid = self.spawn(uid, theirs)
            for fd in theirs:
                os.close(fd)
            theirs = []
            pidfd = os.pidfd_open(pid)
            launcher = Launcher(
                uid=uid,
                pid=pid,
                pidfd=pidfd,
                group=group,
                pipes=Pipes.of_fds(stdin_w, out_r, err_r),
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
        """Stop making launchers, end the ready ones and the zygote (this process's own only)."""
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


_LAUNCHERS: Launchers | None = None
_LAUNCHERS_LOCK = threading.Lock()


def pool() -> Launchers:
    """This process's launchers (made on first use, and anew in a forked child)."""
    global _LAUNCHERS
    with _LAUNCHERS_LOCK:
        if _LAUNCHERS is None or _LAUNCHERS.closed or _LAUNCHERS.pid != os.getpid():
            _LAUNCHERS = Launchers()
        return _LAUNCHERS
