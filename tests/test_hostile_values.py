"""Values of the user's that fail to describe themselves — a ``__repr__`` or ``__str__``
that raises, circular metadata, an integer too long to print, a nesting too deep, a lazy
sequence of millions — cost only their own text: the rest of the run, and of the batch
it came in, is recorded."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_observe import CallbackHandler, SpanKind
from langgraph_observe._render import plain_copy, render
from langgraph_observe.errors import error_info
from langgraph_observe.gates import Gate
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore
from langgraph_observe.testing import InMemorySink

from . import graphs

pytestmark = pytest.mark.unit


class Detached:
    """As an ORM instance whose session is gone: every way to show it raises."""

    def __repr__(self) -> str:
        raise RuntimeError("instance is not bound to a session")

    __str__ = __repr__


class Proxy:
    """An object whose attribute lookups raise something other than AttributeError."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"lazy attribute {name} failed")

    def __repr__(self) -> str:
        return "Proxy()"


class ApiError(Exception):
    def __init__(self, response: Any) -> None:
        super().__init__()
        self.response = response

    def __str__(self) -> str:
        return self.details  # type: ignore[attr-defined]  # never set: __str__ raises


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Detached(), '"<Detached>"'),
        ([1, Detached()], '[1,"<Detached>"]'),
        ({"ok": 1, "bad": Detached()}, '{"ok":1,"bad":"<Detached>"}'),
        (Proxy(), '"Proxy()"'),
        (10**5000, "<int>"),
    ],
    ids=["detached", "in-a-list", "in-a-dict", "raising-getattr", "huge-int"],
)
def test_a_value_that_fails_to_show_itself_becomes_its_type_name(value, expected):
    assert render(value, -1) == expected


def test_a_nesting_too_deep_and_a_lazy_sequence_are_cut_not_unrolled():
    assert render(nested(100_000), 300).startswith("[[[[[[")
    tracemalloc.start()
    try:
        text = render({"items": range(50_000_000)}, -1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert text.endswith(',"... 49999950 more"]}')
    assert peak < 1_000_000  # the range was never made a list (that is 400 MB)


def test_plain_copy_leaves_alone_what_raises_on_attribute_lookup():
    from langgraph_observe._render import Unplain

    with pytest.raises(Unplain):
        plain_copy(Proxy())


def test_an_exception_whose_str_raises_still_gives_its_error_info():
    info = error_info(ApiError({"status": 500}))
    assert info.type.endswith("ApiError") and info.message == "ApiError()"


class S(TypedDict, total=False):
    inp: Any
    out: Any


def one_node(value: Any) -> Any:
    g = StateGraph(S)
    g.add_node("emit", lambda state: {"out": value})
    g.add_edge(START, "emit")
    g.add_edge("emit", END)
    return g.compile(name="hostile")


@pytest.mark.parametrize(
    "value",
    [Detached(), nested(100_000), 10**5000, Proxy()],
    ids=["detached", "too-deep", "huge-int", "raising-getattr"],
)
def test_one_bad_output_costs_only_its_text(tmp_path, value):
    """A run returning a value that cannot be shown shares its batch with good runs: every
    span of every run reaches both sinks, none is dropped."""
    memory = InMemorySink()
    handler = CallbackHandler(sinks=[LocalStoreSink(tmp_path / "t.db"), memory])
    good = one_node("fine")
    good.invoke({"inp": 1}, {"callbacks": [handler]})
    one_node(value).invoke({"inp": 2}, {"callbacks": [handler]})
    good.invoke({"inp": 3}, {"callbacks": [handler]})
    assert handler.flush(10)
    handler.shutdown(5)
    assert handler.health.snapshot()["dropped"] == {}
    assert len(memory.spans()) == 6
    with LocalStore(tmp_path / "t.db") as store:
        assert len(store.query("SELECT span_id FROM spans")) == 6


def test_metadata_that_no_encoder_takes_costs_only_its_text(tmp_path):
    """Circular metadata, an unprintable tenant: the batch is still written, the trace
    keeps what can be shown."""
    circular: dict[str, Any] = {"a": 1}
    circular["self"] = circular
    handler = CallbackHandler(sinks=[LocalStoreSink(tmp_path / "t.db")])
    graph = graphs.linear_graph()
    graph.invoke({"log": []}, {"callbacks": [handler], "metadata": {"tenant": "acme"}})
    graph.invoke(
        {"log": []},
        {"callbacks": [handler], "metadata": {"loop": circular, "tenant": Detached()}},
    )
    assert handler.flush(10)
    handler.shutdown(5)
    assert handler.health.snapshot()["dropped"] == {}
    with LocalStore(tmp_path / "t.db") as store:
        traces = store.traces()
        assert sorted(t["tenant"] for t in traces) == ["<Detached>", "acme"]
        bad = next(t for t in traces if t["tenant"] == "<Detached>")
        assert bad["metadata"]["loop"]["a"] == 1
        spans = store.query("SELECT trace_id FROM spans")
        assert len(spans) == 2 * len(spans) // 2 and {s["trace_id"] for s in spans} == {
            t["trace_id"] for t in traces
        }


def test_a_failing_exception_str_keeps_the_run_recorded():
    """The user's exception reaches the caller untouched; its spans are recorded and
    closed."""
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    raised = ApiError({"status": 503})

    def call_api(state: graphs.State) -> graphs.State:
        raise raised

    graph = graphs.chain_graph(("call_api", call_api))
    with pytest.raises(ApiError) as info:
        graph.invoke({"log": []}, {"callbacks": [handler]})
    assert info.value is raised
    handler.shutdown(5)
    assert handler.tracer.open_runs == 0
    (node,) = sink.spans(SpanKind.NODE)
    assert node.status.value == "error" and node.error.message == "ApiError()"


@pytest.mark.parametrize(
    ("gate", "output"),
    [
        (Gate("mean_ok", node="n", check=lambda out: np.mean(out["scores"]) > 0.5), None),
        (Gate("coverage", node="n", key="coverage", min=0.8), np.float32(0.9)),
        (Gate("tests", node="n", key="tests", equals=3), np.int64(3)),
        (Gate("passed", node="n", check=lambda out: out["flag"]), None),
    ],
    ids=["check-numpy-bool", "key-float32", "key-int64-equals", "check-bool_"],
)
def test_gates_take_numpy_scalars_as_the_numbers_they_hold(gate, output):
    values = {"scores": [0.9, 0.8], "flag": np.bool_(True)}
    if output is not None:
        values[gate.key] = output
    result = gate.evaluate(values)
    assert result.passed, result.comment
