"""A local store filled by real LangGraph runs: personas, priced model calls, a retriever, a
failing run, a retried node, plus gate scores and budget states written through the sink."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph

from langgraph_observe import CallbackHandler, pricing
from langgraph_observe._tracer import Hooks, OpenSpan
from langgraph_observe.events import BudgetUpdate, ScoreRecord, TokenUsage
from langgraph_observe.sinks.local import LocalStoreSink

from . import graphs


class NamedFakeChatModel(GenericFakeChatModel):
    """A fake chat model that reports a model name in its invocation parameters."""

    model_name: str = "fake"


def named_model(model: str, text: str, input_tokens: int, output_tokens: int) -> Any:
    """A fake ``model`` whose every answer reports usage."""
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens,
             "total_tokens": input_tokens + output_tokens}  # fmt: skip
    answers = (AIMessage(content=text, usage_metadata=usage) for _ in iter(int, 1))
    return NamedFakeChatModel(model_name=model, messages=answers)


class PricedHooks(Hooks):
    """Cost from the shipped price catalog."""

    def finish_llm(self, span: OpenSpan, usage: TokenUsage | None) -> float | None:
        return pricing.cost(span.model, usage)


def support_graph() -> Any:
    """triage (planner, gpt-4o-mini) -> research (researcher: retriever + gpt-4o) ->
    answer (writer, gpt-4o-mini)."""
    triage_model = named_model("gpt-4o-mini", "route to research", 40, 10)
    research_model = named_model("gpt-4o", "findings", 300, 80)
    answer_model = named_model("gpt-4o-mini", "final answer", 120, 60)
    retriever = graphs.KeywordRetriever(
        docs=[Document(page_content="refund policy"), Document(page_content="shipping times")]
    )

    def triage(state: graphs.State) -> graphs.State:
        return {"log": [triage_model.invoke("triage").content]}

    def research(state: graphs.State) -> graphs.State:
        docs = retriever.invoke("refund policy")
        time.sleep(0.01)
        return {"log": [research_model.invoke(f"{len(docs)} docs").content]}

    def answer(state: graphs.State) -> graphs.State:
        return {"log": [answer_model.invoke("answer").content]}

    g = StateGraph(graphs.State)
    g.add_node("triage", triage, metadata={"persona": "planner"})
    g.add_node("research", research, metadata={"persona": "researcher"})
    g.add_node("answer", answer, metadata={"persona": "writer"})
    g.add_edge(START, "triage")
    g.add_edge("triage", "research")
    g.add_edge("research", "answer")
    g.add_edge("answer", END)
    return g.compile(name="support")


@dataclass
class FilledStore:
    path: Path
    trace_ids: list[str] = field(default_factory=list)
    ok_trace_ids: list[str] = field(default_factory=list)
    failed_trace_ids: list[str] = field(default_factory=list)


def fill_store(
    path: Path, runs: int = 3, tenants: tuple[str, ...] = ("acme", "globex")
) -> FilledStore:
    """Run the support graph ``runs`` times (tenants in turn), one failing graph and one
    retried graph, then add gate scores and budget states. Returns the trace ids."""
    sink = LocalStoreSink(path)
    handler = CallbackHandler(sinks=[sink], hooks=PricedHooks())
    filled = FilledStore(path)
    graph = support_graph()
    for i in range(runs):
        config = {"callbacks": [handler], "metadata": {"tenant": tenants[i % len(tenants)]}}
        graph.invoke({"log": []}, config=config)
    failing = graphs.failing_graph()
    with contextlib.suppress(ValueError):
        failing.invoke({"log": []}, config={"callbacks": [handler], "metadata": {"tenant": "acme"}})
    graphs.retry_graph(2).invoke({"log": []}, config={"callbacks": [handler]})
    assert handler.flush(10)
    handler.shutdown()

    from langgraph_observe.store import LocalStore

    with LocalStore(path) as store:
        rows = store.traces()
    for r in rows:
        filled.trace_ids.append(r["trace_id"])
        (filled.ok_trace_ids if r["status"] == "ok" else filled.failed_trace_ids).append(
            r["trace_id"]
        )
    support = [r["trace_id"] for r in rows if r["workflow"] == "support"]
    now = time.time_ns()
    records: list[Any] = []
    for i, trace_id in enumerate(support):
        records.append(
            ScoreRecord(trace_id, "answer_quality", 0.9 - 0.3 * i, now + i, source="gate",
                        workflow="support", node="answer", persona="writer",
                        passed=(0.9 - 0.3 * i) >= 0.5)
        )  # fmt: skip
        records.append(ScoreRecord(trace_id, "user_feedback", 1.0, now + i, source="feedback",
                                   workflow="support"))  # fmt: skip
    day = time.strftime("%Y-%m-%d", time.gmtime())
    records.append(BudgetUpdate("researcher", "day", day, now, used_tokens=1140,
                                budget_tokens=1000, used_usd=0.0031, budget_usd=0.01,
                                workflow="support", exceeded=True, warned=True))  # fmt: skip
    records.append(BudgetUpdate("writer", "day", day, now, used_tokens=540, budget_tokens=5000,
                                used_usd=0.0003, budget_usd=0.05, workflow="support"))  # fmt: skip
    writer_sink = LocalStoreSink(path)
    writer_sink.export(records)
    writer_sink.shutdown(5)
    return filled


def store_of(tmp_path: Path, records: Any) -> Path:
    """A store file holding ``records`` (written through a ``LocalStoreSink``)."""
    from langgraph_observe.sinks.local import LocalStoreSink

    path = tmp_path / "traces.db"
    sink = LocalStoreSink(path)
    sink.export(records)
    sink.shutdown(5)
    return path
