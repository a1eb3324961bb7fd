"""`POST /run_code` in SandboxFusion's request and response shapes, so its clients (verl's `sandbox_fusion`
helper, the `sandbox-fusion` package) work unchanged against Aha.

What a caller may ask for is bounded by the server's settings (`AHA_RUN_CODE_*`):

- `run_timeout` and `compile_timeout` must be finite and > 0 (else 422); above `run_code_max_timeout_s` they are
  clamped to it, and so is `memory_limit_MB` to `run_code_max_memory_mb` (<= 0 means `run_code_default_memory_mb`).
  A clamp is reported in `message`, so a client sees the limits the program actually ran with.
- `files`: at most `run_code_max_files`, each at most `run_code_max_file_bytes` and all together at most
  `run_code_box_mb` MiB (else 422 or 413); paths are relative to the box, `/box/x` meaning `x`.
- The program may write to `/box`: one file up to `run_code_box_mb` MiB (RLIMIT_FSIZE), all of it counted in the
  run's memory limit (the box is tmpfs, its pages charged to the run's cgroup). stdout past
  `run_code_max_output_bytes` ends the run (`Failed`), stderr past it is cut.
- `fetch_files`: at most `run_code_max_files` names (else 422); names are normalised (`./x`, `/box/x` are `x`) and
  each file is fetched once, under the first name asked, if it is a regular file reached without a symlink. A file
  over `run_code_max_file_bytes`, or past `run_code_max_fetch_bytes` for all fetched files together, is left out of
  `files`, and `message` names it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import time
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from sandboxes import Limits, RunResult, RunStatus, available_languages, get_recipe, get_sandbox
from sandboxes.programs import compile_program, open_box_file, prepared, run_program, safe_relative
from service.api.errors import busy
from service.models import BUSY_RESPONSE
from service.settings import Settings

router = APIRouter()

_MB = 1 << 20
# Past a day a timeout is a mistake, not a budget: 422 rather than a clamp (1e300 used to reach the rlimits).
_ABSURD_TIMEOUT_S = 86_400.0


class CommandRunStatus(StrEnum):
    Finished = "Finished"
    Error = "Error"
    TimeLimitExceeded = "TimeLimitExceeded"


class RunStatusModel(StrEnum):
    Success = "Success"
    Failed = "Failed"
    SandboxError = "SandboxError"


class CommandRunResult(BaseModel):
    status: CommandRunStatus
    execution_time: float | None = None
    cpu_time: float | None = None
    return_code: int | None = None
    stdout: str | None = None
    stderr: str | None = None


# A file name the box can hold: components separated by single slashes, none empty, "." or "..", no NUL; "/box/"
# may lead. The schema states it, so a client (and a fuzzer) sees the rule that is enforced.
_COMPONENT = r"(?:[^/\x00.][^/\x00]*|\.[^/\x00.][^/\x00]*|\.\.[^/\x00]+)"
BoxPath = Annotated[str, StringConstraints(pattern=rf"^(?:/box/)?{_COMPONENT}(?:/{_COMPONENT})*$")]


class RunCodeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=True)

    compile_timeout: float = Field(10, gt=0, le=_ABSURD_TIMEOUT_S, allow_inf_nan=False)
    run_timeout: float = Field(10, gt=0, le=_ABSURD_TIMEOUT_S, allow_inf_nan=False)
    memory_limit_mb: int = Field(-1, alias="memory_limit_MB")
    code: str
    stdin: str | None = None
    language: str
    files: dict[BoxPath, str | None] = Field({}, json_schema_extra={"additionalProperties": False})
    fetch_files: list[str] = []


class RunCodeResponse(BaseModel):
    status: RunStatusModel
    message: str
    compile_result: CommandRunResult | None = None
    run_result: CommandRunResult | None = None
    executor_pod_name: str | None = None
    files: dict[str, str] = {}


def _text(s: str) -> str:
    """`s` safe to serialise: a lone surrogate (from the caller) would make the JSON encoder raise."""
    return s.encode("utf-8", "replace").decode("utf-8")


def _command_result(res: RunResult) -> CommandRunResult:
    if res.status == RunStatus.TIME_LIMIT:
        status = CommandRunStatus.TimeLimitExceeded
    elif res.status == RunStatus.SANDBOX_ERROR:
        status = CommandRunStatus.Error
    else:
        status = CommandRunStatus.Finished
    code = res.exit_code if res.signal is None else -res.signal
    return CommandRunResult(
        status=status,
        execution_time=round(res.wall_s, 4),
        cpu_time=round(res.cpu_s, 4),
        return_code=code,
        stdout=res.stdout.decode("utf-8", "replace"),
        stderr=res.stderr.decode("utf-8", "replace"),
    )


def _decoded_size(b64: str) -> int:
    # exact for what b64decode(validate=True) accepts: no whitespace, padding only at the end
    return len(b64) // 4 * 3 - b64[-2:].count("=")


def check_request(req: RunCodeRequest, settings: Settings) -> None:
    """Refuse, before any work, a request over the server's input limits: 422 for counts and paths, 413 for sizes."""
    if len(req.files) > settings.run_code_max_files:
        raise HTTPException(422, f"{len(req.files)} files exceed the limit of {settings.run_code_max_files}")
    if len(req.fetch_files) > settings.run_code_max_files:
        raise HTTPException(
            422, f"{len(req.fetch_files)} fetch_files exceed the limit of {settings.run_code_max_files}"
        )
    total = 0
    for name, b64 in req.files.items():
        if safe_relative(name) is None:
            raise HTTPException(422, _text(f"file path not allowed (outside the box, or no name): {name!r}"))
        size = _decoded_size(b64 or "")
        if size > settings.run_code_max_file_bytes:
            raise HTTPException(
                413, _text(f"file {name!r} is {size} bytes, over the limit of {settings.run_code_max_file_bytes}")
            )
        total += size
    if total > settings.run_code_box_mb * _MB:
        raise HTTPException(413, f"files total {total} bytes, over the limit of {settings.run_code_box_mb} MiB")


