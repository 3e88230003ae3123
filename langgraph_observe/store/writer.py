"""Write record batches to the local store: one transaction per batch, retried when busy.

Runs in the local sink's worker thread (never on the graph's path). Every write is an
upsert, so a re-delivered record replaces its earlier row instead of adding one.
"""

from __future__ import annotations

import functools
import itertools
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

__all__ = ["StoreWriter"]

_SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "status",
    "error_type",
    "error_message",
    "error_class",
    "workflow",
    "node",
    "persona",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "tokens_estimated",
    "cost_usd",
    "input",
    "output",
    "attributes",
    "events",
    "tenant",
    "user_id",
    "session_id",
    "thread_id",
    "tags",
)


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


_SPAN_KEY = ("trace_id", "span_id")
_SPAN_SQL = _upsert("spans", _SPAN_COLUMNS, _SPAN_KEY)
#: SQLite's bound-parameter limit before 3.32 (newer builds allow 32766; asked when possible)
_OLD_VARIABLE_LIMIT = 999
_MAX_ROWS_PER_STATEMENT = 64


@functools.lru_cache(maxsize=16)
def _span_sql(rows: int) -> str:
    """The span upsert for ``rows`` rows in one statement."""
    one = f"({', '.join('?' * len(_SPAN_COLUMNS))})"
    updates = ", ".join(f"{c} = excluded.{c}" for c in _SPAN_COLUMNS if c not in _SPAN_KEY)
    return (
        f"INSERT INTO spans ({', '.join(_SPAN_COLUMNS)}) VALUES {', '.join([one] * rows)} "
        f"ON CONFLICT ({', '.join(_SPAN_KEY)}) DO UPDATE SET {updates}"
    )


def _rows_per_statement(conn: sqlite3.Connection) -> int:
    getlimit = getattr(conn, "getlimit", None)  # Python 3.11+
    category = getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", None)
    limit = _OLD_VARIABLE_LIMIT
    if getlimit is not None and category is not None:
        limit = getlimit(category)
    fits = max(1, min(_MAX_ROWS_PER_STATEMENT, limit // len(_SPAN_COLUMNS)))
    return 1 << (fits.bit_length() - 1)  # a power of two


def _insert_spans(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], per: int) -> None:
    """Many span rows per statement: SQLite runs each statement in one go, while the
    ``sqlite3`` module lets go of the GIL and takes it back once per statement, not once
    per row (each hand-over costs the graph's threads a wait for the GIL). Statements
    hold a power of two of rows, so few distinct ones are prepared and cached."""
    i, n = 0, len(rows)
    while i < n:
        size = min(per, 1 << ((n - i).bit_length() - 1))
        chunk = rows[i : i + size]
        conn.execute(_span_sql(size), list(itertools.chain.from_iterable(chunk)))
        i += size


_TRACE_OPEN_SQL = """
INSERT INTO traces (trace_id, root_span_id, name, workflow, start_ns, status, tenant, user_id,
                    session_id, thread_id, tags, metadata)
VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id) DO UPDATE SET
    start_ns = min(start_ns, excluded.start_ns),
    root_span_id = coalesce(root_span_id, excluded.root_span_id),
    name = coalesce(name, excluded.name)
"""
_TRACE_FINISH_SQL = """
INSERT INTO traces (trace_id, root_span_id, name, workflow, start_ns, end_ns, status, tenant,
                    user_id, session_id, thread_id, tags, metadata)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id) DO UPDATE SET
    root_span_id = excluded.root_span_id, name = excluded.name, workflow = excluded.workflow,
    start_ns = min(start_ns, excluded.start_ns), end_ns = excluded.end_ns,
    status = excluded.status, tenant = excluded.tenant, user_id = excluded.user_id,
    session_id = excluded.session_id, thread_id = excluded.thread_id, tags = excluded.tags,
    metadata = excluded.metadata
"""
_SCORE_SQL = """
INSERT INTO scores (trace_id, span_id, name, value, data_type, time_ns, comment, source,
                    workflow, node, persona, passed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id, span_id, name, source, time_ns) DO UPDATE SET
    value = excluded.value, data_type = excluded.data_type, comment = excluded.comment,
    workflow = excluded.workflow, node = excluded.node, persona = excluded.persona,
    passed = excluded.passed
"""
_SWITCH_SQL = """
INSERT INTO persona_switches (trace_id, workflow, from_persona, to_persona, time_ns, span_id,
                              tenant)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id, to_persona, time_ns) DO NOTHING
"""
# One row per (window, counter): the newest state of a counter wins, an older update
# delivered late does not roll it back; the budget_usage view adds the counters up.
_BUDGET_SQL = """
INSERT INTO budget_counters (persona, window, window_key, tenant, counter, time_ns,
                             used_tokens, budget_tokens, used_usd, budget_usd, workflow,
                             trace_id, warned, exceeded)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (persona, window, window_key, tenant, counter) DO UPDATE SET
    time_ns = excluded.time_ns, used_tokens = excluded.used_tokens,
    budget_tokens = excluded.budget_tokens, used_usd = excluded.used_usd,
    budget_usd = excluded.budget_usd, workflow = excluded.workflow,
    trace_id = excluded.trace_id, warned = excluded.warned, exceeded = excluded.exceeded
WHERE excluded.time_ns >= budget_counters.time_ns
"""


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
    """The ``spans`` row of a record, in ``_SPAN_COLUMNS`` order (``trace_fields``: the
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
        conn.executemany(_TRACE_OPEN_SQL, opened.values())
    if span_rows:
        _insert_spans(conn, span_rows, per)
    if finished:
        conn.executemany(_TRACE_FINISH_SQL, finished)
    for r in records:
        if isinstance(r, (SpanRecord, WorkflowStarted)):
            continue
        if isinstance(r, ScoreRecord):
            conn.execute(_SCORE_SQL, _score_row(r))
        elif isinstance(r, PersonaSwitch):
            conn.execute(
                _SWITCH_SQL,
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
                _BUDGET_SQL,
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
        self._rows_per_statement = 1
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
            self._rows_per_statement = _rows_per_statement(conn)
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
                    _write(conn, records, self._rows_per_statement)
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
