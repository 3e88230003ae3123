"""Retention from the command line (``langgraph-observe traces prune``), incremental
vacuum, and what ``prune`` refuses."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from langgraph_observe import cli
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore, PruneResult, prune

from .prune_setup import (
    Recorder,
    recording,
    run_cli,
    table_counts,
)
from .test_local_store import make_spans, make_trace

pytestmark = pytest.mark.unit


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    yield from recording(tmp_path)


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
