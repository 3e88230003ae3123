"""Prometheus sink: records in, the catalog's counters, gauges and histograms out.

>>> from prometheus_client import CollectorRegistry
>>> from langgraph_observe.sinks.prometheus import PrometheusSink
>>> sink = PrometheusSink(registry=CollectorRegistry())

Metrics go to prometheus_client's default ``REGISTRY`` unless a registry is passed; serve
them with :mod:`langgraph_observe.exposition`. Every metric is listed in
:mod:`langgraph_observe.metrics_catalog` (and ``docs/metrics.md``). Labels stay
low-cardinality: no ids, at most ``max_tenants`` distinct tenants (then ``__overflow__``),
``""`` for anything unknown.

Turned on by default by :func:`autoconfigure`; ``LANGGRAPH_OBSERVE_PROMETHEUS=0`` turns it
off, ``LANGGRAPH_OBSERVE_PROMETHEUS_MAX_TENANTS`` sets the tenant cap.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import semconv
from ..events import (
    BudgetUpdate,
    PersonaSwitch,
    Record,
    ScoreRecord,
    SpanKind,
    SpanRecord,
    SpanStatus,
    WorkflowStarted,
)
from ..metrics_catalog import PREFIX, UNKNOWN
from ._prometheus_metrics import MAX_TABLE, LabelTables, counter_inc, metrics_for
from .base import BaseSink

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ..config import Settings
    from ..dispatch import Health

__all__ = [
    "DEFAULT_MAX_TENANTS",
    "ENV_ENABLED",
    "ENV_MAX_TENANTS",
    "PrometheusSink",
    "autoconfigure",
]

ENV_ENABLED = "LANGGRAPH_OBSERVE_PROMETHEUS"
ENV_MAX_TENANTS = "LANGGRAPH_OBSERVE_PROMETHEUS_MAX_TENANTS"
DEFAULT_MAX_TENANTS = 50
_MAX_LABEL_CHARS = 128
_MAX_OPEN_WORKFLOWS = 10_000
_TOKEN_TYPES = ("input", "output", "cached", "reasoning")


def _label(value: Any) -> str:
    if value is None:
        return UNKNOWN
    text = str(value)
    return text if len(text) <= _MAX_LABEL_CHARS else text[:_MAX_LABEL_CHARS]


def _labels(*values: Any) -> tuple[str, ...]:
    return tuple(_label(v) for v in values)


class PrometheusSink(BaseSink):
    """Turns records into the metrics of :data:`~langgraph_observe.metrics_catalog.METRICS`.

    Label children are looked up once per combination of label inputs (not through
    ``labels()`` per record), counter increments and histogram bucket counts are added
    up over a batch and applied once at its end (integer amounts only, so the samples
    are those of counting one by one).

    Args:
        registry: where the metrics live (default: prometheus_client's ``REGISTRY``). Sinks
            on one registry share its metric objects.
        max_tenants: distinct tenant label values kept per registry (shared by the sinks
            on it, so per process with the default registry); later tenants count as
            ``__overflow__``.
        name: the sink's name in the health metrics.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        max_tenants: int = DEFAULT_MAX_TENANTS,
        name: str = "prometheus",
    ) -> None:
        self.name = name
        self.max_tenants = max_tenants
        self._m = metrics_for(registry)
        self._tenant_of: dict[str | None, str] = {}
        self._open: dict[str, str] = {}  #: span id of a started workflow -> its label
        self._t = LabelTables(self._m)
        self._child, self._plan, self._histogram = self._t.child, self._t.plan, self._t.histogram
        self._count, self._observe = self._t.count, self._t.observe
        self._by_kind: dict[Any, Any] = {
            SpanKind.WORKFLOW: self._workflow,
            SpanKind.NODE: self._node,
            SpanKind.LLM: self._llm,
            SpanKind.EMBEDDING: self._embedding,
            SpanKind.TOOL: self._tool,
            SpanKind.RETRIEVER: self._retriever,
        }

    def bind(self, health: Health) -> None:
        super().bind(health)
        self._m.watch(health)

    # --- labels -------------------------------------------------------------------------
    def _tenant(self, tenant: str | None) -> str:
        plain = tenant is None or type(tenant) is str  # a subclass may label differently
        found = self._tenant_of.get(tenant) if plain else None
        if found is not None:
            return found
        if tenant is None or tenant == "":
            label = UNKNOWN
        else:
            label = self._m.tenant(_label(tenant), self.max_tenants)
        if plain and len(self._tenant_of) < MAX_TABLE:
            self._tenant_of[tenant] = label  # a tenant's label never changes once given
        return label

    # --- export -------------------------------------------------------------------------
    def export(self, records: Sequence[Record]) -> None:
        try:
            for r in records:
                if type(r) is SpanRecord or isinstance(r, SpanRecord):
                    self._span(r)
                elif isinstance(r, WorkflowStarted):
                    self._started(r)
                elif isinstance(r, ScoreRecord):
                    self._score(r)
                elif isinstance(r, PersonaSwitch):
                    self._switch(r)
                elif isinstance(r, BudgetUpdate):
                    self._budget(r)
        finally:
            self._t.apply()
            self._m.budgets.expire()  # budget series whose day or month is over

    def flush(self, timeout: float) -> None:
        self._m.budgets.expire()
        self._sync_health()

    def shutdown(self, timeout: float) -> None:
        self._sync_health()

    def health_changed(self) -> None:
        """Called by the dispatcher (from any sink's worker, or a flushing thread) when the
        health counters may have changed: multiprocess mode writes them to the metric
        files."""
        self._sync_health()

    def after_fork(self) -> None:
        """The registry's locks are new in the child (a parent's thread may have held
        one at the fork)."""
        self._m.after_fork()

    def _sync_health(self) -> None:
        if self.health is not None:
            self._m.sync_health(self.health)

    def _started(self, r: WorkflowStarted) -> None:
        workflow = _label(r.trace.workflow)
        if r.span_id in self._open:
            return
        self._child(f"{PREFIX}workflows_in_progress", workflow).inc()
        self._open[r.span_id] = workflow
        if len(self._open) > _MAX_OPEN_WORKFLOWS:  # lost ends: forget the oldest start
            lost = self._open.pop(next(iter(self._open)))
            self._child(f"{PREFIX}workflows_in_progress", lost).dec()

    def _span(self, s: SpanRecord) -> None:
        handler = self._by_kind.get(s.kind)
        if handler is not None:
            handler(s)

    def _workflow(self, s: SpanRecord) -> None:
        workflow, status = s.trace.workflow, s.status
        key = (0, workflow, type(workflow), status)
        runs, duration = self._plan(key, self._workflow_plan, workflow, status)
        self._count(runs)
        d = (s.end_ns - s.start_ns) / 1e9
        self._observe(duration, d if d > 0.0 else 0.0)  # max(0.0, d)
        started = self._open.pop(s.span_id, None)
        if started is not None:
            self._child(f"{PREFIX}workflows_in_progress", started).dec()

    def _workflow_plan(self, workflow: str, status: SpanStatus) -> tuple[Any, ...]:
        labels = (_label(workflow), str(status))
        return (
            self._child(f"{PREFIX}workflow_runs_total", *labels),
            self._histogram(f"{PREFIX}workflow_duration_seconds", *labels),
        )

    def _node(self, s: SpanRecord) -> None:
        workflow, node, persona, status = s.trace.workflow, s.node or s.name, s.persona, s.status
        key = (1, workflow, type(workflow), node, type(node), persona, type(persona), status)
        duration, runs, labels = self._plan(key, self._node_plan, workflow, node, persona, status)
        d = (s.end_ns - s.start_ns) / 1e9
        self._observe(duration, d if d > 0.0 else 0.0)  # max(0.0, d)
        self._count(runs)
        if status == SpanStatus.ERROR:
            error_class = (
                s.error.error_class
                if s.error is not None
                else (s.attributes.get(semconv.LG_ERROR_CLASS, "unknown"))
            )
            self._count(self._child(f"{PREFIX}node_errors_total", *labels, _label(error_class)))
        attempt = s.attributes.get(semconv.LG_ATTEMPT)
        if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 1:
            self._count(self._child(f"{PREFIX}node_retries_total", *labels[:2]))

    def _node_plan(
        self, workflow: str, node: str, persona: str | None, status: SpanStatus
    ) -> tuple[Any, ...]:
        labels = (_label(workflow), _label(node), _label(persona))
        return (
            self._histogram(f"{PREFIX}node_duration_seconds", *labels),
            self._child(f"{PREFIX}node_runs_total", *labels, str(status)),
            labels,
        )

    def _llm(self, s: SpanRecord) -> None:
        workflow, persona, model, status = s.trace.workflow, s.persona, s.model, s.status
        key = (2, workflow, type(workflow), persona, type(persona), model, type(model), status)
        calls, duration, labels, tokens = self._plan(
            key, self._llm_plan, workflow, persona, model, status
        )
        self._count(calls)
        d = (s.end_ns - s.start_ns) / 1e9
        self._observe(duration, d if d > 0.0 else 0.0)
        ttft = s.attributes.get(semconv.LG_TIME_TO_FIRST_TOKEN)
        if isinstance(ttft, (int, float)) and not isinstance(ttft, bool) and ttft >= 0:
            self._observe(
                self._histogram(f"{PREFIX}llm_time_to_first_token_seconds", *labels), ttft
            )
        self._usage(s, tokens)

    def _llm_plan(
        self, workflow: str, persona: str | None, model: str | None, status: SpanStatus
    ) -> tuple[Any, ...]:
        persona_label, model_label = _label(persona), _label(model)
        return (
            self._child(
                f"{PREFIX}llm_calls_total",
                _label(workflow),
                persona_label,
                model_label,
                str(status),
            ),
            self._histogram(f"{PREFIX}llm_duration_seconds", persona_label, model_label),
            (persona_label, model_label),
            self._tokens_plan(workflow, persona, model),
        )

    def _embedding(self, s: SpanRecord) -> None:
        workflow, persona, model = s.trace.workflow, s.persona, s.model
        key = (3, workflow, type(workflow), persona, type(persona), model, type(model))
        self._usage(s, self._plan(key, self._tokens_plan, workflow, persona, model))

    def _tokens_plan(self, workflow: str, persona: str | None, model: str | None) -> Any:
        """The token counters' labels, and their children as they are first used."""
        return (_labels(workflow, persona, model), [None] * len(_TOKEN_TYPES))

    def _usage(self, s: SpanRecord, tokens: Any) -> None:
        u = s.usage
        if u is not None:
            labels, children = tokens
            counts = u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens
            for i, n in enumerate(counts):
                if n is not None and n > 0:
                    counter = children[i]
                    if counter is None:
                        name = f"{PREFIX}tokens_total"
                        counter = children[i] = self._child(name, *labels, _TOKEN_TYPES[i])
                    self._count(counter, n)
        cost = s.cost_usd
        if cost is not None and cost > 0:
            workflow, persona, model, tenant = s.trace.workflow, s.persona, s.model, s.trace.tenant
            key = (6, workflow, type(workflow), persona, type(persona), model, type(model),
                   tenant, type(tenant))  # fmt: skip
            self._plan(key, self._cost_plan, workflow, persona, model, tenant)[0](cost)

    def _cost_plan(
        self, workflow: str, persona: str | None, model: str | None, tenant: str | None
    ) -> tuple[Any, ...]:
        labels = _labels(workflow, persona, model)
        return (counter_inc(self._child(f"{PREFIX}cost_usd_total", *labels, self._tenant(tenant))),)

    def _tool(self, s: SpanRecord) -> None:
        workflow, status = s.trace.workflow, s.status
        tool = s.attributes.get(semconv.GEN_AI_TOOL_NAME) or s.name
        key = (4, workflow, type(workflow), tool, type(tool), status)
        calls, duration = self._plan(key, self._tool_plan, workflow, tool, status)
        self._count(calls)
        d = (s.end_ns - s.start_ns) / 1e9
        self._observe(duration, d if d > 0.0 else 0.0)  # max(0.0, d)

    def _tool_plan(self, workflow: str, tool: Any, status: SpanStatus) -> tuple[Any, ...]:
        labels = (_label(workflow), _label(tool))
        return (
            self._child(f"{PREFIX}tool_calls_total", *labels, str(status)),
            self._histogram(f"{PREFIX}tool_duration_seconds", *labels),
        )

    def _retriever(self, s: SpanRecord) -> None:
        workflow, name = s.trace.workflow, s.name
        key = (5, workflow, type(workflow), name, type(name))
        labels = self._plan(key, _labels, workflow, name)
        d = (s.end_ns - s.start_ns) / 1e9
        duration = self._histogram(f"{PREFIX}retriever_duration_seconds", *labels)
        self._observe(duration, d if d > 0.0 else 0.0)
        docs = s.attributes.get(semconv.LG_RETRIEVER_DOCUMENTS)
        if docs is None:  # a RAG search step (rag.search) says how many it returned
            docs = s.attributes.get(semconv.LG_RAG_DOCUMENTS_OUT)
        if isinstance(docs, int) and not isinstance(docs, bool) and docs >= 0:
            self._observe(self._histogram(f"{PREFIX}retriever_documents", *labels), docs)

    def _score(self, r: ScoreRecord) -> None:
        if r.source != "gate":
            return
        passed = (
            r.passed if r.passed is not None else (r.value if isinstance(r.value, bool) else None)
        )
        if passed is None:
            return
        self._child(
            f"{PREFIX}gate_results_total",
            _label(r.workflow),
            _label(r.name),
            "pass" if passed else "fail",
        ).inc()

    def _switch(self, r: PersonaSwitch) -> None:
        self._child(
            f"{PREFIX}persona_switches_total",
            _label(r.workflow),
            _label(r.from_persona),
            _label(r.to_persona),
        ).inc()

    def _budget(self, r: BudgetUpdate) -> None:
        """The window's gauges, through :class:`BudgetGauges` (not kept children: a series
        is removed when its day or month is over, and set anew by the next window)."""
        values: dict[str, float] = {}
        if r.budget_tokens is not None:
            values[f"{PREFIX}budget_limit_tokens"] = r.budget_tokens
            values[f"{PREFIX}budget_remaining_tokens"] = r.budget_tokens - r.used_tokens
        if r.budget_usd is not None:
            values[f"{PREFIX}budget_limit_usd"] = r.budget_usd
            values[f"{PREFIX}budget_remaining_usd"] = r.budget_usd - r.used_usd
        labels = (
            _label(r.persona),
            _label(r.window),
            self._tenant(r.tenant),
            _label(_window_workflow(r)),
        )
        if values:
            self._m.budgets.set(labels, r.window, r.window_key, values)


