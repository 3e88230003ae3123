"""Every PromQL expression the project ships: dashboard targets and alert rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"

#: Grafana's variables, replaced by values a plain Prometheus accepts
GRAFANA_VARS = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "1m", "$workflow": ".*"}


def dashboard_exprs() -> list[tuple[str, str]]:
    """``(where, expr)`` for every target of every dashboard panel."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", target["expr"]))
    return out


def alert_exprs() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [(f"alerts.yml: {r['alert']}", r["expr"]) for g in rules["groups"] for r in g["rules"]]


def for_prometheus(expr: str) -> str:
    """``expr`` with Grafana's variables filled in."""
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return expr


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\blanggraph_observe_[a-z0-9_]+", expr))
