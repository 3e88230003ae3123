"""Retention: ``prune`` and ``langgraph-observe traces prune`` on stores written by real
graphs, with every per-trace table filled, while a handler keeps writing."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_observe import CallbackHandler, FeatureHooks, Gate, cli, score
from langgraph_observe.config_file import parse_config
from langgraph_observe.events import BudgetUpdate
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore, PruneResult, prune, retention
from langgraph_observe.testing import InMemorySink

from . import graphs
from .test_local_store import make_spans, make_trace

pytestmark = pytest.mark.unit

DAYS_30 = timedelta(days=30)

#: personas for linear_graph's nodes (two switches per run), a budget per run for the
#: planner (one ``run`` window row per trace) and per day for the writer
CONFIG = {
    "nodes": {"plan": "planner", "research": "researcher", "write": "writer"},
    "personas": {
        "planner": {"budget_tokens": 10_000, "window": "run"},
        "researcher": {},
        "writer": {"budget_tokens": 10_000, "window": "day"},
    },
    "prices": {"generic-fake-chat-model": {"input": 1.0, "output": 2.0}},
}


def wrote_something(output: Any) -> bool:
    return bool(output.get("log"))


@dataclass
class Recorder:
    """A handler writing a store (and a memory sink, to compare with) with personas,
    budgets, a gate on ``write`` and a feedback score per run."""

    path: Path
    memory: InMemorySink = field(default_factory=InMemorySink)
    handler: CallbackHandler = field(init=False)

    def __post_init__(self) -> None:
        sink = LocalStoreSink(self.path)
        hooks = FeatureHooks(
            parse_config(CONFIG), gates=[Gate("wrote", node="write", check=wrote_something)],
            sinks=[sink],
        )  # fmt: skip
        self.handler = CallbackHandler(sinks=[sink, self.memory], hooks=hooks)

    def run(self, graph: Any | None = None) -> str:
        """One run of ``graph`` (linear_graph) plus a feedback score; its trace id."""
        before = set(self.memory.traces())
        (graph or graphs.linear_graph()).invoke({"log": []}, {"callbacks": [self.handler]})
        assert self.handler.flush(10)
        (trace_id,) = set(self.memory.traces()) - before
        score(trace_id, "helpful", True, handler=self.handler, source="feedback")
        assert self.handler.flush(10)
        return trace_id

    def close(self) -> None:
        assert self.handler.shutdown(10)
        assert self.handler.health.dropped == {}


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    rec = Recorder(tmp_path / "traces.db")
    yield rec
    rec.close()


def rows_of(path: Path, trace_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that belongs to a trace, table by table."""
    per_table = {
        "traces": "SELECT * FROM traces WHERE trace_id = ?",
        "spans": "SELECT * FROM spans WHERE trace_id = ? ORDER BY span_id",
        "scores": "SELECT * FROM scores WHERE trace_id = ? ORDER BY name, time_ns",
        "persona_switches": "SELECT * FROM persona_switches WHERE trace_id = ? ORDER BY time_ns",
        "budget_counters": "SELECT * FROM budget_counters WHERE window = 'run' AND window_key = ?",
    }
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(sql, [trace_id]).fetchall() for t, sql in per_table.items()}


def table_counts(path: Path) -> dict[str, int]:
    tables = ("traces", "spans", "scores", "persona_switches", "budget_counters")
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def budget_keys(path: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT window, window_key FROM budget_counters").fetchall()
    return {(w, k) for w, k in rows}


def removed_counts(result: PruneResult) -> dict[str, int]:
    return {
        "traces": result.traces,
        "spans": result.spans,
        "scores": result.scores,
        "persona_switches": result.persona_switches,
        "budget_counters": result.budget_counters,
    }


def stored_budget(path: Path, window: str, key: str, persona: str = "writer") -> None:
    """A budget window's counter, as a tracker in another process would have left it."""
    sink = LocalStoreSink(path)
    sink.export([BudgetUpdate(persona, window, key, time.time_ns(), used_tokens=5,
                              budget_tokens=100, used_usd=0.0, budget_usd=None,
                              counter="other-process")])  # fmt: skip
    sink.shutdown(5)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


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


def blocking_graph(entered: threading.Event, release: threading.Event) -> Any:
    """plan (llm) -> wait: blocks until ``release`` is set."""
    model = graphs.chat_model("plan", 5, 2)

    def plan(state: graphs.State) -> graphs.State:
        return {"log": [model.invoke("plan").content]}

    def wait(state: graphs.State) -> graphs.State:
        entered.set()
        assert release.wait(30)
        return {"log": ["done"]}

    return graphs.chain_graph(("plan", plan), ("wait", wait), name="blocking")


@pytest.fixture
def running_trace(recorder: Recorder) -> Iterator[str]:
    """A trace still running (its root span not stored): the oldest in the store."""
    entered, release = threading.Event(), threading.Event()
    graph = blocking_graph(entered, release)
    runner = threading.Thread(
        target=graph.invoke, args=({"log": []}, {"callbacks": [recorder.handler]})
    )
    runner.start()
    try:
        assert entered.wait(10)
        assert recorder.handler.flush(10)
        with LocalStore(recorder.path) as store:
            (trace,) = store.traces(status="running")
        yield trace["trace_id"]
    finally:
        release.set()
        runner.join(10)


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


def db_fingerprint(path: Path) -> tuple[str, list[str]]:
    with sqlite3.connect(path) as conn:
        dump = list(conn.iterdump())
    return hashlib.sha256(path.read_bytes()).hexdigest(), dump


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


def wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_incremental_auto_vacuum_files_are_shrunk_incrementally(tmp_path: Path) -> None:
    path = tmp_path / "incremental.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("VACUUM")
    rec = Recorder(path)
    for _ in range(15):
        rec.run()
    rec.close()
    without_vacuum = prune(path, keep_traces=5)
    assert without_vacuum.traces == 10
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 0
    result = prune(path, keep_traces=0, vacuum=True)
    assert result.vacuumed and result.traces == 5
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert result.bytes_after < without_vacuum.bytes_after


def test_arguments_and_files_prune_refuses(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with pytest.raises(ValueError, match="older_than, keep_traces"):
        prune(path)
    for bad in ({"older_than": -1.0}, {"older_than": float("nan")}, {"keep_traces": -1}):
        with pytest.raises(ValueError):
            prune(path, **bad)  # type: ignore[arg-type]
    with pytest.raises(IsADirectoryError, match="not a store file"):
        prune(tmp_path, keep_traces=1)
    assert prune(path, keep_traces=1) == PruneResult()
    assert not path.exists(), "a missing store is not created"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE traces (trace_id TEXT)")
    for dry_run in (False, True):
        with pytest.raises(sqlite3.DatabaseError, match="not a langgraph-observe store"):
            prune(other, keep_traces=1, dry_run=dry_run)


# --- the command line ---------------------------------------------------------------------
def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), out=out), out.getvalue()


