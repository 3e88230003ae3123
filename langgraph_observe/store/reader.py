"""Read the local store: the query API the CLI, ``explore``, analytics and budgets share.

>>> from langgraph_observe.store import LocalStore
>>> store = LocalStore()                      # ./.langgraph_observe/traces.db
>>> store.traces(limit=5)                     # newest first, with roll-ups
>>> store.spans(trace_id=store.resolve_trace_id("3fa2"))
>>> store.budget_used("backend-engineer", "day", "2026-11-23")   # (tokens, usd)

Opens the file read-only and never creates it: on a missing file every query returns
nothing. Rows are plain dicts; JSON columns (``attributes``, ``events``, ``tags``,
``metadata``) come back decoded and ``tokens_estimated``/``passed``/``warned``/``exceeded``
as booleans.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._forksafe import renew_after_fork
from ..config_file import configured_settings
from .schema import connect, file_identity

__all__ = ["LocalStore", "TraceNotFound"]

_JSON_COLUMNS = ("attributes", "events", "tags", "metadata")
_BOOL_COLUMNS = ("tokens_estimated", "passed", "warned", "exceeded")

# Token and cost roll-ups count model calls only (LLM and embedding spans), so a node that
# also reports its children's usage is never counted twice.
_TRACES_SQL = """
SELECT t.trace_id, t.root_span_id, t.name, t.workflow, t.start_ns, t.end_ns, t.status,
       t.tenant, t.user_id, t.session_id, t.thread_id, t.tags, t.metadata,
       count(s.span_id) AS span_count,
       coalesce(sum(s.status = 'error'), 0) AS error_count,
       sum(CASE WHEN s.kind IN ('llm', 'embedding') THEN s.input_tokens END) AS input_tokens,
       sum(CASE WHEN s.kind IN ('llm', 'embedding') THEN s.output_tokens END) AS output_tokens,
       sum(CASE WHEN s.kind IN ('llm', 'embedding')
                THEN coalesce(s.total_tokens, coalesce(s.input_tokens, 0)
                                              + coalesce(s.output_tokens, 0)) END)
           AS total_tokens,
       sum(CASE WHEN s.kind IN ('llm', 'embedding') THEN s.cost_usd END) AS cost_usd,
       max(s.end_ns) AS last_end_ns
