"""Prometheus metrics of the hub, on a registry of its own; added up across the server's
processes when `cityhub serve --workers N` runs several (Prometheus multiprocess mode)."""

from __future__ import annotations

import os

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Each metric below opens its file there as it is made.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

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
# Gauges say how several processes' values combine: the outbox figures are read from the
# database (the latest reading wins), the connectors' are each process's own.
OUTBOX_PENDING = Gauge(
    "cityhub_outbox_pending",
    "Outbox events waiting to be carried out",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
OUTBOX_DEAD = Gauge(
    "cityhub_outbox_dead",
    "Outbox events that failed every retry",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
OUTBOX_LAG = Gauge(
    "cityhub_outbox_lag_seconds",
    "How long the oldest due outbox event has waited",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
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
    multiprocess_mode="livemax",
)
CONNECTOR_IN_FLIGHT = Gauge(
    "cityhub_connector_in_flight",
    "Calls in flight per provider",
    ["provider"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
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


def is_multiprocess() -> bool:
    """Whether this process is one of several server processes sharing their figures."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def render() -> bytes:
    """The metrics in Prometheus text format: this process's, or the sum over every server
    process in multiprocess mode (where per-process `process_*` figures are not exported)."""
    if not is_multiprocess():
        return generate_latest(REGISTRY)
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    return generate_latest(combined)


def process_stopped() -> None:
    """Drop a stopping server process's live gauges from the shared figures."""
    if is_multiprocess():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
