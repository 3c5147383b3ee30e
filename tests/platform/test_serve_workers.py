"""`cityhub serve --workers 2`: two server processes share the port, and `/metrics` adds up
the requests both of them answered (Prometheus multiprocess mode)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from cityhub.platform.db import Database
from tests.outbox_helpers import Hub
from tests.platform.deadline import bounded


def healthz_counts(folder: Path) -> dict[str, float]:
    """The /healthz answers each server process has counted, by the process's id."""
    counts: dict[str, float] = {}
    for path in folder.glob("counter_*.db"):
        pid = path.stem.removeprefix("counter_")
        for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):
            _family, sample, labels, _help = json.loads(key)
            if sample == "cityhub_http_requests_total" and labels.get("route") == "/healthz":
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def answered_healthz(metrics_text: str) -> float:
    """The /healthz answers `/metrics` reports."""
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "cityhub_http_requests":
            return sum(
                s.value
                for s in family.samples
                if s.name == "cityhub_http_requests_total" and s.labels["route"] == "/healthz"
            )
    return 0.0


def test_two_workers_answer_and_metrics_add_up(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    hub = Hub(
        db.url,
        tmp_path,
        CITYHUB_EMBEDDED_WORKER="false",
        PROMETHEUS_MULTIPROC_DIR=str(folder),
    )
    # Each call on a connection of its own, so that either process may take it.
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{hub.port}",
        timeout=5,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    hub.start("serve", "--workers", "2")
    try:
        with bounded(120, "two server processes getting ready"):
            while True:
                try:
                    if client.get("/readyz").is_success:
                        break
                except httpx.TransportError:
                    assert hub.process is not None and hub.process.poll() is None, hub.output()
        sent = 0
        with bounded(60, "both server processes answering"):
            while len([n for n in healthz_counts(folder).values() if n > 0]) < 2:
                assert client.get("/healthz").is_success
                sent += 1
            # A request is counted just after its answer is sent: wait for the last one's.
            while sum(healthz_counts(folder).values()) < sent:
                pass
        assert sum(healthz_counts(folder).values()) == sent
        metrics = client.get("/metrics")
        assert metrics.is_success, metrics.text
        assert answered_healthz(metrics.text) == sent
    finally:
        client.close()
        assert hub.stop() is not None, hub.output()
