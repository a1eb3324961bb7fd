"""`DockerSandbox`: one container per run, from a warm pool of locked-down containers, through the `docker` SDK.

One run (mirrors `BwrapSandbox`: same statuses, caps and limits):
1. take a machine-wide slot (`slots.run_slot`), so both backends bound the host the same way;
2. take a pre-started container of the run's *shape* (image + the limits that are fixed at creation) from the pool,
   or create one when the pool is empty; the pool refills in the background;
3. `put_archive` the program dir (a tar) onto the container's size-limited tmpfs `/box`;
4. exec the program as a non-root uid (`api.exec_create` + `api.exec_start(socket=True)`), feed stdin and read the
   multiplexed stdout/stderr with byte caps under a wall deadline, then read its exit code (`api.exec_inspect`),
   CPU time and peak memory (`api.stats`) and whether the cgroup OOM-killed it (`api.inspect_container`);
5. `get_archive` `/box` back into the host dir when the run was allowed to write it (compiles, `/run_code`);
6. kill the container and remove it (`force=True`) in the background: a container that ran untrusted code is never
   reused, so nothing leaks from one run into the next.

Every container: no network (`network_mode="none"`), read-only root, memory limit with no swap, pids limit,
non-root uids (one for the container's init, another for the program), all capabilities dropped,
`no-new-privileges`, rlimits (CPU, file size, open files, stack, core), tmpfs `/tmp` and `/box`, an init process
that reaps, and no host mounts at all.

There is no Docker engine where this was written: parameter names were checked against the SDK source
(docker 7.x: `models/containers.py`, `api/container.py`, `api/exec_api.py`, `types/containers.py`,
`utils/socket.py`); tests/sandboxes/test_docker.py runs the engine tests when one is reachable.
"""

from __future__ import annotations

import logging
import signal
import weakref
from pathlib import Path, PurePosixPath
from typing import Any

import docker.errors
from docker.utils import version_gte

from sandboxes import slots
from sandboxes.config import SandboxSettings
from sandboxes.docker.archive import box_archive, extract_box_archive
from sandboxes.docker.containers import BOX, ContainerShape, container_argv, exec_env
from sandboxes.docker.errors import ContainerGone, EngineUnavailable, SandboxSetupError
from sandboxes.docker.execs import classify, exec_in, oom_kills
from sandboxes.docker.pool import Pool
from sandboxes.docker.settings import DockerSettings, image_for
from sandboxes.types import RunResult, RunSpec, RunStatus

log = logging.getLogger(__name__)

_MB = 1 << 20


