"""One run, every backend at once: the local store, Langfuse, an OTLP endpoint and Prometheus.

    LANGFUSE_PUBLIC_KEY=pk-lf-... LANGFUSE_SECRET_KEY=sk-lf-... \\
    python examples/all_backends.py --langfuse-url https://cloud.langfuse.com \\
        --otlp-endpoint http://localhost:4318 --metrics-port 9464

Each sink is built explicitly here (``CallbackHandler()`` with no arguments turns on the
same sinks from the environment instead). Every sink receives the same records on its own
background thread; the run itself never waits for a backend.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph

from langgraph_observe import CallbackHandler
from langgraph_observe.sinks.base import Sink


class ScriptedChatModel(GenericFakeChatModel):
    """A stand-in chat model that reports usage under a model name."""

    model_name: str = "gpt-4o-mini"


class State(TypedDict, total=False):
    ticket: str
    category: str
    reply: str


def build_graph() -> Any:
    usage = {"input_tokens": 80, "output_tokens": 12, "total_tokens": 92}
    model = ScriptedChatModel(
        messages=(AIMessage(content="billing", usage_metadata=usage) for _ in iter(int, 1))
    )

    def classify(state: State) -> State:
        return {"category": str(model.invoke(f"Classify: {state['ticket']}").content)}

    def reply(state: State) -> State:
        return {"reply": f"Routed to the {state['category']} team."}

    g = StateGraph(State)
    g.add_node("classify", classify, metadata={"persona": "triager"})
    g.add_node("reply", reply, metadata={"persona": "responder"})
    g.add_edge(START, "classify")
    g.add_edge("classify", "reply")
    g.add_edge("reply", END)
    return g.compile(name="ticket_triage")


def build_sinks(
    langfuse_url: str | None,
    otlp_endpoint: str | None,
    registry: Any = None,
    store_path: Path | str | None = None,
) -> tuple[list[Sink], list[Any]]:
    """The sinks, and the OpenTelemetry providers to shut down after them."""
    from langgraph_observe.sinks.local import LocalStoreSink
    from langgraph_observe.sinks.prometheus import PrometheusSink

    sinks: list[Sink] = [LocalStoreSink(store_path), PrometheusSink(registry)]
    providers: list[Any] = []
    if langfuse_url:
        from langgraph_observe.sinks.langfuse import LangfuseSink

        sinks.append(LangfuseSink(base_url=langfuse_url))  # keys from LANGFUSE_* env vars
    if otlp_endpoint:
        from langgraph_observe.otel_setup import setup_otel
        from langgraph_observe.sinks.otel import OTelSink

        tracer_provider, meter_provider = setup_otel(otlp_endpoint, "all-backends-example")
        sinks.append(OTelSink(tracer_provider, meter_provider))
        providers += [tracer_provider, meter_provider]
    return sinks, providers


def run(
    langfuse_url: str | None = None,
    otlp_endpoint: str | None = None,
    registry: Any = None,
    store_path: Path | str | None = None,
) -> dict[str, Any]:
    """Run the graph once with every configured sink; returns the final state plus
    ``trace_id`` and ``sinks`` (their names)."""
    sinks, providers = build_sinks(langfuse_url, otlp_endpoint, registry, store_path)
    handler = CallbackHandler(sinks=sinks)
    try:
        state = build_graph().invoke(
            {"ticket": "I was charged twice this month"},
            config={"callbacks": [handler], "metadata": {"tenant": "acme", "user_id": "u-42"}},
        )
        handler.flush(10)
    finally:
        handler.shutdown(10)
        for provider in providers:
            provider.shutdown()
    from langgraph_observe.store import LocalStore

    with LocalStore(sinks[0].path) as store:  # type: ignore[attr-defined]
        trace_id = store.traces(limit=1, workflow="ticket_triage")[0]["trace_id"]
    return {**state, "trace_id": trace_id, "sinks": [s.name for s in sinks]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langfuse-url", help="Langfuse base URL (keys from LANGFUSE_* env)")
    parser.add_argument("--otlp-endpoint", help="OTLP/HTTP base URL, e.g. http://localhost:4318")
    parser.add_argument(
        "--metrics-port", type=int, default=9464, help="serve /metrics here (0: any free port)"
    )
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to keep /metrics up")
    parser.add_argument("--store", help="SQLite store (default: the library's default)")
    args = parser.parse_args(argv)
    if args.langfuse_url:
        missing = [
            k for k in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY") if not os.environ.get(k)
        ]
        if missing:
            print(f"{parser.prog}: --langfuse-url needs {' and '.join(missing)} set "
                  "(the project's keys, from its Langfuse settings)", file=sys.stderr)  # fmt: skip
            return 2
    result = run(args.langfuse_url, args.otlp_endpoint, store_path=args.store)
    print(f"reply:  {result['reply']}")
    print(f"trace:  {result['trace_id']}  sinks: {', '.join(result['sinks'])}")
    if args.hold > 0:
        from langgraph_observe.exposition import start_metrics_server

        with start_metrics_server(args.metrics_port) as server:
            print(f"metrics: {server.url} for {args.hold:g} s", flush=True)
            time.sleep(args.hold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
