"""Compile once, run many: a program in a per-submission directory, driven through any `Sandbox`."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sandboxes import languages
from sandboxes.languages import Recipe
from sandboxes.types import Limits, RunResult, RunSpec, Sandbox


@dataclass(frozen=True)
class Program:
    """A program written to its own directory (mounted at /box when it runs)."""

    recipe: Recipe
    box: Path
    source: str  # file name inside the box
    main: str  # the entry (Java class name; the file stem elsewhere)


def compile_limits(recipe: Recipe, wall_s: float) -> Limits:
    """Limits for compiling: generous (compilers are big) but bounded by `wall_s`."""
    wall = wall_s
    return Limits(
        cpu_s=wall,
        wall_s=wall,
        memory_mb=recipe.compile_memory_mb,
        pids=recipe.compile_pids,
        output_bytes=64 * 1024,
        file_size_mb=256,
        open_files=1024,
        tmpfs_mb=1024,
    )


def safe_relative(path: str) -> PurePosixPath | None:
    """A caller's file path as a path inside the box (`/box/x` is `x`), or None if it escapes it or names nothing."""
    if "\0" in path or not _encodable(path):
        return None
    p = PurePosixPath(path)
    if p.is_absolute():
        if p.parts[:2] != ("/", "box"):  # `//box/x` too: POSIX leaves a leading `//` to the implementation
            return None
        p = PurePosixPath(*p.parts[2:])
    if not p.parts or ".." in p.parts:
        return None
    return p