class DockerSandbox:
    """Runs programs in single-use containers from a warm pool. Safe to share between threads; `close()` when done.

    The pool belongs to this object: share one instance per process so that runs find warm containers.
    """

    name = "docker"

    def __init__(self, docker: DockerSettings | None = None, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings.from_env()
        self.docker = docker or DockerSettings.from_settings(self.settings)
        self._pool = Pool(self.docker)
        # Idle containers are removed when the sandbox is collected or the interpreter exits.
        self._finalizer = weakref.finalize(self, self._pool.close)

    def close(self) -> None:
        """Remove the idle containers and stop refilling (runs after this create containers on demand again)."""
        self._finalizer()

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, spec: RunSpec) -> RunResult:
        """Run `spec` in a fresh container; never raises (our failures come back as `sandbox_error`)."""
        try:
            self._pool.api()  # fail fast, before queueing for a slot, when there is no engine
            with slots.run_slot(self.settings.slots, self.settings.runtime_dir) as _slot:
                return self._run(spec)
        except EngineUnavailable as exc:
            return RunResult(RunStatus.SANDBOX_ERROR, reason=str(exc))
        except slots.SlotTimeout as exc:
            return RunResult(RunStatus.SANDBOX_ERROR, reason=str(exc))
        except SandboxSetupError as exc:
            return RunResult(RunStatus.SANDBOX_ERROR, reason=str(exc))
        except Exception as exc:  # a bug or an engine problem must not look like a verdict on the program
            log.exception("docker sandbox run failed")
            return RunResult(RunStatus.SANDBOX_ERROR, reason=f"{type(exc).__name__}: {exc}")

    def _run(self, spec: RunSpec) -> RunResult:
        shape = ContainerShape.for_spec(spec, image_for(spec.language, self.docker))
        owner = (self.docker.uid, self.docker.gid) if shape.box_writable else (0, 0)
        archive = box_archive(spec.box, *owner) if spec.box is not None else b""
        for attempt in (1, 2):
            cid = self._pool.acquire(shape)
            try:
                api = self._pool.api()
                try:
                    if archive:
                        # put_archive(container, path, data): the engine unpacks it (as root) into the volume
                        api.put_archive(cid, BOX, archive)
                except docker.errors.APIError as exc:
                    if exc.status_code not in (404, 409):
                        raise SandboxSetupError(f"copying the program into the container failed: {exc}") from exc
                    gone = str(exc)
                else:
                    try:
                        return self._execute(api, cid, spec, shape)
                    except ContainerGone as exc:  # raised before the program started: a retry is sound
                        gone = str(exc)
                # A warm container can be gone (engine restart, its init killed): take another, once.
                if attempt == 2:
                    raise SandboxSetupError(f"the sandbox container stopped before the run: {gone}")
            finally:
                self._pool.discard(cid)
        raise SandboxSetupError("no usable container")  # pragma: no cover - the loop returns or raises

    def _execute(self, api: Any, cid: str, spec: RunSpec, shape: ContainerShape) -> RunResult:
        limits = spec.limits
        out = exec_in(
            api,
            cid,
            container_argv(spec),
            user=self.docker.user,
            env=exec_env(spec),
            workdir=spec.cwd,
            stdin=spec.stdin,
            wall_s=limits.wall_s,
            out_cap=limits.output_bytes,
            err_cap=limits.output_bytes,
        )
        cpu, out.peak_memory_bytes = _usage(api, cid)
        out.cpu_s, out.cpu_known = cpu or 0.0, cpu is not None
        code = out.exit_code
        if not out.killed_reason and code is not None and code != 0:
            state = api.inspect_container(cid).get("State") or {}
            out.oom_killed = bool(state.get("OOMKilled"))
            if not out.oom_killed and code == 128 + signal.SIGKILL and out.cpu_s < limits.cpu_s * 0.95:
                # An unexplained SIGKILL. Engines set OOMKilled from the cgroup's OOM events, but not every
                # version for a process other than pid 1; the container's own cgroup (cgroupns=private puts it
                # at /sys/fs/cgroup on v2, its memory controller at /sys/fs/cgroup/memory on v1) counts every
                # OOM kill.
                out.oom_killed = self._cgroup_oom_kills(api, cid) > 0
        if shape.box_writable and spec.box is not None and not out.killed_reason:
            self._copy_back(api, cid, spec.box, shape)
        return classify(out, limits)

    def _cgroup_oom_kills(self, api: Any, cid: str) -> int:
        """OOM kills in the container's memory cgroup, v2 or v1 (0 when it cannot be read)."""
        try:
            events = exec_in(
                api,
                cid,
                # one of the two exists (cat fails on the other, so its exit code says nothing)
                ["cat", "/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"],
                user=self.docker.user,
                env={},
                workdir="/",
                stdin=b"",
                wall_s=5.0,
                out_cap=64 * 1024,
                err_cap=4096,
            )
        except Exception as exc:  # e.g. the pids limit is still full: then it is not a memory verdict
            log.info("docker sandbox: reading memory.events failed: %s", exc)
            return 0
        return oom_kills(events.stdout.decode("ascii", "replace"))

    def _copy_back(self, api: Any, cid: str, box: Path, shape: ContainerShape) -> None:
        """Mirror a writable `/box` into the host dir (bwrap binds it; here it is a copy, so copy it back).

        `get_archive` reads the volume from the engine's side: whatever the program left running in the container
        cannot stall or fake it. New and changed files come back; files the run deleted stay on the host. Skipped
        after a wall or output kill, as the program may have been cut off mid-write.
        """
        cap = (shape.tmpfs_mb + 16) * _MB  # a full tmpfs plus tar headers
        # get_archive(container, path, chunk_size, encode_stream) -> (raw tar chunks, stat of the path)
        chunks, _stat = api.get_archive(cid, BOX, chunk_size=None, encode_stream=False)
        data = bytearray()
        for chunk in chunks:
            data += chunk
            if len(data) > cap:
                raise SandboxSetupError(f"/box came back larger than {cap} bytes")
        extract_box_archive(bytes(data), box, strip=PurePosixPath(BOX).name)


def _usage(api: Any, cid: str) -> tuple[float | None, int | None]:
    """(CPU seconds, peak bytes), each None when unknown, of the whole container, i.e. of its one run.

    `stats(stream=False, one_shot=True)` answers at once instead of sampling twice (API >= 1.41). Peak memory is
    `memory_stats.max_usage`, which only cgroup v1 engines report.
    """
    if not version_gte(api.api_version, "1.41"):
        return None, None
    try:
        stats = api.stats(cid, stream=False, one_shot=True)
    except docker.errors.APIError as exc:
        log.warning("docker sandbox: stats failed: %s", exc)
        return None, None
    cpu_ns = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    peak = (stats.get("memory_stats") or {}).get("max_usage")
    return (cpu_ns / 1e9 if cpu_ns is not None else None), (int(peak) if peak else None)
