"""One exec in a container over the hijacked socket: the start gate, the frame decoder, the pump, the exit code,
and how the outcome is judged."""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import ssl
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import docker.errors

from sandboxes.docker.errors import ContainerGone, SandboxSetupError
from sandboxes.outcome import WALL, Captured
from sandboxes.outcome import classify as classify_run
from sandboxes.types import Limits, RunResult

_STREAM_STDOUT, _STREAM_STDERR, _STREAM_SYSTEM = 1, 2, 3
# Every exec starts behind this gate and waits for one line on stdin before exec'ing the real command. The SDK
# hands over the hijacked socket after http.client has parsed the 101 response through a buffered reader; output
# that arrived with the response head would sit in that buffer, lost to reads from the socket. Holding the command
# until we have the socket means nothing but the head can have arrived. (dash's `read` takes one byte at a time
# from a pipe, so the command's stdin starts exactly after the newline.)
GATE = 'IFS= read -r _ || exit 125; exec "$@"'


def oom_kills(memory_events: str) -> int:
    """The `oom_kill` count from a cgroup v2 `memory.events` file or a v1 `memory.oom_control` (0 when absent)."""
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


@dataclass
class ExecOutcome(Captured):
    """What one exec did, before it is judged: its capped output (`Captured`) and what the engine told of it."""

    system: bytearray = field(default_factory=bytearray)  # stream 3: the daemon's own error text
    exit_code: int | None = None  # as Docker reports it: 128+N for a process killed by signal N
    wall_s: float = 0.0
    cpu_s: float = 0.0
    cpu_known: bool = True  # False when the engine could not say (then SIGXCPU alone means the CPU limit)
    peak_memory_bytes: int | None = None
    oom_killed: bool = False


def classify(out: ExecOutcome, limits: Limits) -> RunResult:
    """The `RunResult` of an exec, by the rules every backend shares (`sandboxes.outcome`)."""
    return classify_run(
        out,
        limits,
        exit_code=out.exit_code,
        wall_s=out.wall_s,
        cpu_s=out.cpu_s,
        peak_memory_bytes=out.peak_memory_bytes,
        oom_killed=lambda: out.oom_killed,
        no_exit=lambda: "exec failed: " + (out.system.decode("utf-8", "replace").strip()[:500] or "no exit code"),
        cpu_known=out.cpu_known,
    )


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


def pump(raw: Any, stdin: bytes, deadline: float, out_cap: int, err_cap: int, outcome: ExecOutcome) -> None:
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
                outcome.killed_reason = WALL
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
                    if not outcome.take_stdout(data, out_cap):
                        return
                elif stream == _STREAM_STDERR:
                    outcome.take_stderr(data, err_cap)
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


def exec_in(
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
        pump(_raw_socket(sock), b"\n" + stdin, deadline, out_cap, err_cap, outcome)
    finally:
        _close_socket(sock)
    if not outcome.killed_reason:
        outcome.exit_code = _wait_exec(api, exec_id, deadline)
        if outcome.exit_code is None:
            outcome.killed_reason = WALL  # closed its outputs but kept running
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
