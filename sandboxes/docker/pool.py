"""The warm pool: idle containers per shape, owned by one `DockerSandbox`, created and removed in the background."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import docker.errors

from sandboxes.docker.containers import LABEL, OWNER_LABEL, ContainerShape, container_kwargs, owner, pid_namespace
from sandboxes.docker.errors import EngineUnavailable, SandboxSetupError
from sandboxes.docker.settings import DockerSettings

log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphans(api: Any) -> list[str]:
    """Ids of the sandbox containers whose owner was a process of this host and pid namespace that is gone."""
    host, ns = socket.gethostname(), pid_namespace()
    try:
        found = api.containers(all=True, filters={"label": LABEL})
    except Exception as exc:
        log.warning("docker sandbox: listing containers failed: %s", exc)
        return []
    out = []
    for c in found:
        name, _, rest = (c.get("Labels") or {}).get(OWNER_LABEL, "").partition(":")
        their_ns, _, pid = rest.rpartition(":")
        if name == host and their_ns == ns and pid.isdigit() and not _pid_alive(int(pid)):
            out.append(c["Id"])
    return out


def reap_orphans(settings: DockerSettings) -> int:
    """Remove what `orphans` finds (at a service's shutdown, once its workers are gone); how many were removed."""
    try:
        client = docker.from_env(timeout=settings.api_timeout_s)
    except Exception:  # noqa: BLE001 - no engine: nothing of ours can be left in it
        return 0
    removed = 0
    try:
        for cid in orphans(client.api):
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(cid, v=True, force=True)
                removed += 1
    finally:
        client.close()
    return removed


class Pool:
    """Warm containers per shape, owned by one `DockerSandbox`; a small executor creates and removes them."""

    def __init__(self, settings: DockerSettings) -> None:
        self.settings = settings
        self._reset()

    def _reset(self) -> None:
        # Also the state of a forked child: it inherits the parent's bookkeeping but not its threads, and the
        # parent's containers are not the child's to use or remove.
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_error = ""
        self._client_failed_at = -math.inf
        self._ready: OrderedDict[ContainerShape, list[str]] = OrderedDict()
        self._filling: dict[ContainerShape, int] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def _mine(self) -> None:
        if self._pid != os.getpid():
            self._reset()

    # -- engine ---------------------------------------------------------------------------------------------

    def api(self) -> Any:
        """The low-level `APIClient`, connecting on first use; raises EngineUnavailable with the real error."""
        self._mine()
        with self._lock:
            if self._client is not None:
                return self._client.api
            if time.monotonic() - self._client_failed_at < self.settings.retry_engine_s:
                raise EngineUnavailable(self._client_error)
        try:
            # from_env() asks the engine for its API version, so an absent engine fails here.
            client = docker.from_env(
                timeout=self.settings.api_timeout_s, max_pool_size=max(10, 2 * self.settings.slots)
            )
        except Exception as exc:
            with self._lock:
                self._client_error = f"no Docker engine reachable: {exc}"
                self._client_failed_at = time.monotonic()
            raise EngineUnavailable(self._client_error) from exc
        with self._lock:
            if self._client is None:
                self._client = client
                self._submit(self._reap_orphans)
            else:
                client.close()
            return self._client.api

    def _submit(self, fn: Any, *args: Any) -> bool:
        """Queue background work; False when it cannot be queued (closed, or the interpreter is exiting)."""
        # caller holds the lock
        if self._closed:
            return False
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="aha-docker-pool")
        try:
            self._executor.submit(fn, *args)
        except RuntimeError:
            return False
        return True

    # -- containers -----------------------------------------------------------------------------------------

    def _create(self, shape: ContainerShape) -> str:
        """Create and start one idle container of `shape`; its id."""
        client = self._client
        try:
            container = client.containers.create(**container_kwargs(shape, self.settings, owner()))
        except docker.errors.ImageNotFound as exc:
            raise SandboxSetupError(
                f"image {shape.image} not found: build it from sandboxes/images/ (see the README there)"
            ) from exc
        try:
            container.start()
        except Exception:
            self._remove(container.id)
            raise
        return container.id

    def acquire(self, shape: ContainerShape) -> str:
        """A started container of `shape` that has never run anything; the pool is topped up behind it."""
        self.api()
        with self._lock:
            ids = self._ready.get(shape)
            cid = ids.pop() if ids else None
            if ids is not None:
                self._ready.move_to_end(shape)
            self._top_up(shape)
        return cid if cid is not None else self._create(shape)

    def _top_up(self, shape: ContainerShape) -> None:
        # caller holds the lock
        if self.settings.pool_size == 0 or self._closed:
            return
        if shape not in self._ready:
            self._ready[shape] = []
            while len(self._ready) > self.settings.max_shapes:
                _, stale = self._ready.popitem(last=False)
                for cid in stale:
                    if not self._submit(self._remove, cid):
                        log.warning("docker sandbox: container %s left behind", cid[:12])
        missing = self.settings.pool_size - len(self._ready[shape]) - self._filling.get(shape, 0)
        for _ in range(max(0, missing)):
            if self._submit(self._fill, shape):
                self._filling[shape] = self._filling.get(shape, 0) + 1

    def _fill(self, shape: ContainerShape) -> None:
        cid: str | None = None
        if self._closed:
            return
        try:
            cid = self._create(shape)
        except Exception as exc:  # the run that needs it will create one itself and report the error
            log.warning("docker sandbox: warming a %s container failed: %s", shape.image, exc)
        with self._lock:
            self._filling[shape] = max(0, self._filling.get(shape, 0) - 1)
            ids = self._ready.get(shape)
            if cid is not None and ids is not None and not self._closed and len(ids) < self.settings.pool_size:
                ids.append(cid)
                cid = None
        if cid is not None:
            self._remove(cid)

    def discard(self, container_id: str) -> None:
        """Stop everything in a used container now; remove it in the background."""
        with contextlib.suppress(Exception):
            self._client.api.kill(container_id)  # SIGKILL to pid 1: the pid namespace and every process die
        with self._lock:
            queued = self._submit(self._remove, container_id)
        if not queued:
            self._remove(container_id)

    def _remove(self, container_id: str) -> None:
        try:
            # remove_container(container, v, link, force): force kills it first if it still runs
            self._client.api.remove_container(container_id, v=True, force=True)
        except docker.errors.NotFound:
            pass
        except Exception as exc:
            log.warning("docker sandbox: removing container %s failed: %s", container_id[:12], exc)

    def _reap_orphans(self) -> None:
        """Remove sandbox containers left by processes of this host that died without cleaning up."""
        for cid in orphans(self._client.api):
            self._remove(cid)

    def close(self) -> None:
        """Remove every idle container this process created and stop the background work."""
        if self._pid != os.getpid():
            return
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
            idle = [cid for ids in self._ready.values() for cid in ids]
            self._ready.clear()
        if executor is not None:
            executor.shutdown(wait=True)  # queued removals of used containers must still happen
        if self._client is not None:
            for cid in idle:
                self._remove(cid)
            with contextlib.suppress(Exception):
                self._client.close()
