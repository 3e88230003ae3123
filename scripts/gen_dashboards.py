"""Generate the Grafana dashboards in deploy/grafana/ from the metric catalog.

    python scripts/gen_dashboards.py          # write deploy/grafana/*.json
    python scripts/gen_dashboards.py --check  # exit 1 if the committed files differ

Every query names its metrics through :func:`metric`, which looks them up in
``langgraph_observe.metrics_catalog``: a renamed metric breaks the script, not the dashboard.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from _generated import write_or_check

from langgraph_observe.metrics_catalog import PREFIX, by_name

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "deploy" / "grafana"
DS = {"type": "prometheus", "uid": "${datasource}"}
WF = 'workflow=~"$workflow"'
RATE = "$__rate_interval"


def metric(short: str, series: str = "") -> str:
    """The full name of catalog metric ``short`` (``series``: ``_bucket``, ``_sum``, ...)."""
    return by_name(PREFIX + short).name + series


def p95(short: str, by: str, selector: str = WF) -> str:
    matchers = f"{{{selector}}}" if selector else ""
    return (
        f"histogram_quantile(0.95, sum by ({by}, le) "
        f"(rate({metric(short, '_bucket')}{matchers}[{RATE}])))"
    )


def rate(short: str, by: str, matchers: str = "", *, series: str = "", wf: bool = True) -> str:
    """``sum by (by) (rate(metric{...}[$__rate_interval]))``, filtered by ``$workflow``."""
    selector = ",".join(m for m in (WF if wf else "", matchers) if m)
    braces = f"{{{selector}}}" if selector else ""
    return f"sum by ({by}) (rate({metric(short, series)}{braces}[{RATE}]))"


class _Layout:
    """Places panels on Grafana's 24-column grid, row by row."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.y = 0
        self.x = 0
        self.row_h = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "id": len(self.panels) + 1,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            }
        )
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(
        self,
        title: str,
        targets: list[tuple[str, str]],
        *,
        unit: str = "short",
        kind: str = "timeseries",
        w: int = 8,
        h: int = 8,
        description: str = "",
    ) -> None:
        if self.x + w > 24:
            self._newline()
        panel: dict[str, Any] = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
            "targets": [
                {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
                for i, (expr, legend) in enumerate(targets)
            ],
        }
        if kind == "timeseries":
            panel["options"] = {
                "legend": {"displayMode": "list", "placement": "bottom"},
                "tooltip": {"mode": "multi"},
            }
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def overview() -> dict[str, Any]:
    """The overview dashboard: runs, errors, latencies, tokens, cost, budgets, health."""
    g = _Layout()
    g.row("Workflows")
    runs = "workflow_runs_total"
    g.add(
        "Workflow runs / s",
        [(rate(runs, "workflow, status"), "{{workflow}} {{status}}")],
        unit="reqps",
    )
    errors = rate(runs, "workflow", 'status="error"')
    g.add(
        "Workflow error ratio",
        [(f"{errors} / {rate(runs, 'workflow')}", "{{workflow}}")],
        unit="percentunit",
    )
    g.add(
        "Workflows in progress",
        [(f"sum by (workflow) ({metric('workflows_in_progress')}{{{WF}}})", "{{workflow}}")],
    )
    g.add(
        "p95 workflow duration",
        [(p95("workflow_duration_seconds", "workflow"), "{{workflow}}")],
        unit="s",
        w=12,
    )
    g.add(
        "p95 node duration",
        [(p95("node_duration_seconds", "workflow, node"), "{{workflow}} / {{node}}")],
        unit="s",
        w=12,
    )
    g.add(
        "Node runs / s by status",
        [(rate("node_runs_total", "node, status"), "{{node}} {{status}}")],
        unit="reqps",
    )
    g.add(
        "Node errors / s by class",
        [(rate("node_errors_total", "node, error_class"), "{{node}} {{error_class}}")],
        unit="reqps",
    )
    g.add("Node retries / s", [(rate("node_retries_total", "node"), "{{node}}")], unit="reqps")

    g.row("Models")
    g.add(
        "Model calls / s",
        [(rate("llm_calls_total", "model, status"), "{{model}} {{status}}")],
        unit="reqps",
    )
    all_workflows = "All workflows: this metric is not labelled by workflow."
    g.add(
        "p95 model call duration",
        [(p95("llm_duration_seconds", "model", ""), "{{model}}")],
        unit="s",
        description=all_workflows,
    )
    g.add(
        "p95 time to first token",
        [(p95("llm_time_to_first_token_seconds", "model", ""), "{{model}}")],
        unit="s",
        description=all_workflows,
    )
    g.add(
        "Tokens / s by persona and model",
        [
            (
                rate("tokens_total", "persona, model, type", 'type=~"input|output"'),
                "{{persona}} {{model}} {{type}}",
            )
        ],
        w=12,
        description="Input and output tokens; cached and reasoning tokens are parts of these.",
    )
    g.add(
        "Cost (USD / hour) by persona and model",
        [(f"{rate('cost_usd_total', 'persona, model')} * 3600", "{{persona}} {{model}}")],
        unit="currencyUSD",
        w=12,
    )
    for by in ("tenant", "workflow"):
        g.add(
            f"Cost in range by {by}",
            [
                (
                    f"sum by ({by}) (increase({metric('cost_usd_total')}{{{WF}}}[$__range]))",
                    f"{{{{{by}}}}}",
                )
            ],
            unit="currencyUSD",
            kind="bargauge",
            w=12,
        )

    g.row("Tools and retrievers")
    g.add(
        "Tool calls / s",
        [(rate("tool_calls_total", "tool, status"), "{{tool}} {{status}}")],
        unit="reqps",
    )
    g.add("p95 tool duration", [(p95("tool_duration_seconds", "tool"), "{{tool}}")], unit="s")
    g.add(
        "p95 retriever duration",
        [(p95("retriever_duration_seconds", "retriever"), "{{retriever}}")],
        unit="s",
    )
    docs = "retriever_documents"
    g.add(
        "Mean documents per retrieval",
        [
            (
                f"{rate(docs, 'retriever', series='_sum')}"
                f" / {rate(docs, 'retriever', series='_count')}",
                "{{retriever}}",
            )
        ],
    )

    g.row("Personas, budgets and gates")
    g.add(
        "Persona switches / s",
        [
            (
                rate("persona_switches_total", "from_persona, to_persona"),
                "{{from_persona}} -> {{to_persona}}",
            )
        ],
        unit="reqps",
    )
    for unit in ("tokens", "usd"):
        # workflow is "" unless budgets are per workflow: "All" (.*) matches "" too
        g.add(
            f"{'Token' if unit == 'tokens' else 'USD'} budget left",
            [
                (
                    f"{metric('budget_remaining_' + unit)}{{{WF}}}"
                    f" / ({metric('budget_limit_' + unit)}{{{WF}}} > 0)",
                    "{{persona}} {{window}} {{tenant}} {{workflow}}",
                )
            ],
            unit="percentunit",
            kind="bargauge",
            description="Day and month windows leave when they end, run windows stay; "
            "workflow is set when budgets are per workflow (empty otherwise: shown under All).",
        )
    gates = "gate_results_total"
    passed = rate(gates, "gate", 'result="pass"')
    g.add(
        "Gate pass ratio",
        [(f"{passed} / {rate(gates, 'gate')}", "{{gate}}")],
        unit="percentunit",
        w=24,
    )

    g.row("langgraph-observe health")
    g.add(
        "Records dropped / s",
        [(rate("spans_dropped_total", "sink, reason", wf=False), "{{sink}} {{reason}}")],
        unit="reqps",
    )
    g.add(
        "Sink export errors / s",
        [(rate("sink_export_errors_total", "sink", wf=False), "{{sink}}")],
        unit="reqps",
    )
    g.add("Sink queue depth", [(f"sum by (sink) ({metric('sink_queue_depth')})", "{{sink}}")])

    return {
        "title": "LangGraph overview",
        "uid": "langgraph-observe-overview",
        "description": "Runs, errors, latencies, tokens, cost, budgets and the library's health "
        "(generated by scripts/gen_dashboards.py from the metric catalog).",
        "tags": ["langgraph", "langgraph-observe"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "graphTooltip": 1,
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                    "options": [],
                },
                {
                    "name": "workflow",
                    "label": "Workflow",
                    "type": "query",
                    "datasource": DS,
                    "query": {
                        "query": f"label_values({metric('workflow_runs_total')}, workflow)",
                        "refId": "workflow",
                    },
                    "definition": f"label_values({metric('workflow_runs_total')}, workflow)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {},
                    "hide": 0,
                    "refresh": 2,
                    "sort": 1,
                    "options": [],
                },
            ]
        },
        "panels": g.panels,
    }


DASHBOARDS = {"langgraph-observe-overview.json": overview}


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed."""
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed files differ")
    args = parser.parse_args(argv)
    files = {OUT_DIR / name: text for name, text in render().items()}
    return write_or_check(files, check=args.check, command="python scripts/gen_dashboards.py")


if __name__ == "__main__":
    sys.exit(main())
