"""The store writer's rows, column by column, against a plain reference encoding.

The writer takes shortcuts (NULL bound as NaN, a reused JSON encoder, values computed
once per trace); what lands in the file must not change because of them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from langgraph_observe.events import (
    ErrorClass,
    ErrorInfo,
    Payload,
    SpanEvent,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
    TraceContext,
    WorkflowStarted,
)
from langgraph_observe.store.schema import connect, ensure_schema
from langgraph_observe.store.statements import SPAN_COLUMNS
from langgraph_observe.store.writer import StoreWriter

pytestmark = pytest.mark.unit

_dumps = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode


def _plain(m: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in m.items()}


def reference_row(s: SpanRecord) -> tuple[Any, ...]:
    """The row as the writer wrote it before any shortcut."""
    t, u, e = s.trace, s.usage, s.error
    events = [
        {"name": ev.name, "time_ns": ev.time_ns, "attributes": _plain(ev.attributes)}
        for ev in s.events
    ]
    return (
        t.trace_id, s.span_id, s.parent_span_id, s.name, str(s.kind), s.start_ns, s.end_ns,
        str(s.status), e.type if e else None, e.message if e else None,
        str(e.error_class) if e else None, t.workflow, s.node, s.persona, s.model, s.provider,
        u.input_tokens if u else None, u.output_tokens if u else None,
        u.total_tokens if u else None, u.cached_input_tokens if u else None,
        u.cache_creation_tokens if u else None, u.reasoning_tokens if u else None,
        int(u.estimated) if u else None, s.cost_usd,
        s.input.text if s.input is not None else None,
        s.output.text if s.output is not None else None,
        _dumps(_plain(s.attributes)), _dumps(events) if s.events else "[]",
        t.tenant, t.user_id, t.session_id, t.thread_id, _dumps(list(t.tags)),
    )  # fmt: skip


def records() -> list[SpanRecord | WorkflowStarted]:
    full = TraceContext(
        trace_id="1" * 32,
        workflow="wf-ü",
        tenant="acme",
        user_id="u",
        session_id="s",
        thread_id="th",
        tags=("ä", "b\n"),
        metadata={"n": 1, 2: "int key", True: "bool key", "when": dt.date(2026, 1, 2)},
    )
    bare = TraceContext(trace_id="2" * 32, workflow="bare", metadata=MappingProxyType({"x": 1}))
    proxy = MappingProxyType({"a": 1})
    return [
        WorkflowStarted(full, "a" * 16, "wf-ü", 10),
        SpanRecord(
            full, "b" * 16, "a" * 16, "llm", SpanKind.LLM, 11, 12,
            node="n", persona="p", model="m", provider="openai", cost_usd=0.25,
            usage=TokenUsage(1, 2, 3, 4, 5, 6, estimated=True),
            input=Payload({"q": "ß"}, 100), output=Payload.of_text(""),
            attributes={"f": 1.5, "nan": math.nan, "inf": -math.inf, "nested": {"l": [1, None]}},
            events=(SpanEvent("first", 11, {1: "x", "y": True}), SpanEvent("e2", 12)),
        ),
        SpanRecord(
            full, "c" * 16, "a" * 16, "tool", SpanKind.TOOL, 13, 14,
            status=SpanStatus.ERROR, error=ErrorInfo("E", "bad \"quote\"", ErrorClass.TIMEOUT),
            usage=TokenUsage(input_tokens=7), cost_usd=math.nan,
            attributes={SpanKind.TOOL: "enum key", None: 1, 1.5: "float key", False: 0},
        ),
        SpanRecord(full, "d" * 16, "b" * 16, "step", SpanKind.STEP, 15, 16, attributes=proxy),
        SpanRecord(full, "a" * 16, None, "wf-ü", SpanKind.WORKFLOW, 10, 20,
                   status=SpanStatus.INTERRUPTED, cost_usd=0.0),
        SpanRecord(bare, "e" * 16, "f" * 16, "x", SpanKind.NODE, 5, 6, attributes={"k": "v"}),
        SpanRecord(bare, "f" * 16, None, "bare", SpanKind.WORKFLOW, 4, 7),
    ]  # fmt: skip


def stored(path: Path, table: str, order: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    sql = ", ".join(f"{c}, typeof({c})" for c in cols)
    rows = conn.execute(f"SELECT {sql} FROM {table} ORDER BY {order}").fetchall()
    conn.close()
    return rows


def test_span_rows_match_the_reference_encoding(tmp_path: Path) -> None:
    recs = records()
    writer = StoreWriter(tmp_path / "w.db")
    writer.write(recs[:3])
    writer.write(recs[3:])
    writer.close()

    ref = connect(tmp_path / "r.db")
    ensure_schema(ref)
    marks = ", ".join("?" * len(SPAN_COLUMNS))
    ref.executemany(
        f"INSERT INTO spans ({', '.join(SPAN_COLUMNS)}) VALUES ({marks})",
        [reference_row(r) for r in recs if isinstance(r, SpanRecord)],
    )
    ref.close()
    got, want = (
        stored(tmp_path / "w.db", "spans", "span_id"),
        stored(tmp_path / "r.db", "spans", "span_id"),
    )
    assert len(got) == 6
    assert got == want
    # the bare trace's root: mostly NULL
    nulls = dict(zip(SPAN_COLUMNS, got[-1][1::2], strict=True))
    assert nulls["tenant"] == nulls["input_tokens"] == nulls["cost_usd"] == "null"


def test_trace_rows_hold_null_not_nan(tmp_path: Path) -> None:
    recs = records()
    writer = StoreWriter(tmp_path / "w.db")
    writer.write([recs[0], recs[1], recs[5]])  # one trace started, one opened by a child
    conn = sqlite3.connect(tmp_path / "w.db")
    rows = conn.execute(
        "SELECT trace_id, typeof(root_span_id), typeof(name), typeof(tenant), start_ns "
        "FROM traces ORDER BY trace_id"
    ).fetchall()
    assert rows == [("1" * 32, "text", "text", "text", 10), ("2" * 32, "null", "null", "null", 5)]
    writer.write(recs)
    rows = conn.execute(
        "SELECT trace_id, root_span_id, status, tenant, user_id, metadata, end_ns FROM traces "
        "ORDER BY trace_id"
    ).fetchall()
    conn.close()
    writer.close()
    assert rows == [
        ("1" * 32, "a" * 16, "interrupted", "acme", "u",
         '{"n":1,"2":"int key","True":"bool key","when":"2026-01-02"}', 20),
        ("2" * 32, "f" * 16, "ok", None, None, '{"x":1}', 7),
    ]  # fmt: skip


def test_a_failed_encoding_leaves_the_next_batch_intact(tmp_path: Path) -> None:
    trace = TraceContext(trace_id="3" * 32, workflow="w")
    inner: list[Any] = []
    outer = {"inner": inner}
    inner.append(outer)
    looped = SpanRecord(trace, "a" * 16, None, "w", SpanKind.WORKFLOW, 1, 2, attributes=outer)
    writer = StoreWriter(tmp_path / "w.db")
    writer.write([looped])  # the loop is cut where the renderer cuts it, not refused
    conn = sqlite3.connect(tmp_path / "w.db")
    [(looped_text,)] = conn.execute("SELECT attributes FROM spans").fetchall()
    assert looped_text.startswith('{"inner":[{"inner":[{"inner":')
    inner.clear()  # no loop any more: the same objects encode through the fast path
    writer.write([looped])
    [(attributes,)] = conn.execute("SELECT attributes FROM spans").fetchall()
    conn.close()
    writer.close()
    assert attributes == '{"inner":[]}'


def test_a_registered_float_adapter_sees_no_stand_in_for_null(tmp_path: Path) -> None:
    # in a child process: registering an adapter for float changes the sqlite3 module
    # for the rest of the process
    code = textwrap.dedent(
        f"""
        import math, sqlite3
        from langgraph_observe.events import SpanKind, SpanRecord, TraceContext
        from langgraph_observe.store.writer import StoreWriter
        seen = []
        sqlite3.register_adapter(float, lambda x: seen.append(x) or x * 2)
        t = TraceContext(trace_id="4" * 32, workflow="w")
        rec = SpanRecord(t, "a" * 16, None, "w", SpanKind.WORKFLOW, 1, 2, cost_usd=0.5)
        w = StoreWriter({str(tmp_path / "f.db")!r})
        w.write([rec])
        w.close()
        c = sqlite3.connect({str(tmp_path / "f.db")!r})
        q = "SELECT cost_usd, typeof(tenant), typeof(input_tokens) FROM spans"
        print(c.execute(q).fetchone())
        print(seen)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[:2] == ["(1.0, 'null', 'null')", "[0.5]"]


