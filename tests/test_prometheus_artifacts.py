"""The shipped Prometheus artifacts: alert rules (promtool), Grafana dashboards and the metric
reference are valid and generated from the one metric catalog."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from langgraph_observe.metrics_catalog import METRICS, series_names

from ._prometheus_exprs import ALERTS, DASHBOARDS, alert_exprs, dashboard_exprs, metric_names
from .conftest import require

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str) -> ModuleType:
    scripts = str(ROOT / "scripts")
    if scripts not in sys.path:  # the scripts import their shared helper as a sibling
        sys.path.insert(0, scripts)
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _promtool() -> str:
    path = shutil.which("promtool")
    require(path is not None, "promtool is not installed (run scripts/install-system-deps.sh)")
    assert path is not None
    return path


@pytest.mark.e2e
def test_promtool_checks_the_alert_rules():
    out = subprocess.run(
        [_promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@pytest.mark.e2e
def test_promtool_unit_tests_of_the_alert_rules_pass():
    out = subprocess.run(
        [_promtool(), "test", "rules", "alerts_test.yml"],
        cwd=ALERTS.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.unit
def test_every_alert_has_a_promtool_test():
    import yaml

    tests = yaml.safe_load((ALERTS.parent / "alerts_test.yml").read_text(encoding="utf-8"))
    tested = {
        t["alertname"]
        for case in tests["tests"]
        for t in case["alert_rule_test"]
        if t.get("exp_alerts")
    }
    assert tested == {where.split(": ", 1)[1] for where, _ in alert_exprs()}


@pytest.mark.unit
@pytest.mark.parametrize(("where", "expr"), dashboard_exprs() + alert_exprs())
def test_expressions_only_use_catalog_metrics(where: str, expr: str):
    names = metric_names(expr)
    assert names, f"{where}: no langgraph_observe metric in {expr!r}"
    assert names <= series_names(), f"{where}: unknown {sorted(names - series_names())}"


@pytest.mark.unit
def test_dashboards_cover_the_catalog():
    used = set().union(*(metric_names(e) for _, e in dashboard_exprs()))
    for spec in METRICS:
        assert used & set(spec.series()), f"no dashboard panel shows {spec.name}"


@pytest.mark.unit
def test_committed_dashboards_match_the_generator():
    rendered = _script("gen_dashboards").render()
    assert sorted(rendered) == sorted(p.name for p in DASHBOARDS)
    for name, text in rendered.items():
        committed = (ROOT / "deploy" / "grafana" / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run python scripts/gen_dashboards.py"


@pytest.mark.unit
def test_committed_metric_doc_matches_the_generator():
    committed = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert committed == _script("gen_metrics_doc").render(), (
        "docs/metrics.md is stale: run python scripts/gen_metrics_doc.py"
    )
    for spec in METRICS:
        assert f"`{spec.name}`" in committed


@pytest.mark.unit
@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_valid_grafana_json(path: Path):
    board = json.loads(path.read_text(encoding="utf-8"))
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
