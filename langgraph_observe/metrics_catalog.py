"""The metric catalog: every Prometheus metric the library exports, described once.

Plain data, no backend import: the Prometheus sink builds its metrics from
:data:`METRICS`, ``scripts/gen_metrics_doc.py`` renders ``docs/metrics.md`` from it and
``scripts/gen_dashboards.py`` builds the Grafana dashboards from it, so code, docs and
dashboards cannot drift apart.

Names follow Prometheus conventions: the prefix :data:`PREFIX`, base units (seconds, USD),
``_total`` on counters. Labels are low-cardinality by design: never a trace, span, user or
session id; tenants are capped (see :data:`OVERFLOW`); a value that is unknown is
:data:`UNKNOWN` (the empty string, which Prometheus treats like an absent label).

>>> from langgraph_observe.metrics_catalog import by_name
>>> by_name("langgraph_observe_tokens_total").labels
('workflow', 'persona', 'model', 'type')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "DROP_REASONS",
    "METRICS",
    "OVERFLOW",
    "PREFIX",
    "TOKEN_TYPES",
    "UNKNOWN",
    "MetricSpec",
    "by_name",
    "series_names",
]

PREFIX: Final = "langgraph_observe_"
UNKNOWN: Final = ""  #: the label value for "not known" (no persona, no model, no tenant, ...)
OVERFLOW: Final = "__overflow__"  #: the tenant label once the distinct-tenant cap is reached
DROP_REASONS: Final = (
    "queue_full",
    "sdk_queue_full",
    "export_error",
    "export_failed",
    "backend_down",
    "finish_error",
    "closed",
    "shutdown",
    "open_run_evicted",
)
"""Every ``reason`` of ``spans_dropped_total`` (``open_run_evicted``: the tracer, as sink
``tracer``, forgot an unfinished run to stay within its bound of open runs)."""
TOKEN_TYPES: Final = ("input", "output", "cached", "reasoning")

MetricType = Literal["counter", "gauge", "histogram"]

_FAST: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_LLM: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
_TTFT: Final = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_WORKFLOW: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_DOCUMENTS: Final = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0)


@dataclass(frozen=True)
class MetricSpec:
    """One metric: what it counts, its labels, and where its values come from."""

    name: str  #: full name, with :data:`PREFIX` and (counters) ``_total``
    type: MetricType
    help: str
    labels: tuple[str, ...]
    source: str  #: which records feed it
    unit: str = ""  #: base unit (``seconds``, ``usd``, ``tokens``, ...) or "" for a plain count
    buckets: tuple[float, ...] = ()  #: histogram upper bounds (``+Inf`` is implied)
    multiprocess_mode: str = ""  #: gauges only: how ``MultiProcessCollector`` merges processes

    def series(self) -> tuple[str, ...]:
        """The sample names Prometheus stores for this metric."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


