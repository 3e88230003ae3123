"""The benchmark's workload: one realistic LangGraph graph, in a sync and an async build.

``plan`` (a chat model) -> ``research`` (a retriever, then a tool) -> a ``Send`` fan-out
to ``FANOUT`` ``worker`` nodes (each streams a chat model's answer token by token) ->
``write`` (a chat model). Every model call reports token usage, as real providers do.

The async build has the same shape with coroutine nodes, and an async model, retriever
and tool, so ``ainvoke`` runs on the event loop alone: any executor hop that shows up
in the figures is the tracer's, not the workload's.
"""

from __future__ import annotations

import operator
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, TypedDict

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import StructuredTool
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

__all__ = ["FANOUT", "SPANS_PER_INVOCATION", "FakeChatModel", "build", "inputs"]

FANOUT = 3
#: The spans one invocation is made of: the workflow; plan, research, write and FANOUT
#: worker nodes; one model call in plan, write and each worker; the retriever and the tool.
SPANS_PER_INVOCATION = 1 + (3 + FANOUT) + (2 + FANOUT) + 2


class State(TypedDict, total=False):
    topic: str
    notes: Annotated[list[str], operator.add]


class FakeChatModel(BaseChatModel):
    """A chat model that answers ``reply`` at once (or word by word when streamed) and
    reports usage on its final message, like an OpenAI-style provider. Its model names
    are priced ones, so the cost is computed as it would be for real calls."""

    model_name: str = "gpt-4o"
    reply: str = "ok"
    input_tokens: int = 10
    output_tokens: int = 5

    @property
    def _llm_type(self) -> str:
        return "bench-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _usage(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    def _result(self) -> ChatResult:
        message = AIMessage(
            content=self.reply,
            usage_metadata=self._usage(),
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _chunks(self) -> Iterator[ChatGenerationChunk]:
        words = self.reply.split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content=word if i == 0 else " " + word,
                    usage_metadata=self._usage() if last else None,  # type: ignore[arg-type]
                    response_metadata={"model_name": self.model_name} if last else {},
                    chunk_position="last" if last else None,
                )
            )

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return self._result()

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return self._result()

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        yield from self._chunks()

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks():
            yield chunk


class KeywordRetriever(BaseRetriever):
    """Returns the documents that share a word with the query."""

    docs: list[Document]

    def _find(self, query: str) -> list[Document]:
        words = set(query.lower().split())
        return [d for d in self.docs if words & set(d.page_content.lower().split())]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self._find(query)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self._find(query)


def _count_words(text: str) -> int:
    return len(text.split())


async def _acount_words(text: str) -> int:
    return len(text.split())


def _parts() -> tuple[FakeChatModel, FakeChatModel, FakeChatModel, KeywordRetriever, Any]:
    planner = FakeChatModel(reply="research the topic then write", input_tokens=42, output_tokens=9)
    worker = FakeChatModel(
        model_name="gpt-4o-mini",
        reply="a short streamed section about the topic",
        input_tokens=30,
        output_tokens=8,
    )
    writer = FakeChatModel(reply="the final answer", input_tokens=120, output_tokens=40)
    retriever = KeywordRetriever(
        docs=[
            Document(page_content="langgraph observability with spans"),
            Document(page_content="prometheus metrics and alerts"),
            Document(page_content="cooking pasta at home"),
        ]
    )
    word_count = StructuredTool.from_function(
        func=_count_words,
        coroutine=_acount_words,
        name="word_count",
        description="Count the words of a text.",
    )
    return planner, worker, writer, retriever, word_count


def _route(state: State) -> list[Send]:
    return [Send("worker", {"topic": f"{state.get('topic', '')} part {i}"}) for i in range(FANOUT)]


def _assemble(plan: Any, research: Any, worker: Any, write: Any, name: str) -> Any:
    g = StateGraph(State)
    g.add_node("plan", plan)
    g.add_node("research", research)
    g.add_node("worker", worker)
    g.add_node("write", write)
    g.add_edge(START, "plan")
    g.add_edge("plan", "research")
    g.add_conditional_edges("research", _route, ["worker"])
    g.add_edge("worker", "write")
    g.add_edge("write", END)
    return g.compile(name=name)


def _sync_graph() -> Any:
    planner, streamer, writer, retriever, word_count = _parts()

    def plan(state: State) -> State:
        return {"notes": [str(planner.invoke("plan: " + state.get("topic", "")).content)]}

    def research(state: State) -> State:
        docs = retriever.invoke("langgraph metrics")
        n = word_count.invoke({"text": " ".join(d.page_content for d in docs)})
        return {"notes": [f"{len(docs)} documents, {n} words"]}

    def worker(state: State) -> State:
        text = "".join(str(c.content) for c in streamer.stream("write " + state["topic"]))
        return {"notes": [text]}

    def write(state: State) -> State:
        return {"notes": [str(writer.invoke("write the answer").content)]}

    return _assemble(plan, research, worker, write, "bench")


def _async_graph() -> Any:
    planner, streamer, writer, retriever, word_count = _parts()

    async def plan(state: State) -> State:
        msg = await planner.ainvoke("plan: " + state.get("topic", ""))
        return {"notes": [str(msg.content)]}

    async def research(state: State) -> State:
        docs = await retriever.ainvoke("langgraph metrics")
        n = await word_count.ainvoke({"text": " ".join(d.page_content for d in docs)})
        return {"notes": [f"{len(docs)} documents, {n} words"]}

    async def worker(state: State) -> State:
        parts = [str(c.content) async for c in streamer.astream("write " + state["topic"])]
        return {"notes": ["".join(parts)]}

    async def write(state: State) -> State:
        msg = await writer.ainvoke("write the answer")
        return {"notes": [str(msg.content)]}

    return _assemble(plan, research, worker, write, "bench")


def build(mode: str) -> Any:
    """The compiled graph for ``mode`` (``"sync"`` for ``invoke``, ``"async"`` for
    ``ainvoke``)."""
    if mode == "sync":
        return _sync_graph()
    if mode == "async":
        return _async_graph()
    raise ValueError(f"mode must be 'sync' or 'async', not {mode!r}")


def inputs(i: int) -> State:
    """The input of invocation ``i``."""
    return {"topic": f"observability {i % 100}", "notes": []}
