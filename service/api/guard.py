"""What every request goes through before a route sees it: a bounded, timed body.

The body is read here in full (FastAPI would read it in full anyway), so the byte limit holds for chunked bodies
as well as declared ones, a client that trickles its body is cut off, and the JSON text can be made safe before it
is parsed: JSON allows escapes of lone UTF-16 surrogates (``"\\ud800"``), which are no Unicode and would make every
echo of that string fail to encode; they are read as U+FFFD instead.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi.responses import JSONResponse

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