def test_cli_prune_dry_run_then_for_real(recorder: Recorder) -> None:
    old = [recorder.run() for _ in range(3)]
    store = str(recorder.path)
    counts = table_counts(recorder.path)

    code, out = run_cli("traces", "prune", "--keep", "1", "--dry-run", "--store", store)
    assert code == 0
    assert out.splitlines() == [
        f"would remove 2 traces (finished beyond the newest 1) from {store}:",
        "  16 spans, 10 other rows (4 scores, 4 persona switches, 2 budget counters)",
        "dry run: nothing was removed",
    ]
    assert table_counts(recorder.path) == counts

    code, out = run_cli("traces", "prune", "--keep", "1", "--store", store)
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == [
        f"removed 2 traces (finished beyond the newest 1) from {store}:",
        "  16 spans, 10 other rows (4 scores, 4 persona switches, 2 budget counters)",
    ]
    assert lines[2].startswith("size: ") and "--vacuum gives them back" in lines[2]
    with LocalStore(recorder.path) as reader:
        assert [r["trace_id"] for r in reader.traces()] == [old[-1]]

    code, out = run_cli("traces", "prune", "--older-than", "30d", "--store", store)
    assert (code, out) == (0, f"nothing to remove from {store}: "
                               "no trace started more than 30d ago\n")  # fmt: skip
    code, out = run_cli("--store", store, "traces", "prune", "--older-than", "90m", "--keep",
                        "0", "--vacuum")  # fmt: skip
    assert code == 0
    assert out.startswith(f"removed 1 trace (started more than 90m ago or finished beyond "
                          f"the newest 0) from {store}:\n  8 spans, ")  # fmt: skip
    assert out.splitlines()[-1].endswith("(vacuumed)")


@pytest.mark.parametrize(
    "argv",
    [
        [],  # neither --older-than nor --keep
        ["--older-than", "0d"],
        ["--older-than", "30"],
        ["--older-than", "3y"],
        ["--keep", "-1"],
        ["--keep", "many"],
        ["--older-than", "6M"],  # not 6 minutes: units are lowercase
        ["--older-than", "0.0000001s"],  # 0 once rounded to microseconds
    ],
)
def test_cli_prune_usage_errors(tmp_path: Path, argv: list[str]) -> None:
    store = ["--store", str(tmp_path / "t.db")]
    try:
        code = cli.main(["traces", "prune", *argv, *store], out=io.StringIO())
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    assert code == 2


def test_cli_prune_store_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli("traces", "prune", "--keep", "1", "--store", str(tmp_path / "none.db"))
    assert (code, out) == (0, f"no store at {tmp_path / 'none.db'}: nothing to prune\n")
    assert not (tmp_path / "none.db").exists()
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database" * 100)
    assert run_cli("traces", "prune", "--keep", "1", "--store", str(broken))[0] == 1
    assert f"cannot prune {broken}" in capsys.readouterr().err
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version = 99")
    assert run_cli("traces", "prune", "--keep", "1", "--store", str(newer))[0] == 1
    assert "newer than this library's" in capsys.readouterr().err


@pytest.mark.parametrize(
    "action", [["list"], ["show", "0"], ["prune", "--keep", "1"], ["prune", "--keep", "1",
                                                                    "--dry-run"]]
)  # fmt: skip
def test_a_directory_is_not_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    code, out = run_cli("traces", *action, "--store", str(tmp_path))
    assert (code, out) == (1, "")
    assert capsys.readouterr().err == (
        f"langgraph-observe: {tmp_path} is a directory, not a store file\n"
    )
    assert list(tmp_path.iterdir()) == []
    sink = LocalStoreSink(tmp_path / "traces.db")
    sink.export(make_spans(make_trace(1)))
    sink.shutdown(5)
    assert run_cli("traces", *action, "--store", str(tmp_path))[0] == 1
    assert f"(did you mean {tmp_path / 'traces.db'}?)" in capsys.readouterr().err
