"""API-key authentication: every route but ``/healthz`` needs a key when keys are configured.

A key is sent as ``Authorization: Bearer KEY`` (what OpenAI-style and most HTTP clients send) or as the password of
HTTP Basic auth (what ``requests`` and ``httpx`` send for a URL such as ``http://aha:KEY@host:8000/get_reward``,
the only way to give a key to clients that take just a URL, like OpenRLHF's remote reward and SandboxFusion's).
Only SHA-256 digests of the keys are held, and every presented key is compared with every digest in constant
time, so neither timing nor an error message tells a caller anything about the keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse

OPEN_PATHS = frozenset({"/healthz"})
_DIGEST_PREFIX = "sha256:"


class KeyFileError(ValueError):
    """The key file cannot be read or has a malformed line."""


def digest(key: str) -> bytes:
    """The SHA-256 digest a key is stored and compared as."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def read_key_file(path: str) -> list[bytes]:
    """Digests from a key file: one ``sha256:<64 hex>`` or plain key per line; blank lines and ``#`` comments."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise KeyFileError(f"cannot read the API key file {path}: {exc.strerror or exc}") from exc
    digests = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(_DIGEST_PREFIX):
            try:
                value = bytes.fromhex(line[len(_DIGEST_PREFIX) :])
            except ValueError:
                value = b""
            if len(value) != 32:
                raise KeyFileError(f"{path}:{number}: expected sha256: and 64 hex digits")
            digests.append(value)
        else:
            digests.append(digest(line))
    return digests


def key_digests(keys: Iterable[str], key_file: str | None) -> tuple[bytes, ...]:
    """Every accepted key as a digest: the plain keys and the key file's lines."""
    found = [digest(key) for key in keys]
    if key_file:
        found.extend(read_key_file(key_file))
    return tuple(found)


def presented_key(authorization: str) -> str | None:
    """The key in an ``Authorization`` header value (Bearer, or the password of Basic), else None."""
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def accepted(key: str | None, digests: tuple[bytes, ...]) -> bool:
    """Whether ``key`` is one of the keys; compares against every digest so the time says nothing."""
    if key is None:
        return False
    candidate = digest(key)
    match = False
    for known in digests:
        match |= hmac.compare_digest(candidate, known)
    return match


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ApiKeyAuth:
    """ASGI middleware that answers 401 to any request without an accepted key (``/healthz`` is open)."""

    def __init__(self, app: Any, digests: tuple[bytes, ...]) -> None:
        self.app = app
        self.digests = digests

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not accepted(presented_key(header.decode("latin-1")), self.digests):
                response = JSONResponse(
                    {"detail": "missing or invalid API key: send Authorization: Bearer <key>"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="aha"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
