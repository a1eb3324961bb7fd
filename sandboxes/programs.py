"""Compile once, run many: a program in a per-submission directory, driven through any `Sandbox`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sandboxes import config, languages
from sandboxes.languages import Recipe
from sandboxes.types import Limits, RunResult, RunSpec, Sandbox


@dataclass(frozen=True)
class Program:
    """A program written to its own directory (mounted at /box when it runs)."""

    recipe: Recipe
    box: Path
    source: str  # file name inside the box
    main: str  # the entry (Java class name; the file stem elsewhere)


def compile_limits(recipe: Recipe, wall_s: float | None = None) -> Limits:
    """Limits for compiling: generous (compilers are big) but bounded; `AHA_SANDBOX_COMPILE_TIMEOUT_S`."""
    wall = wall_s if wall_s is not None else float(config.env_int("SANDBOX_COMPILE_TIMEOUT_S", 30))
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
    """A user-supplied file path as a path inside the box, or None if it would escape it."""
    p = PurePosixPath(path.lstrip("/")) if path.startswith("/box/") else PurePosixPath(path)
    if p.is_absolute() or not p.parts or any(part in ("..", "") for part in p.parts):
        return None
    return p


@contextlib.contextmanager
def prepared(recipe: Recipe, code: str, files: Mapping[str, bytes] | None = None) -> Iterator[Program]:
    """Write `code` (and extra `files`, relative paths) to a fresh directory; removed afterwards."""
    box = Path(tempfile.mkdtemp(prefix="box-", dir=languages.work_root()))
    try:
        # Sandboxed runs use another uid than ours: let it write (compile output) in this one directory.
        os.chmod(box, 0o777)
        source, main = languages.source_name(recipe, code)
        for rel, data in (files or {}).items():
            target = safe_relative(rel)
            if target is None:
                raise ValueError(f"file path escapes the work dir: {rel!r}")
            dest = box / target
            dest.parent.mkdir(parents=True, exist_ok=True)
            for d in [dest.parent, *dest.parent.relative_to(box).parents]:
                os.chmod(box / d, 0o777)
            dest.write_bytes(data)
        (box / source).write_text(code, encoding="utf-8")
        yield Program(recipe=recipe, box=box, source=source, main=main)
    finally:
        shutil.rmtree(box, ignore_errors=True)


def _argv(prog: Program, template: Sequence[str], memory_mb: int) -> list[str]:
    return languages.expand(
        tuple(template), prog.recipe, box="/box", memory_mb=memory_mb, source=prog.source, main=prog.main
    )


def compile_program(sandbox: Sandbox, prog: Program, wall_s: float | None = None) -> RunResult | None:
    """Compile in the sandbox (box writable); None for interpreted languages."""
    if prog.recipe.compile is None:
        return None
    limits = compile_limits(prog.recipe, wall_s)
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
