"""What a sandbox container is made of (pure): its shape, its create arguments, the command and environment of
the program's exec."""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from typing import Any

from docker.types import DriverConfig, LogConfig, Mount, Ulimit

from sandboxes import languages
from sandboxes.docker.settings import DockerSettings
from sandboxes.types import RunSpec

_MB = 1 << 20
BOX = "/box"
LABEL = "aha.sandbox"
OWNER_LABEL = "aha.sandbox.owner"
# Processes in every container besides the program: docker-init (pid 1), `sleep`, and the `timeout` wrapper.
_PIDS_OVERHEAD = 3


def owner() -> str:
    """This process's `OWNER_LABEL`: `host:pid namespace:pid`. Replicas in containers on one host network share
    the host's name and reuse small pids; the pid namespace tells them apart."""
    return f"{socket.gethostname()}:{pid_namespace()}:{os.getpid()}"


def pid_namespace() -> str:
    """The inode of this process's pid namespace ('' when it cannot be read)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


@dataclass(frozen=True)
class ContainerShape:
    """Everything about a container that is fixed when it is created; the pool is keyed by it."""

    image: str
    memory_mb: int
    pids: int
    cpu_s: int
    file_size_mb: int
    open_files: int
    stack_mb: int
    tmpfs_mb: int
    box_writable: bool

    @classmethod
    def for_spec(cls, spec: RunSpec, image: str) -> ContainerShape:
        """The shape a run needs: its limits (CPU rounded up to whole seconds, as rlimits are) and box mode."""
        lim = spec.limits
        return cls(
            image=image,
            memory_mb=lim.memory_mb,
            pids=lim.pids,
            cpu_s=max(1, math.ceil(lim.cpu_s)),
            file_size_mb=lim.file_size_mb,
            open_files=lim.open_files,
            stack_mb=lim.stack_mb,
            tmpfs_mb=lim.tmpfs_mb,
            box_writable=spec.box_writable,
        )


def container_kwargs(shape: ContainerShape, settings: DockerSettings, owner: str) -> dict[str, Any]:
    """Keyword arguments for `DockerClient.containers.create(**kwargs)`: one locked-down, idle container.

    Every name is one `docker.models.containers._create_container_args` accepts (RUN_CREATE_KWARGS and
    RUN_HOST_CONFIG_KWARGS) and every value has the type `docker.types.HostConfig` checks for.
    """
    memory = shape.memory_mb * _MB
    # /box belongs to the program's user only when the run may write it; otherwise root owns it and the files
    # put into it (`box_archive` sets the owners), which the program can read and run but not change.
    box_owner = f",uid={settings.uid},gid={settings.gid}" if shape.box_writable else ""
    # /box is a tmpfs too, but one made by the `local` volume driver (an anonymous volume, removed with the
    # container by `remove_container(v=True)`): the archive endpoints (`put_archive`, `get_archive`) reach volumes
    # and never a HostConfig tmpfs (the `docker container cp` reference: "It is not possible to copy ... tmpfs"),
    # and with `read_only=True` they refuse any path that is not in a volume. no_copy: the mount root keeps the
    # owner and mode given here instead of copying up the image's /box.
    box = Mount(
        target=BOX,
        source="",
        type="volume",
        no_copy=True,
        driver_config=DriverConfig(
            "local",
            {"type": "tmpfs", "device": "tmpfs", "o": f"nosuid,nodev,size={shape.tmpfs_mb}m,mode=0755{box_owner}"},
        ),
    )
    kwargs: dict[str, Any] = {
        "image": shape.image,
        # docker-init (init=True) is pid 1 and reaps orphans; `sleep infinity` keeps the container up between
        # its creation and its one run. Everything else arrives through exec.
        "command": ["sleep", "infinity"],
        "init": True,
        "detach": True,
        "user": settings.keeper,  # the programs run as settings.user, through exec
        "working_dir": "/tmp",
        "hostname": "sandbox",
        "environment": {"HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"},
        "labels": {LABEL: "1", OWNER_LABEL: owner},
        "use_config_proxy": False,  # the client's proxy settings have no business inside the sandbox
        "network_mode": "none",  # loopback only
        "network_disabled": True,
        "read_only": True,
        "mem_limit": memory,
        "memswap_limit": memory,  # equal to the memory limit: no swap to spill into
        "pids_limit": shape.pids + _PIDS_OVERHEAD,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "ipc_mode": "private",
        "cgroupns": "private",  # the program sees only its own cgroup (and we can read memory.events from it)
        "shm_size": min(64, shape.tmpfs_mb) * _MB,
        "oom_score_adj": 1000,  # under host memory pressure the sandbox dies first, not the service
        # Docker's default for --tmpfs is noexec; bwrap's /tmp allows exec, and some toolchains need it.
        "tmpfs": {"/tmp": f"rw,exec,nosuid,nodev,size={shape.tmpfs_mb}m,mode=1777"},
        "mounts": [box],  # no host path anywhere: the program comes in through put_archive
        # No nproc: RLIMIT_NPROC counts every process of the uid on the host, i.e. across all sandbox
        # containers; the pids cgroup limit bounds this container alone. Soft < hard CPU: SIGXCPU first (a clean
        # time_limit), SIGKILL a second later if it is ignored (as bwrap does with prlimit).
        "ulimits": [
            Ulimit(name="cpu", soft=shape.cpu_s, hard=shape.cpu_s + 1),
            Ulimit(name="fsize", soft=shape.file_size_mb * _MB, hard=shape.file_size_mb * _MB),
            Ulimit(name="nofile", soft=shape.open_files, hard=shape.open_files),
            Ulimit(name="stack", soft=shape.stack_mb * _MB, hard=shape.stack_mb * _MB),
            Ulimit(name="core", soft=0, hard=0),
        ],
        "log_config": LogConfig(type="none"),  # nothing is logged through the container's stdout anyway
    }
    if settings.runtime:
        kwargs["runtime"] = settings.runtime
    return kwargs


def container_argv(spec: RunSpec) -> list[str]:
    """The command to exec: host tool paths made bare again, wrapped in coreutils `timeout` as a backstop.

    `languages.expand` puts the *host's* resolved tool path in argv[0] (right for bwrap, which mounts the host's
    toolchains); in a container the image's own tool is found on its PATH. The `timeout` kills the program a
    little after our own wall deadline even if this process dies before it can discard the container.
    """
    argv = [str(a) for a in spec.argv]
    recipe = languages.get_recipe(spec.language) if spec.language else None
    if argv and recipe is not None:
        for tool in recipe.tools:
            if argv[0] == languages.resolve_tool(tool):
                argv[0] = tool
                break
    backstop = max(1, math.ceil(spec.limits.wall_s)) + 2
    return ["timeout", "--signal=KILL", f"{backstop}s", *argv]


def exec_env(spec: RunSpec) -> dict[str, str]:
    """The program's environment; PATH comes from the image (its toolchain), unless the spec sets it."""
    return {"HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp", **spec.env}
