"""explore summaries and charts over a store filled by real LangGraph runs."""

from __future__ import annotations

import io
import sys

import pytest

pd = pytest.importorskip("pandas", reason="pandas is in the test extra")
pytest.importorskip("matplotlib", reason="matplotlib is in the test extra")

from langgraph_observe import explore  # noqa: E402
from langgraph_observe.store import LocalStore, TraceNotFound  # noqa: E402

from .filled_store import fill_store, store_of  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    return fill_store(tmp_path_factory.mktemp("explore") / "traces.db")


def _support_trace(filled):
    with LocalStore(filled.path) as store:
        return next(r["trace_id"] for r in store.traces() if r["workflow"] == "support")


def test_cost_summary_sums_model_calls_only(filled):
    spans = explore.spans(filled.path)
    calls = spans[spans["kind"].isin(["llm", "embedding"])]
    by_persona = explore.cost_summary(by="persona", store=filled.path)
    assert set(by_persona["persona"]) == {"planner", "researcher", "writer"}
    # the sum over groups equals the sum over model calls: no parent is counted
    assert by_persona["cost_usd"].sum() == pytest.approx(calls["cost_usd"].sum())
    assert by_persona["cost_usd"].sum() > 0
    assert list(by_persona["cost_usd"]) == sorted(by_persona["cost_usd"], reverse=True)
    researcher = by_persona.set_index("persona").loc["researcher"]
    mine = calls[calls["persona"] == "researcher"]
    assert researcher["calls"] == len(mine)
    assert researcher["cost_usd"] == pytest.approx(mine["cost_usd"].sum())
    by_two = explore.cost_summary(by=["tenant", "model"], store=filled.path)
    assert by_two["calls"].sum() == len(calls)
    assert set(by_two["model"]) == {"gpt-4o", "gpt-4o-mini"}


def test_cost_summary_matches_trace_rollups(filled):
    traces = explore.traces(filled.path)
    by_workflow = explore.cost_summary(by="workflow", store=filled.path).set_index("workflow")
    expected = traces.groupby("workflow")["cost_usd"].sum()
    assert by_workflow.loc["support", "cost_usd"] == pytest.approx(expected["support"])


def test_token_summary_by_day_and_model(filled):
    tokens = explore.token_summary(by=["day", "model"], store=filled.path)
    spans = explore.spans(filled.path)
    calls = spans[spans["kind"] == "llm"]
    assert tokens["total_tokens"].sum() == calls["total_tokens"].sum()
    assert tokens["input_tokens"].sum() == calls["input_tokens"].sum()
    assert all(len(d) == 10 for d in tokens["day"])
    with pytest.raises(ValueError, match="cannot group by"):
        explore.token_summary(by="colour", store=filled.path)


def test_slowest_nodes(filled):
    top = explore.slowest(kind="node", n=3, store=filled.path)
    assert len(top) == 3 and set(top["kind"]) == {"node"}
    assert list(top["duration_ms"]) == sorted(top["duration_ms"], reverse=True)
    spans = explore.spans(filled.path)
    assert top["duration_ms"].iloc[0] == spans[spans["kind"] == "node"]["duration_ms"].max()


def test_persona_timeline(filled):
    trace_id = _support_trace(filled)
    timeline = explore.persona_timeline(trace_id, store=filled.path)
    assert list(timeline["persona"]) == ["planner", "researcher", "writer"]
    assert list(timeline["nodes"]) == [["triage"], ["research"], ["answer"]]
    assert (timeline["start_s"].diff().dropna() > 0).all()
    assert list(timeline["model_calls"]) == [1, 1, 1]
    assert list(timeline["total_tokens"]) == [50, 380, 180]
    with pytest.raises(TraceNotFound):
        explore.persona_timeline("ffffffff", store=filled.path)


