"""The docker backend: a warm pool of locked-down containers, one container per run, driven through the `docker` SDK.

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

import contextlib
import io
import logging
import math
import os
import re
import selectors
import signal
import socket
import ssl
import stat
import struct
import tarfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import docker.errors
from docker.types import DriverConfig, LogConfig, Mount, Ulimit
from docker.utils import version_gte

from sandboxes import config, languages, slots
from sandboxes.types import Limits, RunResult, RunSpec, RunStatus, failed_exit

log = logging.getLogger(__name__)

_MB = 1 << 20
BOX = "/box"
LABEL = "aha.sandbox"
OWNER_LABEL = "aha.sandbox.owner"
# Image directory under sandboxes/images/ per recipe name (C and C++ share the gcc image).
IMAGE_DIRS: dict[str, str] = {
    "python": "python",
    "c": "gcc",
    "cpp": "gcc",
    "java": "java",
    "nodejs": "nodejs",
    "go": "go",
    "rust": "rust",
}
IMAGES_DIR = Path(__file__).resolve().parent / "images"
# Processes in every container besides the program: docker-init (pid 1), `sleep`, and the `timeout` wrapper.
_PIDS_OVERHEAD = 3
_STREAM_STDOUT, _STREAM_STDERR, _STREAM_SYSTEM = 1, 2, 3
# Every exec starts behind this gate and waits for one line on stdin before exec'ing the real command. The SDK
# hands over the hijacked socket after http.client has parsed the 101 response through a buffered reader; output
# that arrived with the response head would sit in that buffer, lost to reads from the socket. Holding the command
# until we have the socket means nothing but the head can have arrived. (dash's `read` takes one byte at a time
# from a pipe, so the command's stdin starts exactly after the newline.)
GATE = 'IFS= read -r _ || exit 125; exec "$@"'


class EngineUnavailable(Exception):
    """The Docker engine cannot be reached (or the client cannot be built)."""


class SandboxSetupError(Exception):
    """The container could not be prepared for a run, or its results could not be taken out of it."""


class ContainerGone(Exception):
    """The container stopped before the program started (engine restart, init killed); another one will do."""


# ---------------------------------------------------------------------------------------------------------------
# Settings, images and container shapes (pure)


@dataclass(frozen=True)
class DockerSettings:
    """`AHA_SANDBOX_DOCKER_*` settings, read once per `DockerSandbox`."""

    uid: int = 10001  # runs the programs
    gid: int = 10001
    keeper_uid: int = 10000  # runs the container's init and `sleep`: a uid the program cannot signal or ptrace
    pool_size: int = 2  # warm containers kept per shape; 0 = create every container on demand
    max_shapes: int = 8  # shapes with a warm pool; the least recently used one is dropped beyond this
    image_prefix: str = "aha-sandbox-"
    runtime: str = ""  # e.g. "runsc" (gVisor) when the engine has it; empty = the engine's default (runc)
    api_timeout_s: int = 60
    retry_engine_s: float = 5.0  # after a failed connection, report the same error for this long

    @classmethod
    def from_env(cls) -> DockerSettings:
        """Settings from the environment; a root uid is refused (ValueError), never silently used."""
        uid = config.env_int("SANDBOX_DOCKER_UID", cls.uid)
        gid = config.env_int("SANDBOX_DOCKER_GID", uid)
        keeper = config.env_int("SANDBOX_DOCKER_KEEPER_UID", cls.keeper_uid)
        if min(uid, gid, keeper) <= 0 or keeper == uid:
            raise ValueError(
                "AHA_SANDBOX_DOCKER_UID/GID/KEEPER_UID must be non-root ids, the keeper's not the program's"
            )
        return cls(
            uid=uid,
            gid=gid,
            keeper_uid=keeper,
            pool_size=max(0, config.env_int("SANDBOX_DOCKER_POOL", cls.pool_size)),
            max_shapes=max(1, config.env_int("SANDBOX_DOCKER_POOL_SHAPES", cls.max_shapes)),
            image_prefix=config.env_str("SANDBOX_DOCKER_IMAGE_PREFIX", cls.image_prefix),
            runtime=config.env_str("SANDBOX_DOCKER_RUNTIME", ""),
            api_timeout_s=max(5, config.env_int("SANDBOX_DOCKER_API_TIMEOUT_S", cls.api_timeout_s)),
        )

    @property
    def user(self) -> str:
        """The program's `uid:gid`, as Docker takes `user`."""
        return f"{self.uid}:{self.gid}"

    @property
    def keeper(self) -> str:
        """The container's own `uid:gid` (its init and `sleep`)."""
        return f"{self.keeper_uid}:{self.keeper_uid}"


