"""`POST /run_code` in SandboxFusion's request and response shapes, so its clients (verl's `sandbox_fusion`
helper, the `sandbox-fusion` package) work unchanged against Aha."""

from __future__ import annotations

import base64
import binascii
import os
from enum import StrEnum
from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from sandboxes import Limits, RunResult, RunStatus, available_languages, get_recipe, get_sandbox
from sandboxes.programs import compile_program, prepared, run_program, safe_relative

router = APIRouter()

_FETCH_CAP = 16 << 20
_DEFAULT_MEMORY_MB = 1024


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


class RunCodeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    compile_timeout: float = 10
    run_timeout: float = 10
    memory_limit_mb: int = Field(-1, alias="memory_limit_MB")
    code: str
    stdin: str | None = None
    language: str
    files: dict[str, str | None] = {}
    fetch_files: list[str] = []


class RunCodeResponse(BaseModel):
    status: RunStatusModel
    message: str
    compile_result: CommandRunResult | None = None
    run_result: CommandRunResult | None = None
    executor_pod_name: str | None = None
    files: dict[str, str] = {}


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


def _fetch(box: Path, names: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        rel = safe_relative(name)
        if rel is None:
            continue
        try:
            fd = os.open(box / rel, os.O_RDONLY | os.O_NOFOLLOW)  # the program may have planted symlinks
        except OSError:
            continue
        with os.fdopen(fd, "rb") as fh:
            if not os.path.isfile(f"/proc/self/fd/{fd}"):
                continue
            data = fh.read(_FETCH_CAP + 1)
        if len(data) <= _FETCH_CAP:
            out[name] = base64.b64encode(data).decode()
    return out


def execute(req: RunCodeRequest) -> RunCodeResponse:
    """Compile (when the language needs it) and run one program; blocking, call it from a thread."""
    recipe = get_recipe(req.language)
    if recipe is None or recipe.name not in available_languages():
        return RunCodeResponse(status=RunStatusModel.SandboxError, message=f"language {req.language} unavailable")
    try:
        files = {k: base64.b64decode(v or "", validate=True) for k, v in req.files.items()}
    except (binascii.Error, ValueError) as exc:
        return RunCodeResponse(status=RunStatusModel.SandboxError, message=f"bad base64 in files: {exc}")
    sandbox = get_sandbox()
    try:
        with prepared(recipe, req.code, files) as prog:
            comp = compile_program(sandbox, prog, wall_s=max(1.0, req.compile_timeout))
            compile_result = _command_result(comp) if comp is not None else None
            if comp is not None and comp.status == RunStatus.SANDBOX_ERROR:
                return RunCodeResponse(
                    status=RunStatusModel.SandboxError, message=comp.reason, compile_result=compile_result
                )
            if comp is not None and comp.status != RunStatus.OK:
                return RunCodeResponse(status=RunStatusModel.Failed, message="", compile_result=compile_result)
            memory = req.memory_limit_mb if req.memory_limit_mb > 0 else _DEFAULT_MEMORY_MB
            limits = Limits(cpu_s=req.run_timeout, wall_s=req.run_timeout, memory_mb=memory, pids=128)
            res = run_program(
                sandbox, prog, stdin=(req.stdin or "").encode(), limits=limits, box_writable=True, cwd="/box"
            )
            fetched = _fetch(prog.box, req.fetch_files)
    except ValueError as exc:
        return RunCodeResponse(status=RunStatusModel.SandboxError, message=str(exc))
    if res.status == RunStatus.SANDBOX_ERROR:
        return RunCodeResponse(status=RunStatusModel.SandboxError, message=res.reason)
    ok = res.status == RunStatus.OK
    return RunCodeResponse(
        status=RunStatusModel.Success if ok else RunStatusModel.Failed,
        message="" if ok else res.reason,
        compile_result=compile_result,
        run_result=_command_result(res),
        files=fetched,
    )


@router.post("/run_code", response_model=RunCodeResponse)
async def run_code(req: RunCodeRequest) -> RunCodeResponse:
    """SandboxFusion-compatible code execution."""
    return await run_in_threadpool(execute, req)
