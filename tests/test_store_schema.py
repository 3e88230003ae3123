"""The local store's file: schema versions and migrations, journal mode, pages, indexes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import SCHEMA_VERSION, LocalStore, StoreSchemaError

from .test_local_store import make_spans, make_trace

pytestmark = pytest.mark.unit


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreSchemaError, match="newer"):
        LocalStoreSink(path).export(make_spans(make_trace(6)))


def test_file_is_in_wal_mode_with_indexes(tmp_path: Path) -> None:
    sink = LocalStoreSink(tmp_path / "t.db")
    sink.export(make_spans(make_trace(7)))
    sink.shutdown(1.0)
    conn = sqlite3.connect(tmp_path / "t.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"spans_start_ns", "spans_workflow", "traces_start_ns"} <= indexes
    assert "spans_trace_id" not in indexes  # the primary key's index serves trace_id
    plan = conn.execute("EXPLAIN QUERY PLAN SELECT * FROM spans WHERE trace_id = ?", ("x",))
    assert "USING INDEX sqlite_autoindex_spans_1 (trace_id=?)" in str(plan.fetchall())
    conn.close()


def test_new_files_get_16k_pages_and_older_files_keep_theirs(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute("CREATE TABLE unrelated (x)")  # a file created with SQLite's default size
    conn.close()
    for path in (tmp_path / "new.db", old):
        LocalStoreSink(path).export(make_spans(make_trace(9)))
    sizes = []
    for path in (tmp_path / "new.db", old):
        conn = sqlite3.connect(path)
        sizes.append(conn.execute("PRAGMA page_size").fetchone()[0])
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 4
        conn.close()
    assert sizes == [16384, 4096]


def test_schema_v2_drops_the_index_the_primary_key_covers(tmp_path: Path) -> None:
    from langgraph_observe.store.schema import connect, ensure_schema

    db = tmp_path / "v2.db"
    LocalStoreSink(db).export(make_spans(make_trace(8)))
    conn = sqlite3.connect(db)
    conn.executescript("CREATE INDEX spans_trace_id ON spans (trace_id); PRAGMA user_version = 2;")
    conn.close()
    conn = connect(db)
    ensure_schema(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "spans_trace_id" not in names and "spans_start_ns" in names
    conn.close()
    with LocalStore(db) as store:
        assert store.count_spans() == 4


def test_schema_v1_budget_table_is_migrated(tmp_path):
    from langgraph_observe.store.schema import connect, ensure_schema

    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE budget_usage (persona TEXT NOT NULL, window TEXT NOT NULL,
            window_key TEXT NOT NULL, tenant TEXT NOT NULL DEFAULT '', time_ns INTEGER NOT NULL,
            used_tokens INTEGER NOT NULL, budget_tokens INTEGER, used_usd REAL NOT NULL,
            budget_usd REAL, workflow TEXT, trace_id TEXT, warned INTEGER NOT NULL DEFAULT 0,
            exceeded INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (persona, window, window_key, tenant));
        INSERT INTO budget_usage VALUES ('p', 'day', '2026-11-23', '', 1, 70, 100, 0.5, NULL,
            'wf', 't', 0, 0);
        PRAGMA user_version = 1;
        """
    )
    conn.close()
    conn = connect(db)
    ensure_schema(conn)
    conn.close()
    with LocalStore(db) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.budget_used("p", "day", "2026-11-23") == (70, 0.5)
        (row,) = store.budget_usage()
    assert row["budget_tokens"] == 100 and row["counters"] == 1
