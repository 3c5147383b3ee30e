"""Prometheus metrics of the hub, on a registry of its own."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)
# The process's own figures (memory, CPU, open files, garbage collection, Python version).
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

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
OUTBOX_LAG = Gauge(
    "cityhub_outbox_lag_seconds",
    "How long the oldest due outbox event has waited",
    registry=REGISTRY,
)
OUTBOX_EVENTS = Counter(
    "cityhub_outbox_events_total",
    "Outbox events this process carried out (done) or failed (retry, dead), by topic",
    ["topic", "result"],
    registry=REGISTRY,
)
OUTBOX_HANDLED = Counter(
    "cityhub_outbox_handled_total",
    "Outbox handler runs this process recorded as finished, by handler",
    ["handler"],
    registry=REGISTRY,
)
OUTBOX_ROUNDS_FAILED = Counter(
    "cityhub_outbox_rounds_failed_total",
    "Dispatcher rounds lost to a database error (the dispatcher carries on)",
    registry=REGISTRY,
)

CONNECTOR_BREAKER = Gauge(
    "cityhub_connector_breaker_state",
    "Circuit breaker per provider: 0 closed, 1 half-open, 2 open",
    ["provider"],
    registry=REGISTRY,
)
CONNECTOR_IN_FLIGHT = Gauge(
    "cityhub_connector_in_flight", "Calls in flight per provider", ["provider"], registry=REGISTRY
)
CONNECTOR_CALLS = Counter(
    "cityhub_connector_calls_total",
    "Connector calls by provider, operation and outcome",
    ["provider", "operation", "outcome"],
    registry=REGISTRY,
)
CONNECTOR_LATENCY = Histogram(
    "cityhub_connector_call_seconds",
    "Connector call latency by provider",
    ["provider"],
    registry=REGISTRY,
)

JOBS = Counter(
    "cityhub_jobs_total",
    "Recurring job runs this process finished, by job and outcome (done, failed)",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "cityhub_job_seconds",
    "How long recurring job runs took, by job",
    ["job"],
    buckets=(0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)

# Business figures (see docs/operations.md for what each counts and where).
PAYMENTS = Counter(
    "cityhub_payments_total",
    "Bill payments carried to an outcome (completed, failed, refunded), by city, channel, service",
    ["city", "channel", "service", "status"],
    registry=REGISTRY,
)
BOOKINGS = Counter(
    "cityhub_bookings_total",
    "Appointments booked, by city and whether the place is held for a fee or booked",
    ["city", "outcome"],
    registry=REGISTRY,
)
NOTICE_DELIVERIES = Counter(
    "cityhub_notice_deliveries_total",
    "Notice deliveries by route (channel, sms, email) and outcome (sent, retry, failed)",
    ["route", "outcome"],
    registry=REGISTRY,
)
QUERIES = Counter(
    "cityhub_queries_total",
    "Record and public-data queries by city, service and outcome (answered, cached, refused, "
    "failed)",
    ["city", "service", "outcome"],
    registry=REGISTRY,
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def render() -> bytes:
    """The metrics in Prometheus text format."""
    return generate_latest(REGISTRY)
