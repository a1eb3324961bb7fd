"""Result caches: Redis shared across replicas, or an in-process LRU.

Both store verdict dicts under the engine's content hash. A cache is an optimisation, never a dependency: when
Redis fails, the cache logs one warning, answers "miss" for ``redis_retry_s`` seconds without trying, then tries
again, so a Redis outage costs speed, never a batch.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import cachetools
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger("aha.cache")


class Cache(Protocol):
    """What the engine needs of a cache."""

    kind: str

    async def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The cached values of those keys that are present."""
        ...

    async def set_many(self, values: Mapping[str, dict[str, Any]]) -> None:
        """Store values; failures are swallowed."""
        ...

    async def status(self) -> dict[str, Any]:
        """A report for ``/readyz``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryCache:
    """A bounded LRU with TTL in this process (the embedded default)."""

    kind = "memory"

    def __init__(self, max_items: int, ttl_s: float) -> None:
        self._data: cachetools.TTLCache | None = (
            cachetools.TTLCache(maxsize=max_items, ttl=ttl_s) if max_items > 0 else None
        )

    async def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        if self._data is None:
            return {}
        return {k: self._data[k] for k in keys if k in self._data}

    async def set_many(self, values: Mapping[str, dict[str, Any]]) -> None:
        if self._data is not None:
            self._data.update(values)

    async def status(self) -> dict[str, Any]:
        size = 0 if self._data is None else len(self._data)
        return {"kind": self.kind, "usable": self._data is not None, "items": size}

    async def close(self) -> None:
        return None


class RedisCache:
    """Redis-backed cache that degrades to "always miss" while Redis is unreachable."""

    kind = "redis"
    prefix = "aha:v1:"

    def __init__(self, url: str, ttl_s: int, timeout_s: float, retry_s: float) -> None:
        # One immediate retry on a connection error, on a fresh connection: a pooled connection that went stale when
        # Redis restarted fails once, and without the retry each such connection would switch the cache off for
        # ``retry_s``. Timeouts are not retried, so a frozen Redis costs one ``timeout_s`` per call, not more.
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._ttl = ttl_s
        self._retry_s = retry_s
        self._down_until = 0.0
        self._last_error: str | None = None
        self.url = url

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    async def _failed(self, exc: Exception) -> None:
        if self._available():
            log.warning("Redis cache unavailable (%s); scoring continues without it for %.0f s", exc, self._retry_s)
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._down_until = time.monotonic() + self._retry_s
        # The idle pooled connections are likely as dead as the one that failed: drop them, so that the first try
        # after the window opens fresh connections instead of meeting the stale ones one by one.
        try:
            await self._client.connection_pool.disconnect(inuse_connections=False)
        except (RedisError, OSError) as close_exc:
            log.debug("dropping pooled Redis connections failed: %s", close_exc)

    async def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        if not keys or not self._available():
            return {}
        try:
            raw = await self._client.mget([self.prefix + k for k in keys])
        except (RedisError, OSError) as exc:
            await self._failed(exc)
            return {}
        found: dict[str, dict[str, Any]] = {}
        for key, value in zip(keys, raw, strict=True):
            if value is not None:
                try:
                    found[key] = json.loads(value)
                except ValueError:
                    continue
        return found

    async def set_many(self, values: Mapping[str, dict[str, Any]]) -> None:
        if not values or not self._available():
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, value in values.items():
                    pipe.set(self.prefix + key, json.dumps(value), ex=self._ttl)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            await self._failed(exc)

    async def status(self) -> dict[str, Any]:
        report: dict[str, Any] = {"kind": self.kind, "url": _redact(self.url)}
        try:
            await self._client.ping()
            report["usable"] = True
            self._down_until = 0.0
        except (RedisError, OSError) as exc:
            await self._failed(exc)
            report.update(usable=False, error=self._last_error)
        return report

    async def close(self) -> None:
        await self._client.aclose()


# Query parameters whose value may be a credential. redis-py passes unknown parameters to the connection as
# keyword arguments (``ssl_password``, ...), so any name that looks secret is hidden, not only these two.
_SECRET_PARAM_PARTS = ("pass", "user", "secret", "token", "auth", "key", "cred")


def _redact(url: str) -> str:
    """The URL without credentials, for ``/readyz``: no userinfo, secret-looking query values as ``***``."""
    scheme = url.partition("://")[0] if "://" in url else ""  # for the fallbacks, which may not trust urlsplit
    try:
        parts = urlsplit(url)  # the parser redis-py itself uses, so the host shown is the host it connects to
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return f"{scheme}://***"
    # An "@" after the authority means the split is ambiguous: a password with an unencoded "/", "?" or "#" puts
    # part of itself in the host, path or query. Show nothing then rather than risk a piece of the password.
    if "@" in parts.path + parts.query + parts.fragment:
        return f"{scheme}://***"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    if "@" in parts.netloc:
        netloc = f"***@{netloc}"
    pairs = [
        (name, "***" if any(part in name.lower() for part in _SECRET_PARAM_PARTS) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    query = urlencode(pairs, safe="*")
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def make_cache(redis_url: str | None, ttl_s: int, memory_items: int, timeout_s: float, retry_s: float) -> Cache:
    """Redis when a URL is given, else the in-process cache."""
    if redis_url:
        return RedisCache(redis_url, ttl_s, timeout_s, retry_s)
    return MemoryCache(memory_items, ttl_s)
