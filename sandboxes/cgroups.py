"""Per-run cgroups for memory and pids, on cgroup v2 or v1, nested under the cgroup we already run in.

Nesting under our own cgroup (never the root) keeps every sandbox inside whatever limits the host gave this
service. Where no cgroup can be created (no permission, controllers bound elsewhere) the caller falls back to
rlimits, and `detect()` says why.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_PARENT_NAME = "aha-sandbox"


@dataclass(frozen=True)
class CgroupSetup:
    """Where per-run cgroups go. `version` is `v2`, `v1` or `none` (rlimits only), `reason` says why."""

    version: str
    memory_parent: Path | None = None
    pids_parent: Path | None = None
    cpuacct_parent: Path | None = None  # v1 only; v2 reports CPU time in every cgroup's cpu.stat
    reason: str = ""


def _mounts() -> list[tuple[str, str, str, str]]:
    """(mount point, root of the mount in its hierarchy, fs type, super options) of every cgroup mount, in
    mount order: of two mounts at one point, the later one is the one seen."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields = left.split()
            rfields = right.split()
            if len(fields) >= 5 and rfields and rfields[0] in {"cgroup", "cgroup2"}:
                out.append((fields[4], fields[3], rfields[0], rfields[2] if len(rfields) > 2 else ""))
    return out


def _under(point: str, root: str, own: str) -> Path | None:
    """Where our cgroup `own` is seen through a mount of `root` at `point`; None when the mount does not show it.

    A container's cgroup mounts show a subtree (root `/docker/<id>`, or a delegated parent such as `/aha-api`),
    not the hierarchy's root, so our path is taken relative to the mount's root.
    """
    root = "/" + root.strip("/")
    own = "/" + own.strip("/")
    if root == "/":
        return Path(point) / own.lstrip("/")
    if own != root and not own.startswith(root + "/"):
        return None
    return Path(point) / own[len(root) :].lstrip("/")


