"""A tool-using agent whose tools fail, retried by LangGraph's ``RetryPolicy``.

    python examples/tool_agent_retries.py

The agent (a scripted chat model, no key needed) asks for two tools. ``fetch_forecast``
times out twice, then answers: its node is retried and each attempt is a span with
``langgraph.attempt`` = 1, 2, 3, the failed ones classed ``timeout``. ``lookup_rate`` is
rate-limited once (class ``rate_limit``) and then answers. ``geocode`` fails for good
(``permanent``): the agent records the failure and carries on. Then it answers.

See the attempts with ``langgraph-observe traces show <id>`` or ``explore.errors()``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import RetryPolicy

from langgraph_observe import CallbackHandler
from langgraph_observe.sinks.local import LocalStoreSink


class RateLimitError(Exception):
    """What an HTTP client raises on a 429 (the class name is what classifies it)."""


class Flaky:
    """Fails with the given exceptions in turn, then succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


def build_tools() -> dict[str, Any]:
    forecast_outage = Flaky(TimeoutError("forecast service timed out"),
                            TimeoutError("forecast service timed out"))  # fmt: skip
    rate_outage = Flaky(RateLimitError("429 Too Many Requests"))

    @tool
    def fetch_forecast(city: str) -> str:
        """Tomorrow's weather forecast for a city."""
        forecast_outage()
        return f"{city}: 18°C, light rain"

    @tool
    def lookup_rate(currency: str) -> float:
        """The exchange rate of a currency to USD."""
        rate_outage()
        return {"EUR": 1.08, "GBP": 1.27}.get(currency, 1.0)

    @tool
    def geocode(place: str) -> str:
        """Coordinates of a place."""
        raise ValueError(f"unknown place: {place!r}")

    return {t.name: t for t in (fetch_forecast, lookup_rate, geocode)}


class ScriptedChatModel(GenericFakeChatModel):
    """A stand-in chat model that reports usage under a model name."""

    model_name: str = "gpt-4o-mini"


def scripted_agent() -> ScriptedChatModel:
    usage = {"input_tokens": 150, "output_tokens": 30, "total_tokens": 180}
    turns = [
        AIMessage(
            content="",
            tool_calls=[
                {"name": "fetch_forecast", "args": {"city": "Lisbon"}, "id": "call_1"},
                {"name": "lookup_rate", "args": {"currency": "EUR"}, "id": "call_2"},
                {"name": "geocode", "args": {"place": "Atlantis"}, "id": "call_3"},
            ],
            usage_metadata=usage,
        ),
        AIMessage(content="Pack an umbrella; 1 EUR is 1.08 USD.", usage_metadata=usage),
    ]
    return ScriptedChatModel(messages=iter(turns))


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]


def tool_call(state: State, name: str) -> dict[str, Any]:
    """The agent's latest request for tool ``name``."""
    for message in reversed(state["messages"]):
        for call in getattr(message, "tool_calls", None) or ():
            if call["name"] == name:
                return dict(call)
    raise LookupError(f"the agent did not call {name}")


def build_graph() -> Any:
    model = scripted_agent()
    tools = build_tools()

    def agent(state: State) -> State:
        return {"messages": [model.invoke(state["messages"])]}

    def call(name: str) -> Any:
        def run_tool(state: State) -> State:
            request = tool_call(state, name)
            result = tools[name].invoke(request["args"])  # errors propagate: RetryPolicy retries
            return {"messages": [ToolMessage(str(result), tool_call_id=request["id"])]}

        return run_tool

    def geocode(state: State) -> State:
        request = tool_call(state, "geocode")
        try:
            result = tools["geocode"].invoke(request["args"])
        except ValueError as exc:  # permanent: no retry, the agent works around it
            result = f"error: {exc}"
        return {"messages": [ToolMessage(str(result), tool_call_id=request["id"])]}

    retry = RetryPolicy(max_attempts=3, initial_interval=0.01, jitter=False,
                        retry_on=(TimeoutError, RateLimitError))  # fmt: skip
    g = StateGraph(State)
    g.add_node("agent", agent)
    g.add_node("forecast", call("fetch_forecast"), retry_policy=retry)
    g.add_node("rate", call("lookup_rate"), retry_policy=retry)
    g.add_node("geocode", geocode)
    g.add_node("respond", agent)
    g.add_edge(START, "agent")
    g.add_edge("agent", "forecast")
    g.add_edge("forecast", "rate")
    g.add_edge("rate", "geocode")
    g.add_edge("geocode", "respond")
    g.add_edge("respond", END)
    return g.compile(name="travel_agent")


def run(store_path: Path | str | None = None) -> dict[str, Any]:
    """Run the agent once, traced into the local store; returns ``answer``, ``trace_id``
    and ``store_path``."""
    sink = LocalStoreSink(store_path)
    handler = CallbackHandler(sinks=[sink])
    try:
        state = build_graph().invoke(
            {"messages": [("user", "Weather in Lisbon tomorrow, and the euro rate?")]},
            config={"callbacks": [handler]},
        )
        handler.flush()
    finally:
        handler.shutdown()
    from langgraph_observe.store import LocalStore

    with LocalStore(sink.path) as store:
        trace_id = store.traces(limit=1, workflow="travel_agent")[0]["trace_id"]
    return {"answer": state["messages"][-1].content, "trace_id": trace_id,
            "store_path": str(sink.path)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="SQLite store (default: the library's default)")
    args = parser.parse_args(argv)
    result = run(args.store)
    print(f"answer: {result['answer']}")
    print(f"trace:  langgraph-observe traces show {result['trace_id'][:12]} "
          f"--store {result['store_path']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
