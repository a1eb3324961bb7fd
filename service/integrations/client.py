"""HTTP client of ``POST /v1/score``, sync and async, retrying only what is worth retrying.

Retries happen on 429 (after the server's ``Retry-After``), on 5xx and on connection errors, with exponential
backoff and jitter. A 4xx other than 429 is the caller's bug and raises at once. The API key is the ``api_key``
argument, else ``AHA_API_KEY`` from the environment, sent as ``Authorization: Bearer KEY``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ScoreError(RuntimeError):
    """The service refused the request (a 4xx) or kept failing past the retries."""


class RewardSetupError(ValueError):
    """The reward function's configuration cannot produce rewards; the message says what to change."""


# Reasons of an invalid item that come from the caller's set-up (task name, options, where references are read),
# not from the item itself: the same for every item, so a trainer that went on would train on nothing.
SETUP_ERRORS = ("unknown task", "item options:", "needs a reference", "has no component that applies")


def raise_setup_errors(results: Sequence[Mapping[str, Any]]) -> None:
    """Raise ``RewardSetupError`` for the first result that is invalid because of the set-up."""
    for r in results:
        reason = r.get("reason") or ""
        if r.get("status") == "invalid_item" and any(marker in reason for marker in SETUP_ERRORS):
            raise RewardSetupError(f"Aha cannot score item {r.get('id')}: {reason}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry."""

    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if response is not None and response.status_code == 429:
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                return min(float(retry_after), self.max_delay_s) + random.uniform(0, 0.25)
        backoff = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        return backoff * random.uniform(0.5, 1.0)


def build_body(
    items: Sequence[Mapping[str, Any]],
    profile: str = "accuracy",
    weights: Mapping[str, float] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    advantage: str = "grpo",
    use_cache: bool = True,
) -> dict[str, Any]:
    """The JSON body of a score request."""
    body: dict[str, Any] = {"items": list(items), "profile": profile, "advantage": advantage, "use_cache": use_cache}
    if weights:
        body["weights"] = dict(weights)
    if options:
        body["options"] = {k: dict(v) for k, v in options.items()}
    return body


def auth_headers(api_key: str | None = None) -> dict[str, str]:
    """The ``Authorization`` header for ``api_key`` or ``AHA_API_KEY``; none when neither is set."""
    key = api_key if api_key is not None else os.environ.get("AHA_API_KEY", "")
    return {"Authorization": f"Bearer {key}"} if key else {}


def _outcome(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code == 200:
        return response.json()
    if response.status_code in RETRY_STATUSES:
        return None
    raise ScoreError(f"Aha answered {response.status_code}: {response.text[:500]}")


class AhaClient:
    """Synchronous client: ``AhaClient(url).score(items, profile="r1")`` returns the response JSON."""

    def __init__(
        self, url: str, timeout_s: float = 600.0, retry: RetryPolicy | None = None, api_key: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, headers=auth_headers(api_key))

    def score(self, items: Sequence[Mapping[str, Any]], **request: Any) -> dict[str, Any]:
        """Score items; keyword arguments are the request fields of ``build_body``."""
        body = build_body(items, **request)
        last: str = ""
        for attempt in range(1, self.retry.attempts + 1):
            response = None
            try:
                response = self._http.post("/v1/score", json=body)
                result = _outcome(response)
                if result is not None:
                    return result
                last = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.retry.attempts:
                time.sleep(self.retry.delay(attempt, response))
        raise ScoreError(f"Aha at {self.url} failed {self.retry.attempts} times; last: {last}")

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> AhaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncAhaClient:
    """Asynchronous client with the same behaviour as ``AhaClient``."""

    def __init__(
        self, url: str, timeout_s: float = 600.0, retry: RetryPolicy | None = None, api_key: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout_s, headers=auth_headers(api_key))

    async def score(self, items: Sequence[Mapping[str, Any]], **request: Any) -> dict[str, Any]:
        """Score items; keyword arguments are the request fields of ``build_body``."""
        body = build_body(items, **request)
        last: str = ""
        for attempt in range(1, self.retry.attempts + 1):
            response = None
            try:
                response = await self._http.post("/v1/score", json=body)
                result = _outcome(response)
                if result is not None:
                    return result
                last = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.retry.attempts:
                await asyncio.sleep(self.retry.delay(attempt, response))
        raise ScoreError(f"Aha at {self.url} failed {self.retry.attempts} times; last: {last}")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
