"""The local store: SQLite writes in batches, upserts, what the reader gives back."""

from __future__ import annotations

from pathlib import Path

import pytest

from langgraph_observe.config import Settings
from langgraph_observe.dispatch import Dispatcher
from langgraph_observe.events import (
    BudgetUpdate,
    ErrorClass,
    ErrorInfo,
    Payload,
    PersonaSwitch,
    ScoreRecord,
    SpanEvent,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
    TraceContext,
    WorkflowStarted,
)
from langgraph_observe.sinks import local
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import SCHEMA_VERSION, LocalStore, TraceNotFound

pytestmark = pytest.mark.unit


def make_trace(n: int, *, tenant: str | None = "acme") -> TraceContext:
    return TraceContext(
        trace_id=f"{n:032x}",
        workflow="release",
        tenant=tenant,
        user_id="u1",
        session_id="s1",
        thread_id="th1",
        tags=("nightly",),
        metadata={"build": n},
    )


def make_spans(trace: TraceContext, start: int = 1_000_000_000) -> list[SpanRecord]:
    """A finished workflow: root -> node -> llm (+ a failing tool)."""
    root, node = "a" * 16, "b" * 16
    return [
        SpanRecord(
            trace,
            "c" * 16,
            node,
            "fake-chat",
            SpanKind.LLM,
            start + 20,
            start + 70,
            node="write_code",
            persona="backend-engineer",
            model="gpt-4o-mini",
            provider="openai",
            cost_usd=0.0012,
            usage=TokenUsage(
                input_tokens=120,
                output_tokens=30,
                total_tokens=150,
                cached_input_tokens=20,
                reasoning_tokens=5,
            ),
            input=Payload({"messages": ["write it"]}, 4000),
            output=Payload("done", 4000),
            attributes={"gen_ai.operation.name": "chat"},
            events=(SpanEvent("first_token", start + 30, {"n": 1}),),
        ),
        SpanRecord(
            trace,
            "d" * 16,
            node,
            "run_tests",
            SpanKind.TOOL,
            start + 71,
            start + 80,
            status=SpanStatus.ERROR,
            node="write_code",
            error=ErrorInfo("ValueError", "boom", ErrorClass.PERMANENT),
        ),
        SpanRecord(
            trace,
            node,
            root,
            "write_code",
            SpanKind.NODE,
            start + 10,
            start + 90,
            node="write_code",
            persona="backend-engineer",
        ),
        SpanRecord(trace, root, None, "release", SpanKind.WORKFLOW, start, start + 100),
    ]


def test_autoconfigure_is_always_on(tmp_path: Path) -> None:
    path = tmp_path / "x" / "t.db"
    sink, reason = local.autoconfigure(Settings(store_path=path))
    assert isinstance(sink, LocalStoreSink)
    assert sink.path == path
    assert reason == f"on: default sink, {path}"
    assert not path.parent.exists(), "the directory is created on the first export, not before"


def test_default_path_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGGRAPH_OBSERVE_STORE", str(tmp_path / "env.db"))
    assert LocalStoreSink().path == tmp_path / "env.db"
    assert LocalStore().path == tmp_path / "env.db"


