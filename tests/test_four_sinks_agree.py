"""One run, four sinks at once: the local store, Prometheus, OpenTelemetry (OTLP/HTTP) and
Langfuse (its real SDK) must agree on the same facts."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, Send

from langgraph_observe import CallbackHandler
from langgraph_observe import semconv as sc
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore

from .graphs import State
from .otlp_receiver import OTLPReceiver, otlp_receiver, require

require("opentelemetry.sdk")
require("opentelemetry.exporter.otlp.proto.http")
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from langgraph_observe.sinks.langfuse import LangfuseSink  # noqa: E402
from langgraph_observe.sinks.otel import OTelSink  # noqa: E402
from langgraph_observe.sinks.prometheus import PrometheusSink  # noqa: E402

__all__ = ["otlp_receiver"]
pytestmark = pytest.mark.e2e
LANGFUSE_PATH = "/api/public/otel/v1/traces"


class NamedModel(GenericFakeChatModel):
    """A fake chat model that names its model (``gen_ai.request.model``)."""

    model_name: str

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}


def model(name: str, input_tokens: int, output_tokens: int) -> NamedModel:
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }

    def answers() -> Iterator[AIMessage]:
        while True:
            yield AIMessage(content="ok", usage_metadata=usage)  # type: ignore[arg-type]

    return NamedModel(messages=answers(), model_name=name)


def build_graph() -> Any:
    """plan (gpt-4o) -> 3 workers (gpt-4o-mini) via Send -> flaky (fails twice, retried)."""
    planner, worker_model = model("gpt-4o", 120, 30), model("gpt-4o-mini", 50, 20)
    failures = {"left": 2}

    def plan(state: State) -> State:
        return {"log": [planner.invoke("plan").content]}

    def route(state: State) -> list[Send]:
        return [Send("worker", {"topic": f"t{i}"}) for i in range(3)]

    def worker(state: State) -> State:
        return {"log": [worker_model.invoke(state["topic"]).content]}

    def flaky(state: State) -> State:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("upstream reset")
        return {"log": ["done"]}

    g = StateGraph(State)
    g.add_node("plan", plan)
    g.add_node("worker", worker)
    g.add_node(
        "flaky",
        flaky,
        retry_policy=RetryPolicy(
            max_attempts=3, initial_interval=0.001, jitter=False, retry_on=ConnectionError
        ),
    )
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", route, ["worker"])
    g.add_edge("worker", "flaky")
    g.add_edge("flaky", END)
    return g.compile(name="agree")


def test_local_store_prometheus_otel_and_langfuse_agree(tmp_path, otlp_receiver: OTLPReceiver):
    registry = CollectorRegistry()
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{otlp_receiver.url}/v1/traces"), schedule_delay_millis=50
        )
    )
    db = tmp_path / "agree.db"
    handler = CallbackHandler(
        sinks=[
            LocalStoreSink(db),
            PrometheusSink(registry),
            OTelSink(provider),
            LangfuseSink("pk-lf-agree", "sk-lf-agree", otlp_receiver.url, timeout_s=5),
        ]
    )
    try:
        graph = build_graph()
        for _ in range(2):
            graph.invoke({"log": []}, config={"callbacks": [handler], "metadata": {"tenant": "t1"}})
        assert handler.flush(15)
        provider.force_flush()
    finally:
        handler.shutdown(15)
        provider.shutdown()
    assert handler.health.total_dropped == 0

    expected_calls = Counter({"gpt-4o": 2, "gpt-4o-mini": 6})
    expected_tokens = {
        ("gpt-4o", "input"): 240,
        ("gpt-4o", "output"): 60,
        ("gpt-4o-mini", "input"): 300,
        ("gpt-4o-mini", "output"): 120,
    }

    # 1. the local store
    with LocalStore(db) as store:
        spans = store.query("SELECT * FROM spans")
    llm_rows = [s for s in spans if s["kind"] == "llm"]
    assert Counter(s["model"] for s in llm_rows) == expected_calls
    store_tokens = Counter()
    for s in llm_rows:
        store_tokens[(s["model"], "input")] += s["input_tokens"]
        store_tokens[(s["model"], "output")] += s["output_tokens"]
    assert dict(store_tokens) == expected_tokens
    store_errors = sum(1 for s in spans if s["kind"] == "node" and s["status"] == "error")
    assert store_errors == 2  # the first run retries flaky twice; the second passes at once

    # 2. Prometheus
    def sample(name: str, **labels: str) -> float:
        total = 0.0
        for metric in registry.collect():
            for s in metric.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total

    for m, n in expected_calls.items():
        assert sample("langgraph_observe_llm_calls_total", model=m) == n
    for (m, kind), n in expected_tokens.items():
        assert sample("langgraph_observe_tokens_total", model=m, type=kind) == n
    assert sample("langgraph_observe_node_errors_total", node="flaky") == store_errors
    assert sample("langgraph_observe_workflow_runs_total", workflow="agree", status="ok") == 2

    # 3. OpenTelemetry over OTLP/HTTP, and 4. Langfuse through its SDK
    n_spans = len(spans)
    assert otlp_receiver.wait_for(
        lambda r: (
            len(r.spans_at("/v1/traces")) >= n_spans and len(r.spans_at(LANGFUSE_PATH)) >= n_spans
        ),
        timeout=15,
    ), (len(otlp_receiver.spans_at("/v1/traces")), len(otlp_receiver.spans_at(LANGFUSE_PATH)))
    otel = otlp_receiver.spans_at("/v1/traces")
    langfuse = otlp_receiver.spans_at(LANGFUSE_PATH)
    assert len(otel) == len(langfuse) == n_spans  # each observation exactly once

    otel_llm = [s for s in otel if s["attributes"].get(sc.GEN_AI_OPERATION_NAME) == "chat"]
    assert Counter(s["attributes"][sc.GEN_AI_REQUEST_MODEL] for s in otel_llm) == expected_calls
    otel_tokens = Counter()
    for s in otel_llm:
        m = s["attributes"][sc.GEN_AI_REQUEST_MODEL]
        otel_tokens[(m, "input")] += s["attributes"][sc.GEN_AI_USAGE_INPUT_TOKENS]
        otel_tokens[(m, "output")] += s["attributes"][sc.GEN_AI_USAGE_OUTPUT_TOKENS]
    assert dict(otel_tokens) == expected_tokens
    assert sum(1 for s in otel if s["status"]["code"] == 2) == store_errors

    generations = [
        s for s in langfuse if s["attributes"].get("langfuse.observation.type") == "generation"
    ]
    models = Counter(s["attributes"]["langfuse.observation.model.name"] for s in generations)
    assert models == expected_calls
    lf_tokens = Counter()
    for s in generations:
        usage = json.loads(s["attributes"]["langfuse.observation.usage_details"])
        m = s["attributes"]["langfuse.observation.model.name"]
        lf_tokens[(m, "input")] += usage["input"]
        lf_tokens[(m, "output")] += usage["output"]
    assert dict(lf_tokens) == expected_tokens
    lf_errors = sum(
        1 for s in langfuse if s["attributes"].get("langfuse.observation.level") == "ERROR"
    )
    assert lf_errors == store_errors
