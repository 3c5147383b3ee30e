"""The Grafana dashboard in docs/ asks only for metrics the hub exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cityhub.platform import metrics

DASHBOARD = Path(__file__).parent.parent / "docs" / "grafana-dashboard.json"
NAME = re.compile(r"\b((?:cityhub|process|python)_[a-z_]+)")


def test_every_metric_the_dashboard_plots_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in NAME.findall(target["expr"])
    }
    # A family's samples, whether or not one was recorded yet: counters end in _total,
    # histograms in _bucket, _count and _sum.
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    exported = {
        family.name + suffix
        for family in metrics.REGISTRY.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
    missing = asked - exported
    assert asked and not missing, f"not exported: {sorted(missing)}"
    assert {"cityhub_payments_total", "cityhub_jobs_total", "cityhub_bookings_total"} <= asked