FROM (SELECT * FROM traces {where} ORDER BY start_ns DESC {limit}) AS t
LEFT JOIN spans AS s ON s.trace_id = t.trace_id
GROUP BY t.trace_id
ORDER BY t.start_ns DESC
"""


class TraceNotFound(LookupError):
    """No trace, or more than one, matches an id prefix."""


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for c in _JSON_COLUMNS:
        if c in row and isinstance(row[c], str):
            row[c] = json.loads(row[c])
    for c in _BOOL_COLUMNS:
        if c in row and row[c] is not None:
            row[c] = bool(row[c])
    return row


_inherited: list[sqlite3.Connection] = []  #: a parent's connections, never used or closed


def _let_go_of_connection(store: LocalStore) -> None:
    if store._conn is not None:
        _inherited.append(store._conn)
        store._conn = None


class LocalStore:
    """A read-only view of one store file.

    Args:
        path: the SQLite file; by default the resolved ``store_path`` setting
            (``LANGGRAPH_OBSERVE_STORE`` or ``./.langgraph_observe/traces.db``).
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else configured_settings().store_path
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  #: (device, inode) of the open file
        self._lock = threading.Lock()
        # a connection must not be used across a fork: the child opens its own
        renew_after_fork(self, "_lock", reset=_let_go_of_connection)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.path)!r})"

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def exists(self) -> bool:
        """True when the store file exists (nothing has been written otherwise)."""
        return self.path.is_file()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a read-only SQL query; rows as dicts (JSON columns decoded). Empty when the
        file does not exist or holds no tables yet."""
        with self._lock:
            identity = file_identity(self.path)
            if self._conn is not None and identity != self._file:  # deleted or replaced
                self._conn.close()
                self._conn = None
            if self._conn is None:
                if identity is None or not self.exists:
                    return []
                self._conn = connect(self.path, readonly=True)
                self._conn.row_factory = sqlite3.Row
                self._file = identity
            try:
                rows = self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise
        return [_decode(dict(r)) for r in rows]

    def schema_version(self) -> int:
        """``PRAGMA user_version`` of the file (0 when missing or empty)."""
        rows = self.query("PRAGMA user_version")
        return int(rows[0]["user_version"]) if rows else 0

    # --- traces and spans ---------------------------------------------------------------
    def traces(
        self,
        *,
        limit: int | None = None,
        workflow: str | None = None,
        status: str | None = None,
        since_ns: int | None = None,
    ) -> list[dict[str, Any]]:
        """One dict per trace, newest first: the ``traces`` columns plus ``span_count``,
        ``error_count``, ``input_tokens``, ``output_tokens``, ``total_tokens``, ``cost_usd``
        and ``last_end_ns``. ``status`` is ``running`` until the root span lands."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("workflow", workflow), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since_ns is not None:
            clauses.append("start_ns >= ?")
            params.append(since_ns)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = ""
        if limit is not None:
            tail = "LIMIT ?"
            params.append(int(limit))
        return self.query(_TRACES_SQL.format(where=where, limit=tail), params)

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The :meth:`traces` row of one trace (exact id), or None."""
        rows = self.query(_TRACES_SQL.format(where="WHERE trace_id = ?", limit=""), [trace_id])
        return rows[0] if rows else None

    def resolve_trace_id(self, prefix: str) -> str:
        """The one trace id starting with ``prefix`` (case-insensitive).

        Raises:
            TraceNotFound: when none or several match.
        """
        prefix = prefix.strip().lower()
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.query(
            "SELECT trace_id FROM traces WHERE trace_id LIKE ? ESCAPE '\\' "
            "UNION SELECT DISTINCT trace_id FROM spans "
            "WHERE trace_id LIKE ? ESCAPE '\\' LIMIT 6",
            [like, like],
        )
        ids = sorted(r["trace_id"] for r in rows)
        if not ids:
            raise TraceNotFound(f"no trace id starts with {prefix!r} in {self.path}")
        if len(ids) > 1:
            raise TraceNotFound(
                f"{prefix!r} matches several traces: {', '.join(ids[:5])}"
                + (" ..." if len(ids) > 5 else "")
            )
        return str(ids[0])

    def spans(
        self, *, trace_id: str | None = None, since_ns: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Span rows (every ``spans`` column), oldest first."""
        clauses: list[str] = []
        params: list[Any] = []
        if trace_id is not None:
            clauses.append("trace_id = ?")
            params.append(trace_id)
        if since_ns is not None:
            clauses.append("start_ns >= ?")
            params.append(since_ns)
        sql = "SELECT * FROM spans"
        if clauses:
            sql += f" WHERE {' AND '.join(clauses)}"
        sql += " ORDER BY start_ns, end_ns DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self.query(sql, params)

    def count_spans(self) -> int:
        rows = self.query("SELECT count(*) AS n FROM spans")
        return int(rows[0]["n"]) if rows else 0

    # --- scores, personas, budgets ------------------------------------------------------
    def scores(self, *, trace_id: str | None = None) -> list[dict[str, Any]]:
        """Score rows, oldest first (``span_id`` is ``''`` for trace-level scores)."""
        if trace_id is None:
            return self.query("SELECT * FROM scores ORDER BY time_ns")
        return self.query("SELECT * FROM scores WHERE trace_id = ? ORDER BY time_ns", [trace_id])

    def persona_switches(self, *, trace_id: str | None = None) -> list[dict[str, Any]]:
        """Persona switch rows, oldest first."""
        if trace_id is None:
            return self.query("SELECT * FROM persona_switches ORDER BY time_ns")
        return self.query(
            "SELECT * FROM persona_switches WHERE trace_id = ? ORDER BY time_ns", [trace_id]
        )

    def budget_usage(self) -> list[dict[str, Any]]:
        """The latest state of every persona budget window (``tenant`` is ``''`` for none)."""
        return self.query("SELECT * FROM budget_usage ORDER BY persona, window, window_key")

    def budget_used(
        self, persona: str, window: str, window_key: str, tenant: str | None = None
    ) -> tuple[int, float]:
        """Tokens and USD used so far in one budget window, as last recorded by any
        process: ``(0, 0.0)`` when nothing was recorded."""
        rows = self.query(
            "SELECT used_tokens, used_usd FROM budget_usage WHERE persona = ? "
            "AND window = ? AND window_key = ? AND tenant = ?",
            [persona, window, window_key, tenant or ""],
        )
        if not rows:
            return 0, 0.0
        return int(rows[0]["used_tokens"]), float(rows[0]["used_usd"])
