"""``explore.spans()`` / ``explore.traces()``: DataFrames read from a real store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_observe import explore
from langgraph_observe.events import SpanKind, SpanRecord, WorkflowStarted
from langgraph_observe.explore import frames
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore
from tests.conftest import require
from tests.test_local_store import make_spans, make_trace

try:
    import pandas as pd
except ImportError:  # pragma: no cover - the test extra installs pandas
    pd = None

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _needs_pandas() -> None:
    require(pd is not None, "pandas is not installed (pip install 'langgraph-observe[explore]')")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    sink = LocalStoreSink(path)
    done = make_trace(1)
    sink.export(make_spans(done))
    running = make_trace(2)
    sink.export([
        WorkflowStarted(running, "e" * 16, "release", 3_000_000_000),
        SpanRecord(running, "9" * 16, "e" * 16, "step", SpanKind.STEP, 3_000_000_010,
                   3_000_000_020),
    ])  # fmt: skip
    sink.shutdown(1.0)
    return path


def test_spans_frame_has_typed_columns_and_values(store_path: Path) -> None:
    df = explore.spans(store_path)
    assert list(df.columns) == list(frames.SPAN_COLUMNS)
    assert len(df) == 5
    assert str(df["start_time"].dtype) == "datetime64[ns, UTC]"
    llm = df[df["kind"] == "llm"].iloc[0]
    assert llm["start_time"] == pd.Timestamp(1_000_000_020, unit="ns", tz="UTC")
    assert llm["duration_ms"] == pytest.approx(50 / 1e6)
    assert (llm["input_tokens"], llm["output_tokens"], llm["total_tokens"]) == (120, 30, 150)
    assert llm["cost_usd"] == pytest.approx(0.0012)
    assert not llm["tokens_estimated"]
    assert llm["attributes"] == {"gen_ai.operation.name": "chat"}
    assert (llm["node"], llm["persona"], llm["model"]) == ("write_code", "backend-engineer",
                                                           "gpt-4o-mini")  # fmt: skip
    root = df[df["kind"] == "workflow"].iloc[0]
    assert pd.isna(root["parent_span_id"]) and pd.isna(root["input_tokens"])
    assert pd.isna(root["cost_usd"]) and pd.isna(root["tokens_estimated"])
    tool = df[df["kind"] == "tool"].iloc[0]
    assert (tool["status"], tool["error_type"]) == ("error", "ValueError")


def test_spans_of_one_trace_and_from_a_store_object(store_path: Path) -> None:
    with LocalStore(store_path) as store:
        df = explore.spans(store, trace_id=make_trace(2).trace_id)
    assert df["name"].tolist() == ["step"]


def test_traces_frame_rolls_up_and_marks_running(store_path: Path) -> None:
    df = explore.traces(store_path)
    assert list(df.columns) == list(frames.TRACE_COLUMNS)
    assert df["trace_id"].tolist() == [make_trace(2).trace_id, make_trace(1).trace_id]
    running, done = df.iloc[0], df.iloc[1]
    assert running["status"] == "running"
    assert pd.isna(running["end_time"]) and pd.isna(running["duration_ms"])
    assert running["span_count"] == 1 and pd.isna(running["total_tokens"])
    assert done["status"] == "ok" and done["duration_ms"] == pytest.approx(100 / 1e6)
    assert (done["span_count"], done["error_count"]) == (4, 1)
    assert (done["input_tokens"], done["output_tokens"], done["total_tokens"]) == (120, 30, 150)
    assert done["cost_usd"] == pytest.approx(0.0012)
    assert done["tags"] == ["nightly"] and done["metadata"] == {"build": 1}
    assert explore.traces(store_path, limit=1)["trace_id"].tolist() == [make_trace(2).trace_id]


def test_default_store_comes_from_the_env(store_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LANGGRAPH_OBSERVE_STORE", str(store_path))
    assert len(explore.spans()) == 5 and len(explore.traces()) == 2


def test_empty_store_gives_empty_frames_with_columns(tmp_path: Path) -> None:
    df = explore.traces(tmp_path / "missing.db")
    assert df.empty and list(df.columns) == list(frames.TRACE_COLUMNS)
    assert not (tmp_path / "missing.db").exists()


def test_missing_pandas_raises_one_clear_error(store_path: Path) -> None:
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "from langgraph_observe import explore\n"
        "try:\n"
        f"    explore.spans({str(store_path)!r})\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert "pip install 'langgraph-observe[explore]'" in out


def test_importing_the_package_does_not_import_pandas() -> None:
    code = ("import sys, langgraph_observe, langgraph_observe.explore, langgraph_observe.cli\n"
            "print('pandas' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.strip() == "False"
