"""A handler used before ``os.fork()`` works in the child (each process exports its own runs,
once), and what is queued at interpreter exit reaches an OpenTelemetry SDK provider built
after the library was imported."""

from __future__ import annotations

import json
import multiprocessing
import os
import textwrap
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from langgraph_observe import CallbackHandler
from langgraph_observe.events import Record, SpanRecord
from langgraph_observe.sinks import local
from langgraph_observe.sinks.base import BaseSink
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore

from .forking import exit_code
from .graphs import State, chain_graph
from .subprocesses import run_python

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform"),
]


class Ledger(BaseSink):
    """Appends a line per exported span to a file: the exporting process, the span's ids
    and its workflow (one ``write`` per batch, so two processes' lines never mix)."""

    name = "ledger"

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, records: Sequence[Record]) -> None:
        lines = "".join(
            f"{os.getpid()} {r.trace_id} {r.span_id} {r.trace.workflow}\n"
            for r in records
            if isinstance(r, SpanRecord)
        )
        if lines:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, lines.encode())
            finally:
                os.close(fd)

    def lines(self) -> list[list[str]]:
        return [line.split() for line in self.path.read_text().splitlines()]


def step(state: State) -> State:
    return {"log": ["step"]}


def run(graph: Any, handler: CallbackHandler, workflow: str, n: int) -> None:
    for i in range(n):
        graph.invoke({"topic": str(i)}, config={"callbacks": [handler], "run_name": workflow})


def in_child(work: Callable[[], None]) -> NoReturn:
    """Run ``work`` in a forked child and leave with its outcome (never back into pytest)."""
    code = 1
    try:
        work()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def our_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("langgraph-observe")]


def child_runs(handler: CallbackHandler, graph: Any, n: int, parent_health: Any) -> None:
    """The child's part: no thread of ours until its first run, then its runs out in full,
    nothing of the parent's counted as dropped (the child counts into new counters)."""
    assert our_threads() == [], our_threads()
    assert handler.health is not parent_health
    run(graph, handler, "child", n)
    assert handler.flush(10)
    assert handler.health.snapshot() == {
        "dropped": {},
        "export_errors": {},
        "queue_depths": {"local": 0, "ledger": 0},
    }


def check_exactly_once(db: Path, ledger: Ledger, child: int, per_process: int) -> None:
    """Each process exported its own spans, and each span went out once."""
    lines = ledger.lines()
    spans = Counter((trace, span) for _, trace, span, _ in lines)
    assert set(spans.values()) == {1}, [k for k, n in spans.items() if n > 1]
    by_workflow: dict[str, set[str]] = {"parent": set(), "child": set()}
    for pid, trace, _, workflow in lines:
        assert int(pid) == (child if workflow == "child" else os.getpid()), (pid, workflow)
        by_workflow[workflow].add(trace)
    assert {w: len(t) for w, t in by_workflow.items()} == {
        "parent": per_process,
        "child": per_process,
    }
    rows = LocalStore(db).query(
        "SELECT workflow, count(DISTINCT trace_id) AS traces, count(*) AS spans "
        "FROM spans GROUP BY workflow ORDER BY workflow"
    )
    per_trace = len(lines) // (2 * per_process)
    assert per_trace >= 3  # the workflow and its two nodes
    assert rows == [
        {"workflow": w, "traces": per_process, "spans": per_process * per_trace}
        for w in ("child", "parent")
    ]


@pytest.fixture
def setup(tmp_path: Path) -> Any:
    db, ledger = tmp_path / "traces.db", Ledger(tmp_path / "ledger.txt")
    handler = CallbackHandler(sinks=[LocalStoreSink(db), ledger], flush_interval=0.05)
    graph = chain_graph(("plan", step), ("act", step), name="forked")
    yield db, ledger, handler, graph
    handler.shutdown(10)


def test_an_os_fork_child_exports_its_own_runs_once(setup: Any) -> None:
    db, ledger, handler, graph = setup
    run(graph, handler, "parent", 2)
    assert handler.flush(10)  # the store's connection is open in the parent
    run(graph, handler, "parent", 2)  # still queued at the fork: the parent's to export
    health = handler.health
    pid = os.fork()
    if pid == 0:
        in_child(lambda: child_runs(handler, graph, 5, health))
    run(graph, handler, "parent", 1)
    assert exit_code(pid) == 0
    assert handler.flush(10)
    assert handler.health.total_dropped == 0, handler.health.snapshot()
    check_exactly_once(db, ledger, pid, 5)


