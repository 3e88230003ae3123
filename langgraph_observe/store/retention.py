"""Retention: remove old traces from the local store while applications keep writing it.

>>> from datetime import timedelta
>>> from langgraph_observe.store import prune
>>> prune("traces.db", older_than=timedelta(days=30))          # PruneResult(traces=..., ...)
>>> prune("traces.db", keep_traces=10_000, vacuum=True)         # and give the space back

A trace goes whole: its ``traces`` row, spans, scores, persona switches and ``run``
budget windows (whose key is the trace id). Day and month budget windows are not part
of a trace: they go once they ended before the cut-off, never while current. The rows
are deleted in short ``BEGIN IMMEDIATE`` transactions, retried when the file is busy as
the writer retries its batches, so applications writing the file in WAL mode only wait
for one batch of deletions at a time. See ``docs/local-store.md`` ("Retention").
"""

from __future__ import annotations

import errno
import math
import sqlite3
import time
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from .._utc_windows import NS, epoch_ns
from ._busy import RETRIES, retry_when_busy, short_transaction
from ._vacuum import give_space_back
from .schema import SCHEMA_VERSION, StoreSchemaError, connect, ensure_schema

__all__ = ["RETRIES", "ROWS_PER_TRANSACTION", "TRACES_PER_TRANSACTION", "PruneResult", "prune"]

#: Traces removed per write transaction (with all their rows): short enough that a
#: writer waiting for the lock waits for one batch, not for the whole clean-up.
TRACES_PER_TRANSACTION = 500
#: Rows of other kinds (rows of no stored trace, ended budget windows) per transaction.
ROWS_PER_TRANSACTION = 5_000

_T = TypeVar("_T")

#: The rows of a trace in the tables besides ``traces``: table, the column holding the
#: trace id, and what else a row must match (a ``run`` budget window is keyed by its trace).
_TRACE_ROWS = (
    ("spans", "trace_id", ""),
    ("scores", "trace_id", ""),
    ("persona_switches", "trace_id", ""),
    ("budget_counters", "window_key", "window = 'run' AND "),
)

#: Rows whose trace has no ``traces`` row (a score sent for a trace this store never got,
#: a span that landed after its trace was removed): removed by their own time.
_ORPHAN_ROWS = {
    table: f"{extra}{time_column} < ? AND NOT EXISTS "
    f"(SELECT 1 FROM traces AS t WHERE t.trace_id = {table}.{column})"
    for (table, column, extra), time_column in zip(
        _TRACE_ROWS, ("start_ns", "time_ns", "time_ns", "time_ns"), strict=True
    )
}