def image_for(language: str | None, prefix: str | None = None) -> str:
    """The image for a recipe name or alias: `AHA_SANDBOX_DOCKER_IMAGE_<LANG>`, else `<prefix><image dir>`.

    A run without a language (a bare command) uses `AHA_SANDBOX_DOCKER_IMAGE_DEFAULT`, else the python image.
    """
    recipe = languages.get_recipe(language) if language else None
    name = recipe.name if recipe is not None else "default"
    override = config.env_str(f"SANDBOX_DOCKER_IMAGE_{name.upper()}", "")
    if override:
        return override
    if prefix is None:
        prefix = config.env_str("SANDBOX_DOCKER_IMAGE_PREFIX", DockerSettings.image_prefix)
    return prefix + IMAGE_DIRS.get(name, "python")


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


# ---------------------------------------------------------------------------------------------------------------
# Tar in, tar out (pure)


def box_archive(box: Path, uid: int = 0, gid: int = 0) -> bytes:
    """A tar of the program dir for `put_archive` into `/box`: regular files and directories only.

    Owners are `uid:gid` (the engine extracts as root and keeps them: root for a read-only box, the program's user
    for a writable one); modes are normalised to 0755 for directories and executables, 0644 otherwise. Symlinks and
    special files are left out, so nothing on the host outside the box can be reached through the archive.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(box):  # does not follow symlinked dirs
            rel_root = Path(root).relative_to(box)
            for name in sorted(dirs):
                path = Path(root) / name
                if path.is_symlink():
                    dirs.remove(name)
                    continue
                info = tarfile.TarInfo((rel_root / name).as_posix())
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.uid, info.gid = uid, gid
                info.mtime = int(path.lstat().st_mtime)
                tar.addfile(info)
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                except OSError:  # a symlink (ELOOP) or gone: not part of the program
                    continue
                with os.fdopen(fd, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    info = tarfile.TarInfo((rel_root / name).as_posix())
                    info.size = st.st_size
                    info.mode = 0o755 if st.st_mode & 0o111 else 0o644
                    info.uid, info.gid = uid, gid
                    info.mtime = int(st.st_mtime)
                    tar.addfile(info, fh)
    return buf.getvalue()


def member_path(name: str, strip: str = "") -> PurePosixPath | None:
    """A tar member name as a path inside the box, after dropping the leading `strip` component (`get_archive`
    names everything `box/...`); `.` for the box itself; None if it would leave the box or lacks the prefix."""
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if name.startswith("/") or any(p in ("..", "") for p in parts):
        return None
    if strip:
        if not parts or parts[0] != strip:
            return None
        parts = parts[1:]
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def extract_box_archive(data: bytes, box: Path, strip: str = "", max_members: int = 10000) -> int:
    """Write what a run left in `/box` (the tar `get_archive` returns) into the host dir; returns the files written.

    The archive is untrusted: only regular files and directories are taken, paths must stay inside `box`, no
    host symlink is followed, and modes lose setuid/setgid and group/other write.
    """
    written = 0
    root = box.resolve()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for count, member in enumerate(tar):
            if count >= max_members:
                raise SandboxSetupError(f"/box holds more than {max_members} entries")
            rel = member_path(member.name, strip)
            if rel is None or rel == PurePosixPath(".") or not (member.isdir() or member.isreg()):
                continue
            target = root.joinpath(*rel.parts)
            if any(p.is_symlink() for p in [target, *target.parents] if p != root and root in p.parents):
                continue
            if member.isdir():
                if not target.exists():
                    target.mkdir(mode=0o755)
                    os.chmod(target, 0o777)  # like programs.prepared: other sandbox uids may write here
                continue
            if not target.parent.is_dir():
                continue
            src = tar.extractfile(member)
            if src is None:
                continue
            mode = 0o755 if member.mode & 0o111 else 0o644
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(1 << 16):
                    out.write(chunk)
            os.chmod(target, mode)
            written += 1
    return written


def oom_kills(memory_events: str) -> int:
    """The `oom_kill` count from a cgroup v2 `memory.events` file (0 when absent)."""
    m = re.search(r"^oom_kill\s+(\d+)\s*$", memory_events, re.MULTILINE)
    return int(m.group(1)) if m else 0


class FrameDecoder:
    """Splits Docker's multiplexed attach stream into (stream, bytes) chunks, incrementally.

    Each frame is an 8-byte header (stream id: 1 stdout, 2 stderr, 3 daemon error; 3 zero bytes; big-endian
    length) and then the payload: the format `docker.utils.socket.next_frame_header` parses. Payloads are
    passed on as they arrive, so a large frame never has to be held whole.
    """

    def __init__(self) -> None:
        self._header = bytearray()
        self._stream = 0
        self._left = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The payload pieces `data` completes, in order."""
        out: list[tuple[int, bytes]] = []
        view = memoryview(data)
        while view:
            if self._left == 0:
                need = 8 - len(self._header)
                self._header += view[:need]
                view = view[need:]
                if len(self._header) < 8:
                    break
                self._stream, self._left = struct.unpack(">BxxxL", bytes(self._header))
                self._header.clear()
                continue
            piece = bytes(view[: self._left])
            view = view[len(piece) :]
            self._left -= len(piece)
            out.append((self._stream, piece))
        return out


