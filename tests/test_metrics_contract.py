"""The dashboard and the alert rules ask only for metrics the services really export.

The exported names come from prometheus_client's registry once both services' apps are built
(every metric object is created at import or wiring), so a renamed metric breaks this test
instead of leaving an empty panel or an alert that can never fire. Expressions are also parsed
by `promtool` (Debian's `prometheus` package; CI installs it).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from prometheus_client import REGISTRY

REPO: Final = Path(__file__).resolve().parents[1]
DASHBOARD: Final = REPO / "infra" / "grafana" / "dashboards" / "orderflow.json"
ALERTS: Final = REPO / "infra" / "prometheus" / "alerts.yml"
PROMETHEUS_CONFIG: Final = REPO / "infra" / "prometheus" / "prometheus.yml"
LOCAL_PROMETHEUS_CONFIG: Final = REPO / "infra" / "prometheus" / "prometheus.local.yml"
DATASOURCES: Final = REPO / "infra" / "grafana" / "provisioning" / "datasources"

PROMETHEUS_OWN: Final = frozenset({"up"})
"""Series Prometheus itself makes for every target; no service exports them."""

# The series each metric type puts on /metrics, after its family name (created series are off).
_SUFFIXES: Final = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}

_KEYWORDS: Final = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
    | {"group_left", "group_right", "atan2"}
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels, keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    grouping = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
    text = re.sub(grouping, " ", text)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


@functools.cache
def exported() -> frozenset[str]:
    """Every series name the two services' /metrics can carry."""
    from order_service.main import create_app as order_app
    from order_service.settings import Settings as OrderSettings
    from payment_service.main import create_app as payment_app
    from payment_service.settings import Settings as PaymentSettings

    order_app(OrderSettings(_env_file=None))
    payment_app(PaymentSettings(_env_file=None))
    return frozenset(
        family.name + suffix for family in REGISTRY.collect() for suffix in _SUFFIXES[family.type]
    )


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row keeps its panels inside
    return found


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in panels() for t in p.get("targets", [])]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [str(rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


def test_the_name_extractor_keeps_metrics_and_drops_functions_labels_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, queue) (rate(a_seconds_bucket{queue=~"x|y", '
        'state="by"}[5m] offset 1h)))'
        " / on (queue) group_left (service) b_total > 1e3 and c or vector(0)"
        ' unless d{le="+Inf"}[$__rate_interval]'
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c", "d"}


def test_every_metric_the_dashboard_queries_is_one_the_services_export() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    used = {name for expr in exprs for name in metric_names(expr)}
    assert sorted(used - exported()) == []


def test_every_metric_the_alert_rules_use_is_one_the_services_export() -> None:
    used = {name for expr in alert_exprs() for name in metric_names(expr)}
    assert sorted(used - exported() - PROMETHEUS_OWN) == []


def test_every_orderflow_metric_is_on_the_dashboard() -> None:
    exported()  # builds both apps: every metric object exists from then on
    used = {name for expr in dashboard_exprs() for name in metric_names(expr)}
    families = {f.name for f in REGISTRY.collect() if f.name.startswith("orderflow_")}
    shown = {f for f in families if any(name.startswith(f) for name in used)}
    assert sorted(families - shown) == []


def test_panels_ask_the_provisioned_datasource_and_fit_the_grid() -> None:
    uids = {
        source["uid"]
        for path in DATASOURCES.glob("*.yml")
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    }
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    for panel in panels():
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] in uids, panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids, panel["title"]


@pytest.mark.parametrize("config_path", [PROMETHEUS_CONFIG, LOCAL_PROMETHEUS_CONFIG], ids=str)
def test_prometheus_loads_the_alert_rules_and_keeps_the_services_labels(config_path: Path) -> None:
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    assert [config_path.parent / f for f in config["rule_files"]] == [ALERTS]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for service in ("order-service", "payment-service"):
        # The series carry `service` themselves; without honor_labels Prometheus would rename
        # theirs to exported_service.
        assert jobs[service]["honor_labels"] is True


def test_the_local_prometheus_scrapes_the_services_make_run_starts() -> None:
    config = yaml.safe_load(LOCAL_PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    targets = {
        job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets == {
        "order-service": ["127.0.0.1:3001"],
        "payment-service": ["127.0.0.1:3002"],
    }


def test_the_compose_prometheus_has_the_alert_rules_beside_its_config() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./infra/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (CI installs Debian's prometheus package)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def test_every_dashboard_expression_parses_as_promql(tmp_path: Path) -> None:
    # Grafana's variables are not PromQL: give them the values Grafana would.
    rules = [
        {
            "record": f"orderflow:dashboard_panel_{i}",
            "expr": expr.replace("$__rate_interval", "1m").replace("$__range", "1h"),
        }
        for i, expr in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_fire_as_their_unit_tests_say() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"],
        cwd=ALERTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