_TABLES = ("traces", *(table for table, _, _ in _TRACE_ROWS))


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune` removed (in a dry run: would remove). ``bytes_before`` and
    ``bytes_after`` are the store file and its ``-wal`` file on disk."""

    traces: int = 0
    spans: int = 0
    scores: int = 0
    persona_switches: int = 0
    budget_counters: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    dry_run: bool = False
    vacuumed: bool = False

    @property
    def other_rows(self) -> int:
        """Removed rows that are neither traces nor spans."""
        return self.scores + self.persona_switches + self.budget_counters

    @property
    def removed_anything(self) -> bool:
        """True when a row of any kind went (or would go)."""
        return self.traces + self.spans + self.other_rows > 0


@dataclass(frozen=True)
class _Criteria:
    """Which traces go: started before ``cutoff_ns``, or finished and not among the
    newest ``keep_traces``."""

    cutoff_ns: int | None
    keep_traces: int | None

    def where(self) -> tuple[str, list[Any]]:
        """The condition on ``traces`` rows, and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.cutoff_ns is not None:
            clauses.append("start_ns < ?")
            params.append(self.cutoff_ns)
        if self.keep_traces is not None:
            clauses.append(
                "(status != 'running' AND trace_id NOT IN (SELECT trace_id FROM traces "
                "WHERE status != 'running' ORDER BY start_ns DESC, trace_id DESC LIMIT ?))"
            )
            params.append(self.keep_traces)
        return " OR ".join(clauses), params


def prune(
    path: Path | str,
    *,
    older_than: timedelta | float | None = None,
    keep_traces: int | None = None,
    vacuum: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneResult:
    """Remove whole traces that started more than ``older_than`` (seconds or a timedelta)
    before ``now``, or that are not among the newest ``keep_traces`` (give one or both).

    A trace still ``running`` (its root span not stored yet) is only removed by age, when it
    started before the cut-off. Rows of no stored trace go when older than the cut-off;
    day and month budget windows once they ended before it (never while current, whatever
    ``now`` says). ``vacuum`` then gives the freed space back to the disk (``VACUUM``, or
    ``PRAGMA incremental_vacuum`` on a file in incremental auto-vacuum mode), which holds
    the write lock for its whole duration. ``dry_run`` counts what would go, read-only.
    A missing file is left missing (nothing removed).

    Raises:
        ValueError: no criterion, or a negative one.
        IsADirectoryError: ``path`` is a directory.
        StoreSchemaError: the file was written by a newer version of the library.
        sqlite3.DatabaseError: the file is not a store, or stayed locked after every retry.
    """
    path = Path(path)
    criteria = _Criteria(_cutoff_ns(older_than, now), _keep(keep_traces))
    if criteria.cutoff_ns is None and criteria.keep_traces is None:
        raise ValueError("give older_than, keep_traces or both")
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a store file", str(path))
    if not path.is_file():
        return PruneResult(dry_run=dry_run)
    bytes_before = _disk_bytes(path)
    if dry_run:
        with closing(connect(path, readonly=True)) as conn:
            if not _check_schema(conn, path, migrate=False):
                return PruneResult(
                    bytes_before=bytes_before, bytes_after=bytes_before, dry_run=True
                )
            counts = _count(conn, criteria)
        return _result(counts, bytes_before, bytes_before, dry_run=True)
    with closing(connect(path)) as conn:
        if not _check_schema(conn, path, migrate=True):
            return PruneResult(bytes_before=bytes_before, bytes_after=bytes_before)
        counts = _remove(conn, criteria)
        if vacuum:
            give_space_back(conn)
    return _result(counts, bytes_before, _disk_bytes(path), vacuumed=vacuum)


def _result(
    counts: dict[str, int],
    bytes_before: int,
    bytes_after: int,
    *,
    dry_run: bool = False,
    vacuumed: bool = False,
) -> PruneResult:
    return PruneResult(
        traces=counts["traces"],
        spans=counts["spans"],
        scores=counts["scores"],
        persona_switches=counts["persona_switches"],
        budget_counters=counts["budget_counters"],
        bytes_before=bytes_before,
        bytes_after=bytes_after,
        dry_run=dry_run,
        vacuumed=vacuumed,
    )


_OLDEST_NS = -(2**63)  #: SQLite's smallest integer
_MOST_ROWS = 2**63 - 1  #: SQLite's largest integer


def _cutoff_ns(older_than: timedelta | float | None, now: datetime | None) -> int | None:
    if older_than is None:
        return None
    seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else older_than
    if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"older_than must be a duration of 0 or more, not {older_than!r}")
    age_ns = seconds * NS
    if age_ns >= -_OLDEST_NS:  # older than SQLite's integers reach: nothing is that old
        return _OLDEST_NS
    return max(epoch_ns(now) - round(age_ns), _OLDEST_NS)


def _keep(keep_traces: int | None) -> int | None:
    if keep_traces is not None and (
        isinstance(keep_traces, bool) or not isinstance(keep_traces, int) or keep_traces < 0
    ):
        raise ValueError(f"keep_traces must be a whole number of 0 or more, not {keep_traces!r}")
    return None if keep_traces is None else min(keep_traces, _MOST_ROWS)


def _disk_bytes(path: Path) -> int:
    """The store file and its ``-wal`` file, in bytes."""
    total = 0
    for file in (path, path.with_name(path.name + "-wal")):
        with suppress(OSError):
            total += file.stat().st_size
    return total


def _check_schema(conn: sqlite3.Connection, path: Path, *, migrate: bool) -> bool:
    """Refuse a file that is not a store or has a newer schema; ``migrate`` an older one
    (as a writer opening it would). False for an empty file (or one a writer is creating):
    nothing to prune yet."""
    version = retry_when_busy(lambda: conn.execute("PRAGMA user_version").fetchone()[0])
    if version == 0 and _has_tables(conn):
        raise sqlite3.DatabaseError(f"{path} is not a langgraph-observe store (no schema version)")
    if version == 0:  # empty, or a writer is creating it
        return False
    if version > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"store schema version {version} is newer than this library's ({SCHEMA_VERSION}); "
            "prune it with the version of langgraph-observe that writes it"
        )
    if version < SCHEMA_VERSION and migrate:
        retry_when_busy(lambda: ensure_schema(conn))
    return True


def _has_tables(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall())


# --- counting (dry run) -------------------------------------------------------------------
def _count(conn: sqlite3.Connection, criteria: _Criteria) -> dict[str, int]:
    """What :func:`_remove` would remove, in one read transaction (a file of an older
    schema: from the tables it has)."""
    tables = _existing_tables(conn)
    where, params = criteria.where()
    conn.execute("BEGIN")
    try:
        counts = {"traces": _scalar(conn, f"SELECT count(*) FROM traces WHERE {where}", params)}
        doomed = f"SELECT trace_id FROM traces WHERE {where}"
        for table, column, extra in _TRACE_ROWS:
            sql = f"SELECT count(*) FROM {table} WHERE {extra}{column} IN ({doomed})"
            counts[table] = _scalar(conn, sql, params) if table in tables else 0
        if criteria.cutoff_ns is not None:
            for table, condition in _ORPHAN_ROWS.items():
                if table in tables:
                    sql = f"SELECT count(*) FROM {table} WHERE {condition}"
                    counts[table] += _scalar(conn, sql, [criteria.cutoff_ns])
            if "budget_counters" in tables:
                counts["budget_counters"] += sum(
                    n for _, _, n in _ended_windows(conn, criteria.cutoff_ns)
                )
    finally:
        conn.execute("COMMIT")
    return counts


def _existing_tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _scalar(conn: sqlite3.Connection, sql: str, params: list[Any]) -> int:
    return int(conn.execute(sql, params).fetchone()[0])


# --- removing -------------------------------------------------------------------------------
def _remove(conn: sqlite3.Connection, criteria: _Criteria) -> dict[str, int]:
    """Remove the traces ``criteria`` pick with their rows, ``TRACES_PER_TRANSACTION`` at
    a time, then (with a cut-off) rows of no stored trace and ended budget windows."""
    counts = dict.fromkeys(_TABLES, 0)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (trace_id TEXT PRIMARY KEY)")
    where, params = criteria.where()
    while True:
        removed = short_transaction(conn, lambda: _remove_traces(conn, where, params))
        _add(counts, removed)
        if removed["traces"] < TRACES_PER_TRANSACTION:
            break  # fewer than a full batch were left: the rest is what came in meanwhile
    if criteria.cutoff_ns is not None:
        cutoff = criteria.cutoff_ns
        for table, condition in _ORPHAN_ROWS.items():
            counts[table] += _remove_rows(conn, table, condition, cutoff)
        counts["budget_counters"] += short_transaction(
            conn, lambda: _remove_ended_windows(conn, cutoff)
        )
    return counts


def _remove_rows(conn: sqlite3.Connection, table: str, condition: str, cutoff_ns: int) -> int:
    """Delete ``table``'s rows matching ``condition``, ``ROWS_PER_TRANSACTION`` at a time."""
    sql = (
        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {condition} LIMIT ?)"
    )
    removed = 0
    while True:
        n = short_transaction(
            conn, lambda: int(conn.execute(sql, [cutoff_ns, ROWS_PER_TRANSACTION]).rowcount)
        )
        removed += n
        if n < ROWS_PER_TRANSACTION:
            return removed


def _remove_traces(conn: sqlite3.Connection, where: str, params: list[Any]) -> dict[str, int]:
    """One batch: pick up to ``TRACES_PER_TRANSACTION`` traces, delete them and their rows.
    Runs inside the transaction, so a row written meanwhile cannot slip between the two."""
    conn.execute("DELETE FROM temp.doomed")
    conn.execute(
        f"INSERT INTO temp.doomed SELECT trace_id FROM main.traces WHERE {where} LIMIT ?",
        [*params, TRACES_PER_TRANSACTION],
    )
    doomed = "SELECT trace_id FROM temp.doomed"
    removed = {}
    for table, column, extra in _TRACE_ROWS:
        sql = f"DELETE FROM main.{table} WHERE {extra}{column} IN ({doomed})"
        removed[table] = conn.execute(sql).rowcount
    removed["traces"] = conn.execute(
        f"DELETE FROM main.traces WHERE trace_id IN ({doomed})"
    ).rowcount
    return removed


def _remove_ended_windows(conn: sqlite3.Connection, cutoff_ns: int) -> int:
    ended = _ended_windows(conn, cutoff_ns)
    if not ended:
        return 0
    cursor = conn.executemany(
        "DELETE FROM budget_counters WHERE window = ? AND window_key = ?",
        [(window, key) for window, key, _ in ended],
    )
    return int(cursor.rowcount)


def _ended_windows(conn: sqlite3.Connection, cutoff_ns: int) -> list[tuple[str, str, int]]:
    """Day and month budget windows that ended before the cut-off and before now: (window,
    key, counter rows). A key that is not a ``YYYY-MM-DD`` / ``YYYY-MM`` period (after a
    ``<workflow>/`` prefix) is kept."""
    limit = min(cutoff_ns, time.time_ns())  # a window still current stays, whatever `now`
    rows = conn.execute(
        "SELECT window, window_key, count(*) FROM budget_counters "
        "WHERE window IN ('day', 'month') GROUP BY window, window_key"
    ).fetchall()
    return [
        (window, key, n)
        for window, key, n in rows
        if (end := _window_end_ns(window, key)) is not None and end <= limit
    ]


def _window_end_ns(window: str, key: str) -> int | None:
    """When a day or month window ends (UTC), None for a key that names no period."""
    period = key.rsplit("/", 1)[-1]
    try:
        if window == "day":
            start = datetime.strptime(period, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return int((start + timedelta(days=1)).timestamp()) * NS
        start = datetime.strptime(period, "%Y-%m").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    year, month = divmod(start.month, 12)  # the month after: (year + 1, 0) after December
    return int(start.replace(year=start.year + year, month=month + 1).timestamp()) * NS


def _add(counts: dict[str, int], removed: dict[str, int]) -> None:
    for table, n in removed.items():
        counts[table] += n
