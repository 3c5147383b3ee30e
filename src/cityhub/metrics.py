"""Prometheus metrics of the hub, on a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "cityhub_http_requests_total",
    "HTTP requests by method, route and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "cityhub_http_request_seconds",
    "HTTP request latency by route",
    ["route"],
    registry=REGISTRY,
)
OUTBOX_PENDING = Gauge(
    "cityhub_outbox_pending", "Outbox events waiting to be carried out", registry=REGISTRY
)
OUTBOX_DEAD = Gauge(
    "cityhub_outbox_dead", "Outbox events that failed every retry", registry=REGISTRY
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def render() -> bytes:
    """The metrics in Prometheus text format."""
    return generate_latest(REGISTRY)
