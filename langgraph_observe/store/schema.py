"""The local store's SQLite schema and connection setup.

One file, WAL mode (readers never block the writer and see committed batches), a busy
timeout so several processes can write the same file, and ``PRAGMA user_version`` as
the schema version. Tables:

* ``spans`` — one row per finished span, keyed by ``(trace_id, span_id)`` (the key's
  index serves lookups by trace id).
* ``traces`` — one row per trace: written ``running`` when the workflow starts (or its
  first span lands) and finished by the root span. Roll-ups (span count, tokens, cost)
  are computed from ``spans`` when read.
* ``scores``, ``persona_switches`` — one row per record (re-delivery does not duplicate).
* ``budget_counters`` — the latest state of each persona budget window, one row per
  counter (budget tracker), so processes sharing the file never overwrite each other;
* ``budget_usage`` — a view adding the counters up: one row per window.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

__all__ = [
    "BUSY_TIMEOUT_MS",
    "PAGE_SIZE",
    "SCHEMA_VERSION",
    "StoreSchemaError",
    "connect",
    "ensure_schema",
]

SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 10_000
PAGE_SIZE = 16_384  #: bytes per page of a new file

_DDL = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_type TEXT,
    error_message TEXT,
    error_class TEXT,
    workflow TEXT,
    node TEXT,
    persona TEXT,
    model TEXT,
    provider TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_tokens INTEGER,
    cached_input_tokens INTEGER,
    cache_creation_tokens INTEGER,
    reasoning_tokens INTEGER,
    tokens_estimated INTEGER,
    cost_usd REAL,
    input TEXT,
    output TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    events TEXT NOT NULL DEFAULT '[]',
    tenant TEXT,
    user_id TEXT,
    session_id TEXT,
    thread_id TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_start_ns ON spans (start_ns);
CREATE INDEX IF NOT EXISTS spans_workflow ON spans (workflow, start_ns);

CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    root_span_id TEXT,
    name TEXT,
    workflow TEXT,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER,
    status TEXT NOT NULL,
    tenant TEXT,
    user_id TEXT,
    session_id TEXT,
    thread_id TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS traces_start_ns ON traces (start_ns);
CREATE INDEX IF NOT EXISTS traces_workflow ON traces (workflow, start_ns);

CREATE TABLE IF NOT EXISTS scores (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    value,
    data_type TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    comment TEXT,
    source TEXT NOT NULL,
    workflow TEXT,
    node TEXT,
    persona TEXT,
    passed INTEGER,
    UNIQUE (trace_id, span_id, name, source, time_ns)
);
CREATE INDEX IF NOT EXISTS scores_trace_id ON scores (trace_id);

CREATE TABLE IF NOT EXISTS persona_switches (
    trace_id TEXT NOT NULL,
    workflow TEXT,
    from_persona TEXT,
    to_persona TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    span_id TEXT,
    tenant TEXT,
    UNIQUE (trace_id, to_persona, time_ns)
);

CREATE TABLE IF NOT EXISTS budget_counters (
    persona TEXT NOT NULL,
    window TEXT NOT NULL,
    window_key TEXT NOT NULL,
    tenant TEXT NOT NULL DEFAULT '',
    counter TEXT NOT NULL DEFAULT '',
    time_ns INTEGER NOT NULL,
    used_tokens INTEGER NOT NULL,
    budget_tokens INTEGER,
    used_usd REAL NOT NULL,
    budget_usd REAL,
    workflow TEXT,
    trace_id TEXT,
    warned INTEGER NOT NULL DEFAULT 0,
    exceeded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (persona, window, window_key, tenant, counter)
);

CREATE VIEW IF NOT EXISTS budget_usage AS
SELECT persona, window, window_key, tenant,
       MAX(time_ns) AS time_ns,
       SUM(used_tokens) AS used_tokens,
       MAX(budget_tokens) AS budget_tokens,
       SUM(used_usd) AS used_usd,
       MAX(budget_usd) AS budget_usd,
       MAX(workflow) AS workflow,
       MAX(trace_id) AS trace_id,
       MAX(warned) AS warned,
       MAX(exceeded) AS exceeded,
       COUNT(*) AS counters
FROM budget_counters
GROUP BY persona, window, window_key, tenant;
"""


_MIGRATE_V1_BUDGETS = """
INSERT OR IGNORE INTO budget_counters (persona, window, window_key, tenant, counter, time_ns,
    used_tokens, budget_tokens, used_usd, budget_usd, workflow, trace_id, warned, exceeded)
SELECT persona, window, window_key, tenant, '', time_ns, used_tokens, budget_tokens,
       used_usd, budget_usd, workflow, trace_id, warned, exceeded
FROM budget_usage_v1
"""


class StoreSchemaError(RuntimeError):
    """The file was written by a newer version of the library (unknown schema)."""


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``, None when there is none: a connection
    opened on another identity reads a deleted or replaced file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread
    (callers serialize access). ``readonly`` opens the file without creating it; a store
    whose directory the reader cannot write (where SQLite cannot create the WAL's shared
    memory file) is opened as immutable when no writer left a ``-wal`` file beside it."""
    if not readonly:
        conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return conn
    uri = path.resolve().as_uri() + "?mode=ro"
    conn = _open_uri(uri)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn
    except sqlite3.OperationalError:
        if os.access(path.parent, os.W_OK):
            return conn  # not a read-only directory: the query itself will say what is wrong
        conn.close()
    if os.path.exists(f"{path}-wal"):
        raise sqlite3.OperationalError(
            f"cannot read {path}: its directory is not writable and a writer's {path.name}-wal "
            "is beside it (SQLite must create the WAL's shared memory file to read it); "
            "copy the file together with its -wal file to a writable directory"
        )
    return _open_uri(uri + "&immutable=1")  # no writer left a WAL: nothing else to read


def _open_uri(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Switch to WAL and create the tables if missing. Safe when several processes race."""
    # A new file gets 16 KiB pages (an existing one keeps its size): half the writes
    # to the WAL and the file for the same rows, and spans with long payloads stay on
    # one page instead of spilling to overflow pages.
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"store schema version {version} is newer than this library's ({SCHEMA_VERSION}); "
            "upgrade langgraph-observe or use another store path"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may
        if version == SCHEMA_VERSION:  # have created or migrated it meanwhile
            conn.execute("COMMIT")
            return
        if version == 1:  # budget_usage was a table with one row per window
            conn.execute("ALTER TABLE budget_usage RENAME TO budget_usage_v1")
        for statement in _DDL.split(";"):
            if statement.strip():
                conn.execute(statement)
        if version == 1:
            conn.execute(_MIGRATE_V1_BUDGETS)
            conn.execute("DROP TABLE budget_usage_v1")
        # up to version 2, spans had an index on trace_id alone: the primary key's index
        # serves the same lookups, and keeping both cost every span insert one more B-tree
        conn.execute("DROP INDEX IF EXISTS spans_trace_id")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
