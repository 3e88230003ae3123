"""Text UTF-8 cannot hold (a lone surrogate, as ``json.loads`` gives for broken escapes)
in a run's payloads: the local store and the Langfuse sink write it with ``?`` in its
place instead of losing the batch it came in."""

from __future__ import annotations

import json

import pytest
from langchain_core.tools import tool

from langgraph_observe import CallbackHandler
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore

from . import graphs
from .otlp_receiver import OTLPReceiver, otlp_receiver, require

__all__ = ["otlp_receiver"]

pytestmark = pytest.mark.e2e

BROKEN = json.loads('"broken emoji \\ud83d end"')


@tool
def fetch(q: str) -> str:
    """Fetch a page."""
    return BROKEN


def broken_graph():
    def ok(state):
        return {"log": ["fine"]}

    def fetching(state):
        return {"log": [fetch.invoke({"q": "x"})]}

    return graphs.chain_graph(("ok", ok), ("fetching", fetching), name="broken-text")


def test_the_local_store_keeps_the_batch(tmp_path):
    path = tmp_path / "traces.db"
    handler = CallbackHandler(sinks=[LocalStoreSink(path)])
    broken_graph().invoke({"log": []}, {"callbacks": [handler]})
    assert handler.flush(5)
    assert handler.health.snapshot()["dropped"] == {}
    handler.shutdown(5)
    with LocalStore(path) as store:
        spans = store.spans()
    assert len(spans) == 4  # the workflow, two nodes, the tool
    (tool_span,) = [s for s in spans if s["kind"] == "tool"]
    assert tool_span["output"] == "broken emoji ? end"


def test_the_langfuse_sink_keeps_the_batch(otlp_receiver: OTLPReceiver) -> None:
    require("langfuse")
    from langgraph_observe.sinks.langfuse import LangfuseSink

    from .test_langfuse_sink import LANGFUSE_PATH, keys

    pk, sk = keys()
    handler = CallbackHandler(sinks=[LangfuseSink(pk, sk, otlp_receiver.url, timeout_s=5)])
    broken_graph().invoke({"log": []}, {"callbacks": [handler]})
    assert handler.flush(10)
    assert handler.health.snapshot()["dropped"] == {}
    handler.shutdown(5)
    spans = otlp_receiver.spans_at(LANGFUSE_PATH)
    assert len(spans) == 4
    (tool_span,) = [s for s in spans if s["name"] == "fetch"]
    outputs = [v for k, v in tool_span["attributes"].items() if k.endswith("output")]
    assert outputs and "broken emoji ? end" in outputs[0]
