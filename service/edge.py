"""What every request goes through before a route sees it: a bounded, timed body, and errors in one shape.

The body is read here in full (FastAPI would read it in full anyway), so the byte limit holds for chunked bodies
as well as declared ones, a client that trickles its body is cut off, and the JSON text can be made safe before it
is parsed: JSON allows escapes of lone UTF-16 surrogates (``"\\ud800"``), which are no Unicode and would make every
echo of that string fail to encode; they are read as U+FFFD instead.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

# A \uD800-\uDFFF escape, with the backslashes before it: an even count means the "\u" is itself escaped text.
_SURROGATE_ESCAPE = re.compile(
    rb"(\\+)u([dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|[dD][c-fC-F][0-9a-fA-F]{2})"
)


def repair_surrogates(body: bytes) -> bytes:
    """``body`` with every unpaired surrogate escape replaced by ``\\ufffd``; paired ones are kept."""
    if b"\\u" not in body:
        return body

    def fix(match: re.Match[bytes]) -> bytes:
        slashes, code = match.group(1), match.group(2)
        if len(slashes) % 2 == 0 or len(code) == 10:  # escaped text, or a valid high+low pair
            return match.group(0)
        return slashes + b"ufffd"

    return _SURROGATE_ESCAPE.sub(fix, body)


def _reply(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


class BodyGuard:
    """Read the whole body under a byte limit and a time limit, then hand a repaired copy to the app.

    413 when the body (declared or chunked) is over ``max_bytes``; 408 when it does not arrive within
    ``timeout_s``. Plain ASGI, so no per-request task is made.
    """

    def __init__(self, app: Any, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send, f"{int(declared)} bytes")
            return
        try:
            body = await asyncio.wait_for(self._read(receive), self.timeout_s)
        except TimeoutError:
            await _reply(408, f"the request body did not arrive within {self.timeout_s:g} s")(scope, receive, send)
            return
        except _TooLarge:
            await self._too_large(scope, receive, send, "more bytes")
            return
        except _Disconnected:
            return
        body = repair_surrogates(body)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only the disconnect message is left

        await self.app(scope, replay, send)

    async def _read(self, receive: Any) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: dict, receive: Any, send: Any, size: str) -> None:
        detail = f"request body of {size} exceeds the limit of {self.max_bytes} bytes"
        await _reply(413, detail)(scope, receive, send)


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


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