def test_budget_burn_and_gates_and_errors(filled):
    burn = explore.budget_burn(store=filled.path).set_index("persona")
    assert burn.loc["researcher", "tokens_used_pct"] == pytest.approx(114.0)
    assert bool(burn.loc["researcher", "exceeded"]) and not bool(burn.loc["writer", "exceeded"])
    assert burn.loc["writer", "remaining_tokens"] == 4460
    assert len(explore.budget_burn("writer", store=filled.path)) == 1
    gates = explore.gate_pass_rates(store=filled.path)
    (row,) = gates.itertuples()
    assert row.name == "answer_quality" and row.evaluations == 3
    assert row.passed == 2 and row.failed == 1 and row.pass_rate == pytest.approx(2 / 3)
    errs = explore.errors(store=filled.path)
    assert set(errs["error_type"]) == {"ValueError", "ConnectionError"}
    flaky = errs[errs["name"] == "flaky"]
    assert sorted(flaky["attempt"]) == [1, 2]
    assert set(flaky["error_class"]) == {"network"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


@pytest.mark.parametrize("color_by", ["kind", "persona"])
def test_waterfall(filled, color_by):
    trace_id = _support_trace(filled)
    fig = explore.waterfall(trace_id, store=filled.path, color_by=color_by)
    (ax,) = fig.axes
    spans = explore.spans(filled.path, trace_id=trace_id)
    assert len(ax.patches) == len(spans)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "support" and labels[1].endswith("triage")
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "380 tok" in texts and "$" in texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    if color_by == "persona":
        assert legend == ["planner", "researcher", "writer"]
        colors = {p.get_facecolor() for p in ax.patches}
        assert len(colors) == 4  # three personas + the root without one
    else:
        assert {"workflow", "node", "llm", "retriever"} <= set(legend)
    assert _png(fig).startswith(b"\x89PNG")
    with pytest.raises(ValueError):
        explore.waterfall(trace_id, store=filled.path, color_by="size")


def test_waterfall_marks_errors(filled):
    failed = filled.failed_trace_ids[0]
    fig = explore.waterfall(failed, store=filled.path)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "ERROR ValueError" in texts


def test_charts_render(filled, tmp_path):
    for fig in (
        explore.cost_chart(by="persona", store=filled.path),
        explore.token_chart(by="model", store=filled.path),
        explore.latency_chart(kind="node", store=filled.path),
        explore.budget_chart(store=filled.path),
    ):
        assert fig.axes[0].patches or fig.axes[0].lines
        assert _png(fig).startswith(b"\x89PNG")
    empty = explore.cost_chart(store=tmp_path / "missing.db")
    assert "no data" in empty.axes[0].texts[0].get_text()


def test_missing_matplotlib_gives_install_hint(monkeypatch, filled):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'langgraph-observe\[notebook\]'"):
        explore.cost_chart(store=filled.path)


def test_waterfall_axis_covers_a_trace_whose_root_has_not_landed(tmp_path):
    from langgraph_observe.events import SpanKind, SpanRecord, TraceContext

    ctx, ms = TraceContext(trace_id="a" * 32, workflow="wf"), 10**6
    nodes = [
        SpanRecord(ctx, f"{i + 1:016x}", "f" * 16, f"n{i}", SpanKind.NODE,
                   10**18 + 10 * i * ms, 10**18 + 10 * (i + 1) * ms)
        for i in range(4)
    ]  # fmt: skip
    fig = explore.waterfall("a" * 8, store=store_of(tmp_path, nodes))
    (ax,) = fig.axes
    assert max(p.get_x() + p.get_width() for p in ax.patches) == pytest.approx(40.0)
    assert ax.get_xlim()[1] >= 40.0


def test_summaries_count_a_missing_total_as_input_plus_output_and_bools_are_no_means(tmp_path):
    from langgraph_observe.events import (
        ScoreRecord,
        SpanKind,
        SpanRecord,
        TokenUsage,
        TraceContext,
    )

    ctx, t0 = TraceContext(trace_id="b" * 32, workflow="wf"), 10**18
    records = [
        SpanRecord(ctx, "1" * 16, "2" * 16, "llm", SpanKind.LLM, t0, t0 + 10**6, node="n",
                   persona="p", model="gpt-4o", usage=TokenUsage(100, 20, None)),
        SpanRecord(ctx, "2" * 16, None, "n", SpanKind.NODE, t0, t0 + 2 * 10**6, node="n",
                   persona="p"),
        ScoreRecord(ctx.trace_id, "has_citation", False, t0, passed=False, source="gate"),
        ScoreRecord(ctx.trace_id, "has_citation", True, t0 + 1, passed=True, source="gate"),
    ]  # fmt: skip
    path = store_of(tmp_path, records)
    assert list(explore.cost_summary(store=path)["total_tokens"]) == [120]
    assert list(explore.token_summary(store=path)["total_tokens"]) == [120]
    assert list(explore.persona_timeline("b" * 8, store=path)["total_tokens"]) == [120]
    (gate,) = explore.gate_pass_rates(store=path).itertuples()
    assert gate.pass_rate == 0.5 and pd.isna(gate.mean_value)


def test_waterfall_of_a_run_with_no_span_stored_yet(tmp_path):
    import time

    from langgraph_observe.events import TraceContext, WorkflowStarted

    ctx = TraceContext(trace_id="ab" * 16, workflow="long-job")
    started = WorkflowStarted(trace=ctx, span_id="cd" * 8, name="long-job",
                              start_ns=time.time_ns())  # fmt: skip
    fig = explore.waterfall("abab", store=store_of(tmp_path, [started]))
    (ax,) = fig.axes
    assert not ax.patches
    assert "no spans stored yet" in ax.texts[0].get_text()
    assert ax.get_title() == "long-job  " + "ab" * 6
    assert _png(fig).startswith(b"\x89PNG")


def test_waterfall_title_tells_runs_of_the_same_minute_apart(filled):
    with LocalStore(filled.path) as store:
        support = [r["trace_id"] for r in store.traces() if r["workflow"] == "support"]
    titles = {explore.waterfall(t, store=filled.path).axes[0].get_title() for t in support}
    assert len(titles) == len(support) > 1
    assert all(t.startswith("support  ") and len(t.split()[-1]) >= 12 for t in titles)
