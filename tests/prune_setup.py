"""What the retention tests share: a handler writing a store with every per-trace table
filled, and ways to look at the file."""

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

from langgraph_observe import CallbackHandler, FeatureHooks, Gate, cli, score
from langgraph_observe.config_file import parse_config
from langgraph_observe.events import BudgetUpdate
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore, PruneResult
from langgraph_observe.testing import InMemorySink

from . import graphs

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


def recording(tmp_path: Path) -> Iterator[Recorder]:
    """The ``recorder`` fixture's body: a :class:`Recorder` writing ``traces.db``."""
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


def db_fingerprint(path: Path) -> tuple[str, list[str]]:
    with sqlite3.connect(path) as conn:
        dump = list(conn.iterdump())
    return hashlib.sha256(path.read_bytes()).hexdigest(), dump


def wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), out=out), out.getvalue()


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


def running(recorder: Recorder) -> Iterator[str]:
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
