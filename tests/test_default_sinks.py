"""Which sinks ``CallbackHandler()`` turns on by itself, and what it imports to decide.

Each case runs in a fresh interpreter that has imported LangGraph, as an application has:
what the handler imports on top of that is the point."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from .subprocesses import run_python

_PROBE = textwrap.dedent(
    """
    import json, sys
    import langgraph.graph  # an application's own imports (LangSmith's included)
    {setup}
    before = set(sys.modules)
    from langgraph_observe import CallbackHandler
    from langgraph_observe.sinks.auto import describe

    handler = CallbackHandler()
    modules = sorted(m for m in set(sys.modules) - before
                     if m.startswith(("opentelemetry", "langfuse"))
                     or m in ("langgraph_observe.sinks.otel", "langgraph_observe.sinks.langfuse"))
    described = describe(handler.settings)  # builds the sinks that are on once more
    print(json.dumps({{
        "sinks": [s.name for s in handler.sinks],
        "reasons": {{name: reason for name, _, reason in described}},
        "modules": modules,
    }}))
    handler.shutdown(5)
    for _, sink, _ in described:
        if sink is not None:
            sink.shutdown(5)
    """
)


def probe(tmp_path: Path, setup: str = "", **env: str) -> dict:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LANGFUSE_", "OTEL_", "LANGGRAPH_OBSERVE_"))
    }
    clean.update(LANGGRAPH_OBSERVE_STORE=str(tmp_path / "traces.db"), **env)
    out = run_python(_PROBE.format(setup=setup), env=clean)
    return json.loads(out.strip().splitlines()[-1])


def test_an_unconfigured_handler_imports_no_remote_sink(tmp_path: Path) -> None:
    got = probe(tmp_path)
    assert got["sinks"] == ["local", "prometheus"]
    assert got["modules"] == []  # neither the OTel and Langfuse sinks nor their libraries
    assert got["reasons"]["otel"].startswith("off: no SDK tracer provider installed")
    assert got["reasons"]["langfuse"].startswith("off: LANGFUSE_PUBLIC_KEY, ")


def test_an_sdk_provider_the_application_installed_turns_otel_on(tmp_path: Path) -> None:
    setup = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())"
    )
    got = probe(tmp_path, setup)
    assert got["sinks"] == ["local", "prometheus", "otel"]
    assert "langgraph_observe.sinks.otel" in got["modules"]


def test_a_provider_named_by_environment_variable_turns_otel_on(tmp_path: Path) -> None:
    got = probe(tmp_path, OTEL_PYTHON_TRACER_PROVIDER="sdk_tracer_provider")
    assert got["sinks"] == ["local", "prometheus", "otel"]


@pytest.mark.parametrize("value", ["0", "1"])
def test_the_switches_decide_without_looking_further(tmp_path: Path, value: str) -> None:
    got = probe(tmp_path, LANGGRAPH_OBSERVE_OTEL=value, LANGGRAPH_OBSERVE_LANGFUSE="0")
    assert ("otel" in got["sinks"]) is (value == "1")
    assert got["reasons"]["langfuse"] == "off: LANGGRAPH_OBSERVE_LANGFUSE=0"
    assert "langgraph_observe.sinks.langfuse" not in got["modules"]


def test_langfuse_keys_turn_langfuse_on(tmp_path: Path) -> None:
    got = probe(
        tmp_path,
        LANGFUSE_PUBLIC_KEY="pk-lf-probe",
        LANGFUSE_SECRET_KEY="sk-lf-probe",
        LANGFUSE_BASE_URL="http://127.0.0.1:9",
    )
    assert got["sinks"] == ["local", "prometheus", "langfuse"]
    assert got["reasons"]["otel"].startswith("off: ")