def _fetch(box: Path, names: list[str], settings: Settings) -> tuple[dict[str, str], list[str]]:
    """The files asked for, base64, under the names asked for; and a note on those left out for their size."""
    out: dict[str, str] = {}
    left_out: list[str] = []
    seen: set[PurePosixPath] = set()
    file_cap, budget = settings.run_code_max_file_bytes, settings.run_code_max_fetch_bytes
    for name in names:
        rel = safe_relative(name)
        if rel is None or rel in seen:  # `x`, `./x` and `/box/x` are one file: fetched once
            continue
        seen.add(rel)
        fd = open_box_file(box, rel)
        if fd is None:
            continue
        with os.fdopen(fd, "rb") as fh:
            try:
                size = os.fstat(fd).st_size
                data = fh.read(file_cap + 1) if size <= min(file_cap, budget) else b""
            except OSError:
                continue
        size = max(size, len(data))
        if size > file_cap:
            left_out.append(f"{name} (over the {file_cap}-byte limit of one file)")
        elif size > budget:
            left_out.append(f"{name} (past the {settings.run_code_max_fetch_bytes}-byte total of fetched files)")
        else:
            budget -= size
            out[name] = base64.b64encode(data).decode()
    if not left_out:
        return out, []
    more = f"; and {len(left_out) - 5} more" if len(left_out) > 5 else ""
    return out, [f"left out of files: {'; '.join(left_out[:5])}{more}"]


def _clamp(what: str, asked: float, cap: float, unit: str, notes: list[str]) -> float:
    if asked <= cap:
        return asked
    notes.append(f"{what} {asked} {unit} is over this server's cap: ran with {cap} {unit}")
    return cap