def test_a_multiprocessing_fork_child_exports_its_own_runs_once(setup: Any) -> None:
    db, ledger, handler, graph = setup
    run(graph, handler, "parent", 3)  # not flushed: queued or in flight at the fork
    process = multiprocessing.get_context("fork").Process(
        target=child_runs, args=(handler, graph, 5, handler.health)
    )
    process.start()
    run(graph, handler, "parent", 2)
    process.join(60)
    assert process.exitcode == 0
    assert handler.flush(10)
    assert handler.health.total_dropped == 0, handler.health.snapshot()
    check_exactly_once(db, ledger, process.pid or 0, 5)


def test_the_child_writes_through_a_writer_of_its_own(tmp_path: Path) -> None:
    sink = LocalStoreSink(tmp_path / "traces.db")
    handler = CallbackHandler(sinks=[sink])
    graph = chain_graph(("plan", step), name="forked")
    try:
        run(graph, handler, "parent", 1)
        assert handler.flush(10)
        inherited = sink._writer
        assert inherited._conn is not None

        def child() -> None:
            assert sink._writer is not inherited
            assert local._inherited[-1] is inherited
            run(graph, handler, "child", 1)
            assert handler.flush(10)
            assert sink._writer._conn is not None
            assert inherited._conn is not None  # never closed in the child

        pid = os.fork()
        if pid == 0:
            in_child(child)
        assert exit_code(pid) == 0
        run(graph, handler, "parent", 1)  # the parent's connection still works
        assert handler.flush(10)
        assert sink._writer is inherited
        assert handler.health.total_dropped == 0, handler.health.snapshot()
        traces = LocalStore(tmp_path / "traces.db").query(
            "SELECT workflow, count(*) AS n FROM traces GROUP BY workflow ORDER BY workflow"
        )
        assert traces == [{"workflow": "child", "n": 1}, {"workflow": "parent", "n": 2}]
    finally:
        handler.shutdown(10)


def test_langfuse_in_the_child_opens_a_connection_of_its_own() -> None:
    pytest.importorskip("langfuse")
    from langgraph_observe.sinks.langfuse import LangfuseSink

    from .test_otlp_http import Server

    server = Server()
    sink = LangfuseSink(
        "pk-lf-fork", "sk-lf-fork", server.url.rsplit("/v1/", 1)[0], timeout_s=2, gzip=False
    )
    handler = CallbackHandler(sinks=[sink])
    graph = chain_graph(("plan", step), name="forked")
    try:
        run(graph, handler, "parent", 1)
        assert handler.flush(10)
        assert (server.connections, len(server.bodies)) == (1, 1)

        def child() -> None:
            run(graph, handler, "child", 1)
            assert handler.flush(10)
            assert handler.health.total_dropped == 0, handler.health.snapshot()

        pid = os.fork()
        if pid == 0:
            in_child(child)
        assert exit_code(pid) == 0
        assert (server.connections, len(server.bodies)) == (2, 2)
        run(graph, handler, "parent", 1)  # over the parent's kept-alive connection still
        assert handler.flush(10)
        assert (server.connections, len(server.bodies)) == (2, 3)
        assert handler.health.total_dropped == 0, handler.health.snapshot()
    finally:
        handler.shutdown(10)
        server.stop()


_PROMETHEUS_SCRIPT = textwrap.dedent(
    """
    import json, os, sys

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
    from prometheus_client import CollectorRegistry, multiprocess

    from langgraph_observe import CallbackHandler
    from langgraph_observe.sinks.base import BaseSink
    from langgraph_observe.sinks.prometheus import PrometheusSink
    from tests.graphs import chain_graph


    class Failing(BaseSink):
        name = "failing"

        def export(self, records):
            raise RuntimeError("down")


    prometheus = PrometheusSink()
    handler = CallbackHandler(sinks=[prometheus, Failing()])
    graph = chain_graph(("plan", lambda s: {"log": ["p"]}))
    KEY = ("failing", "export_error")


    def run(n):
        for i in range(n):
            graph.invoke({"topic": str(i)}, config={"callbacks": [handler]})
        assert not handler.flush(10)  # the failing sink dropped the runs
        prometheus.flush(0)  # the health counts into the metric files, up to now


    run(2)
    handler.health.drop(*KEY, 5)  # counted after the Prometheus sink's last export
    before = handler.health.dropped[KEY]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            run(3)
            with open(sys.argv[2], "w") as f:
                json.dump(handler.health.dropped.get(KEY, 0), f)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    run(1)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    merged = registry.get_sample_value(
        "langgraph_observe_spans_dropped_total", {"sink": "failing", "reason": "export_error"}
    )
    with open(sys.argv[2]) as f:
        child = json.load(f)
    parent = handler.health.dropped[KEY]
    print(json.dumps({"before": before, "parent": parent, "child": child, "merged": merged}))
    handler.shutdown(10)
    """
)


