"""A handler's life in a service: made per request and dropped, and hooks that fail on the
graph's path."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from langgraph_observe import CallbackHandler, FeatureHooks, SpanKind
from langgraph_observe._hooks import Hooks
from langgraph_observe._open_dispatchers import live as _live
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore
from langgraph_observe.testing import InMemorySink

from . import graphs

pytestmark = pytest.mark.unit


def _library_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("langgraph-observe")]


def test_handlers_dropped_without_shutdown_leave_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    graph = graphs.linear_graph()
    before = len(_library_threads())
    for _ in range(40):  # one handler per request, never shut down
        handler = CallbackHandler(sinks=[LocalStoreSink(path)])
        graph.invoke({"log": []}, {"callbacks": [handler]})
        del handler
    gc.collect()

    def ours_open() -> bool:
        sinks = [s for d in list(_live) for s in d.sinks]
        return any(isinstance(s, LocalStoreSink) and s.path == path for s in sinks)

    deadline = time.monotonic() + 20
    while (ours_open() or len(_library_threads()) > before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not ours_open()  # every dropped handler's dispatcher was shut down
    assert len(_library_threads()) <= before, [t.name for t in _library_threads()]
    with LocalStore(path) as store:  # and what they recorded got out
        assert len(store.traces(limit=100)) == 40


def test_an_explicit_shutdown_leaves_no_background_close() -> None:
    handler = CallbackHandler(sinks=[InMemorySink()])
    assert handler.shutdown()
    del handler
    gc.collect()
    assert not [t for t in threading.enumerate() if t.name == "langgraph-observe-close"]


class _BrokenPersonas(Hooks):
    def persona_for(self, node: str | None, metadata: Any) -> str | None:
        raise KeyError(node)


def test_a_failing_persona_hook_costs_the_persona_not_the_span() -> None:
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], hooks=_BrokenPersonas())
    graphs.linear_graph().invoke({"log": []}, {"callbacks": [handler]})
    assert handler.flush(10)
    assert len(sink.traces()) == 1  # the models and tools stay under their nodes
    nodes = sink.spans(SpanKind.NODE)
    assert {n.name for n in nodes} == {"plan", "research", "write"}
    assert all(n.persona is None for n in nodes)
    handler.shutdown()


class _BrokenFinish(FeatureHooks):
    def finish_span(self, span: Any, outputs: Any, status: Any) -> None:
        if span.kind is SpanKind.TOOL:
            raise RuntimeError("a hook's bug")
        super().finish_span(span, outputs, status)

    @property
    def on_path(self) -> bool:  # records built in the callbacks
        return True


def test_a_hook_failing_on_the_path_counts_the_lost_record(monkeypatch) -> None:
    monkeypatch.delenv("LANGGRAPH_OBSERVE_STRICT", raising=False)
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], hooks=_BrokenFinish())
    graphs.linear_graph().invoke({"log": []}, {"callbacks": [handler]})
    assert not handler.flush(10)  # something was lost: flush says so
    assert handler.health.dropped[(sink.name, "finish_error")] == 1
    assert not sink.spans(SpanKind.TOOL) and len(sink.traces()) == 1
    handler.shutdown()