# ---------------------------------------------------------------------------------------------------------------
# Classification (pure): the same rules as bwrap.py


@dataclass
class ExecOutcome:
    """What one exec did, before it is judged."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    system: bytearray = field(default_factory=bytearray)  # stream 3: the daemon's own error text
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    killed_reason: str = ""  # "wall" or "output" when we stopped it
    exit_code: int | None = None  # as Docker reports it: 128+N for a process killed by signal N
    wall_s: float = 0.0
    cpu_s: float = 0.0
    cpu_known: bool = True  # False when the engine could not say (then SIGXCPU alone means the CPU limit)
    peak_memory_bytes: int | None = None
    oom_killed: bool = False


def classify(out: ExecOutcome, limits: Limits) -> RunResult:
    """The `RunResult` of an exec, by the rules `BwrapSandbox` applies to a bwrap exit."""
    common: dict[str, Any] = {
        "stdout": bytes(out.stdout),
        "stderr": bytes(out.stderr),
        "stdout_truncated": out.stdout_truncated,
        "stderr_truncated": out.stderr_truncated,
        "wall_s": out.wall_s,
        "cpu_s": out.cpu_s,
        "peak_memory_bytes": out.peak_memory_bytes,
    }
    if out.killed_reason == "wall":
        return RunResult(RunStatus.TIME_LIMIT, reason=f"wall time limit {limits.wall_s:g}s", **common)
    if out.killed_reason == "output":
        return RunResult(RunStatus.OUTPUT_LIMIT, reason=f"stdout over {limits.output_bytes} bytes", **common)
    if out.exit_code is None:
        why = out.system.decode("utf-8", "replace").strip()[:500] or "no exit code"
        return RunResult(RunStatus.SANDBOX_ERROR, reason=f"exec failed: {why}", **common)
    if out.exit_code == 0:
        return RunResult(RunStatus.OK, exit_code=0, **common)
    return failed_exit(out.exit_code, limits, common, oom_killed=out.oom_killed, cpu_known=out.cpu_known)


# ---------------------------------------------------------------------------------------------------------------
# Exec over the hijacked socket


def _raw_socket(sock: Any) -> socket.socket:
    """The OS socket under what `exec_start(socket=True)` returned.

    `APIClient._get_raw_response_socket` gives a `socket.SocketIO` for unix and plain-TCP engines (the socket is
    its `_sock`). TLS (and ssh) engines are refused: ending the program's stdin needs a half-close, which
    Python's `SSLSocket` cannot do without tearing down TLS.
    """
    raw = getattr(sock, "_sock", sock)
    if not isinstance(raw, socket.socket) or isinstance(raw, ssl.SSLSocket):
        raise SandboxSetupError(
            f"the docker backend needs a unix or plain-TCP engine socket, not {type(raw).__name__} (TLS/ssh)"
        )
    return raw


def _pump(raw: Any, stdin: bytes, deadline: float, out_cap: int, err_cap: int, outcome: ExecOutcome) -> None:
    """Feed stdin and collect capped stdout/stderr until the stream ends, the deadline passes, or stdout floods."""
    raw.setblocking(False)
    view = memoryview(stdin)  # never empty: it starts with the gate's newline
    decoder = FrameDecoder()
    sel = selectors.DefaultSelector()
    sel.register(raw, selectors.EVENT_READ | selectors.EVENT_WRITE)
    try:
        while True:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                outcome.killed_reason = "wall"
                return
            events = 0
            for _, ev in sel.select(timeout):
                events |= ev
            if events & selectors.EVENT_WRITE and view:
                try:
                    n = raw.send(view[:65536])
                except BlockingIOError:
                    n = 0
                except (BrokenPipeError, ConnectionResetError):
                    n = len(view)  # the program stopped reading; its output may still be coming
                view = view[n:]
                if not view:
                    _shutdown_write(raw)  # EOF on the program's stdin, as bwrap closes its pipe
                    sel.modify(raw, selectors.EVENT_READ)
            if not events & selectors.EVENT_READ:
                continue
            try:
                chunk = raw.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return
            for stream, data in decoder.feed(chunk):
                if stream == _STREAM_STDOUT:
                    room = out_cap - len(outcome.stdout)
                    outcome.stdout += data[:room]
                    if len(data) > room:
                        outcome.stdout_truncated = True
                        outcome.killed_reason = "output"
                        return
                elif stream == _STREAM_STDERR:
                    room = err_cap - len(outcome.stderr)
                    outcome.stderr += data[: max(0, room)]
                    if len(data) > room:
                        outcome.stderr_truncated = True  # keep draining so the program is not blocked on it
                elif len(outcome.system) < 4096:
                    outcome.system += data[:4096]
    finally:
        sel.close()


def _shutdown_write(raw: Any) -> None:
    # A half-close is how the CLI ends `docker exec -i` input (hijack CloseWrite): the daemon then closes the
    # process's stdin.
    with contextlib.suppress(OSError):
        raw.shutdown(socket.SHUT_WR)


def _close_socket(sock: Any) -> None:
    raw = getattr(sock, "_sock", sock)
    with contextlib.suppress(Exception):
        raw.shutdown(socket.SHUT_RDWR)  # the daemon sees the end even if something else still holds the fd
    for s in (sock, raw):
        with contextlib.suppress(Exception):
            s.close()


def gated(argv: Sequence[str]) -> list[str]:
    """`argv` behind the start gate (see GATE): `sh -c GATE sh argv...`."""
    return ["sh", "-c", GATE, "sh", *argv]


def _exec(
    api: Any,
    container_id: str,
    argv: Sequence[str],
    *,
    user: str,
    env: Mapping[str, str],
    workdir: str,
    stdin: bytes,
    wall_s: float,
    out_cap: int,
    err_cap: int,
) -> ExecOutcome:
    """Run one command in the container to its end or the deadline (the caller discards the container after)."""
    # exec_create(container, cmd, stdout, stderr, stdin, tty, privileged, user, environment, workdir, detach_keys)
    try:
        exec_id = api.exec_create(
            container_id,
            gated(argv),
            stdout=True,
            stderr=True,
            stdin=True,
            tty=False,
            privileged=False,
            user=user,
            environment=dict(env),
            workdir=workdir,
        )["Id"]
    except docker.errors.APIError as exc:
        if exc.status_code in (404, 409):  # no such container / container is not running
            raise ContainerGone(str(exc)) from exc
        raise
    outcome = ExecOutcome()
    # exec_start(socket=True) returns the hijacked connection; with tty=False its frames are multiplexed.
    sock = api.exec_start(exec_id, detach=False, tty=False, socket=True)
    start = time.monotonic()
    deadline = start + wall_s
    try:
        _pump(_raw_socket(sock), b"\n" + stdin, deadline, out_cap, err_cap, outcome)
    finally:
        _close_socket(sock)
    if not outcome.killed_reason:
        outcome.exit_code = _wait_exec(api, exec_id, deadline)
        if outcome.exit_code is None:
            outcome.killed_reason = "wall"  # closed its outputs but kept running
    outcome.wall_s = time.monotonic() - start
    return outcome


def _wait_exec(api: Any, exec_id: str, deadline: float) -> int | None:
    """The exec's exit code once it is no longer running; None if it still runs at the deadline."""
    delay = 0.002
    while True:
        info = api.exec_inspect(exec_id)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.05)


