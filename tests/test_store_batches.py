"""Large batches: span rows go many to a statement, and nothing is lost or doubled."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from langgraph_observe.events import SpanKind, SpanRecord, TokenUsage, TraceContext
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore, statements


def spans(trace: TraceContext, n: int) -> list[SpanRecord]:
    return [
        SpanRecord(
            trace,
            f"{i + 1:016x}",
            None if i == 0 else f"{1:016x}",
            f"s{i}",
            SpanKind.LLM,
            1_000 + i,
            2_000 + i,
            usage=TokenUsage(input_tokens=i, output_tokens=1),
            attributes={"i": i},
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 255, 256, 257, 700])
def test_every_row_of_a_large_batch_lands_once(tmp_path: Path, n: int) -> None:
    trace = TraceContext(trace_id=f"{n:032x}", workflow="wf")
    records = spans(trace, n)
    # the same span delivered twice in one batch: the later delivery wins
    late = SpanRecord(trace, f"{2:016x}", f"{1:016x}", "late", SpanKind.TOOL, 5, 6)
    sink = LocalStoreSink(tmp_path / "t.db")
    sink.export([*records, late] if n > 1 else records)
    sink.shutdown(1.0)
    with LocalStore(tmp_path / "t.db") as store:
        assert store.count_spans() == n
        rows = {r["span_id"]: r for r in store.spans()}
    assert rows[f"{n:016x}"]["input_tokens"] == n - 1
    if n > 1:
        assert rows[f"{2:016x}"]["name"] == "late"


def test_statements_hold_a_power_of_two_of_rows() -> None:
    sizes: list[int] = []

    class Recorder:
        def execute(self, sql: str, params: list[object]) -> None:
            sizes.append(len(params) // len(statements.SPAN_COLUMNS))

    row = tuple(range(len(statements.SPAN_COLUMNS)))
    statements.insert_spans(Recorder(), [row] * 300, 256)  # type: ignore[arg-type]
    assert sizes == [256, 32, 8, 4]
    conn = sqlite3.connect(":memory:")
    per = statements.rows_per_statement(conn)
    assert per & (per - 1) == 0 and per * len(statements.SPAN_COLUMNS) <= 32766


def test_trace_rows_go_many_to_a_statement(tmp_path: Path) -> None:
    """Each statement is one hand-over of the GIL: 40 traces' rows take a few statements,
    not one per row, and land as each trace's last upsert says."""
    records: list[SpanRecord] = []
    for t in range(40):
        trace = TraceContext(trace_id=f"{t + 1:032x}", workflow="wf")
        records += spans(trace, 3)[1:]  # children: each trace opens ...
        if t % 2 == 0:
            records.append(spans(trace, 1)[0])  # ... and half of them finish
    sink = LocalStoreSink(tmp_path / "t.db")
    sink.export(records[:1])  # creates the file and the connection
    writer = sink._writer
    statements_run: list[str] = []
    assert writer._conn is not None
    writer._conn.set_trace_callback(statements_run.append)
    sink.export(records)
    writer._conn.set_trace_callback(None)
    trace_upserts = [s for s in statements_run if s.lstrip().startswith("INSERT INTO traces")]
    assert 1 <= len(trace_upserts) <= 6, len(trace_upserts)
    sink.shutdown(1.0)
    with LocalStore(tmp_path / "t.db") as store:
        traces = {t["trace_id"]: t for t in store.traces()}
    assert len(traces) == 40
    assert sum(t["status"] == "running" for t in traces.values()) == 20
    assert traces[f"{1:032x}"]["end_ns"] == 2_000 and traces[f"{1:032x}"]["start_ns"] == 1_000


def test_one_trace_twice_in_one_statement_keeps_the_later_row() -> None:
    conn = sqlite3.connect(":memory:")
    from langgraph_observe.store.schema import ensure_schema

    ensure_schema(conn)
    row = ("t", "r", "root", "wf", 5, 9, "ok", None, None, None, None, "[]", "{}")
    later = ("t", "r", "root", "wf", 3, 12, "error", None, None, None, None, "[]", "{}")
    statements.insert_traces(conn, statements.TRACE_FINISH_SQL, [row, later], 8)
    got = conn.execute("SELECT start_ns, end_ns, status FROM traces").fetchall()
    assert got == [(3, 12, "error")]
