"""PrometheusSink's kept label children and batch-wise counts leave the registry exactly
as counting one record at a time through ``labels()`` does: a reference sink does just
that, and both expositions are compared line by line (creation times aside)."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from langgraph_observe import semconv
from langgraph_observe.events import (
    BudgetUpdate,
    ErrorClass,
    ErrorInfo,
    PersonaSwitch,
    Record,
    ScoreRecord,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
    TraceContext,
    WorkflowStarted,
)
from langgraph_observe.metrics_catalog import OVERFLOW, PREFIX, UNKNOWN
from langgraph_observe.sinks._prometheus_metrics import metrics_for
from langgraph_observe.sinks.prometheus import PrometheusSink

pytestmark = pytest.mark.unit
P = PREFIX


class ReferenceSink:
    """The sink as it counted before: ``labels()`` and ``inc()`` / ``observe()`` per record."""

    def __init__(self, registry: CollectorRegistry, max_tenants: int) -> None:
        self.m, self.max_tenants, self.tenants = metrics_for(registry), max_tenants, set[str]()
        self.open: dict[str, str] = {}

    @staticmethod
    def label(value: Any) -> str:
        return UNKNOWN if value is None else str(value)[:128]

    def tenant(self, tenant: str | None) -> str:
        if not tenant:
            return UNKNOWN
        tenant = self.label(tenant)
        if tenant in self.tenants or len(self.tenants) < self.max_tenants:
            self.tenants.add(tenant)
            return tenant
        return OVERFLOW

    def export(self, records: Sequence[Record]) -> None:
        for r in records:
            if isinstance(r, SpanRecord):
                self.span(r)
            elif isinstance(r, WorkflowStarted) and r.span_id not in self.open:
                self.open[r.span_id] = self.label(r.trace.workflow)
                self.m[P + "workflows_in_progress"].labels(self.open[r.span_id]).inc()
            elif isinstance(r, ScoreRecord) and r.source == "gate":
                passed = r.passed if r.passed is not None else r.value
                if isinstance(passed, bool):
                    labels = (
                        self.label(r.workflow),
                        self.label(r.name),
                        "pass" if passed else "fail",
                    )
                    self.m[P + "gate_results_total"].labels(*labels).inc()
            elif isinstance(r, PersonaSwitch):
                labels = (
                    self.label(r.workflow),
                    self.label(r.from_persona),
                    self.label(r.to_persona),
                )
                self.m[P + "persona_switches_total"].labels(*labels).inc()
            elif isinstance(r, BudgetUpdate):
                workflow = r.window_key.rsplit("/", 1)[0] if "/" in r.window_key else None
                labels = (
                    self.label(r.persona),
                    self.label(r.window),
                    self.tenant(r.tenant),
                    self.label(workflow if r.window != "run" else None),
                )
                if r.budget_tokens is not None:
                    self.m[P + "budget_limit_tokens"].labels(*labels).set(r.budget_tokens)
                    left = r.budget_tokens - r.used_tokens
                    self.m[P + "budget_remaining_tokens"].labels(*labels).set(left)

    def span(self, s: SpanRecord) -> None:
        m, lb, d = self.m, self.label, max(0.0, s.duration_s)
        w, st, a = lb(s.workflow), str(s.status), s.attributes
        if s.kind == SpanKind.WORKFLOW:
            m[P + "workflow_runs_total"].labels(w, st).inc()
            m[P + "workflow_duration_seconds"].labels(w, st).observe(d)
            if s.span_id in self.open:
                m[P + "workflows_in_progress"].labels(self.open.pop(s.span_id)).dec()
        elif s.kind == SpanKind.NODE:
            n, p = lb(s.node or s.name), lb(s.persona)
            m[P + "node_duration_seconds"].labels(w, n, p).observe(d)
            m[P + "node_runs_total"].labels(w, n, p, st).inc()
            if s.status == SpanStatus.ERROR:
                ec = s.error.error_class if s.error else a.get(semconv.LG_ERROR_CLASS, "unknown")
                m[P + "node_errors_total"].labels(w, n, p, lb(ec)).inc()
            at = a.get(semconv.LG_ATTEMPT)
            if isinstance(at, int) and not isinstance(at, bool) and at > 1:
                m[P + "node_retries_total"].labels(w, n).inc()
        elif s.kind == SpanKind.TOOL:
            t = lb(a.get(semconv.GEN_AI_TOOL_NAME) or s.name)
            m[P + "tool_calls_total"].labels(w, t, st).inc()
            m[P + "tool_duration_seconds"].labels(w, t).observe(d)
        elif s.kind == SpanKind.RETRIEVER:
            m[P + "retriever_duration_seconds"].labels(w, lb(s.name)).observe(d)
            docs = a.get(semconv.LG_RETRIEVER_DOCUMENTS)
            if isinstance(docs, int) and not isinstance(docs, bool) and docs >= 0:
                m[P + "retriever_documents"].labels(w, lb(s.name)).observe(docs)
        if s.kind == SpanKind.LLM:
            p, mo = lb(s.persona), lb(s.model)
            m[P + "llm_calls_total"].labels(w, p, mo, st).inc()
            m[P + "llm_duration_seconds"].labels(p, mo).observe(d)
            ttft = a.get(semconv.LG_TIME_TO_FIRST_TOKEN)
            if isinstance(ttft, (int, float)) and not isinstance(ttft, bool) and ttft >= 0:
                m[P + "llm_time_to_first_token_seconds"].labels(p, mo).observe(ttft)
        if s.kind in (SpanKind.LLM, SpanKind.EMBEDDING):
            p, mo, u = lb(s.persona), lb(s.model), s.usage
            for kind, n in zip(
                ("input", "output", "cached", "reasoning"),
                (u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens)
                if u
                else (None,) * 4,
                strict=True,
            ):
                if n is not None and n > 0:
                    m[P + "tokens_total"].labels(w, p, mo, kind).inc(n)
            if s.cost_usd is not None and s.cost_usd > 0:
                tenant = self.tenant(s.trace.tenant)
                m[P + "cost_usd_total"].labels(w, p, mo, tenant).inc(s.cost_usd)


class Persona(str, enum.Enum):
    """Equal to the plain string ``"writer"``, but labelled ``Persona.WRITER``."""

    WRITER = "writer"


class Broken(Mapping[str, Any]):
    """Attributes that fail when read: the batch stops there."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("unreadable")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def records() -> list[Record]:
    t = [TraceContext(f"{i:032x}", "support" if i % 2 else "x" * 200, tenant=f"t{i % 4}")
         for i in range(6)]  # fmt: skip
    llm = SpanRecord(t[0], "1" * 16, "2" * 16, "chat", SpanKind.LLM, 0, 2_000_000_000,
                     persona="writer", model="gpt", usage=TokenUsage(10, 5, None, 3, None, 0),
                     cost_usd=0.1, attributes={semconv.LG_TIME_TO_FIRST_TOKEN: 0.4})  # fmt: skip
    node = SpanRecord(t[1], "3" * 16, "4" * 16, "answer", SpanKind.NODE, 5, 3)
    out: list[Record] = [WorkflowStarted(t[0], "a" * 16, "support", 0)]
    for i in range(3):
        tr = t[i]
        out += [
            llm.__class__(**{**vars_of(llm), "trace": tr, "cost_usd": [0.1, 1e-17, 3.3][i]}),
            replace(llm, persona=Persona.WRITER, cost_usd=math.nan,
                    attributes={semconv.LG_TIME_TO_FIRST_TOKEN: [-1, 2, True][i]}),
            replace(llm, kind=SpanKind.EMBEDDING, usage=TokenUsage(7.5, 1), cost_usd=-1.0),  # type: ignore[arg-type]
            replace(llm, kind="llm", status="error", usage=None, cost_usd=None),  # type: ignore[arg-type]
            replace(node, trace=tr, persona=["p", None, "q"][i], status=SpanStatus.ERROR,
                    error=ErrorInfo("E", "m", ErrorClass.TIMEOUT) if i else None,
                    attributes={semconv.LG_ATTEMPT: [2, True, 1][i],
                                semconv.LG_ERROR_CLASS: "rate_limit"}),
            replace(node, node="n" * 300, status=SpanStatus.INTERRUPTED),
            replace(node, kind=SpanKind.TOOL,
                    attributes={semconv.GEN_AI_TOOL_NAME: ["s", None, ""][i]}),
            replace(node, kind=SpanKind.RETRIEVER, end_ns=10**12,
                    attributes={semconv.LG_RETRIEVER_DOCUMENTS: [3, False, -1][i]}),
            replace(node, kind=SpanKind.STEP),
            SpanRecord(tr, "a" * 16, None, "support", SpanKind.WORKFLOW, 0, 4_000_000_000 + i),
            PersonaSwitch(tr.trace_id, "support", None, "writer", i),
            ScoreRecord(tr.trace_id, "g", i == 1, 0, source="gate", workflow="support"),
            ScoreRecord(tr.trace_id, "g", 0.5, 0, source="gate", passed=i == 2),
            BudgetUpdate("writer", "day", "k", i, used_tokens=9 * i, budget_tokens=100,
                         tenant=f"t{i + 3}"),
        ]  # fmt: skip
    return out


