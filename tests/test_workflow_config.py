"""How ``ObservedWorkflow`` builds each run's config from the caller's, and what happens to
an instance nobody shuts down."""

from __future__ import annotations

import gc
import threading
import time

import pytest
from langchain_core.callbacks import BaseCallbackHandler, CallbackManager

from langgraph_observe import ObservedWorkflow, SpanKind
from langgraph_observe._open_dispatchers import live as _live
from langgraph_observe.testing import InMemorySink

from . import graphs

pytestmark = pytest.mark.unit


class Spy(BaseCallbackHandler):
    def __init__(self) -> None:
        self.roots = 0

    def on_chain_start(self, serialized, inputs, *, parent_run_id=None, **kwargs):
        if parent_run_id is None:
            self.roots += 1


def _workflow(sink: InMemorySink, **kw) -> ObservedWorkflow:
    return ObservedWorkflow(graphs.linear_graph(), sinks=[sink], **kw)


def test_a_shared_callback_manager_is_left_as_it_was():
    spy = Spy()
    manager = CallbackManager(handlers=[spy])
    first, second = InMemorySink(), InMemorySink()
    with _workflow(first) as a, _workflow(second) as b:
        a.invoke({"log": []}, {"callbacks": manager})
        b.invoke({"log": []}, {"callbacks": manager})
        a.flush()
        b.flush()
    assert [type(h).__name__ for h in manager.handlers] == ["Spy"]
    assert spy.roots == 2
    assert len(first.spans(SpanKind.WORKFLOW)) == len(second.spans(SpanKind.WORKFLOW)) == 1


def test_a_tuple_of_callbacks_is_kept_and_extended():
    spy, sink = Spy(), InMemorySink()
    with _workflow(sink) as wf:
        wf.invoke({"log": []}, {"callbacks": (spy,)})
        wf.flush()
    assert spy.roots == 1 and len(sink.spans(SpanKind.WORKFLOW)) == 1


def test_attribution_precedence_call_then_config_then_instance():
    sink = InMemorySink()
    with _workflow(sink, tenant="instance") as wf:
        config = {"metadata": {"tenant": "config"}}
        wf.invoke({"log": []}, config)  # the config's metadata over the instance's
        wf.invoke({"log": []}, config, tenant="call")  # the call's keyword over both
        wf.invoke({"log": []})
        wf.flush()
    tenants = [
        r.trace.tenant for r in sorted(sink.spans(SpanKind.WORKFLOW), key=lambda r: r.start_ns)
    ]
    assert tenants == ["config", "call", "instance"]


def test_stream_knows_its_trace_before_the_first_chunk():
    sink = InMemorySink()
    with _workflow(sink) as wf:
        chunks = wf.stream({"log": []})
        trace_id = wf.last_trace_id
        assert trace_id is not None
        assert len(list(chunks)) == 3
        wf.flush()
    (root,) = sink.spans(SpanKind.WORKFLOW)
    assert root.trace_id == trace_id


def _observe_threads() -> int:
    return sum(t.name.startswith("langgraph-observe") for t in threading.enumerate())


def test_a_dropped_workflow_is_shut_down_and_its_records_kept():
    before = _observe_threads()
    sink = InMemorySink()
    for _ in range(5):
        wf = _workflow(sink)
        wf.invoke({"log": []})
        del wf
    gc.collect()

    def still_open() -> bool:
        return any(d for d in list(_live) if d.sinks and d.sinks[0] is sink)

    deadline = time.monotonic() + 10
    while (still_open() or _observe_threads() > before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not still_open()  # every dropped workflow's dispatcher was shut down
    assert _observe_threads() <= before  # (threads of earlier tests may end meanwhile)
    assert len(sink.spans(SpanKind.WORKFLOW)) == 5  # flushed before it stopped
