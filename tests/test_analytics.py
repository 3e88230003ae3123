"""Analytics over a store filled by real LangGraph runs, checked against the raw rows."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from langgraph_observe import analytics
from langgraph_observe.store import LocalStore

from .filled_store import fill_store

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    filled = fill_store(tmp_path_factory.mktemp("analytics") / "traces.db")
    with LocalStore(filled.path) as s:
        yield s


def _model_calls(store):
    return store.query("SELECT * FROM spans WHERE kind IN ('llm', 'embedding')")


def test_percentile():
    assert analytics.percentile([], 50) is None
    assert analytics.percentile([3.0], 95) == 3.0
    assert analytics.percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert analytics.percentile(list(range(101)), 95) == pytest.approx(95.0)


def test_realtime_summary(store):
    summary = analytics.realtime_summary(store)
    traces = store.traces()
    assert summary["runs"] == len(traces) == 5
    assert summary["failed"] == sum(t["status"] == "error" for t in traces) == 1
    assert summary["success_rate"] == pytest.approx(4 / 5)
    assert summary["error_rate"] == pytest.approx(1 / 5)
    durations = sorted((t["end_ns"] - t["start_ns"]) / 1e9 for t in traces)
    assert durations[0] <= summary["p50_duration_s"] <= summary["p95_duration_s"] <= durations[-1]
    calls = _model_calls(store)
    assert summary["today"]["model_calls"] == len(calls)
    assert summary["today"]["tokens"] == sum(c["total_tokens"] for c in calls)
    assert summary["today"]["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in calls))
    assert summary["in_progress"] == 0
    later = analytics.realtime_summary(store, now=datetime.now(timezone.utc) + timedelta(days=2))
    assert later["runs"] == 0 and later["success_rate"] is None
    assert later["today"]["cost_usd"] == 0


def test_in_progress_runs_are_counted(tmp_path):
    filled = fill_store(tmp_path / "t.db", runs=1)
    conn = sqlite3.connect(filled.path)
    conn.execute("UPDATE traces SET status = 'running', end_ns = NULL WHERE trace_id = ?",
                 [filled.ok_trace_ids[0]])  # fmt: skip
    conn.commit()
    conn.close()
    with LocalStore(filled.path) as s:
        summary = analytics.realtime_summary(s)
    assert summary["in_progress"] == 1
    assert summary["finished"] == summary["runs"] - 1


def test_tenant_summary(store):
    rows = {r["tenant"]: r for r in analytics.tenant_summary(store)}
    assert set(rows) == {"acme", "globex", ""}
    calls = _model_calls(store)
    for tenant, row in rows.items():
        mine = [c for c in calls if (c["tenant"] or "") == tenant]
        assert row["cost_month_usd"] == pytest.approx(sum(c["cost_usd"] for c in mine))
        assert row["cost_today_usd"] == pytest.approx(row["cost_month_usd"])
    assert rows["acme"]["runs"] == 3  # two support runs and the failing run
    assert rows["acme"]["success_rate"] == pytest.approx(2 / 3)
    assert rows["globex"]["success_rate"] == 1.0
    assert rows["acme"]["gate_pass_rate"] is not None


def test_node_and_persona_summary(store):
    nodes = {(r["workflow"], r["node"]): r for r in analytics.node_summary(store)}
    flaky = nodes[("retrying", "flaky")]
    assert flaky["runs"] == 3 and flaky["errors"] == 2
    assert flaky["success_rate"] == pytest.approx(1 / 3)
    research = nodes[("support", "research")]
    calls = [c for c in _model_calls(store) if c["node"] == "research"]
    assert research["model_calls"] == len(calls) == 3
    assert research["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in calls))
    assert research["p50_latency_s"] <= research["p95_latency_s"] <= research["p99_latency_s"]
    assert research["p50_latency_s"] >= 0.01  # the node sleeps 10 ms
    personas = {r["persona"]: r for r in analytics.persona_summary(store)}
    assert set(personas) == {"planner", "researcher", "writer"}
    total = sum(r["cost_usd"] for r in personas.values())
    assert total == pytest.approx(sum(c["cost_usd"] for c in _model_calls(store)))


def test_cost_daily_monthly_forecast(store):
    calls = _model_calls(store)
    spent = sum(c["cost_usd"] for c in calls)
    daily = analytics.cost_daily(store, days=7)
    assert len(daily) == 7 and daily[-1]["date"] == datetime.now(timezone.utc).date().isoformat()
    assert daily[-1]["cost_usd"] == pytest.approx(spent)
    assert sum(d["cost_usd"] for d in daily[:-1]) == 0
    monthly = analytics.cost_monthly(store, months=3)
    assert [m["month"] for m in monthly][-1] == datetime.now(timezone.utc).strftime("%Y-%m")
    assert monthly[-1]["cost_usd"] == pytest.approx(spent)
    assert monthly[-1]["model_calls"] == len(calls)
    now = datetime.now(timezone.utc)
    forecast = analytics.cost_forecast(store, now=now)
    assert forecast["month_to_date_usd"] == pytest.approx(spent)
    elapsed = forecast["elapsed_days"]
    expected = spent + spent / elapsed * (forecast["days_in_month"] - elapsed)
    assert forecast["forecast_month_usd"] == pytest.approx(expected, rel=1e-4)
    assert forecast["forecast_month_usd"] >= spent


def test_quality_summary(store):
    quality = analytics.quality_summary(store)
    (gate,) = quality["gates"]
    assert gate["gate"] == "answer_quality" and gate["evaluations"] == 3
    assert gate["passed"] == 2 and gate["pass_rate"] == pytest.approx(2 / 3)
    scores = {s["name"]: s for s in quality["scores"]}
    assert scores["answer_quality"]["mean"] == pytest.approx(0.6)
    assert scores["user_feedback"]["mean"] == 1.0 and scores["user_feedback"]["count"] == 3


def test_empty_store(tmp_path):
    empty = LocalStore(tmp_path / "none.db")
    assert analytics.realtime_summary(empty)["runs"] == 0
    assert analytics.tenant_summary(empty) == []
    assert analytics.node_summary(empty) == []
    assert analytics.cost_forecast(empty)["forecast_month_usd"] == 0
    assert analytics.quality_summary(empty)["gates"] == []


def _records_at(moment: datetime, tenant: str, cost: float, n: int) -> list:
    from langgraph_observe.events import ScoreRecord, SpanKind, SpanRecord, TokenUsage, TraceContext

    t0 = int(moment.timestamp() * 1e9)
    ctx = TraceContext(trace_id=f"{n:032x}", workflow="wf", tenant=tenant)
    return [
        SpanRecord(ctx, f"{n:016x}", f"{n + 1:016x}", "llm", SpanKind.LLM, t0, t0 + 10**6,
                   model="gpt-4o", usage=TokenUsage(10, 5, 15), cost_usd=cost),
        SpanRecord(ctx, f"{n + 1:016x}", None, "wf", SpanKind.WORKFLOW, t0, t0 + 2 * 10**6),
        ScoreRecord(ctx.trace_id, "helpful", True, t0 + 3 * 10**6),
        ScoreRecord(ctx.trace_id, "relevance", 0.5, t0 + 3 * 10**6),
    ]  # fmt: skip


def test_now_in_the_past_leaves_later_runs_out(tmp_path):
    from langgraph_observe.sinks.local import LocalStoreSink

    path = tmp_path / "traces.db"
    october = datetime(2026, 10, 20, 12, tzinfo=timezone.utc)
    november = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    sink = LocalStoreSink(path)
    sink.export(_records_at(october, "acme", 1.0, 1) + _records_at(november, "acme", 100.0, 3))
    sink.shutdown(5)
    end_of_october = datetime(2026, 10, 31, 23, tzinfo=timezone.utc)
    with LocalStore(path) as store:
        (acme,) = analytics.tenant_summary(store, now=end_of_october)
        assert (acme["month"], acme["runs"], acme["cost_month_usd"]) == ("2026-10", 1, 1.0)
        daily = analytics.cost_daily(store, days=60, now=end_of_october)
        assert sum(d["cost_usd"] for d in daily) == 1.0
        monthly = analytics.cost_monthly(store, months=2, now=end_of_october)
        assert [m["cost_usd"] for m in monthly] == [0.0, 1.0]
        assert analytics.cost_forecast(store, now=end_of_october)["month_to_date_usd"] == 1.0
        live = analytics.realtime_summary(store, now=october + timedelta(hours=1))
        assert live["runs"] == 1 and live["today"]["model_calls"] == 1
        quality = analytics.quality_summary(store, days=30, now=end_of_october)
        assert [s["count"] for s in quality["scores"]] == [1]


def test_true_false_scores_are_not_averaged_as_numbers(tmp_path):
    from langgraph_observe.sinks.local import LocalStoreSink

    path = tmp_path / "traces.db"
    now = datetime.now(timezone.utc)
    sink = LocalStoreSink(path)
    sink.export(_records_at(now - timedelta(minutes=5), "acme", 1.0, 1))
    sink.shutdown(5)
    with LocalStore(path) as store:
        quality = analytics.quality_summary(store, now=now)
        assert [s["name"] for s in quality["scores"]] == ["relevance"]
        (acme,) = analytics.tenant_summary(store, now=now)
        assert acme["mean_score"] == 0.5
