"""Aha as a Ray Serve application: the HTTP app of ``aha serve`` on every replica, plus handle calls in the cluster.

Each replica builds ``create_app(settings)`` itself (``__serve_build_asgi_app__``: nothing of the app or engine is
pickled), so it owns one engine with its own verifier pool and sandbox, and serves the same routes with the same
contract behind Serve's HTTP proxy. Settings come from the replica's ``AHA_*`` environment, which travels with the
deployment (``ServeOptions.env``): ``AHA_REDIS_URL`` gives every replica the same Redis cache. Serve's health check
is the readiness of ``/readyz``: a replica whose verifier pool is down fails it, and Serve replaces a replica that
keeps failing (a pool that heals itself within a check or two is left alone).

A trainer in the same cluster calls ``AhaHandleClient(...).score(items, ...)``: the deployment's ``score`` method
through a Serve handle, the same JSON as ``POST /v1/score`` without HTTP. Handle calls carry no API key: whoever
can submit work to the cluster is already inside its trust boundary.

Start it with ``aha serve --ray [--ray-address ADDR]`` (``serve_forever``) or ``serve deploy deploy/ray-serve.yaml``
(``build_app``, a Serve application builder).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ray import serve
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from service.api.app import create_app
from service.api.errors import rejection
from service.engine import Engine, RequestRejected
from service.integrations.client import RetryPolicy, ScoreError, build_body
from service.models import ScoreRequest
from service.settings import Settings

log = logging.getLogger("aha.scale.serve")

APP_NAME = "aha"
DEPLOYMENT_NAME = "Aha"


class ServeOptions(BaseModel):
    """How the deployment is replicated and placed: the CLI's ``--ray-*`` flags and a Serve config's ``args``."""

    model_config = ConfigDict(extra="forbid")

    num_replicas: int | None = Field(
        None, ge=1, description="A fixed number of replicas; unset with min/max replicas = autoscaling"
    )
    min_replicas: int = Field(1, ge=0, description="Autoscaling floor (when num_replicas is unset)")
    max_replicas: int = Field(1, ge=1, description="Autoscaling ceiling (when num_replicas is unset)")
    target_ongoing_requests: float = Field(
        2.0, gt=0, description="Autoscaling target: requests in flight per replica (a request is a whole batch)"
    )
    max_ongoing_requests: int = Field(
        16, ge=1, description="Requests one replica takes at once; more wait in Serve's queue"
    )
    max_replicas_per_node: int | None = Field(
        1, ge=1, description="Replicas one node may hold (1 spreads them over the nodes); unset = no limit"
    )
    num_cpus: float = Field(
        1.0, gt=0, description="CPUs one replica reserves; its verifier pool gets that many workers"
    )
    resources: dict[str, float] = Field(default_factory=dict, description="Custom Ray resources one replica needs")
    env: dict[str, str] = Field(
        default_factory=dict, description="AHA_* settings of the replicas (AHA_REDIS_URL for the shared cache)"
    )
    health_check_period_s: float = Field(10.0, gt=0, description="How often Serve asks a replica whether it is ready")
    health_check_timeout_s: float = Field(30.0, gt=0, description="How long a readiness answer may take")
    graceful_shutdown_timeout_s: float = Field(30.0, ge=0, description="Time a stopping replica has to finish")
    access_log: bool = Field(False, description="Log every request in the replica (Serve's access log)")

    @model_validator(mode="after")
    def _bounds(self) -> ServeOptions:
        if self.num_replicas is None and self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} exceeds max_replicas {self.max_replicas}")
        return self

    def replica_env(self) -> dict[str, str]:
        """The replica's environment: ``env``, with a verifier pool as large as the replica's CPUs by default."""
        env = dict(self.env)
        env.setdefault("AHA_WORKERS", str(max(1, int(self.num_cpus))))
        return env

    def deployment_options(self) -> dict[str, Any]:
        """Keyword arguments of ``Deployment.options`` for these options."""
        scaling: dict[str, Any]
        if self.num_replicas is not None:
            scaling = {"num_replicas": self.num_replicas}
        else:
            scaling = {
                "autoscaling_config": {
                    "min_replicas": self.min_replicas,
                    "initial_replicas": max(self.min_replicas, 1),
                    "max_replicas": self.max_replicas,
                    "target_ongoing_requests": self.target_ongoing_requests,
                }
            }
        actor: dict[str, Any] = {"num_cpus": self.num_cpus, "runtime_env": {"env_vars": self.replica_env()}}
        if self.resources:
            actor["resources"] = dict(self.resources)
        return {
            **scaling,
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_replicas_per_node": self.max_replicas_per_node,
            "ray_actor_options": actor,
            "health_check_period_s": self.health_check_period_s,
            "health_check_timeout_s": self.health_check_timeout_s,
            "graceful_shutdown_timeout_s": self.graceful_shutdown_timeout_s,
            "logging_config": {"enable_access_log": self.access_log},
        }


class ScoreRejected(Exception):
    """A handle call the service refused as a whole: ``status`` is the HTTP status ``/v1/score`` would answer
    (422, or 429 with ``retry_after`` seconds), ``detail`` its ``detail``."""

    def __init__(self, status: int, detail: Any, retry_after: int | None = None) -> None:
        # Every field is in ``args`` too, so the exception pickles across Ray unchanged.
        super().__init__(status, detail, retry_after)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"Aha refused the request ({self.status}): {self.detail}"


def readiness_problem(engine: Engine | None) -> str | None:
    """Why a replica is not ready (``/readyz`` would answer 503), or None when it is."""
    if engine is None:
        return "the engine has not started"
    health = engine.pool.health()
    if not health["healthy"]:
        return f"verifier pool is down: {health['reason']}"
    return None


@serve.deployment(name=DEPLOYMENT_NAME)
@serve.ingress()
class AhaReplica:
    """One replica: the HTTP app (its own engine, pool and sandbox) plus the handle methods."""

    def __init__(self) -> None:
        # Read here, in the replica, from the environment the deployment carries: a bad setting fails the replica.
        self.settings = Settings()
        logging.basicConfig(level=self.settings.log_level.upper())

    def __serve_build_asgi_app__(self) -> Any:
        """The app Serve runs for this replica; its lifespan (run by Serve) starts and stops the engine."""
        return create_app(self.settings)

    def _engine(self) -> Engine | None:
        return getattr(self.app.state, "engine", None)

    async def check_health(self) -> None:
        """Serve's health check: raises while the replica is not ready (the verifier pool is down)."""
        problem = readiness_problem(self._engine())
        if problem is not None:
            raise RuntimeError(problem)

    async def score(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Score a ``POST /v1/score`` body given as a dict; returns its JSON answer as a dict.

        Raises ``ScoreRejected`` where the route answers a 422 or a 429."""
        engine = self._engine()
        if engine is None:
            raise ScoreRejected(503, "the engine has not started")
        try:
            body = ScoreRequest.model_validate(request)
        except ValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            raise ScoreRejected(422, errors) from None
        started = time.perf_counter()
        try:
            response = await engine.score(body)
        except RequestRejected as exc:
            status, retry_after = rejection(exc)
            raise ScoreRejected(status, str(exc), retry_after) from None
        engine.metrics.request_seconds.labels(endpoint="handle.score").observe(time.perf_counter() - started)
        return response.model_dump(mode="json")

    async def where(self) -> dict[str, Any]:
        """Which node, process and replica answer: for operators and for the tests of placement."""
        context = serve.get_replica_context()
        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "replica": context.replica_id.unique_id,
        }


def build_app(args: ServeOptions) -> serve.Application:
    """The Serve application for ``args`` (a Serve application builder: ``import_path:
    service.scale.serve:build_app`` with the options as ``args``)."""
    options = args if isinstance(args, ServeOptions) else ServeOptions.model_validate(args)
    return AhaReplica.options(**options.deployment_options()).bind()


def _connect(address: str | None) -> bool:
    """Join the cluster at ``address``, else start a local one on loopback; True when this process started it."""
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
        return False
    # One machine: nothing outside it needs to reach the Ray processes, so they listen on loopback only.
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", logging_level=logging.WARNING)
    return True


def serve_forever(options: ServeOptions, host: str, port: int, address: str | None = None) -> int:
    """``aha serve --ray``: deploy the app on the cluster at ``address`` (or a local one), serve HTTP on
    ``host:port`` until SIGINT or SIGTERM, then remove the app (and stop the cluster it started)."""
    started_cluster = _connect(address)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(build_app(options), name=APP_NAME, route_prefix="/", blocking=False)
        log.warning("Aha is serving on http://%s:%d through Ray Serve (application %r)", host, port, APP_NAME)
        stop.wait()
    finally:
        if started_cluster:
            serve.shutdown()
        else:
            serve.delete(APP_NAME)
        ray.shutdown()
    return 0


# A replica that died (its node went away, it was replaced) fails the calls in flight on it as a whole; Serve's
# queue being full or the application being (re)deployed are transient too. Each is worth another try.
RETRYABLE = (RayActorError, ActorDiedError, ActorUnavailableError, BackPressureError, DeploymentUnavailableError)


class AhaHandleClient:
    """Scores through the deployment handle, from a driver, task or actor of the same Ray cluster.

    ``score`` and ``ascore`` take what ``AhaClient.score`` takes and return the same JSON. A call that fails as a
    whole (the replica died, Serve is busy, a 429) is retried with backoff; a 422 raises ``ScoreRejected`` at once.
    The client pickles (the handle is looked up again where it lands), so a trainer can ship it to its workers.
    """

    def __init__(
        self,
        app_name: str = APP_NAME,
        deployment: str = DEPLOYMENT_NAME,
        timeout_s: float = 600.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.app_name = app_name
        self.deployment = deployment
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._handle: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handle": None}

    def handle(self) -> Any:
        """The deployment handle, looked up once per process."""
        if self._handle is None:
            self._handle = serve.get_deployment_handle(self.deployment, app_name=self.app_name)
        return self._handle

    def _delay(self, attempt: int, exc: BaseException) -> float:
        if isinstance(exc, ScoreRejected) and exc.retry_after is not None:
            return min(float(exc.retry_after), self.retry.max_delay_s) + random.uniform(0, 0.25)
        return min(self.retry.base_delay_s * 2 ** (attempt - 1), self.retry.max_delay_s) * random.uniform(0.5, 1.0)

    @staticmethod
    def _retryable(exc: BaseException) -> bool:
        if isinstance(exc, ScoreRejected):
            return exc.status in (429, 503)
        return isinstance(exc, RETRYABLE)

    def score(self, items: Sequence[Mapping[str, Any]], **request: Any) -> dict[str, Any]:
        """Score items; keyword arguments are the request fields of ``build_body``."""
        body = build_body(items, **request)
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return self.handle().score.remote(body).result(timeout_s=self.timeout_s)
            except Exception as exc:  # noqa: BLE001 - sorted into retryable or not just below
                if not self._retryable(exc):
                    raise
                last = f"{type(exc).__name__}: {exc}"
                if attempt < self.retry.attempts:
                    time.sleep(self._delay(attempt, exc))
        raise ScoreError(f"Aha deployment {self.app_name}/{self.deployment} failed {self.retry.attempts} times; {last}")

    async def ascore(self, items: Sequence[Mapping[str, Any]], **request: Any) -> dict[str, Any]:
        """Score items from async code (an actor's event loop); the same behaviour as ``score``."""
        body = build_body(items, **request)
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return await asyncio.wait_for(self.handle().score.remote(body), self.timeout_s)
            except Exception as exc:  # noqa: BLE001 - sorted into retryable or not just below
                if not self._retryable(exc):
                    raise
                last = f"{type(exc).__name__}: {exc}"
                if attempt < self.retry.attempts:
                    await asyncio.sleep(self._delay(attempt, exc))
        raise ScoreError(f"Aha deployment {self.app_name}/{self.deployment} failed {self.retry.attempts} times; {last}")