def _own_paths() -> dict[str, str]:
    """Controller (or '' for the v2 unified tree) -> our cgroup path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers == "":
                paths[""] = path
            for ctrl in controllers.split(","):
                paths[ctrl] = path
    return paths


def _probe_parent(parent: Path, files: dict[str, str], v2: bool) -> None:
    """Create a throwaway child of `parent` (made if needed), writing `files` to prove we may; OSError if not."""
    parent.mkdir(exist_ok=True)
    if v2:
        (parent / "cgroup.subtree_control").write_text("+memory +pids")
    probe = parent / f"probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    probe.mkdir()
    try:
        for name, value in files.items():
            (probe / name).write_text(value)
    finally:
        probe.rmdir()


def _detect_v2(mount: str, root: str, own: str) -> CgroupSetup:
    base = _under(mount, root, own)
    if base is None:
        return CgroupSetup("none", reason=f"cgroup v2 at {mount} does not show our cgroup")
    controllers = (base / "cgroup.controllers").read_text().split()
    if not {"memory", "pids"} <= set(controllers):
        return CgroupSetup("none", reason=f"cgroup v2 at {mount} lacks memory/pids controllers here")
    enabled = (base / "cgroup.subtree_control").read_text().split()
    if not {"memory", "pids"} <= set(enabled):
        # Enabling controllers for children fails if our own cgroup holds processes (the v2 "no internal
        # processes" rule); we do not move the service around to work around it.
        (base / "cgroup.subtree_control").write_text("+memory +pids")
    parent = base / _PARENT_NAME
    _probe_parent(parent, {"memory.max": "max", "pids.max": "max"}, v2=True)
    return CgroupSetup("v2", memory_parent=parent, pids_parent=parent, reason=f"cgroup v2 under {parent}")


def _detect_v1(mounts: list[tuple[str, str, str, str]], own: dict[str, str]) -> CgroupSetup:
    # v1 lets a cgroup hold processes and children at once, so per-run groups go straight under ours and
    # nothing of ours outlives a run (a leftover child would stop whoever owns our cgroup from removing it).
    found: dict[str, Path] = {}
    seen: set[str] = set()
    for point, root, fstype, opts in reversed(mounts):  # the mount on top of a point first
        if fstype != "cgroup" or point in seen:
            continue
        seen.add(point)
        for ctrl in ("memory", "pids", "cpuacct"):
            if ctrl in opts.split(",") and ctrl in own and ctrl not in found:
                path = _under(point, root, own[ctrl])
                if path is not None and path.is_dir():
                    found[ctrl] = path
    if not {"memory", "pids"} <= set(found):
        return CgroupSetup("none", reason="no cgroup v1 memory and pids hierarchies mounted")
    _probe_parent(found["memory"], {"memory.limit_in_bytes": "-1"}, v2=False)
    _probe_parent(found["pids"], {"pids.max": "max"}, v2=False)
    cpuacct = found.get("cpuacct")
    if cpuacct is not None:
        try:
            _probe_parent(cpuacct, {}, v2=False)
        except OSError:
            cpuacct = None
    return CgroupSetup(
        "v1",
        memory_parent=found["memory"],
        pids_parent=found["pids"],
        cpuacct_parent=cpuacct,
        reason=f"cgroup v1 under {found['memory']} and {found['pids']}",
    )


@functools.lru_cache(maxsize=2)
def detect(enabled: bool = True) -> CgroupSetup:
    """Find where this process may create per-run cgroups (cached: the answer does not change); with `enabled`
    false (`AHA_SANDBOX_CGROUPS=0`), none."""
    if not enabled:
        return CgroupSetup("none", reason="disabled by AHA_SANDBOX_CGROUPS=0")
    try:
        mounts = _mounts()
        own = _own_paths()
    except OSError as exc:
        return CgroupSetup("none", reason=f"cannot read cgroup mounts: {exc}")
    reasons = []
    for point, root, fstype, _ in mounts:
        if fstype == "cgroup2" and "" in own:
            try:
                setup = _detect_v2(point, root, own[""])
            except OSError as exc:
                reasons.append(f"cgroup v2 at {point} unusable: {exc.strerror or exc}")
                continue
            if setup.version != "none":
                return setup
            reasons.append(setup.reason)
    try:
        setup = _detect_v1(mounts, own)
    except OSError as exc:
        setup = CgroupSetup("none", reason=f"cgroup v1 unusable: {exc.strerror or exc}")
    if setup.version != "none":
        return setup
    reasons.append(setup.reason)
    return CgroupSetup("none", reason="; ".join(reasons) + "; falling back to rlimits")


def _write_small(path: Path, value: str) -> None:
    # One write(2) of the whole value; Path.write_text's text layer costs more than the kernel's work here.
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def stale(setup: CgroupSetup) -> list[Path]:
    """Per-run cgroups whose creating process is gone (`aha-run-<pid>-<id>`)."""
    parents = {p for p in (setup.memory_parent, setup.pids_parent, setup.cpuacct_parent) if p is not None}
    found = []
    for parent in parents:
        try:
            children = list(parent.glob("aha-run-*"))
        except OSError:
            continue
        for d in children:
            try:
                owner = int(d.name.split("-")[2])
            except (IndexError, ValueError):
                continue
            if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
                found.append(d)
    return found


def sweep_stale(setup: CgroupSetup) -> None:
    """Remove per-run cgroups left by a process of ours that died without cleaning up (empty ones only)."""
    for d in stale(setup):
        with contextlib.suppress(OSError):
            d.rmdir()


class RunCgroup:
    """The memory+pids cgroup(s) of one run. Create with `create`, always `destroy` in a finally."""

    def __init__(self, setup: CgroupSetup, memory_dir: Path, pids_dir: Path, cpu_dir: Path | None) -> None:
        self.setup = setup
        self.memory_dir = memory_dir
        self.pids_dir = pids_dir
        self.cpu_dir = cpu_dir

    @classmethod
    def create(cls, setup: CgroupSetup, memory_bytes: int | None, pids: int | None) -> RunCgroup:
        """Make the run's cgroup(s), with the limits set unless None (`set_limits` later); OSError if refused."""
        assert setup.memory_parent is not None and setup.pids_parent is not None
        name = f"aha-run-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        mem = setup.memory_parent / name
        pid = setup.pids_parent / name
        cpu = setup.cpuacct_parent / name if setup.cpuacct_parent is not None else None
        if setup.version == "v2":
            cpu = mem
        made: list[Path] = []
        try:
            for d in dict.fromkeys(x for x in (mem, pid, cpu) if x is not None):
                d.mkdir()
                made.append(d)
            group = cls(setup, mem, pid, cpu)
            group.set_limits(memory_bytes, pids)
            return group
        except OSError:
            for d in made:
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise

    def set_limits(self, memory_bytes: int | None, pids: int | None) -> None:
        """Set the memory and pids limits (either may be None: left as is). A fresh cgroup has none."""
        _write = _write_small
        if memory_bytes is not None:
            if self.setup.version == "v2":
                _write(self.memory_dir / "memory.max", str(memory_bytes))
                with contextlib.suppress(OSError):
                    _write(self.memory_dir / "memory.swap.max", "0")
            else:
                # memsw must stay >= the memory limit at every step: memory first when lowering, memsw first
                # when raising (EINVAL otherwise); memsw exists only with swap accounting
                try:
                    _write(self.memory_dir / "memory.limit_in_bytes", str(memory_bytes))
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    _write(self.memory_dir / "memory.memsw.limit_in_bytes", str(memory_bytes))
                    _write(self.memory_dir / "memory.limit_in_bytes", str(memory_bytes))
                with contextlib.suppress(OSError):
                    _write(self.memory_dir / "memory.memsw.limit_in_bytes", str(memory_bytes))
        if pids is not None:
            _write(self.pids_dir / "pids.max", str(pids))

    def reset_peak(self) -> None:
        """Start the peak over from current use (v1: a process that waited here may have been charged a page)."""
        if self.setup.version == "v1":
            with contextlib.suppress(OSError):
                _write_small(self.memory_dir / "memory.max_usage_in_bytes", "0")

    def attach(self, pid: int) -> None:
        """Move process `pid` (before it forks anything) into the run's cgroup(s)."""
        for d in self.dirs():
            _write_small(d / "cgroup.procs", str(pid))

    def dirs(self) -> list[Path]:
        """The cgroup's directories, one per hierarchy (one on v2)."""
        return list(dict.fromkeys(x for x in (self.memory_dir, self.pids_dir, self.cpu_dir) if x is not None))

    def cpu_seconds(self) -> float | None:
        """CPU time used by every process of the run, when the kernel reports it."""
        if self.cpu_dir is None:
            return None
        try:
            if self.setup.version == "v2":
                for line in (self.cpu_dir / "cpu.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
                return None
            return int((self.cpu_dir / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            return None

    def oom_killed(self) -> bool:
        """Did the memory limit kill something in this run?"""
        name = "memory.events" if self.setup.version == "v2" else "memory.oom_control"
        try:
            for line in (self.memory_dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
            if self.setup.version == "v1":
                return int((self.memory_dir / "memory.failcnt").read_text()) > 0 and self._at_limit()
        except (OSError, ValueError):
            return False
        return False

    def _at_limit(self) -> bool:
        limit = int((self.memory_dir / "memory.limit_in_bytes").read_text())
        peak = self.peak_bytes() or 0
        return peak >= limit - (1 << 20)

    def oom_kills(self) -> int:
        """How many processes the memory limit has killed in this cgroup so far (0 where not reported)."""
        name = "memory.events" if self.setup.version == "v2" else "memory.oom_control"
        try:
            for line in (self.memory_dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def usage_bytes(self) -> int | None:
        """Memory charged to the cgroup right now."""
        name = "memory.current" if self.setup.version == "v2" else "memory.usage_in_bytes"
        try:
            return int((self.memory_dir / name).read_text())
        except (OSError, ValueError):
            return None

    def task_count(self) -> int:
        """Tasks (threads included) the pids controller counts against `pids.max`."""
        try:
            return int((self.pids_dir / "pids.current").read_text())
        except (OSError, ValueError):
            return len(self.pids())

    def peak_bytes(self) -> int | None:
        """Highest memory use of the run, when the kernel reports it."""
        name = "memory.peak" if self.setup.version == "v2" else "memory.max_usage_in_bytes"
        try:
            return int((self.memory_dir / name).read_text())
        except (OSError, ValueError):
            return None

    def pids(self) -> list[int]:
        """Host pids of the processes in the cgroup now."""
        try:
            return [int(x) for x in (self.pids_dir / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self) -> None:
        """SIGKILL every process left in the run's cgroup (pids.max bounds how many a fork loop can add)."""
        if self.setup.version == "v2":
            with contextlib.suppress(OSError):
                (self.pids_dir / "cgroup.kill").write_text("1")
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for p in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p, signal.SIGKILL)
            time.sleep(0.002)

    def destroy(self) -> None:
        """Kill what is left and remove the cgroup(s); retried briefly while the kernel reaps."""
        self.kill_all()
        for d in self.dirs():
            for attempt in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or attempt == 99:
                        break
                    self.kill_all()
                    time.sleep(0.005)
