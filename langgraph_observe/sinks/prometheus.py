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
from ..metrics_catalog import OVERFLOW, PREFIX, UNKNOWN
from ._prometheus_metrics import metrics_for
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


def _label(value: Any) -> str:
    if value is None:
        return UNKNOWN
    text = str(value)
    return text if len(text) <= _MAX_LABEL_CHARS else text[:_MAX_LABEL_CHARS]


class PrometheusSink(BaseSink):
    """Turns records into the metrics of :data:`~langgraph_observe.metrics_catalog.METRICS`.

    Args:
        registry: where the metrics live (default: prometheus_client's ``REGISTRY``). Sinks
            on one registry share its metric objects.
        max_tenants: distinct tenant label values kept; later tenants count as
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
        self._tenants: set[str] = set()
        self._open: dict[str, str] = {}  #: span id of a started workflow -> its label

    def bind(self, health: Health) -> None:
        super().bind(health)
        self._m.watch(health)

    # --- labels -------------------------------------------------------------------------
    def _tenant(self, tenant: str | None) -> str:
        if tenant is None or tenant == "":
            return UNKNOWN
        tenant = _label(tenant)
        if tenant in self._tenants:
            return tenant
        if len(self._tenants) < self.max_tenants:
            self._tenants.add(tenant)
            return tenant
        return OVERFLOW

    # --- export -------------------------------------------------------------------------
    def export(self, records: Sequence[Record]) -> None:
        for r in records:
            if isinstance(r, SpanRecord):
                self._span(r)
            elif isinstance(r, WorkflowStarted):
                self._started(r)
            elif isinstance(r, ScoreRecord):
                self._score(r)
            elif isinstance(r, PersonaSwitch):
                self._switch(r)
            elif isinstance(r, BudgetUpdate):
                self._budget(r)
        self._sync_health()

    def flush(self, timeout: float) -> None:
        self._sync_health()

    def shutdown(self, timeout: float) -> None:
        self._sync_health()

    def _sync_health(self) -> None:
        if self.health is not None:
            self._m.sync_health(self.health)

    def _started(self, r: WorkflowStarted) -> None:
        workflow = _label(r.trace.workflow)
        if r.span_id in self._open:
            return
        self._m[f"{PREFIX}workflows_in_progress"].labels(workflow).inc()
        self._open[r.span_id] = workflow
        if len(self._open) > _MAX_OPEN_WORKFLOWS:  # lost ends: forget the oldest start
            lost = self._open.pop(next(iter(self._open)))
            self._m[f"{PREFIX}workflows_in_progress"].labels(lost).dec()

    def _span(self, s: SpanRecord) -> None:
        kind = s.kind
        if kind == SpanKind.WORKFLOW:
            self._workflow(s)
        elif kind == SpanKind.NODE:
            self._node(s)
        elif kind == SpanKind.LLM:
            self._llm(s)
            self._usage(s)
        elif kind == SpanKind.EMBEDDING:
            self._usage(s)
        elif kind == SpanKind.TOOL:
            self._tool(s)
        elif kind == SpanKind.RETRIEVER:
            self._retriever(s)

    def _workflow(self, s: SpanRecord) -> None:
        m = self._m
        workflow, status = _label(s.workflow), str(s.status)
        m[f"{PREFIX}workflow_runs_total"].labels(workflow, status).inc()
        m[f"{PREFIX}workflow_duration_seconds"].labels(workflow, status).observe(
            max(0.0, s.duration_s)
        )
        started = self._open.pop(s.span_id, None)
        if started is not None:
            m[f"{PREFIX}workflows_in_progress"].labels(started).dec()

    def _node(self, s: SpanRecord) -> None:
        m = self._m
        workflow, node, persona = _label(s.workflow), _label(s.node or s.name), _label(s.persona)
        m[f"{PREFIX}node_duration_seconds"].labels(workflow, node, persona).observe(
            max(0.0, s.duration_s)
        )
        m[f"{PREFIX}node_runs_total"].labels(workflow, node, persona, str(s.status)).inc()
        if s.status == SpanStatus.ERROR:
            error_class = (
                s.error.error_class
                if s.error is not None
                else (s.attributes.get(semconv.LG_ERROR_CLASS, "unknown"))
            )
            m[f"{PREFIX}node_errors_total"].labels(
                workflow, node, persona, _label(error_class)
            ).inc()
        attempt = s.attributes.get(semconv.LG_ATTEMPT)
        if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 1:
            m[f"{PREFIX}node_retries_total"].labels(workflow, node).inc()

    def _llm(self, s: SpanRecord) -> None:
        m = self._m
        persona, model = _label(s.persona), _label(s.model)
        m[f"{PREFIX}llm_calls_total"].labels(
            _label(s.workflow), persona, model, str(s.status)
        ).inc()
        m[f"{PREFIX}llm_duration_seconds"].labels(persona, model).observe(max(0.0, s.duration_s))
        ttft = s.attributes.get(semconv.LG_TIME_TO_FIRST_TOKEN)
        if isinstance(ttft, (int, float)) and not isinstance(ttft, bool) and ttft >= 0:
            m[f"{PREFIX}llm_time_to_first_token_seconds"].labels(persona, model).observe(ttft)

    def _usage(self, s: SpanRecord) -> None:
        m = self._m
        workflow, persona, model = _label(s.workflow), _label(s.persona), _label(s.model)
        u = s.usage
        if u is not None:
            tokens = m[f"{PREFIX}tokens_total"]
            for kind, n in (
                ("input", u.input_tokens),
                ("output", u.output_tokens),
                ("cached", u.cached_input_tokens),
                ("reasoning", u.reasoning_tokens),
            ):
                if n is not None and n > 0:
                    tokens.labels(workflow, persona, model, kind).inc(n)
        if s.cost_usd is not None and s.cost_usd > 0:
            m[f"{PREFIX}cost_usd_total"].labels(
                workflow, persona, model, self._tenant(s.trace.tenant)
            ).inc(s.cost_usd)

    def _tool(self, s: SpanRecord) -> None:
        m = self._m
        workflow = _label(s.workflow)
        tool = _label(s.attributes.get(semconv.GEN_AI_TOOL_NAME) or s.name)
        m[f"{PREFIX}tool_calls_total"].labels(workflow, tool, str(s.status)).inc()
        m[f"{PREFIX}tool_duration_seconds"].labels(workflow, tool).observe(max(0.0, s.duration_s))

    def _retriever(self, s: SpanRecord) -> None:
        m = self._m
        workflow, retriever = _label(s.workflow), _label(s.name)
        m[f"{PREFIX}retriever_duration_seconds"].labels(workflow, retriever).observe(
            max(0.0, s.duration_s)
        )
        docs = s.attributes.get(semconv.LG_RETRIEVER_DOCUMENTS)
        if isinstance(docs, int) and not isinstance(docs, bool) and docs >= 0:
            m[f"{PREFIX}retriever_documents"].labels(workflow, retriever).observe(docs)

    def _score(self, r: ScoreRecord) -> None:
        if r.source != "gate":
            return
        passed = (
            r.passed if r.passed is not None else (r.value if isinstance(r.value, bool) else None)
        )
        if passed is None:
            return
        self._m[f"{PREFIX}gate_results_total"].labels(
            _label(r.workflow), _label(r.name), "pass" if passed else "fail"
        ).inc()

    def _switch(self, r: PersonaSwitch) -> None:
        self._m[f"{PREFIX}persona_switches_total"].labels(
            _label(r.workflow), _label(r.from_persona), _label(r.to_persona)
        ).inc()

    def _budget(self, r: BudgetUpdate) -> None:
        m = self._m
        labels = (_label(r.persona), _label(r.window), self._tenant(r.tenant))
        if r.budget_tokens is not None:
            m[f"{PREFIX}budget_limit_tokens"].labels(*labels).set(r.budget_tokens)
            m[f"{PREFIX}budget_remaining_tokens"].labels(*labels).set(
                r.budget_tokens - r.used_tokens
            )
        if r.budget_usd is not None:
            m[f"{PREFIX}budget_limit_usd"].labels(*labels).set(r.budget_usd)
            m[f"{PREFIX}budget_remaining_usd"].labels(*labels).set(r.budget_usd - r.used_usd)


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
