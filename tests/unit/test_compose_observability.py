"""The observability profile's files: Prometheus finds every service and replica, Grafana
gets its datasource and the dashboard, and the dashboard asks for metrics that exist."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from enricher.metrics import EnricherMetrics
from ingest.metrics import SinkCollector
from ingest.sink import SinkStatus
from notifier.metrics import NotifierMetrics
from tests.unit.test_compose import ROOT, value_of

DASHBOARD = ROOT / "deploy/grafana/dashboards/pipeline.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _mounts(spec: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts."""
    mounts = {}
    for volume in spec.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def _yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_every_bind_mounted_file_exists(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        for target, source in _mounts(spec).items():
            assert source.exists(), f"{name} mounts {source} at {target}"


def test_prometheus_scrapes_every_service_on_the_port_it_serves(compose: dict[str, Any]) -> None:
    config = _yaml(_mounts(compose["services"]["prometheus"])["/etc/prometheus/prometheus.yml"])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = compose["services"]

    (target,) = jobs.pop("ingest")["static_configs"][0]["targets"]
    assert target == f"ingest:{value_of(services['ingest']['environment']['INGEST_PORT'])}"
    assert set(jobs) == {"enricher", "notifier"}
    for name, job in jobs.items():
        # An A lookup of the service name finds every replica, however many were scaled.
        (lookup,) = job["dns_sd_configs"]
        assert (lookup["names"], lookup["type"]) == ([name], "A")
        assert str(lookup["port"]) == value_of(services[name]["environment"]["METRICS_PORT"])


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = _mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    (datasource,) = _yaml(provisioning / "datasources/prometheus.yml")["datasources"]
    assert (datasource["type"], datasource["url"]) == ("prometheus", "http://prometheus:9090")
    (provider,) = _yaml(provisioning / "dashboards/pipeline.yml")["providers"]
    dashboards = provider["options"]["path"]
    assert mounts[dashboards] == DASHBOARD.parent
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards}/{DASHBOARD.name}"
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert panels
    for panel in panels:
        assert panel["datasource"]["uid"] == datasource["uid"]


def _ingest_metric_names() -> set[str]:
    class _Sink:
        def status(self) -> SinkStatus:
            return SinkStatus(broker_connected=True, spool_depth=0, oldest_spooled_age_s=None)

        def accept(self, records: Any) -> None:
            raise AssertionError("not used by the metrics")

    return {metric.name for metric in SinkCollector(_Sink()).collect()}


def test_the_dashboards_ingest_panels_ask_for_metrics_ingest_exports() -> None:
    expressions = [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]
    asked = {name for expr in expressions for name in re.findall(r"\bingest_\w+", expr)}
    assert asked
    assert asked <= _ingest_metric_names()


# Labels Prometheus adds to every series it scrapes, and the bucket label of histograms.
_SCRAPE_LABELS = {"job", "instance", "le"}
_EXPORTED_PREFIXES = r"\b(?:ingest|consumer|kladana|notifier)_\w+"


def _consumer_samples() -> dict[str, set[str]]:
    """Every sample name the consumers export (``_total``, ``_bucket``... included) and the
    labels of each."""
    registry = CollectorRegistry()
    enricher = EnricherMetrics.on(registry)
    metrics = [
        *vars(enricher.consumer).values(),
        *vars(enricher.kladana).values(),
        *vars(NotifierMetrics(registry)).values(),
    ]
    samples: dict[str, set[str]] = {}
    for metric in metrics:
        labels = set(getattr(metric, "_labelnames", ()))
        for family in metric.describe():
            for suffix in ("", "_total", "_bucket", "_count", "_sum", "_created"):
                samples[family.name + suffix] = labels
    return samples


def test_every_metric_the_dashboard_asks_for_is_exported_with_the_labels_it_groups_by() -> None:
    exported = {name: set() for name in _ingest_metric_names()} | _consumer_samples()
    expressions = [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]
    asked = set()
    for expr in expressions:
        names = set(re.findall(_EXPORTED_PREFIXES, expr))
        asked |= names
        assert names <= set(exported), expr
        known = _SCRAPE_LABELS.union(*(exported[name] for name in names))
        for grouping in re.findall(r"\bby \(([^)]*)\)", expr):
            assert {label.strip() for label in grouping.split(",")} <= known, expr
    # Every consumer metric has a panel.
    families = {name for name in _consumer_samples() if not name.endswith(("_created", "_sum"))}
    shown = {re.sub(r"_(total|bucket|count)$", "", name) for name in asked}
    assert {re.sub(r"_(total|bucket|count)$", "", name) for name in families} <= shown