def vars_of(record: SpanRecord) -> dict[str, Any]:
    return {f: getattr(record, f) for f in record.__dataclass_fields__}


def replace(record: SpanRecord, **changes: Any) -> SpanRecord:
    return SpanRecord(**{**vars_of(record), **changes})


def exposition(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_samples_match_counting_one_record_at_a_time() -> None:
    batches = [records()[:7], records()[7:], records(), []]
    mine, reference = CollectorRegistry(), CollectorRegistry()
    sink, ref = PrometheusSink(mine, max_tenants=3), ReferenceSink(reference, max_tenants=3)
    for batch in batches:
        sink.export(batch)
        ref.export(batch)
        assert exposition(mine) == exposition(reference)
    assert any('persona="Persona.WRITER"' in line for line in exposition(mine))
    assert any(f'tenant="{OVERFLOW}"' in line for line in exposition(mine))


def test_counts_before_a_failing_record_are_kept() -> None:
    good = records()[1:6]
    bad = SpanRecord(
        TraceContext("9" * 32, "w"), "5" * 16, None, "n", SpanKind.NODE, 0, 1, attributes=Broken()
    )
    mine, reference = CollectorRegistry(), CollectorRegistry()
    sink, ref = PrometheusSink(mine), ReferenceSink(reference, 50)
    with pytest.raises(RuntimeError):
        sink.export([*good, bad, *good])
    with pytest.raises(RuntimeError):
        ref.export([*good, bad, *good])
    assert exposition(mine) == exposition(reference)
    labels = {"workflow": "x" * 128, "persona": "writer", "model": "gpt", "status": "ok"}
    assert mine.get_sample_value(P + "llm_calls_total", labels) == 1
