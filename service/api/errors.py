"""Every error answers ``{"detail": …}``, mapped from exceptions to responses in this one place.

Routes raise; they do not build error responses. ``RequestRejected`` subclasses come from the engine (a request
it cannot take: too many items, a recipe that makes no sense, a full queue), ``HTTPException`` from the routes'
own checks, ``RequestValidationError`` from pydantic.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.engine import Overloaded, RequestRejected


def rejection(exc: RequestRejected) -> tuple[int, int | None]:
    """The HTTP status a request the engine refused gets, and its Retry-After seconds (429 only): for the HTTP
    routes and for the faces that answer without HTTP (Ray Serve's handle calls)."""
    if isinstance(exc, Overloaded):
        return 429, exc.retry_after
    return 422, None


def busy(detail: str, retry_after: int) -> JSONResponse:
    """The 429 every route answers when it has no room: the reason, and when to come back."""
    return JSONResponse({"detail": detail}, status_code=429, headers={"Retry-After": str(retry_after)})

def _parse_failure(exc: BaseException | None) -> str:
    # FastAPI turns every failure of json.loads other than a syntax error into a bare 400; say what it was.
    if isinstance(exc, UnicodeDecodeError):
        return "the request body is not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "the request body's JSON is nested too deeply"
    if isinstance(exc, ValueError):
        return f"the request body's JSON cannot be read: {exc}"[:300]
    return "the request body cannot be parsed"


def _jsonable(value: Any) -> Any:
    # Validation errors echo the input, which may hold values JSON cannot carry (bytes, NaN from the parser).
    return json.loads(json.dumps(value, default=str, allow_nan=False, ensure_ascii=True)) if value is not None else None


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: an echoed lone surrogate stays valid JSON instead of raising."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def install_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"detail": …}``: a string, or for 422 the list of validation errors."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400:
            return AsciiJSONResponse({"detail": _parse_failure(exc.__cause__)}, status_code=422)
        return AsciiJSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for error in exc.errors():
            entry = {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error.get("type")}
            try:
                entry["input"] = _jsonable(error.get("input"))
            except (ValueError, RecursionError):
                pass  # a NaN, an infinite or a deeply nested input: the message says enough
            errors.append(entry)
        return AsciiJSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(RequestRejected)
    async def rejected(request: Request, exc: RequestRejected) -> JSONResponse:
        status, retry_after = rejection(exc)
        if retry_after is not None:
            return busy(str(exc), retry_after)
        return AsciiJSONResponse({"detail": str(exc)}, status_code=status)