def test_prometheus_multiprocess_counts_each_process_drops_once(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client")
    (tmp_path / "metrics").mkdir()
    out = run_script(_PROMETHEUS_SCRIPT, str(tmp_path / "metrics"), str(tmp_path / "child"))
    got = json.loads(out.strip().splitlines()[-1])
    per_run = (got["before"] - 5) / 2  # each run's records, dropped by the failing sink
    assert per_run > 0
    assert got["child"] == 3 * per_run  # the child's runs only
    assert got["parent"] == got["before"] + per_run
    assert got["merged"] == got["parent"] + got["child"]  # nothing counted twice


# -- interpreter exit ---------------------------------------------------------------------

_EXIT_SCRIPT = textwrap.dedent(
    """
    import atexit, json, sys

    from langgraph_observe import CallbackHandler  # registers the library's exit functions
    from langgraph_observe.sinks.otel import OTelSink
    from langgraph_observe.testing import InMemorySink
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor, SpanExporter, SpanExportResult,
    )
    from tests.graphs import chain_graph

    out = sys.argv[1]


    class FileExporter(SpanExporter):
        def export(self, spans):
            with open(out, "a") as f:
                f.write("".join(s.name + "\\n" for s in spans))
            return SpanExportResult.SUCCESS


    memory = InMemorySink()
    handler = None


    def report():  # registered before the provider and the handler: runs after both
        print(json.dumps({"records": len(memory.spans()), "health": handler.health.snapshot()}))


    atexit.register(report)
    # built after the library's import: registers its own shutdown at exit now
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(FileExporter(), schedule_delay_millis=60_000))
    handler = CallbackHandler(
        sinks=[OTelSink(tracer_provider=provider), memory], flush_interval=60
    )
    graph = chain_graph(("plan", lambda s: {"log": ["p"]}), ("act", lambda s: {"log": ["a"]}))
    for i in range(10):
        graph.invoke({"topic": str(i)}, config={"callbacks": [handler]})
    # no flush, no shutdown: done at interpreter exit
    """
)

_EXIT_CREATED_SCRIPT = textwrap.dedent(
    """
    import atexit, sys

    from langgraph_observe import CallbackHandler
    from langgraph_observe.sinks.local import LocalStoreSink
    from tests.graphs import chain_graph


    def late():  # runs at exit, before the library's own exit functions
        handler = CallbackHandler(sinks=[LocalStoreSink(sys.argv[1])], flush_interval=60)
        graph = chain_graph(("plan", lambda s: {"log": ["p"]}))
        for i in range(3):
            graph.invoke({"topic": str(i)}, config={"callbacks": [handler]})


    atexit.register(late)
    """
)


def run_script(script: str, *args: str) -> str:
    return run_python(script, *args, drop_env=("OTEL_", "LANGFUSE_"))


def test_spans_queued_at_exit_reach_a_provider_built_after_the_import(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk")
    out = tmp_path / "spans.txt"
    got = json.loads(run_script(_EXIT_SCRIPT, str(out)).strip().splitlines()[-1])
    exported = out.read_text().splitlines() if out.exists() else []
    assert got["records"] >= 30  # ten runs of a workflow and two nodes
    assert len(exported) == got["records"]
    assert got["health"]["dropped"] == {}


def test_a_handler_created_while_exiting_is_flushed(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    run_script(_EXIT_CREATED_SCRIPT, str(db))
    assert LocalStore(db).query("SELECT count(*) AS n FROM traces") == [{"n": 3}]