def _window_workflow(r: BudgetUpdate) -> str | None:
    """The workflow of a budget window kept per workflow (its key is
    ``<workflow>/<period>``), else None: one window for every workflow."""
    if r.window != "run" and "/" in r.window_key:
        return r.window_key.rsplit("/", 1)[0]
    return None


def _max_tenants_from_env() -> int:
    raw = os.environ.get(ENV_MAX_TENANTS, "").strip()
    if not raw:
        return DEFAULT_MAX_TENANTS
    from ..config import ConfigError

    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"env {ENV_MAX_TENANTS}: expected a whole number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"env {ENV_MAX_TENANTS}: must not be negative, got {raw!r}")
    return value


def autoconfigure(
    settings: Settings, registry: CollectorRegistry | None = None, **kwargs: Any
) -> tuple[PrometheusSink | None, str]:
    """The default Prometheus sink: on unless ``LANGGRAPH_OBSERVE_PROMETHEUS`` is false."""
    flag = os.environ.get(ENV_ENABLED, "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return None, f"off: {ENV_ENABLED}={os.environ[ENV_ENABLED]}"
    where = "the registry passed in" if registry is not None else "prometheus_client's REGISTRY"
    sink = PrometheusSink(registry, max_tenants=_max_tenants_from_env())
    return sink, f"on: metrics in {where} (set {ENV_ENABLED}=0 to turn off)"