def _encodable(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no file system name
        return False
    return True


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _walk(root_fd: int, parts: Sequence[str], *, create: bool) -> int:
    """An fd of the directory `parts` below `root_fd`, each component opened without following a symlink.

    O_NOFOLLOW on a whole path guards only its last component: a program that made `d -> /` would have
    `d/etc/shadow` read (or written) on the host side, as root.
    """
    fd = os.dup(root_fd)
    try:
        for part in parts:
            made = False
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o700, dir_fd=fd)
                    made = True
            sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = sub
            if made:
                os.fchmod(fd, 0o777)  # sandboxed runs use another uid than ours
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_beneath(root_fd: int, rel: PurePosixPath, data: bytes) -> None:
    parent = _walk(root_fd, rel.parts[:-1], create=True)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(rel.name, flags, 0o644, dir_fd=parent)
    finally:
        os.close(parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def open_box_file(box: Path, rel: PurePosixPath) -> int | None:
    """A read-only fd of the regular file `rel` in `box`, or None when there is none (or it is anything else).

    What a program left in its box is hostile: no component is followed if it is a symlink, and the last one is
    looked at through an O_PATH fd before anything opens it, so FIFOs (an open that blocks forever), sockets and
    devices are never opened at all.
    """
    try:
        root = os.open(box, _DIR_FLAGS)
    except OSError:
        return None
    try:
        parent = _walk(root, rel.parts[:-1], create=False)
        try:
            handle = os.open(rel.name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        finally:
            os.close(parent)
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                return None
            # reopening the O_PATH fd through /proc opens that very inode, whatever the name points to by now
            return os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        finally:
            os.close(handle)
    except OSError:
        return None
    finally:
        os.close(root)


# Each program dir `box-<pid>-<random>` has a lock file `<dir>.lock` beside it, flock()ed by its owner for the
# dir's whole life: the kernel drops the lock when the owner dies however it dies (SIGKILL, OOM, a deadline), so a
# dir whose lock can be taken is stale, and pid reuse cannot fool it. Dirs of other names are never touched.
_LOCK_SUFFIX = ".lock"
_OWNED = re.compile(r"box-\d+-[a-z0-9_]+")
_SWEEP_EVERY_S = 5.0
_next_sweep = 0.0
_sweep_lock = threading.Lock()


def _same_file(path: Path, fd: int) -> bool:
    try:
        a, b = os.lstat(path), os.fstat(fd)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _remove_if_stale(root: Path, stem: str) -> bool:
    lock = root / (stem + _LOCK_SUFFIX)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if not _same_file(lock, fd):  # another sweeper removed it meanwhile
            return False
        shutil.rmtree(root / stem, ignore_errors=True)
        os.unlink(lock)
        return True
    except OSError:  # BlockingIOError: its owner is alive
        return False
    finally:
        os.close(fd)


def sweep_stale(root: Path) -> int:
    """Remove the program dirs under `root` whose owner died without removing them; how many were removed."""
    try:
        names = set(os.listdir(root))
    except OSError:
        return 0
    removed = 0
    for name in names:
        if name.endswith(_LOCK_SUFFIX) and _OWNED.fullmatch(name[: -len(_LOCK_SUFFIX)]):
            removed += _remove_if_stale(root, name[: -len(_LOCK_SUFFIX)])
        elif _OWNED.fullmatch(name) and name + _LOCK_SUFFIX not in names:
            if os.path.lexists(root / (name + _LOCK_SUFFIX)):  # the listing missed it: alive
                continue
            # the lock is made before its dir and removed after it: a dir seen without one has lost its owner
            shutil.rmtree(root / name, ignore_errors=True)
            removed += 1
    return removed


def _maybe_sweep(root: Path) -> None:
    """`sweep_stale`, at most every few seconds per process, and never waited for."""
    global _next_sweep
    now = time.monotonic()
    if now < _next_sweep or not _sweep_lock.acquire(blocking=False):
        return
    try:
        _next_sweep = now + _SWEEP_EVERY_S
        sweep_stale(root)
    finally:
        _sweep_lock.release()


def _locked_dir(root: Path) -> tuple[Path, int]:
    """A fresh program dir under `root` and the fd holding its lock."""
    while True:
        fd, lock = tempfile.mkstemp(prefix=f"box-{os.getpid()}-", suffix=_LOCK_SUFFIX, dir=root)
        box = lock[: -len(_LOCK_SUFFIX)]
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a sweeper took it for stale before we locked it, and removes it
            os.close(fd)
            continue
        if not _same_file(Path(lock), fd):  # ... and has removed it already
            os.close(fd)
            continue
        try:
            os.mkdir(box, 0o700)
        except BaseException as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(lock)
            if isinstance(exc, FileExistsError):  # a stale dir of that name, without its lock: the sweep takes it
                continue
            raise
        return Path(box), fd


@contextlib.contextmanager
def prepared(
    recipe: Recipe, code: str, files: Mapping[str, bytes] | None = None, *, work_dir: Path | None = None
) -> Iterator[Program]:
    """Write `code` (and extra `files`, paths as `safe_relative` takes them) to a fresh directory under `work_dir`
    (the sandbox's `settings.work_dir`; default: the environment's); removed afterwards.

    Raises ValueError for a path that is not allowed and OSError when the files cannot be written (a full work
    dir). Lone surrogates in `code` are written as they came (`surrogatepass`): the program gets them, not us.
    """
    root = languages.work_root(work_dir)
    _maybe_sweep(root)
    box, lock_fd = _locked_dir(root)
    try:
        # Sandboxed runs use another uid than ours: let it write (compile output) in this one directory.
        os.chmod(box, 0o777)
        source, main = languages.source_name(recipe, code)
        box_fd = os.open(box, _DIR_FLAGS)
        try:
            for rel, data in (files or {}).items():
                target = safe_relative(rel)
                if target is None:
                    raise ValueError(f"file path not allowed (outside the box, or no name): {rel!r}")
                _write_beneath(box_fd, target, data)
            _write_beneath(box_fd, PurePosixPath(source), code.encode("utf-8", "surrogatepass"))
        finally:
            os.close(box_fd)
        yield Program(recipe=recipe, box=box, source=source, main=main)
    finally:
        shutil.rmtree(box, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(f"{box}{_LOCK_SUFFIX}")
        os.close(lock_fd)


def _argv(prog: Program, template: Sequence[str], memory_mb: int) -> list[str]:
    return languages.expand(
        tuple(template), prog.recipe, box="/box", memory_mb=memory_mb, source=prog.source, main=prog.main
    )


def compile_program(sandbox: Sandbox, prog: Program, wall_s: float | None = None) -> RunResult | None:
    """Compile in the sandbox (box writable) within `wall_s` (default: its `compile_timeout_s`); None for interpreted
    languages."""
    if prog.recipe.compile is None:
        return None
    limits = compile_limits(prog.recipe, wall_s if wall_s is not None else sandbox.settings.compile_timeout_s)
    spec = RunSpec(
        argv=_argv(prog, prog.recipe.compile, limits.memory_mb),
        box=prog.box,
        box_writable=True,
        cwd="/box",
        env=dict(prog.recipe.compile_env),
        limits=limits,
        language=prog.recipe.name,
    )
    return sandbox.run(spec)


def run_program(
    sandbox: Sandbox,
    prog: Program,
    *,
    stdin: bytes = b"",
    limits: Limits,
    argv: Sequence[str] | None = None,
    box_writable: bool = False,
    cwd: str = "/tmp",
) -> RunResult:
    """Run the (compiled) program, or `argv` (placeholders allowed) with the program's toolchain.

    `limits.memory_mb` is the program's budget; the runtime's own baseline (JVM, V8) is added on top.
    """
    template = tuple(argv) if argv is not None else prog.recipe.run
    cmd = _argv(prog, template, limits.memory_mb)
    effective = dataclasses.replace(
        limits,
        memory_mb=limits.memory_mb + prog.recipe.memory_overhead_mb,
        pids=max(limits.pids, prog.recipe.run_pids),
    )
    spec = RunSpec(
        argv=cmd,
        box=prog.box,
        box_writable=box_writable,
        cwd=cwd,
        stdin=stdin,
        limits=effective,
        language=prog.recipe.name,
    )
    return sandbox.run(spec)
