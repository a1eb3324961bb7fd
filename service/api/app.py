"""The HTTP face: FastAPI app with /v1/score, health, readiness, metrics and the compatible endpoints."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

import sandboxes
from service.api import openrlhf, run_code
from service.api.auth import OPEN_PATHS, ApiKeyAuth, key_digests
from service.api.errors import install_error_handlers
from service.api.guard import BodyGuard
from service.engine import Engine, build_engine
from service.models import BUSY_RESPONSE, ERROR_RESPONSES, UNAUTHORIZED_RESPONSE, ErrorBody, ScoreRequest, ScoreResponse
from service.settings import Settings
from verifiers.verdict import CaseVerdict

log = logging.getLogger("aha.app")


# An absolute path of two or more components: the host's layout is none of a caller's business.
_HOST_PATH = re.compile(r"(?<![\w.~:/])/(?:[^\s/:,;()'\"]+/)+([^\s/:,;()'\"]+)")


def without_host_paths(value: Any) -> Any:
    """``value`` with every absolute host path cut to its last component (``/usr/bin/gcc-12`` → ``…/gcc-12``)."""
    if isinstance(value, str):
        return _HOST_PATH.sub(r"…/\1", value)
    if isinstance(value, dict):
        return {k: without_host_paths(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_host_paths(v) for v in value]
    return value


def _sandbox_report(report: Callable[..., dict[str, Any]], settings: Settings) -> dict[str, Any]:
    # The sandbox's reports probe the host (toolchains, cgroups, the docker engine): a failure is reported, not raised.
    try:
        return report(settings=settings.sandbox)
    except Exception as exc:  # noqa: BLE001
        return {"usable": False, "reason": f"{report.__name__}: {type(exc).__name__}: {exc}"}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app; one engine (worker pool, cache, metrics) per app."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = build_engine(settings)
        # Serve once the workers are up; /readyz stays red (503) if they never come.
        await asyncio.to_thread(app.state.engine.pool.wait_ready, 60)
        try:
            yield
        finally:
            await app.state.engine.close()

    digests = key_digests(settings.api_keys, settings.api_keys_file)
    app = FastAPI(
        title="Aha",
        version="0.1.0",
        description="Rule-based rewards and verification for RL on reasoning models.",
        lifespan=lifespan,
        docs_url=None,  # served below from the bundled Swagger UI: no CDN is reachable from where Aha runs
        redoc_url=None,
        responses={**ERROR_RESPONSES, **({401: UNAUTHORIZED_RESPONSE} if digests else {})},
    )
    app.state.settings = settings
    app.state.keyed = bool(digests)
    install_error_handlers(app)
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes, timeout_s=settings.request_read_timeout_s)
    if digests:
        app.add_middleware(ApiKeyAuth, digests=digests)
    app.include_router(openrlhf.router)
    if settings.run_code:
        app.include_router(run_code.router)
    _mount_docs(app)
    _truthful_schema(app, keyed=bool(digests))

    @app.post("/v1/score", response_model=ScoreResponse, responses=BUSY_RESPONSE)
    async def score(body: ScoreRequest, request: Request) -> Any:
        """Score a batch of completions: one result per item, in order.

        A bad item comes back with status `invalid_item` (the rest is scored). The request is a 422 when it is
        malformed, holds more items than the service takes, or when its `weights` leave the profile no component
        with a non-zero weight.
        """
        engine: Engine = request.app.state.engine
        started = time.perf_counter()
        response = await engine.score(body)
        engine.metrics.request_seconds.labels(endpoint="/v1/score").observe(time.perf_counter() - started)
        # Serialise once with pydantic-core; FastAPI's generic path would validate the response model again.
        return Response(response.model_dump_json(), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": ErrorBody, "description": "Not ready: the verifier pool is down"}})
    async def readyz(request: Request) -> Any:
        """Readiness: which tasks, components, languages and cache are usable."""
        engine: Engine = request.app.state.engine
        # The first call probes toolchain versions and model files: keep that off the event loop.
        report: dict[str, Any] = await asyncio.to_thread(engine.registry.report)
        report["cache"] = await engine.cache.status()
        report["workers"] = engine.pool.workers
        pool = engine.pool.health()
        report["pool"] = {key: pool[key] for key in ("healthy", "reason", "rebuilds", "generation")}
        report["queue"] = {"depth": engine.queue_depth, "max": settings.max_queue}
        report["sandbox"] = await asyncio.to_thread(_sandbox_report, sandboxes.isolation_report, settings)
        report["languages"] = {
            "usable": await asyncio.to_thread(_sandbox_report, sandboxes.available_languages, settings),
            "unavailable": await asyncio.to_thread(_sandbox_report, sandboxes.unavailable_languages, settings),
        }
        report = without_host_paths(report)
        if not pool["healthy"]:
            report["status"] = "not_ready"
            return JSONResponse({"detail": f"verifier pool is down: {pool['reason']}", **report}, status_code=503)
        report["status"] = "ready"
        return report

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        """Prometheus text format."""
        engine: Engine = request.app.state.engine
        return Response(engine.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


def _mount_docs(app: FastAPI) -> None:
    import swagger_ui_bundle

    app.mount("/docs-static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Aha — API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon-32x32.png",
        )


def _truthful_schema(app: FastAPI, keyed: bool) -> None:
    # Errors are JSON on every route (even /metrics, whose success is text), and keys are checked by middleware,
    # which FastAPI cannot see: both are written into the generated schema here.
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            # Per-test verdicts live in a code item's free-form details; the schema still names every one.
            schema.setdefault("components", {}).setdefault("schemas", {})["CaseVerdict"] = {
                "title": "CaseVerdict",
                "type": "string",
                "enum": [v.value for v in CaseVerdict],
                "description": "details.accuracy.tests[].verdict of a code item: what happened to one test",
            }
            error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            if keyed:
                bearer = {"type": "http", "scheme": "bearer"}
                schema.setdefault("components", {})["securitySchemes"] = {"bearer": bearer}
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    for code, response in responses.items():
                        if code[0] in "45":
                            response["content"] = error
                    if keyed:
                        operation["security"] = [] if path in OPEN_PATHS else [{"bearer": []}]
                    if path in OPEN_PATHS or not keyed:
                        responses.pop("401", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
