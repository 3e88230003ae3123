"""The SQL the store writer runs: upserts for spans, traces, scores, persona switches and
budget counters, span rows many to a statement, and the rows of the records that are
not spans."""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from ..events import BudgetUpdate, PersonaSwitch, Record, ScoreRecord

__all__ = [
    "BUDGET_SQL",
    "MAX_ROWS_PER_STATEMENT",
    "SCORE_SQL",
    "SPAN_COLUMNS",
    "SWITCH_SQL",
    "TRACE_FINISH_SQL",
    "TRACE_OPEN_SQL",
    "insert_spans",
    "insert_traces",
    "many_rows_sql",
    "other_statement",
    "rows_per_statement",
    "upsert_rows",
]

SPAN_COLUMNS = (
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


SPAN_KEY = ("trace_id", "span_id")
#: SQLite's bound-parameter limit before 3.32 (newer builds allow 32766; asked when possible)
_OLD_VARIABLE_LIMIT = 999
MAX_ROWS_PER_STATEMENT = 64


@functools.lru_cache(maxsize=16)
def span_sql(rows: int) -> str:
    """The span upsert for ``rows`` rows in one statement."""
    one = f"({', '.join('?' * len(SPAN_COLUMNS))})"
    updates = ", ".join(f"{c} = excluded.{c}" for c in SPAN_COLUMNS if c not in SPAN_KEY)
    return (
        f"INSERT INTO spans ({', '.join(SPAN_COLUMNS)}) VALUES {', '.join([one] * rows)} "
        f"ON CONFLICT ({', '.join(SPAN_KEY)}) DO UPDATE SET {updates}"
    )


@functools.lru_cache(maxsize=32)
def many_rows_sql(sql: str, rows: int) -> str:
    """``sql``, an upsert of one ``VALUES (...)`` row, for ``rows`` rows."""
    start = sql.index("(", sql.index("VALUES"))
    end = sql.index(")", start) + 1
    return sql[:start] + ", ".join([sql[start:end]] * rows) + sql[end:]


def rows_per_statement(conn: sqlite3.Connection) -> int:
    getlimit = getattr(conn, "getlimit", None)  # Python 3.11+
    category = getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", None)
    limit = _OLD_VARIABLE_LIMIT
    if getlimit is not None and category is not None:
        limit = getlimit(category)
    fits = max(1, min(MAX_ROWS_PER_STATEMENT, limit // len(SPAN_COLUMNS)))
    return 1 << (fits.bit_length() - 1)  # a power of two


def upsert_rows(
    conn: sqlite3.Connection,
    sql_of: Callable[[int], str],
    rows: Sequence[tuple[Any, ...]],
    per: int,
) -> None:
    """Many rows per statement (``sql_of(n)``: the statement for ``n`` rows): SQLite runs
    each statement in one go, while the ``sqlite3`` module lets go of the GIL and takes it
    back once per statement, not once per row as ``executemany`` does (each hand-over
    costs the graph's threads a wait for the GIL). Statements hold a power of two of rows
    (at most ``per``, which ``rows_per_statement`` fits to the widest row, the span's),
    so few distinct ones are prepared and cached."""
    i, n = 0, len(rows)
    while i < n:
        size = min(per, 1 << ((n - i).bit_length() - 1))
        conn.execute(sql_of(size), list(itertools.chain.from_iterable(rows[i : i + size])))
        i += size


def insert_spans(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]], per: int) -> None:
    """Span rows, ``per`` to a statement (see :func:`upsert_rows`)."""
    upsert_rows(conn, span_sql, rows, per)


def insert_traces(
    conn: sqlite3.Connection, sql: str, rows: Sequence[tuple[Any, ...]], per: int
) -> None:
    """Trace rows (``sql``: ``TRACE_OPEN_SQL`` or ``TRACE_FINISH_SQL``), many to a
    statement (see :func:`upsert_rows`)."""
    upsert_rows(conn, functools.partial(many_rows_sql, sql), rows, per)


TRACE_OPEN_SQL = """
INSERT INTO traces (trace_id, root_span_id, name, workflow, start_ns, status, tenant, user_id,
                    session_id, thread_id, tags, metadata)
VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id) DO UPDATE SET
    start_ns = min(start_ns, excluded.start_ns),
    root_span_id = coalesce(root_span_id, excluded.root_span_id),
    name = coalesce(name, excluded.name)
"""
TRACE_FINISH_SQL = """
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
SCORE_SQL = """
INSERT INTO scores (trace_id, span_id, name, value, data_type, time_ns, comment, source,
                    workflow, node, persona, passed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id, span_id, name, source, time_ns) DO UPDATE SET
    value = excluded.value, data_type = excluded.data_type, comment = excluded.comment,
    workflow = excluded.workflow, node = excluded.node, persona = excluded.persona,
    passed = excluded.passed
"""
SWITCH_SQL = """
INSERT INTO persona_switches (trace_id, workflow, from_persona, to_persona, time_ns, span_id,
                              tenant)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id, to_persona, time_ns) DO NOTHING
"""
# One row per (window, counter): the newest state of a counter wins, an older update
# delivered late does not roll it back; the budget_usage view adds the counters up.
BUDGET_SQL = """
INSERT INTO budget_counters (persona, window, window_key, tenant, counter, time_ns,
                             used_tokens, budget_tokens, used_usd, budget_usd, workflow,
                             trace_id, warned, exceeded)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (persona, window, window_key, tenant, counter) DO UPDATE SET
    time_ns = excluded.time_ns, used_tokens = excluded.used_tokens,
    budget_tokens = excluded.budget_tokens, used_usd = excluded.used_usd,
    budget_usd = excluded.budget_usd, workflow = excluded.workflow,
    trace_id = excluded.trace_id,
    warned = MAX(budget_counters.warned, excluded.warned),
    exceeded = MAX(budget_counters.exceeded, excluded.exceeded)
WHERE excluded.time_ns >= budget_counters.time_ns
"""


def other_statement(r: Record) -> tuple[str, tuple[Any, ...]] | None:
    """The upsert of a score, a persona switch or a budget update."""
    if isinstance(r, ScoreRecord):
        return SCORE_SQL, _score_row(r)
    if isinstance(r, PersonaSwitch):
        return SWITCH_SQL, (r.trace_id, r.workflow, r.from_persona, r.to_persona, r.time_ns,
                            r.span_id, r.tenant)  # fmt: skip
    if isinstance(r, BudgetUpdate):
        return BUDGET_SQL, (
            r.persona, r.window, r.window_key, r.tenant or "", r.counter, r.time_ns,
            r.used_tokens if r.counter_tokens is None else r.counter_tokens,
            r.budget_tokens, r.used_usd if r.counter_usd is None else r.counter_usd,
            r.budget_usd, r.workflow, r.trace_id, int(r.warned), int(r.exceeded),
        )  # fmt: skip
    return None


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