def execute(req: RunCodeRequest, settings: Settings) -> RunCodeResponse:
    """Compile (when the language needs it) and run one program within `settings`' caps; blocking, call it from a
    thread, after `check_request` (the route checks before it takes a thread)."""
    recipe = get_recipe(req.language)
    if recipe is None or recipe.name not in available_languages(settings.sandbox):
        return RunCodeResponse(
            status=RunStatusModel.SandboxError, message=_text(f"language {req.language} unavailable")
        )
    try:
        files = {k: base64.b64decode(v or "", validate=True) for k, v in req.files.items()}
    except (binascii.Error, ValueError) as exc:
        return RunCodeResponse(status=RunStatusModel.SandboxError, message=_text(f"bad base64 in files: {exc}"))
    notes: list[str] = []
    cap_s = settings.run_code_max_timeout_s
    compile_s = _clamp("compile_timeout", req.compile_timeout, cap_s, "s", notes) if recipe.compile else 0.0
    run_s = _clamp("run_timeout", req.run_timeout, cap_s, "s", notes)
    asked_mb = req.memory_limit_mb if req.memory_limit_mb > 0 else settings.run_code_default_memory_mb
    memory = int(_clamp("memory_limit_MB", asked_mb, settings.run_code_max_memory_mb, "MB", notes))
    limits = Limits(
        cpu_s=run_s,
        wall_s=run_s,
        memory_mb=memory,
        pids=128,
        output_bytes=settings.run_code_max_output_bytes,
        file_size_mb=settings.run_code_box_mb,
    )
    sandbox = get_sandbox(settings=settings.sandbox)
    try:
        with prepared(recipe, req.code, files, work_dir=sandbox.settings.work_dir) as prog:
            comp = compile_program(sandbox, prog, wall_s=min(cap_s, max(1.0, compile_s)))
            compile_result = _command_result(comp) if comp is not None else None
            if comp is not None and comp.status == RunStatus.SANDBOX_ERROR:
                return RunCodeResponse(
                    status=RunStatusModel.SandboxError, message=_text(comp.reason), compile_result=compile_result
                )
            if comp is not None and comp.status != RunStatus.OK:
                return RunCodeResponse(
                    status=RunStatusModel.Failed, message="; ".join(notes), compile_result=compile_result
                )
            stdin = (req.stdin or "").encode("utf-8", "surrogatepass")  # the program gets what was sent
            res = run_program(sandbox, prog, stdin=stdin, limits=limits, box_writable=True, cwd="/box")
            fetched, fetch_notes = _fetch(prog.box, req.fetch_files, settings)
    except ValueError as exc:
        return RunCodeResponse(status=RunStatusModel.SandboxError, message=_text(str(exc)))
    except OSError as exc:  # a full work dir (ENOSPC), or a file where a dir is wanted: no judgement of the program
        why = exc.strerror or type(exc).__name__
        return RunCodeResponse(status=RunStatusModel.SandboxError, message=f"cannot write the program's files: {why}")
    if res.status == RunStatus.SANDBOX_ERROR:
        return RunCodeResponse(status=RunStatusModel.SandboxError, message=_text(res.reason))
    if res.stderr_truncated:
        notes.append(f"stderr cut at {settings.run_code_max_output_bytes} bytes")
    ok = res.status == RunStatus.OK
    return RunCodeResponse(
        status=RunStatusModel.Success if ok else RunStatusModel.Failed,
        message=_text("; ".join(m for m in ["" if ok else res.reason, *notes, *fetch_notes] if m)),
        compile_result=compile_result,
        run_result=_command_result(res),
        files=fetched,
    )


def concurrency(settings: Settings) -> int:
    """How many `/run_code` calls may run at once: the setting, else half the sandbox slots (at least one)."""
    return settings.run_code_concurrency or max(1, settings.sandbox.slots // 2)


@router.post("/run_code", response_model=RunCodeResponse, responses=BUSY_RESPONSE)
async def run_code(req: RunCodeRequest, request: Request) -> Any:
    """SandboxFusion-compatible code execution, within the caps of the app's settings (see the module docstring).

    At most `run_code_concurrency` calls run at once, so calls to this route never take every sandbox slot from
    the code items of `/v1/score`; one more is answered 429 with `Retry-After`.
    """
    state = request.app.state
    settings = getattr(state, "settings", None) or Settings()
    check_request(req, settings)  # before a thread is taken: over-limit input costs none
    if getattr(state, "run_code_slots", None) is None:
        state.run_code_slots = asyncio.Semaphore(concurrency(settings))
    slots: asyncio.Semaphore = state.run_code_slots
    if slots.locked():
        detail = f"{concurrency(settings)} /run_code calls are running; retry shortly"
        return busy(detail, retry_after=1)
    started = time.perf_counter()
    async with slots:
        answer = await run_in_threadpool(execute, req, settings)
    engine = getattr(state, "engine", None)
    if engine is not None:
        engine.metrics.request_seconds.labels(endpoint="/run_code").observe(time.perf_counter() - started)
    return answer
