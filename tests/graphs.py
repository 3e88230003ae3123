"""Real LangGraph graphs used across the tests: fake chat models that report usage, a real
retriever and a real tool."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypedDict

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, Send


class State(TypedDict, total=False):
    log: Annotated[list[Any], operator.add]
    topic: str


class StreamingUsageModel(GenericFakeChatModel):
    """Streams its answer word by word and reports usage on the final chunk, as OpenAI-style
    providers do with ``stream_usage``."""

    usage: dict[str, int]

    def _stream(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        chunks = list(super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        yield from chunks[:-1]
        last = chunks[-1]
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content=last.message.content, usage_metadata=self.usage, chunk_position="last"
            )
        )


def chat_model(
    text: str = "ok",
    input_tokens: int = 10,
    output_tokens: int = 5,
    model: str | None = None,
    n: int = 1000,
) -> GenericFakeChatModel:
    """A fake chat model whose every answer reports usage."""
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }

    def answer() -> AIMessage:
        return AIMessage(
            content=text,
            usage_metadata=usage,
            response_metadata={"model_name": model} if model else {},
        )

    return GenericFakeChatModel(messages=_Endless(answer))


class _Endless:
    """An endless iterator of fresh answers that threads may share (a generator shared by
    threads raises "generator already executing" when two of them ask at once)."""

    def __init__(self, make: Callable[[], AIMessage]) -> None:
        self._make = make

    def __iter__(self) -> _Endless:
        return self

    def __next__(self) -> AIMessage:
        return self._make()


class KeywordRetriever(BaseRetriever):
    """Returns the documents that share a word with the query."""

    docs: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = set(query.lower().split())
        return [d for d in self.docs if words & set(d.page_content.lower().split())]


@tool
def word_count(text: str) -> int:
    """Count the words of a text."""
    return len(text.split())


def linear_graph() -> Any:
    """plan (llm) -> research (retriever + tool) -> write (llm)."""
    planner = chat_model("plan: research then write", 12, 6)
    writer = chat_model("final answer", 20, 8)
    retriever = KeywordRetriever(
        docs=[
            Document(page_content="langgraph observability"),
            Document(page_content="prometheus metrics"),
            Document(page_content="cooking pasta"),
        ]
    )

    def plan(state: State) -> State:
        return {"log": [planner.invoke("plan " + state.get("topic", "")).content]}

    def research(state: State) -> State:
        docs = retriever.invoke("langgraph metrics")
        n = word_count.invoke({"text": " ".join(d.page_content for d in docs)})
        return {"log": [n]}

    def write(state: State) -> State:
        return {"log": [writer.invoke("write").content]}

    g = StateGraph(State)
    g.add_node("plan", plan)
    g.add_node("research", research)
    g.add_node("write", write)
    g.add_edge(START, "plan")
    g.add_edge("plan", "research")
    g.add_edge("research", "write")
    g.add_edge("write", END)
    return g.compile(name="linear")


def fanout_graph(width: int = 3) -> Any:
    """A router fans out ``width`` workers with Send, then a join node."""
    model = chat_model("part", 4, 2)

    def start(state: State) -> State:
        return {"log": ["start"]}

    def route(state: State) -> list[Send]:
        return [Send("worker", {"topic": f"t{i}"}) for i in range(width)]

    def worker(state: State) -> State:
        return {"log": [model.invoke(state["topic"]).content]}

    def join(state: State) -> State:
        return {"log": ["join"]}

    g = StateGraph(State)
    g.add_node("start", start)
    g.add_node("worker", worker)
    g.add_node("join", join)
    g.add_edge(START, "start")
    g.add_conditional_edges("start", route, ["worker"])
    g.add_edge("worker", "join")
    g.add_edge("join", END)
    return g.compile(name="fanout")


def subgraph_graph() -> Any:
    """outer node 'prepare' -> node 'inner' that is a compiled subgraph (with an llm)."""
    model = chat_model("inner answer", 7, 3)

    def inner_step(state: State) -> State:
        return {"log": [model.invoke("inner").content]}

    sub = StateGraph(State)
    sub.add_node("inner_step", inner_step)
    sub.add_edge(START, "inner_step")
    sub.add_edge("inner_step", END)
    subgraph = sub.compile(name="inner_graph")

    def prepare(state: State) -> State:
        return {"log": ["prepared"]}

    g = StateGraph(State)
    g.add_node("prepare", prepare)
    g.add_node("inner", subgraph)
    g.add_edge(START, "prepare")
    g.add_edge("prepare", "inner")
    g.add_edge("inner", END)
    return g.compile(name="outer")


def chain_graph(*nodes: tuple[str, Any], name: str | None = None, checkpointer: Any = None) -> Any:
    """The compiled graph START -> each ``(name, function)`` node in turn -> END."""
    g = StateGraph(State)
    previous = START
    for node, fn in nodes:
        g.add_node(node, fn)
        g.add_edge(previous, node)
        previous = node
    g.add_edge(previous, END)
    return g.compile(name=name, checkpointer=checkpointer)


def retry_graph(failures: int = 2, exc: type[Exception] = ConnectionError) -> Any:
    """A node that fails ``failures`` times, then succeeds, under a RetryPolicy."""
    calls = {"n": 0}

    def flaky(state: State) -> State:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise exc(f"attempt {calls['n']} failed")
        return {"log": ["ok"]}

    g = StateGraph(State)
    g.add_node(
        "flaky",
        flaky,
        retry_policy=RetryPolicy(
            max_attempts=failures + 1, initial_interval=0.001, jitter=False, retry_on=exc
        ),
    )
    g.add_edge(START, "flaky")
    g.add_edge("flaky", END)
    return g.compile(name="retrying")


def failing_graph(exc: Exception | None = None) -> Any:
    """ok -> boom (raises)."""
    error = exc or ValueError("bad input")

    def ok(state: State) -> State:
        return {"log": ["ok"]}

    def boom(state: State) -> State:
        raise error

    g = StateGraph(State)
    g.add_node("ok", ok)
    g.add_node("boom", boom)
    g.add_edge(START, "ok")
    g.add_edge("ok", "boom")
    g.add_edge("boom", END)
    return g.compile(name="failing")
