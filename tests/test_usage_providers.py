"""Usage and the answering model in the layouts particular providers report them in."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from langgraph_observe.usage import response_model, usage_from_llm_result, usage_from_mapping

from .openai_stub import openai_stub
from .test_usage import chat_result

__all__ = ["openai_stub"]

pytestmark = pytest.mark.unit


def test_anthropic_cache_writes_reported_by_lifetime_only():
    """Newer langchain-anthropic puts writes under the 5-minute/1-hour keys and sets
    ``cache_creation`` to 0; the writes still count (and are priced) as cache writes."""
    details = {
        "cache_read": 300,
        "cache_creation": 0,
        "ephemeral_5m_input_tokens": 50,
        "ephemeral_1h_input_tokens": 150,
    }
    message = AIMessage(
        content="hi",
        usage_metadata={"input_tokens": 600, "output_tokens": 50, "total_tokens": 650,
                        "input_token_details": details},
    )  # fmt: skip
    usage = usage_from_llm_result(chat_result(message))
    assert (usage.cached_input_tokens, usage.cache_creation_tokens) == (300, 200)


def test_counts_and_model_at_the_top_of_response_metadata():
    ollama = AIMessage(
        content="hi",
        response_metadata={"model": "llama3.1", "prompt_eval_count": 10, "eval_count": 5},
    )
    usage = usage_from_llm_result(chat_result(ollama))
    assert (usage.input_tokens, usage.output_tokens) == (10, 5)
    bedrock = AIMessage(content="hi", response_metadata={"model_id": "anthropic.claude-v2"})
    assert response_model(chat_result(bedrock)) == "anthropic.claude-v2"


def test_raw_layouts_of_other_providers():
    bedrock = usage_from_mapping(
        {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, "cacheReadInputTokens": 90}
    )
    assert (bedrock.input_tokens, bedrock.cached_input_tokens) == (100, 90)
    gemini = usage_from_mapping(
        {
            "prompt_token_count": 40,
            "candidates_token_count": 10,
            "thoughts_token_count": 25,
            "total_token_count": 75,
            "cached_content_token_count": 30,
        }
    )
    assert (gemini.input_tokens, gemini.output_tokens, gemini.reasoning_tokens) == (40, 35, 25)
    assert gemini.cached_input_tokens == 30
    responses = usage_from_mapping(
        {
            "input_tokens": 80,
            "output_tokens": 10,
            "input_tokens_details": {"cached_tokens": 64},
            "output_tokens_details": {"reasoning_tokens": 4},
        }
    )
    assert (responses.input_tokens, responses.cached_input_tokens) == (80, 64)
    assert responses.reasoning_tokens == 4
    assert usage_from_mapping({"unrelated": 1}) is None


def test_a_real_openai_client_gives_the_response_id_and_top_p(openai_stub):
    """``gen_ai.response.id`` from the provider's response, ``gen_ai.request.top_p`` from
    the request, on a model span of a real ``ChatOpenAI`` call."""
    import importlib.util

    from langgraph.graph import END, START, StateGraph

    from langgraph_observe import CallbackHandler, SpanKind
    from langgraph_observe import semconv as sc
    from langgraph_observe.testing import InMemorySink

    from .conftest import require
    from .graphs import State

    require(importlib.util.find_spec("langchain_openai") is not None, "langchain-openai")
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(
        model="gpt-4o-mini", base_url=openai_stub.base_url, api_key="sk-test", top_p=0.5
    )

    def ask(state):
        model.invoke("status?")
        return {"log": ["asked"]}

    g = StateGraph(State)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    g.compile().invoke({"log": []}, {"callbacks": [handler]})
    handler.shutdown(5)
    (llm,) = sink.spans(SpanKind.LLM)
    assert llm.attributes[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-stub-1"
    assert llm.attributes[sc.GEN_AI_REQUEST_TOP_P] == 0.5
    assert openai_stub.requests[0]["top_p"] == 0.5


def test_estimates_count_the_tools_bound_to_a_real_openai_client(openai_stub):
    """A provider that reports no usage: the estimated prompt of a ``bind_tools`` call
    counts the tool definitions the client sent, on top of the messages."""
    import importlib.util

    from langgraph_observe import CallbackHandler, SpanKind
    from langgraph_observe.testing import InMemorySink
    from langgraph_observe.tokens import count_tool_tokens

    from .conftest import require

    require(importlib.util.find_spec("langchain_openai") is not None, "langchain-openai")
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def lookup_order(order_id: str, include_history: bool = False) -> str:
        """Look up an order in the warehouse system by its id, with its shipping history
        when asked: carrier, every scan, and the expected delivery window."""
        return order_id

    openai_stub.report_usage = False
    model = ChatOpenAI(model="gpt-4o-mini", base_url=openai_stub.base_url, api_key="sk-test")
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    model.invoke("where is order 42?", config={"callbacks": [handler]})
    model.bind_tools([lookup_order]).invoke("where is order 42?", config={"callbacks": [handler]})
    handler.shutdown(5)
    plain, with_tools = sink.spans(SpanKind.LLM)
    assert plain.usage.estimated and with_tools.usage.estimated
    sent = openai_stub.requests[-1]["tools"]
    tools_tokens = count_tool_tokens("gpt-4o-mini", sent)
    assert tools_tokens > 20
    assert with_tools.usage.input_tokens == plain.usage.input_tokens + tools_tokens
    assert with_tools.usage.output_tokens == plain.usage.output_tokens

    # a budget's check before the call counts the tools too: the same prompt that fits
    # alone is refused once the tools are bound
    from langgraph_observe import TokenBudgetExceeded
    from langgraph_observe.personas import persona

    budget = plain.usage.input_tokens + tools_tokens // 2
    config = {"personas": {"support": {"budget_tokens": budget, "on_exceeded": "raise"}}}
    guarded = CallbackHandler(sinks=[InMemorySink()], config=config)
    sent_before = len(openai_stub.requests)
    with persona("support"):
        model.invoke("where is order 42?", config={"callbacks": [guarded]})
        with pytest.raises(TokenBudgetExceeded) as raised:
            model.bind_tools([lookup_order]).invoke(
                "where is order 42?", config={"callbacks": [guarded]}
            )
    guarded.shutdown(5)
    assert raised.value.requested == plain.usage.input_tokens + tools_tokens
    assert len(openai_stub.requests) == sent_before + 1  # the refused call was never sent
