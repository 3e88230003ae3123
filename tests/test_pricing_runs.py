"""Costs on real LangGraph runs: the model calls' spans priced from the catalog, streamed
or not, by the model the provider answered with."""

from __future__ import annotations

import pytest

from langgraph_observe.pricing import PriceCatalog

from .test_pricing import catalog, raw_entry

pytestmark = pytest.mark.unit

__all__ = ["catalog"]


def _priced_handler(catalog: PriceCatalog):
    from langgraph_observe import CallbackHandler
    from langgraph_observe import semconv as sc
    from langgraph_observe._tracer import Hooks
    from langgraph_observe.testing import InMemorySink

    class CostHooks(Hooks):
        def finish_llm(self, span, usage):
            return catalog.cost(
                span.model,
                usage,
                cache_hit=bool(span.attrs.get(sc.LG_CACHE_HIT)),
                response_model=span.attrs.get(sc.GEN_AI_RESPONSE_MODEL),
            )

    sink = InMemorySink()
    return CallbackHandler([sink], hooks=CostHooks()), sink


def _one_node_graph(model, *, stream: bool):
    from langgraph.graph import END, START, StateGraph

    from .graphs import State

    def ask(state: State) -> State:
        if stream:
            text = "".join(str(c.content) for c in model.stream("question"))
        else:
            text = str(model.invoke("question").content)
        return {"log": [text]}

    g = StateGraph(State)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g.compile()


def test_cost_on_llm_spans_of_a_real_graph(catalog):
    from .graphs import chat_model

    handler, sink = _priced_handler(catalog)
    model = chat_model(
        "answer", input_tokens=12_000, output_tokens=3_000, model="gpt-4o-mini-2024-07-18"
    )
    _one_node_graph(model, stream=False).invoke({"log": []}, {"callbacks": [handler]})
    handler.flush(5)
    (llm,) = sink.spans("llm")
    p = raw_entry("gpt-4o-mini")
    assert llm.usage.input_tokens == 12_000 and llm.usage.output_tokens == 3_000
    assert llm.cost_usd == pytest.approx((12_000 * p["input"] + 3_000 * p["output"]) / 1e6)
    handler.shutdown(5)


def test_cost_on_a_streamed_call_of_a_real_graph(catalog):
    from collections.abc import Iterator

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk
    from langchain_core.outputs import ChatGenerationChunk

    class AnthropicLikeStream(GenericFakeChatModel):
        """Streams words, then usage and the answering model on a last chunk."""

        def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator:
            yield from super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    usage_metadata={
                        "input_tokens": 9_000,
                        "output_tokens": 400,
                        "total_tokens": 9_400,
                        "input_token_details": {"cache_read": 6_000, "cache_creation": 2_000},
                    },
                    response_metadata={"model_name": "claude-3-5-sonnet-20241022"},
                )
            )

    handler, sink = _priced_handler(catalog)
    model = AnthropicLikeStream(messages=iter([AIMessage(content="one two three")]))
    _one_node_graph(model, stream=True).invoke({"log": []}, {"callbacks": [handler]})
    handler.flush(5)
    (llm,) = sink.spans("llm")
    assert llm.usage.cached_input_tokens == 6_000 and llm.usage.cache_creation_tokens == 2_000
    p = raw_entry("claude-3-5-sonnet")
    expected = (
        1_000 * p["input"]
        + 6_000 * p["cached_input"]
        + 2_000 * p["cache_write"]
        + 400 * p["output"]
    ) / 1e6
    assert llm.cost_usd == pytest.approx(expected)
    handler.shutdown(5)


def test_the_default_handler_prices_the_model_the_provider_answered_with():
    """A deployment name the catalog does not know (here the fake model's own type) is
    priced by the snapshot the provider answered with."""
    from langgraph_observe import CallbackHandler
    from langgraph_observe import semconv as sc
    from langgraph_observe.pricing import default_catalog
    from langgraph_observe.testing import InMemorySink

    from .graphs import chat_model

    sink = InMemorySink()
    handler = CallbackHandler([sink])
    model = chat_model(
        "answer", input_tokens=12_000, output_tokens=3_000, model="gpt-4o-mini-2024-07-18"
    )
    _one_node_graph(model, stream=False).invoke({"log": []}, {"callbacks": [handler]})
    handler.flush(5)
    handler.shutdown(5)
    (llm,) = sink.spans("llm")
    assert default_catalog().lookup(llm.model) is None  # the requested name has no price
    assert llm.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    p = raw_entry("gpt-4o-mini")
    assert llm.cost_usd == pytest.approx((12_000 * p["input"] + 3_000 * p["output"]) / 1e6)


def test_a_billed_call_stays_billed_when_the_cache_replays_it_right_after():
    """LangChain's LLM cache replays an answer by replacing the message of the generations
    it keeps (the first call's own ones) with a copy marked as costing nothing; the first
    call's span keeps what it was answered at its end."""
    from langchain_core.caches import InMemoryCache

    from langgraph_observe import CallbackHandler
    from langgraph_observe import semconv as sc
    from langgraph_observe.testing import InMemorySink

    from .graphs import chain_graph, chat_model

    model = chat_model("answer", input_tokens=1_000, output_tokens=200, model="gpt-4o-mini")
    model.cache = InMemoryCache()

    def ask(state):
        model.invoke("the same question")
        return {"log": ["asked"]}

    sink = InMemorySink()
    handler = CallbackHandler([sink])
    graph = chain_graph(("first", ask), ("again", ask))
    graph.invoke({"log": []}, {"callbacks": [handler]})  # both calls within one pack
    handler.flush(5)
    handler.shutdown(5)
    calls = {s.node: s for s in sink.spans("llm")}
    p = raw_entry("gpt-4o-mini")
    assert calls["first"].cost_usd == pytest.approx((1_000 * p["input"] + 200 * p["output"]) / 1e6)
    assert sc.LG_CACHE_HIT not in calls["first"].attributes
    assert calls["again"].attributes[sc.LG_CACHE_HIT] is True
    assert calls["again"].cost_usd == 0.0
