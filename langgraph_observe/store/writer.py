"""Write record batches to the local store: one transaction per batch, retried when busy.

Runs in the local sink's worker thread (never on the graph's path). Every write is an
upsert, so a re-delivered record replaces its earlier row instead of adding one.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..events import (
    BudgetUpdate,
    PersonaSwitch,
    Record,
    ScoreRecord,
    SpanRecord,
    TraceContext,
    WorkflowStarted,
)
from .schema import connect, ensure_schema
from .statements import (
    BUDGET_SQL,
    SCORE_SQL,
    SWITCH_SQL,
    TRACE_FINISH_SQL,
    TRACE_OPEN_SQL,
    insert_spans,
    rows_per_statement,
)

__all__ = ["StoreWriter"]

_json = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode


def _plain_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()}


def _trace_fields(t: TraceContext) -> tuple[Any, ...]:
    return (
        t.tenant,
        t.user_id,
        t.session_id,
        t.thread_id,
        _json(list(t.tags)),
        _json(_plain_mapping(t.metadata)),
    )


def span_row(s: SpanRecord, trace_fields: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
    """The ``spans`` row of a record, in ``SPAN_COLUMNS`` order (``trace_fields``: the
    trace's ``_trace_fields``, when already computed)."""
    t, u, e = s.trace, s.usage, s.error
    tf = trace_fields if trace_fields is not None else _trace_fields(t)
    events = (
        _json(
            [
                {
                    "name": ev.name,
                    "time_ns": ev.time_ns,
                    "attributes": _plain_mapping(ev.attributes),
                }
                for ev in s.events
            ]
        )
        if s.events
        else "[]"
    )
    return (
        t.trace_id,
        s.span_id,
        s.parent_span_id,
        s.name,
        str(s.kind),
        s.start_ns,
        s.end_ns,
        str(s.status),
        e.type if e else None,
        e.message if e else None,
        str(e.error_class) if e else None,
        t.workflow,
        s.node,
        s.persona,
        s.model,
        s.provider,
        u.input_tokens if u else None,
        u.output_tokens if u else None,
        u.total_tokens if u else None,
        u.cached_input_tokens if u else None,
        u.cache_creation_tokens if u else None,
        u.reasoning_tokens if u else None,
        int(u.estimated) if u else None,
        s.cost_usd,
        s.input.text if s.input is not None else None,
        s.output.text if s.output is not None else None,
        _json(_plain_mapping(s.attributes)),
        events,
        *tf[:5],
    )


def _score_row(r: ScoreRecord) -> tuple[Any, ...]:
    data_type = (
        "bool"
        if isinstance(r.value, bool)
        else "number"
        if isinstance(r.value, (int, float))
        else "str"
    )
    value: Any = int(r.value) if isinstance(r.value, bool) else r.value
    return (
        r.trace_id,
        r.span_id or "",
        r.name,
        value,
        data_type,
        r.time_ns,
        r.comment,
        r.source,
        r.workflow,
        r.node,
        r.persona,
        None if r.passed is None else int(r.passed),
    )


def _write(conn: sqlite3.Connection, records: Sequence[Record], per: int = 1) -> None:
    """Write one batch: span rows ``per`` to a statement, trace rows with
    ``executemany``, the trace-level JSON encoded once per trace, one trace-open row per
    trace (not one per span)."""
    span_rows: list[tuple[Any, ...]] = []
    opened: dict[str, tuple[Any, ...]] = {}
    finished: list[tuple[Any, ...]] = []
    fields_of: dict[int, tuple[Any, ...]] = {}
    for r in records:
        if isinstance(r, SpanRecord):
            t = r.trace
            tf = fields_of.get(id(t))
            if tf is None:
                tf = fields_of[id(t)] = _trace_fields(t)
            span_rows.append(span_row(r, tf))
            if r.parent_span_id is None:
                finished.append(
                    (t.trace_id, r.span_id, r.name, t.workflow, r.start_ns, r.end_ns,
                     str(r.status), *tf)
                )  # fmt: skip
            else:
                row = opened.get(t.trace_id)
                if row is None or (row[1] is None and r.start_ns < row[4]):
                    opened[t.trace_id] = (t.trace_id, None, None, t.workflow, r.start_ns, *tf)
        elif isinstance(r, WorkflowStarted):
            t = r.trace
            tf = fields_of.get(id(t))
            if tf is None:
                tf = fields_of[id(t)] = _trace_fields(t)
            opened[t.trace_id] = (t.trace_id, r.span_id, r.name, t.workflow, r.start_ns, *tf)
    if opened:
        conn.executemany(TRACE_OPEN_SQL, opened.values())
    if span_rows:
        insert_spans(conn, span_rows, per)
    if finished:
        conn.executemany(TRACE_FINISH_SQL, finished)
    for r in records:
        if isinstance(r, (SpanRecord, WorkflowStarted)):
            continue
        if isinstance(r, ScoreRecord):
            conn.execute(SCORE_SQL, _score_row(r))
        elif isinstance(r, PersonaSwitch):
            conn.execute(
                SWITCH_SQL,
                (
                    r.trace_id,
                    r.workflow,
                    r.from_persona,
                    r.to_persona,
                    r.time_ns,
                    r.span_id,
                    r.tenant,
                ),
            )
        elif isinstance(r, BudgetUpdate):
            conn.execute(
                BUDGET_SQL,
                (
                    r.persona,
                    r.window,
                    r.window_key,
                    r.tenant or "",
                    r.counter,
                    r.time_ns,
                    r.used_tokens if r.counter_tokens is None else r.counter_tokens,
                    r.budget_tokens,
                    r.used_usd if r.counter_usd is None else r.counter_usd,
                    r.budget_usd,
                    r.workflow,
                    r.trace_id,
                    int(r.warned),
                    int(r.exceeded),
                ),
            )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class StoreWriter:
    """Writes batches to one SQLite file. The file and its directory are created on the
    first write. Thread-safe (one connection, one lock).

    Args:
        path: the SQLite file.
        retries: how many times a batch is retried when the file stays locked past the
            busy timeout (another process holding a long write).
    """

    def __init__(self, path: Path | str, *, retries: int = 5) -> None:
        self.path = Path(path)
        self.retries = retries
        self._conn: sqlite3.Connection | None = None
        self.rows_per_statement = 1
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path)
            try:
                self._retry(lambda: ensure_schema(conn))
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            self.rows_per_statement = rows_per_statement(conn)
        return self._conn

    def _retry(self, fn: Any) -> None:
        for attempt in range(self.retries + 1):
            try:
                fn()
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == self.retries:
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))

    def write(self, records: Sequence[Record]) -> None:
        """Write ``records`` in one transaction. Raises when the file stays locked after
        every retry (the dispatcher then counts the batch as dropped)."""
        if not records:
            return
        with self._lock:
            conn = self._connection()

            def transaction() -> None:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    _write(conn, records, self.rows_per_statement)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise

            self._retry(transaction)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