def test_trace_rows_are_the_same_however_records_are_batched(tmp_path: Path) -> None:
    """A trace that starts and finishes in one batch is written once; the row must be the
    one that writing its records one batch each leaves."""
    t = TraceContext(trace_id="5" * 32, workflow="w", tenant="acme", tags=("x",))
    earlier = TraceContext(trace_id="6" * 32, workflow="w")
    recs: list[SpanRecord | WorkflowStarted] = [
        WorkflowStarted(t, "a" * 16, "w", 5),
        SpanRecord(t, "b" * 16, "a" * 16, "child", SpanKind.NODE, 7, 9),
        SpanRecord(t, "a" * 16, None, "w", SpanKind.WORKFLOW, 10, 20),
        SpanRecord(t, "a" * 16, None, "w", SpanKind.WORKFLOW, 10, 21),  # delivered twice
        SpanRecord(earlier, "c" * 16, "d" * 16, "child", SpanKind.NODE, 3, 4),
        SpanRecord(earlier, "d" * 16, None, "w", SpanKind.WORKFLOW, 8, 30),
    ]
    pre = WorkflowStarted(earlier, "d" * 16, "w", 1)  # a batch before
    for name, batches in (("one", [[pre], recs]), ("each", [[pre], *([r] for r in recs)])):
        writer = StoreWriter(tmp_path / f"{name}.db")
        for batch in batches:
            writer.write(batch)
        writer.close()
    one, each = (
        stored(tmp_path / "one.db", "traces", "trace_id"),
        stored(tmp_path / "each.db", "traces", "trace_id"),
    )
    assert one == each
    assert [(r[8], r[10], r[12]) for r in one] == [(5, 21, "ok"), (1, 30, "ok")]
