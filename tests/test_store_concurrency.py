"""The local store shared: readers while a writer commits, several writing processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore

from .test_local_store import make_spans, make_trace

pytestmark = pytest.mark.unit


def test_reader_sees_commits_while_a_writer_writes(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    sink = LocalStoreSink(path)
    sink.export(make_spans(make_trace(0)))
    store = LocalStore(path)
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(store.count_spans())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(1, 60):
        sink.export(make_spans(make_trace(n)))
    done.set()
    reader.join()
    sink.shutdown(1.0)
    assert not errors
    assert seen == sorted(seen), "counts only grow"
    assert all(n % 4 == 0 for n in seen), "a reader never sees half a batch"
    assert store.count_spans() == 240


WRITER = textwrap.dedent("""
    import sys
    from langgraph_observe.events import SpanKind, SpanRecord, TokenUsage, TraceContext
    from langgraph_observe.sinks.local import LocalStoreSink

    path, worker, batches, per_batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
        int(sys.argv[4])
    sink = LocalStoreSink(path)
    for b in range(batches):
        trace = TraceContext(f"{worker:08x}{b:024x}", "multi")
        root = "f" * 16
        spans = [SpanRecord(trace, f"{i + 1:016x}", root, "llm", SpanKind.LLM, i, i + 1,
                            usage=TokenUsage(1, 1)) for i in range(per_batch - 1)]
        spans.append(SpanRecord(trace, root, None, "multi", SpanKind.WORKFLOW, 0, per_batch))
        sink.export(spans)
    sink.shutdown(5.0)
""")


def test_several_processes_write_while_a_reader_reads(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "traces.db"
    workers, batches, per_batch = 3, 40, 25
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(w), str(batches), str(per_batch)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    store = LocalStore(path)
    counts: list[int] = []
    deadline = time.monotonic() + 60
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        counts.append(store.count_spans())
        time.sleep(0.005)
    outcomes = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in procs]
    assert all(code == 0 for code, _ in outcomes), outcomes
    assert counts == sorted(counts)
    assert all(n % per_batch == 0 for n in counts), counts
    assert store.count_spans() == workers * batches * per_batch
    traces = store.traces()
    assert len(traces) == workers * batches
    assert {t["status"] for t in traces} == {"ok"}
    assert {t["total_tokens"] for t in traces} == {2 * (per_batch - 1)}
    store.close()
