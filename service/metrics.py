"""Prometheus metrics of one service instance (its own registry: no process-global collectors)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass
class Metrics:
    """Counters and histograms the engine and the HTTP layer update."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.items = Counter("aha_items_scored", "Items scored", ["task", "status"], registry=r)
        self.request_seconds = Histogram(
            "aha_request_seconds", "Time to score one request", ["endpoint"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.verify_seconds = Histogram(
            "aha_verify_seconds", "Time of one verifier call", ["verifier"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.cache_hits = Counter("aha_cache_hits", "Verdicts served from the cache", registry=r)
        self.cache_misses = Counter("aha_cache_misses", "Verdicts not found in the cache", registry=r)
        self.timeouts = Counter("aha_timeouts", "Verifier calls killed at their deadline", ["verifier"], registry=r)
        self.queue_depth = Gauge("aha_queue_depth", "Items accepted and not yet answered", registry=r)
        self.rejected = Counter("aha_rejected_requests", "Requests refused with 429", registry=r)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
