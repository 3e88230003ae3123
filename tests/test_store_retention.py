"""Retention: ``prune`` on stores written by real graphs, with every per-trace table
filled, while a handler keeps writing."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_observe import score
from langgraph_observe.store import LocalStore, prune, retention

from . import graphs
from .prune_setup import (
    DAYS_30,
    Recorder,
    blocking_graph,
    budget_keys,
    db_fingerprint,
    recording,
    removed_counts,
    rows_of,
    run_cli,
    running,
    stored_budget,
    table_counts,
    utc_now,
    wal_size,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    yield from recording(tmp_path)


@pytest.fixture
def running_trace(recorder: Recorder) -> Iterator[str]:
    yield from running(recorder)


def test_every_per_trace_table_is_filled(recorder: Recorder) -> None:
    """The fixture the other tests rely on: a run leaves rows in every per-trace table."""
    trace_id = recorder.run()
    rows = rows_of(recorder.path, trace_id)
    assert {t: len(r) for t, r in rows.items()} == {
        "traces": 1, "spans": 8, "scores": 2, "persona_switches": 2, "budget_counters": 1,
    }  # fmt: skip
    with LocalStore(recorder.path) as store:
        assert [(r["persona"], r["window"]) for r in store.budget_usage()] == [
            ("planner", "run"), ("writer", "day"),
        ]  # fmt: skip


def test_older_than_removes_whole_old_traces_and_nothing_else(recorder: Recorder) -> None:
    path = recorder.path
    old = [recorder.run() for _ in range(3)]
    lost_score = "e" * 32  # a score for a trace this store never got
    score(lost_score, "helpful", False, handler=recorder.handler, source="feedback")
    assert recorder.handler.flush(10)
    stored_budget(path, "day", "2020-01-01")  # ended long ago
    stored_budget(path, "month", "linear/2020-01")  # per workflow, ended
    stored_budget(path, "day", "not-a-date")  # names no period: kept
    time.sleep(0.01)
    mid = utc_now()
    time.sleep(0.01)
    new = [recorder.run() for _ in range(2)]
    late_score = "f" * 32
    score(late_score, "helpful", True, handler=recorder.handler, source="feedback")
    assert recorder.handler.flush(10)
    kept_rows = {t: rows_of(path, t) for t in new}
    old_rows = [rows_of(path, t) for t in old]
    today = time.strftime("%Y-%m-%d", time.gmtime())

    result = prune(path, older_than=DAYS_30, now=mid + DAYS_30)

    assert {t: rows_of(path, t) for t in new} == kept_rows, "younger traces are untouched"
    assert all(not any(rows_of(path, t).values()) for t in old), "old traces go whole"
    expected = {table: sum(len(r[table]) for r in old_rows) for table in kept_rows[new[0]]}
    expected["scores"] += 1  # the lost trace's score
    expected["budget_counters"] += 2  # the two ended windows
    assert removed_counts(result) == expected
    with LocalStore(path) as store:
        assert [r["trace_id"] for r in store.scores() if r["trace_id"] in (lost_score,
                late_score)] == [late_score]  # fmt: skip
        assert {r["trace_id"] for r in store.traces()} == set(new)
    assert budget_keys(path) == {("day", today), ("day", "not-a-date")} | {
        ("run", t) for t in new
    }, "the current day window stays"
    assert not result.dry_run and not result.vacuumed
    assert result.bytes_before > 0 and result.bytes_after > 0


def test_the_current_budget_window_stays_whatever_now_says(recorder: Recorder) -> None:
    recorder.run()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    month = today[:7]
    stored_budget(recorder.path, "month", month)
    far = utc_now() + timedelta(days=400)
    result = prune(recorder.path, older_than=DAYS_30, now=far)
    assert result.traces == 1
    assert budget_keys(recorder.path) == {("day", today), ("month", month)}


def test_keep_keeps_the_newest_and_every_running_trace(
    recorder: Recorder, running_trace: str
) -> None:
    finished = [recorder.run() for _ in range(3)]
    running_rows = rows_of(recorder.path, running_trace)
    assert running_rows["spans"], "the running trace has stored spans"
    newest = rows_of(recorder.path, finished[-1])

    result = prune(recorder.path, keep_traces=1)

    assert result.traces == 2
    with LocalStore(recorder.path) as store:
        assert {r["trace_id"] for r in store.traces()} == {running_trace, finished[-1]}
    assert rows_of(recorder.path, running_trace) == running_rows
    assert rows_of(recorder.path, finished[-1]) == newest
    assert prune(recorder.path, keep_traces=0).traces == 1
    with LocalStore(recorder.path) as store:
        assert [r["trace_id"] for r in store.traces()] == [running_trace]


def test_keep_counts_finished_traces_only(recorder: Recorder) -> None:
    """Runs in flight newer than the finished traces do not take the places of those."""
    finished = [recorder.run() for _ in range(3)]
    entered, release = threading.Event(), threading.Event()
    runner = threading.Thread(
        target=blocking_graph(entered, release).invoke,
        args=({"log": []}, {"callbacks": [recorder.handler]}),
    )
    runner.start()
    try:
        assert entered.wait(10)
        assert recorder.handler.flush(10)
        result = prune(recorder.path, keep_traces=2)
        with LocalStore(recorder.path) as store:
            left = {r["trace_id"]: r["status"] for r in store.traces()}
    finally:
        release.set()
        runner.join(10)
    assert result.traces == 1
    assert set(left) - set(finished) and list(left.values()).count("running") == 1
    assert set(finished[1:]) <= set(left) and finished[0] not in left


def test_ages_and_counts_beyond_what_sqlite_holds_remove_nothing(recorder: Recorder) -> None:
    recorder.run()
    assert prune(recorder.path, older_than=1e300).traces == 0
    assert prune(recorder.path, older_than=timedelta(days=999_999_999)).traces == 0
    assert prune(recorder.path, keep_traces=10**30).traces == 0
    assert table_counts(recorder.path)["traces"] == 1


@pytest.mark.parametrize("content", [b"", None], ids=["zero-bytes", "no-tables"])
def test_a_store_file_not_written_yet_has_nothing_to_prune(tmp_path: Path, content) -> None:
    path = tmp_path / "new.db"
    if content is None:
        sqlite3.connect(path).close()
        path.write_bytes(path.read_bytes())  # an empty SQLite file, as a writer creates it
    else:
        path.write_bytes(content)
    for dry_run in (True, False):
        assert prune(path, keep_traces=0, dry_run=dry_run).traces == 0
    assert run_cli("traces", "prune", "--keep", "0", "--store", str(path))[0] == 0


def test_vacuum_does_not_wait_for_a_reader(recorder: Recorder) -> None:
    """The closing checkpoint skips a store a reader holds a snapshot of, instead of
    holding the write lock (and the writers) for the busy timeout."""
    recorder.run()
    reader = sqlite3.connect(recorder.path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM spans").fetchall()  # a snapshot held
    try:
        started = time.monotonic()
        prune(recorder.path, keep_traces=0, vacuum=True)
        took = time.monotonic() - started
    finally:
        reader.rollback()
        reader.close()
    assert took < 5  # the busy timeout is 10 s


def test_a_running_trace_goes_only_when_older_than_the_cutoff(
    recorder: Recorder, running_trace: str
) -> None:
    with LocalStore(recorder.path) as store:
        started = store.trace(running_trace)["start_ns"]  # type: ignore[index]
    start = datetime.fromtimestamp(started / 1e9, timezone.utc)
    before = prune(recorder.path, older_than=DAYS_30, now=start + DAYS_30 - timedelta(seconds=1))
    assert before.traces == 0 and rows_of(recorder.path, running_trace)["traces"]
    after = prune(recorder.path, older_than=DAYS_30, now=start + DAYS_30 + timedelta(seconds=1))
    assert after.traces == 1 and not any(rows_of(recorder.path, running_trace).values())


def test_both_criteria_remove_what_either_picks(recorder: Recorder) -> None:
    old = recorder.run()
    time.sleep(0.01)
    mid = utc_now()
    time.sleep(0.01)
    new = [recorder.run() for _ in range(3)]
    result = prune(recorder.path, older_than=DAYS_30, now=mid + DAYS_30, keep_traces=2)
    assert result.traces == 2
    with LocalStore(recorder.path) as store:
        assert {r["trace_id"] for r in store.traces()} == set(new[1:])
    assert not any(rows_of(recorder.path, old).values())


def test_dry_run_counts_the_same_and_changes_nothing(recorder: Recorder) -> None:
    for _ in range(3):
        recorder.run()
    mid = utc_now()
    time.sleep(0.01)
    recorder.run()
    stored_budget(recorder.path, "day", "2020-01-01")
    recorder.handler.flush(10)
    sqlite3.connect(recorder.path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    before = db_fingerprint(recorder.path)

    dry = prune(recorder.path, older_than=DAYS_30, now=mid + DAYS_30, keep_traces=3,
                vacuum=True, dry_run=True)  # fmt: skip

    assert db_fingerprint(recorder.path) == before
    assert dry.dry_run and not dry.vacuumed and dry.bytes_after == dry.bytes_before
    real = prune(recorder.path, older_than=DAYS_30, now=mid + DAYS_30, keep_traces=3)
    assert removed_counts(dry) == removed_counts(real)
    assert real.traces == 3 and real.budget_counters == 4  # 3 run windows, 1 ended day


def test_a_writer_keeps_writing_while_prune_runs(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many one-trace transactions while a handler writes a run after another: prune
    removes every old trace, the handler loses nothing."""
    monkeypatch.setattr(retention, "TRACES_PER_TRANSACTION", 1)
    old = [recorder.run() for _ in range(12)]
    time.sleep(0.01)
    mid = utc_now()
    time.sleep(0.01)
    written: list[str] = []
    stop = threading.Event()

    def keep_writing() -> None:
        graph = graphs.linear_graph()
        while not stop.is_set():
            written.append(recorder.run(graph))

    writer = threading.Thread(target=keep_writing)
    writer.start()
    removed = []
    try:
        while len(written) < 2:
            time.sleep(0.01)
        runs_before = len(written)
        deadline = time.monotonic() + 60
        while len(written) < runs_before + 10 and time.monotonic() < deadline:
            removed.append(prune(recorder.path, older_than=DAYS_30, now=mid + DAYS_30))
    finally:
        stop.set()
        writer.join(60)
    assert len(written) >= runs_before + 10, "the handler wrote while prune ran"
    assert sum(r.traces for r in removed) == len(old) and removed[0].traces == len(old)
    assert recorder.handler.shutdown(10) and recorder.handler.health.dropped == {}
    with LocalStore(recorder.path) as store:
        assert {r["trace_id"] for r in store.traces()} == set(written)
        assert all(r["status"] == "ok" for r in store.traces())
        for trace_id in written:
            spans = {s["span_id"] for s in store.spans(trace_id=trace_id)}
            sent = {s.span_id for s in recorder.memory.spans() if s.trace.trace_id == trace_id}
            assert spans == sent and len(spans) == 8
            assert len(store.scores(trace_id=trace_id)) == 2
            assert len(store.persona_switches(trace_id=trace_id)) == 2


def test_vacuum_gives_the_space_back_and_writers_carry_on(recorder: Recorder) -> None:
    big = "x" * 3000  # captured inputs and outputs make a span up to ~8 KB
    for _ in range(20):
        recorder.run(graphs.linear_graph())
        recorder.handler.flush(10)
    graph = StateGraph(graphs.State)
    graph.add_node("echo", lambda state: {"log": [big]})
    graph.add_edge(START, "echo")
    graph.add_edge("echo", END)
    echo = graph.compile(name="echo")
    for _ in range(40):
        echo.invoke({"log": [big]}, {"callbacks": [recorder.handler]})
    assert recorder.handler.flush(10)
    result = prune(recorder.path, keep_traces=0, vacuum=True)
    assert result.vacuumed and result.traces == 60
    assert result.bytes_after < result.bytes_before / 3, result
    assert result.bytes_after == recorder.path.stat().st_size + wal_size(recorder.path)
    with sqlite3.connect(recorder.path) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    after = recorder.run()  # the handler's open connection still writes the vacuumed file
    with LocalStore(recorder.path) as store:
        assert [r["trace_id"] for r in store.traces()] == [after]
