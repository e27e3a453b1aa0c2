"""Prometheus and Grafana in docker-compose.yml: Prometheus scrapes the API, Grafana gets the
data source and the kefu dashboard from files that exist, so both appear on first start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = data["services"]
    assert isinstance(services, dict)
    return services


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → file or directory on the host, for the bind mounts."""
    out = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            out[target] = ROOT / source
    return out


def test_prometheus_scrapes_the_api(services: dict[str, Any]) -> None:
    prom = services["prometheus"]
    mounts = _mounts(prom)
    config = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "kefu"]
    assert job["metrics_path"] == "/metrics"
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    host, port = targets[0].split(":")
    assert host in services
    assert services[host]["command"][-1].split("--port ")[1].startswith(port)


def test_grafana_is_provisioned_with_the_data_source_and_dashboard(
    services: dict[str, Any],
) -> None:
    grafana = services["grafana"]
    mounts = _mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in services
    providers = yaml.safe_load((provisioning / "dashboards" / "kefu.yml").read_text())
    folder = providers["providers"][0]["options"]["path"]
    dashboards = {t: p for t, p in mounts.items() if t.startswith(folder + "/")}
    assert dashboards, "no dashboard mounted where the provider looks"
    for path in dashboards.values():
        dashboard = json.loads(path.read_text())
        uids = {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p}
        assert uids == {source["uid"]}
    # The admin password is a secret from the environment, never a default.
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${")
