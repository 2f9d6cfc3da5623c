"""The shipped alert rules and Grafana dashboard (deploy/): promtool accepts the rules and their
unit tests pass; the dashboard is valid JSON, and the rules and every query of the dashboard
name only metrics certadmin exports."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "certadmin.json"
METRIC_NAME = re.compile(r"\bcertadmin_[a-zA-Z0-9_:]*")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum")}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing on CI: install Debian's prometheus package")
        pytest.skip("promtool is missing (Debian's prometheus package; make system-deps)")
    return found


def test_promtool_accepts_the_alert_rules():
    result = subprocess.run(
        [_promtool(), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alert_rules_pass_their_unit_tests():
    result = subprocess.run(
        [_promtool(), "test", "rules", str(RULE_TESTS)],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def exported_metrics(db, settings) -> set[str]:
    """Every series name /metrics can show (per-device series switched on)."""
    settings.METRICS_PER_DEVICE = True
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
    return names


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    variables = dashboard["templating"]["list"]
    queries += [v["definition"] for v in variables if v["type"] == "query"]
    return queries


def test_the_dashboard_queries_only_metrics_certadmin_exports(exported_metrics):
    queries = _dashboard_queries()
    assert len(queries) >= 8
    for query in queries:
        used = set(METRIC_NAME.findall(query))
        assert used, f"no certadmin metric in {query!r}"
        assert used <= exported_metrics, f"{query!r} names {used - exported_metrics}"


def test_the_dashboard_shows_the_fleet_metrics(exported_metrics):
    used = {name for query in _dashboard_queries() for name in METRIC_NAME.findall(query)}
    assert {
        "certadmin_product_earliest_expiry_timestamp_seconds",
        "certadmin_product_last_sync_success_timestamp_seconds",
        "certadmin_records_stale",
        "certadmin_sync_errors_total",
        "certadmin_scheduler_last_heartbeat_timestamp_seconds",
        "certadmin_findings_open",
    } <= used


def test_the_alert_rules_use_only_metrics_certadmin_exports(exported_metrics):
    used = set(METRIC_NAME.findall(RULES.read_text(encoding="utf-8")))
    assert used <= exported_metrics, used - exported_metrics
    assert {
        "certadmin_scheduler_last_heartbeat_timestamp_seconds",
        "certadmin_findings_open",
    } <= used


def test_a_query_naming_an_unknown_metric_would_be_caught(exported_metrics):
    assert "certadmin_product_earliest_expiry_seconds" not in exported_metrics
    assert "certadmin_sync_errors" in exported_metrics