# ---------------------------------------------------------------------------------------------------------------
# The pool


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Pool:
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
            client = docker.from_env(timeout=self.settings.api_timeout_s, max_pool_size=max(10, 2 * config.slots()))
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
            container = client.containers.create(**container_kwargs(shape, self.settings, _owner()))
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
        host = socket.gethostname()
        try:
            found = self._client.api.containers(all=True, filters={"label": LABEL})
        except Exception as exc:
            log.warning("docker sandbox: listing containers failed: %s", exc)
            return
        for c in found:
            owner = (c.get("Labels") or {}).get(OWNER_LABEL, "")
            name, _, pid = owner.rpartition(":")
            if name == host and pid.isdigit() and not _pid_alive(int(pid)):
                self._remove(c["Id"])

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


# ---------------------------------------------------------------------------------------------------------------
# The backend


class DockerSandbox:
    """Runs programs in single-use containers from a warm pool. Safe to share between threads; `close()` when done.

    The pool belongs to this object: share one instance per process so that runs find warm containers.
    """

    name = "docker"

    def __init__(self, settings: DockerSettings | None = None) -> None:
        self.settings = settings or DockerSettings.from_env()
        self._pool = _Pool(self.settings)
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
            with slots.run_slot() as _slot:
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
        shape = ContainerShape.for_spec(spec, image_for(spec.language, self.settings.image_prefix))
        owner = (self.settings.uid, self.settings.gid) if shape.box_writable else (0, 0)
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
        out = _exec(
            api,
            cid,
            container_argv(spec),
            user=self.settings.user,
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
                # at /sys/fs/cgroup on v2) counts every OOM kill.
                out.oom_killed = self._cgroup_oom_kills(api, cid) > 0
        if shape.box_writable and spec.box is not None and not out.killed_reason:
            self._copy_back(api, cid, spec.box, shape)
        return classify(out, limits)

    def _cgroup_oom_kills(self, api: Any, cid: str) -> int:
        """OOM kills in the container's cgroup v2 (0 on v1, or when it cannot be read)."""
        try:
            events = _exec(
                api,
                cid,
                ["cat", "/sys/fs/cgroup/memory.events"],
                user=self.settings.user,
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
        return oom_kills(events.stdout.decode("ascii", "replace")) if events.exit_code == 0 else 0

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


# ---------------------------------------------------------------------------------------------------------------
# Report


def dockerfile(language: str) -> Path:
    """The Dockerfile of a recipe's image in this repo."""
    recipe = languages.get_recipe(language)
    name = recipe.name if recipe is not None else language
    return IMAGES_DIR / IMAGE_DIRS[name] / "Dockerfile"


def docker_report() -> dict[str, Any]:
    """How runs are isolated with the docker backend, whether it is usable here, and which images exist."""
    try:
        settings = DockerSettings.from_env()
    except ValueError as exc:
        return {"backend": "docker", "usable": False, "reason": str(exc)}
    report: dict[str, Any] = {
        "backend": "docker",
        "usable": False,
        "network": "none (loopback only)",
        "root": "read-only",
        "sandbox_uid": settings.user,
        "capabilities": "all dropped, no-new-privileges",
        "limits_by": "container cgroup (memory, no swap, pids) + rlimits (cpu, fsize, nofile, stack, core)",
        "pool_size": settings.pool_size,
        "runtime": settings.runtime or "engine default",
        "slots": config.slots(),
    }
    try:
        client = docker.from_env(timeout=10)
    except Exception as exc:
        report["reason"] = f"no Docker engine reachable: {exc}"
        return report
    try:
        client.ping()
        info = client.api.info()
        report["engine"] = info.get("ServerVersion")
        report["api_version"] = client.api.api_version
        report["cgroups"] = f"v{info.get('CgroupVersion')}" if info.get("CgroupVersion") else "unknown"
        report["security_options"] = info.get("SecurityOptions") or []
        found: dict[str, str] = {}
        missing: dict[str, str] = {}
        for name in languages.RECIPES:
            image = image_for(name, settings.image_prefix)
            try:
                client.api.inspect_image(image)
                found[name] = image
            except docker.errors.ImageNotFound:
                missing[name] = image
        report["images_found"] = found
        report["images_missing"] = missing
        report["usable"] = bool(found)
        if not found:
            report["reason"] = "no sandbox image built: see sandboxes/images/README.md"
        elif not version_gte(client.api.api_version, "1.41"):
            report["note"] = "engine API < 1.41: CPU time and peak memory are not measured"
    except Exception as exc:
        report["reason"] = f"no Docker engine reachable: {exc}"
    finally:
        client.close()
    return report