METRICS: Final[tuple[MetricSpec, ...]] = (
    # --- workflows ------------------------------------------------------------------------
    MetricSpec(
        f"{PREFIX}workflow_runs_total",
        "counter",
        "Finished root workflow runs, by final status (ok, error, interrupted, cancelled).",
        ("workflow", "status"),
        "SpanRecord kind=workflow",
    ),
    MetricSpec(
        f"{PREFIX}workflow_duration_seconds",
        "histogram",
        "Wall-clock duration of root workflow runs.",
        ("workflow", "status"),
        "SpanRecord kind=workflow",
        "seconds",
        _WORKFLOW,
    ),
    MetricSpec(
        f"{PREFIX}workflows_in_progress",
        "gauge",
        "Root workflow runs started and not finished yet.",
        ("workflow",),
        "WorkflowStarted, then its SpanRecord kind=workflow",
        multiprocess_mode="livesum",
    ),
    # --- nodes ----------------------------------------------------------------------------
    MetricSpec(
        f"{PREFIX}node_duration_seconds",
        "histogram",
        "Duration of graph node executions.",
        ("workflow", "node", "persona"),
        "SpanRecord kind=node",
        "seconds",
        _FAST,
    ),
    MetricSpec(
        f"{PREFIX}node_runs_total",
        "counter",
        "Finished graph node executions, by status.",
        ("workflow", "node", "persona", "status"),
        "SpanRecord kind=node",
    ),
    MetricSpec(
        f"{PREFIX}node_errors_total",
        "counter",
        "Graph node executions that failed, by error class "
        "(transient, rate_limit, timeout, network, permanent, unknown).",
        ("workflow", "node", "persona", "error_class"),
        "SpanRecord kind=node status=error",
    ),
    MetricSpec(
        f"{PREFIX}node_retries_total",
        "counter",
        "Node executions that were a retry (attribute langgraph.attempt > 1).",
        ("workflow", "node"),
        "SpanRecord kind=node, langgraph.attempt > 1",
    ),
    # --- model calls ----------------------------------------------------------------------
    MetricSpec(
        f"{PREFIX}llm_calls_total",
        "counter",
        "Finished chat/completion model calls, by status.",
        ("workflow", "persona", "model", "status"),
        "SpanRecord kind=llm",
    ),
    MetricSpec(
        f"{PREFIX}llm_duration_seconds",
        "histogram",
        "Duration of chat/completion model calls.",
        ("persona", "model"),
        "SpanRecord kind=llm",
        "seconds",
        _LLM,
    ),
    MetricSpec(
        f"{PREFIX}llm_time_to_first_token_seconds",
        "histogram",
        "Seconds from a streamed model call's start to its first token.",
        ("persona", "model"),
        "SpanRecord kind=llm, langgraph.llm.time_to_first_token_s",
        "seconds",
        _TTFT,
    ),
    MetricSpec(
        f"{PREFIX}tokens_total",
        "counter",
        "Model tokens by type: input (cached ones included), output (reasoning ones included), "
        "cached (input read from the provider's cache), reasoning. Do not sum across types.",
        ("workflow", "persona", "model", "type"),
        "SpanRecord kind=llm|embedding usage",
        "tokens",
    ),
    MetricSpec(
        f"{PREFIX}cost_usd_total",
        "counter",
        "Model cost in US dollars, from the pricing table.",
        ("workflow", "persona", "model", "tenant"),
        "SpanRecord kind=llm|embedding cost_usd",
        "usd",
    ),
    # --- tools and retrievers -------------------------------------------------------------
    MetricSpec(
        f"{PREFIX}tool_calls_total",
        "counter",
        "Finished tool calls, by status.",
        ("workflow", "tool", "status"),
        "SpanRecord kind=tool",
    ),
    MetricSpec(
        f"{PREFIX}tool_duration_seconds",
        "histogram",
        "Duration of tool calls.",
        ("workflow", "tool"),
        "SpanRecord kind=tool",
        "seconds",
        _FAST,
    ),
    MetricSpec(
        f"{PREFIX}retriever_duration_seconds",
        "histogram",
        "Duration of retriever calls (a RAG search step, rag.search, counts as one too).",
        ("workflow", "retriever"),
        "SpanRecord kind=retriever",
        "seconds",
        _FAST,
    ),
    MetricSpec(
        f"{PREFIX}retriever_documents",
        "histogram",
        "Documents returned per retriever call.",
        ("workflow", "retriever"),
        "SpanRecord kind=retriever, langgraph.retriever.documents",
        "documents",
        _DOCUMENTS,
    ),
    # --- personas, budgets, gates ---------------------------------------------------------
    MetricSpec(
        f"{PREFIX}persona_switches_total",
        "counter",
        "Hand-overs from one persona to another inside a run.",
        ("workflow", "from_persona", "to_persona"),
        "PersonaSwitch",
    ),
    MetricSpec(
        f"{PREFIX}budget_remaining_tokens",
        "gauge",
        "Tokens left in a persona's budget window (negative once exceeded); workflow is set "
        "when budgets are per workflow.",
        ("persona", "window", "tenant", "workflow"),
        "BudgetUpdate with budget_tokens",
        "tokens",
        multiprocess_mode="mostrecent",
    ),
    MetricSpec(
        f"{PREFIX}budget_limit_tokens",
        "gauge",
        "Token budget of a persona's window.",
        ("persona", "window", "tenant", "workflow"),
        "BudgetUpdate with budget_tokens",
        "tokens",
        multiprocess_mode="mostrecent",
    ),
    MetricSpec(
        f"{PREFIX}budget_remaining_usd",
        "gauge",
        "US dollars left in a persona's budget window (negative once exceeded); workflow is "
        "set when budgets are per workflow.",
        ("persona", "window", "tenant", "workflow"),
        "BudgetUpdate with budget_usd",
        "usd",
        multiprocess_mode="mostrecent",
    ),
    MetricSpec(
        f"{PREFIX}budget_limit_usd",
        "gauge",
        "US dollar budget of a persona's window.",
        ("persona", "window", "tenant", "workflow"),
        "BudgetUpdate with budget_usd",
        "usd",
        multiprocess_mode="mostrecent",
    ),
    MetricSpec(
        f"{PREFIX}gate_results_total",
        "counter",
        "Quality gate verdicts (result pass or fail).",
        ("workflow", "gate", "result"),
        "ScoreRecord source=gate",
    ),
    # --- the library's own health ---------------------------------------------------------
    MetricSpec(
        f"{PREFIX}spans_dropped_total",
        "counter",
        f"Records a sink lost, by reason ({', '.join(DROP_REASONS)}); sink tracer counts "
        "unfinished runs it forgot (open_run_evicted).",
        ("sink", "reason"),
        "dispatch.Health, read at scrape time",
    ),
    MetricSpec(
        f"{PREFIX}sink_export_errors_total",
        "counter",
        "Failed export or flush calls of a sink.",
        ("sink",),
        "dispatch.Health, read at scrape time",
    ),
    MetricSpec(
        f"{PREFIX}sink_queue_depth",
        "gauge",
        "Records waiting in a sink's queue.",
        ("sink",),
        "dispatch.Health, read at scrape time",
        multiprocess_mode="livesum",
    ),
)
"""Every metric, in documentation order."""

_BY_NAME: Final = {m.name: m for m in METRICS}


def by_name(name: str) -> MetricSpec:
    """The spec of ``name`` (full name, with the prefix). Raises ``KeyError`` if unknown."""
    return _BY_NAME[name]


def series_names() -> frozenset[str]:
    """Every sample name the catalog's metrics produce (``_bucket``/``_sum``/``_count`` too)."""
    return frozenset(s for m in METRICS for s in m.series())