def test_batch_write_round_trips_every_field(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "traces.db"
    sink = LocalStoreSink(path)
    trace = make_trace(1)
    sink.export(make_spans(trace))
    sink.shutdown(1.0)

    store = LocalStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    spans = {s["name"]: s for s in store.spans(trace_id=trace.trace_id)}
    assert set(spans) == {"release", "write_code", "fake-chat", "run_tests"}
    llm = spans["fake-chat"]
    assert (llm["input_tokens"], llm["output_tokens"], llm["total_tokens"]) == (120, 30, 150)
    assert (llm["cached_input_tokens"], llm["reasoning_tokens"]) == (20, 5)
    assert llm["cache_creation_tokens"] is None
    assert llm["tokens_estimated"] is False
    assert llm["cost_usd"] == pytest.approx(0.0012)
    assert (llm["model"], llm["provider"], llm["persona"]) == (
        "gpt-4o-mini",
        "openai",
        "backend-engineer",
    )
    assert llm["input"] == '{"messages":["write it"]}' and llm["output"] == "done"
    assert llm["attributes"] == {"gen_ai.operation.name": "chat"}
    assert llm["events"] == [
        {"name": "first_token", "time_ns": 1_000_000_030, "attributes": {"n": 1}}
    ]
    assert (llm["tenant"], llm["user_id"], llm["session_id"], llm["thread_id"]) == (
        "acme",
        "u1",
        "s1",
        "th1",
    )
    assert llm["tags"] == ["nightly"] and llm["workflow"] == "release"
    tool = spans["run_tests"]
    assert (tool["status"], tool["error_type"], tool["error_message"], tool["error_class"]) == (
        "error",
        "ValueError",
        "boom",
        "permanent",
    )
    assert spans["release"]["parent_span_id"] is None
    assert spans["write_code"]["parent_span_id"] == "a" * 16

    [row] = store.traces()
    assert row["trace_id"] == trace.trace_id and row["status"] == "ok"
    assert (row["start_ns"], row["end_ns"]) == (1_000_000_000, 1_000_000_100)
    assert row["span_count"] == 4 and row["error_count"] == 1
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (120, 30, 150)
    assert row["metadata"] == {"build": 1} and row["tags"] == ["nightly"]
    store.close()


def test_redelivered_records_are_upserted_not_duplicated(tmp_path: Path) -> None:
    sink = LocalStoreSink(tmp_path / "t.db")
    trace = make_trace(2)
    spans = make_spans(trace)
    score = ScoreRecord(trace.trace_id, "tests_pass", True, 5, source="gate", passed=True)
    switch = PersonaSwitch(trace.trace_id, "release", "a", "b", 6)
    for _ in range(3):
        sink.export([*spans, score, switch])
    changed = SpanRecord(
        trace,
        "c" * 16,
        "b" * 16,
        "fake-chat",
        SpanKind.LLM,
        1,
        2,
        usage=TokenUsage(input_tokens=7, output_tokens=1),
    )
    sink.export([changed])
    sink.shutdown(1.0)
    store = LocalStore(tmp_path / "t.db")
    assert store.count_spans() == 4
    assert len(store.traces()) == 1
    assert len(store.scores()) == 1 and len(store.persona_switches()) == 1
    llm = [s for s in store.spans() if s["span_id"] == "c" * 16]
    assert len(llm) == 1 and llm[0]["input_tokens"] == 7, "the last delivery wins"


def test_workflow_started_shows_a_running_trace_until_the_root_lands(tmp_path: Path) -> None:
    sink = LocalStoreSink(tmp_path / "t.db")
    trace = make_trace(3)
    spans = make_spans(trace)
    sink.export([WorkflowStarted(trace, "a" * 16, "release", 1_000_000_000), *spans[:3]])
    store = LocalStore(tmp_path / "t.db")
    [running] = store.traces()
    assert running["status"] == "running" and running["end_ns"] is None
    assert running["span_count"] == 3 and running["root_span_id"] == "a" * 16
    sink.export(spans[3:])
    [done] = store.traces()
    assert done["status"] == "ok" and done["end_ns"] == 1_000_000_100
    # A trace whose first record is a child span (no WorkflowStarted) is running too.
    other = make_trace(4)
    sink.export(make_spans(other, start=2_000_000_000)[:1])
    newest = store.traces(limit=1)[0]
    assert newest["trace_id"] == other.trace_id and newest["status"] == "running"
    assert [t["trace_id"] for t in store.traces(status="ok")] == [trace.trace_id]
    sink.shutdown(1.0)
    store.close()


def test_scores_switches_and_budget_state(tmp_path: Path) -> None:
    sink = LocalStoreSink(tmp_path / "t.db")
    tid = "f" * 32
    sink.export(
        [
            ScoreRecord(tid, "quality", 0.75, 10, span_id="1" * 16, comment="ok", source="eval"),
            ScoreRecord(tid, "label", "good", 11),
            ScoreRecord(tid, "gate", False, 12, source="gate", passed=False),
            PersonaSwitch(tid, "release", "backend-engineer", "testing-specialist", 13, tenant="t"),
            BudgetUpdate(
                "backend-engineer",
                "day",
                "2026-11-23",
                100,
                used_tokens=500,
                budget_tokens=1000,
                used_usd=0.5,
                budget_usd=2.0,
                tenant="acme",
            ),
            BudgetUpdate(
                "backend-engineer",
                "day",
                "2026-11-23",
                200,
                used_tokens=900,
                budget_tokens=1000,
                used_usd=0.9,
                warned=True,
                tenant="acme",
            ),
            BudgetUpdate(
                "backend-engineer",
                "day",
                "2026-11-23",
                150,
                used_tokens=700,
                used_usd=0.7,
                tenant="acme",
            ),  # late, older: must not roll back
            BudgetUpdate("backend-engineer", "month", "2026-11", 200, used_tokens=42, used_usd=0.1),
        ]
    )
    sink.shutdown(1.0)
    store = LocalStore(tmp_path / "t.db")
    scores = {s["name"]: s for s in store.scores(trace_id=tid)}
    assert scores["quality"]["value"] == 0.75 and scores["quality"]["data_type"] == "number"
    assert scores["label"]["value"] == "good" and scores["label"]["span_id"] == ""
    assert scores["gate"]["passed"] is False and scores["gate"]["data_type"] == "bool"
    [switch] = store.persona_switches(trace_id=tid)
    assert (switch["from_persona"], switch["to_persona"]) == (
        "backend-engineer",
        "testing-specialist",
    )
    assert store.budget_used("backend-engineer", "day", "2026-11-23", tenant="acme") == (900, 0.9)
    assert store.budget_used("backend-engineer", "day", "2026-11-23") == (0, 0.0)
    assert store.budget_used("backend-engineer", "month", "2026-11") == (42, 0.1)
    day = next(b for b in store.budget_usage() if b["window"] == "day")
    assert day["warned"] is True and day["exceeded"] is False


def test_store_keeps_what_the_payload_renders(tmp_path: Path) -> None:
    limit = Settings.resolve(max_payload_chars=50).max_payload_chars
    big = {"messages": ["x" * 500]}
    trace = make_trace(5)
    span = SpanRecord(
        trace,
        "1" * 16,
        None,
        "wf",
        SpanKind.WORKFLOW,
        1,
        2,
        input=Payload(big, limit),
        output=Payload("short", limit),
    )
    expected = Payload(big, limit).text
    assert len(expected) == 50 and expected.endswith("…")
    sink = LocalStoreSink(tmp_path / "t.db")
    sink.export([span])
    sink.shutdown(1.0)
    [row] = LocalStore(tmp_path / "t.db").spans()
    assert row["input"] == expected and row["output"] == "short"


def test_reader_on_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "traces.db"
    store = LocalStore(path)
    assert not store.exists
    assert store.traces() == [] and store.spans() == [] and store.schema_version() == 0
    assert store.budget_used("p", "day", "2026-01-01") == (0, 0.0)
    with pytest.raises(TraceNotFound):
        store.resolve_trace_id("ab")
    assert not path.parent.exists()


def test_resolve_trace_id_by_prefix(tmp_path: Path) -> None:
    sink = LocalStoreSink(tmp_path / "t.db")
    for n in (0xAB1, 0xAB2):
        sink.export(make_spans(TraceContext(f"{n:x}".ljust(32, "0"), "wf")))
    sink.shutdown(1.0)
    store = LocalStore(tmp_path / "t.db")
    assert store.resolve_trace_id("AB1") == "ab1".ljust(32, "0")
    with pytest.raises(TraceNotFound, match="several"):
        store.resolve_trace_id("ab")
    with pytest.raises(TraceNotFound, match="no trace"):
        store.resolve_trace_id("ff")


def test_dispatcher_feeds_the_sink_in_batches(tmp_path: Path) -> None:
    sink = LocalStoreSink(tmp_path / "t.db")
    batches: list[int] = []
    original = sink.export

    def counting(records):  # type: ignore[no-untyped-def]
        batches.append(len(records))
        original(records)

    sink.export = counting  # type: ignore[method-assign]
    dispatcher = Dispatcher([sink], batch_size=100, interval=0.05)
    for n in range(50):
        for span in make_spans(make_trace(100 + n)):
            dispatcher.emit(span)
    assert dispatcher.shutdown(5.0)
    assert sum(batches) == 200 and max(batches) <= 100
    assert dispatcher.health.total_dropped == 0
    assert LocalStore(tmp_path / "t.db").count_spans() == 200


@pytest.mark.e2e
@pytest.mark.e2e
def test_handler_payloads_are_stored_as_rendered(tmp_path: Path) -> None:
    """A real graph through CallbackHandler: the store holds exactly what each Payload
    renders, cut to ``max_payload_chars``."""
    from langgraph_observe import CallbackHandler
    from langgraph_observe.testing import InMemorySink
    from tests.graphs import linear_graph

    memory = InMemorySink()
    handler = CallbackHandler(
        sinks=[memory, LocalStoreSink(tmp_path / "t.db")], max_payload_chars=30
    )
    linear_graph().invoke({"topic": "observability " * 20, "log": []},
                          config={"callbacks": [handler]})  # fmt: skip
    assert handler.flush(10.0)
    handler.shutdown()
    recorded = {s.span_id: s for s in memory.spans()}
    stored = {s["span_id"]: s for s in LocalStore(tmp_path / "t.db").spans()}
    assert set(stored) == set(recorded) and len(stored) >= 5
    cut = 0
    for span_id, span in recorded.items():
        row = stored[span_id]
        for field in ("input", "output"):
            payload = getattr(span, field)
            assert row[field] == (payload.text if payload is not None else None)
            if row[field] is not None:
                assert len(row[field]) <= 30
                cut += row[field].endswith("…")
    assert cut > 0, "the long topic must have been cut somewhere"
