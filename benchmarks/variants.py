"""The tracers under test, and the check that each delivered what it should.

Each variant builds its tracer against the runner's loopback receiver (``endpoint``)
and says how to flush it and how to count what it delivered. Backends are imported
inside the builders, so a variant's process loads only its own tracer: a peer that is
not installed raises :class:`Unavailable` and is reported as skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import workload
from .receiver import fetch_counts

__all__ = [
    "FLOOR",
    "OURS",
    "PEERS",
    "VARIANTS",
    "Unavailable",
    "Variant",
    "verify",
]

LANGFUSE_PATH = "/api/public/otel/v1/traces"
OTLP_PATH = "/v1/traces"
#: Keys of the loopback Langfuse project (the receiver accepts any).
LANGFUSE_PUBLIC_KEY = "pk-lf-bench"
LANGFUSE_SECRET_KEY = "sk-lf-bench"


class Unavailable(Exception):
    """The variant's tracer is not installed (or does not work with these versions)."""


@dataclass
class Variant:
    """A tracer set up in this process.

    ``count`` returns, per destination, how many spans (or metric samples) arrived so far;
    ``shutdown(timeout)`` stops it. ``health`` is langgraph-observe's counters, if any.
    """

    callbacks: list[Any] = field(default_factory=list)
    flush: Callable[[float], object] = lambda timeout: None
    count: Callable[[], dict[str, int]] = dict
    shutdown: Callable[[float], object] = lambda timeout: None
    health: Callable[[], dict[str, Any]] | None = None
    #: spans each destination must receive per invocation; None: learned from the warm-up
    expected_per_invocation: int | None = None


Builder = Callable[[str, Path], Variant]


def _receiver_count(endpoint: str, path: str) -> int:
    """Spans the receiver at ``endpoint`` got on ``path``; 0 when no receiver answers
    there (the backends-down runs point at a refused or stalled address)."""
    try:
        return int(fetch_counts(endpoint, timeout=1.0)["spans"].get(path, 0))
    except (OSError, ValueError):
        return 0


def _otlp_provider(endpoint: str, timeout_s: float = 10.0) -> Any:
    """An SDK tracer provider exporting with a BatchSpanProcessor over OTLP/HTTP."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise Unavailable(f"OpenTelemetry SDK/exporter missing ({exc.name})") from exc
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + OTLP_PATH, timeout=timeout_s))
    )
    return provider


# -- floors ---------------------------------------------------------------------------
def no_callbacks(endpoint: str, workdir: Path) -> Variant:
    return Variant(expected_per_invocation=0)


def empty_handler(endpoint: str, workdir: Path) -> Variant:
    """An empty handler that runs inline: LangChain's callback machinery and nothing else."""
    from langchain_core.callbacks import BaseCallbackHandler

    class EmptyHandler(BaseCallbackHandler):
        run_inline = True

    return Variant(callbacks=[EmptyHandler()], expected_per_invocation=0)


def empty_handler_hop(endpoint: str, workdir: Path) -> Variant:
    """A plain empty handler: in async runs LangChain calls it through an executor."""
    from langchain_core.callbacks import BaseCallbackHandler

    class EmptyHopHandler(BaseCallbackHandler):
        pass

    return Variant(callbacks=[EmptyHopHandler()], expected_per_invocation=0)


# -- langgraph-observe ----------------------------------------------------------------
def _observe(sinks: list[Any], counters: dict[str, Callable[[], int]], **kw: Any) -> Variant:
    from langgraph_observe import CallbackHandler

    handler = CallbackHandler(sinks=sinks, **kw)
    return Variant(
        callbacks=[handler],
        flush=handler.flush,
        count=lambda: {name: fn() for name, fn in counters.items()},
        shutdown=handler.shutdown,
        health=handler.health.snapshot,
        expected_per_invocation=workload.SPANS_PER_INVOCATION,
    )


def _store_counter(path: Path) -> Callable[[], int]:
    def count() -> int:
        from langgraph_observe.store import LocalStore

        with LocalStore(path) as store:
            return store.count_spans() if store.exists else 0

    return count


def observe_local(endpoint: str, workdir: Path) -> Variant:
    """langgraph-observe with the local store only (its default)."""
    from langgraph_observe.sinks.local import LocalStoreSink

    path = workdir / "traces.db"
    return _observe([LocalStoreSink(path)], {"store": _store_counter(path)})


_PROMETHEUS_SPAN_SERIES = (
    "langgraph_observe_workflow_runs_total",
    "langgraph_observe_node_runs_total",
    "langgraph_observe_llm_calls_total",
    "langgraph_observe_tool_calls_total",
    "langgraph_observe_retriever_duration_seconds_count",
)


def _prometheus_counter(registry: Any) -> Callable[[], int]:
    def count() -> int:
        n = 0.0
        for metric in registry.collect():
            for sample in metric.samples:
                if sample.name in _PROMETHEUS_SPAN_SERIES:
                    n += sample.value
        return int(n)

    return count


def observe_all(endpoint: str, workdir: Path) -> Variant:
    """langgraph-observe with every sink: local store, Langfuse (SDK, to the receiver),
    OpenTelemetry (SDK, batch OTLP/HTTP exporter, to the receiver) and Prometheus."""
    from prometheus_client import CollectorRegistry

    from langgraph_observe.otel_setup import setup_otel
    from langgraph_observe.sinks.langfuse import LangfuseSink
    from langgraph_observe.sinks.local import LocalStoreSink
    from langgraph_observe.sinks.otel import OTelSink
    from langgraph_observe.sinks.prometheus import PrometheusSink

    path = workdir / "traces.db"
    tracer_provider, meter_provider = setup_otel(endpoint, "bench", metric_interval_s=5.0)
    registry = CollectorRegistry()
    sinks = [
        LocalStoreSink(path),
        LangfuseSink(LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, endpoint),
        OTelSink(tracer_provider, meter_provider),
        PrometheusSink(registry),
    ]
    return _observe(
        sinks,
        {
            "store": _store_counter(path),
            "langfuse": lambda: _receiver_count(endpoint, LANGFUSE_PATH),
            "otel": lambda: _receiver_count(endpoint, OTLP_PATH),
            "prometheus": _prometheus_counter(registry),
        },
    )


class _Discard:
    """A sink that drops every batch: the callback path and the dispatcher, no sink work."""

    name = "discard"

    def export(self, records: Any) -> None:
        return None

    def flush(self, timeout: float) -> None:
        return None

    def shutdown(self, timeout: float) -> None:
        return None


def observe_null(endpoint: str, workdir: Path) -> Variant:
    """langgraph-observe with a sink that discards: what the callbacks alone cost."""
    variant = _observe([_Discard()], {})
    variant.expected_per_invocation = 0
    return variant


def observe_otel(endpoint: str, workdir: Path) -> Variant:
    """langgraph-observe with the OpenTelemetry sink alone (SDK, batch OTLP/HTTP)."""
    from langgraph_observe.otel_setup import setup_otel
    from langgraph_observe.sinks.otel import OTelSink

    tracer_provider, meter_provider = setup_otel(endpoint, "bench", metric_interval_s=5.0)
    return _observe(
        [OTelSink(tracer_provider, meter_provider)],
        {"otel": lambda: _receiver_count(endpoint, OTLP_PATH)},
    )


def observe_langfuse(endpoint: str, workdir: Path) -> Variant:
    """langgraph-observe with the Langfuse sink alone."""
    from langgraph_observe.sinks.langfuse import LangfuseSink

    return _observe(
        [LangfuseSink(LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, endpoint)],
        {"langfuse": lambda: _receiver_count(endpoint, LANGFUSE_PATH)},
    )


def observe_prometheus(endpoint: str, workdir: Path) -> Variant:
    """langgraph-observe with the Prometheus sink alone."""
    from prometheus_client import CollectorRegistry

    from langgraph_observe.sinks.prometheus import PrometheusSink

    registry = CollectorRegistry()
    return _observe([PrometheusSink(registry)], {"prometheus": _prometheus_counter(registry)})


# -- peers ----------------------------------------------------------------------------
def langfuse_handler(endpoint: str, workdir: Path) -> Variant:
    """Langfuse's own ``langfuse.langchain.CallbackHandler`` exporting to the receiver."""
    try:
        from langfuse import Langfuse
        from langfuse.langchain import CallbackHandler
    except ImportError as exc:
        raise Unavailable(f"langfuse missing ({exc.name})") from exc
    client = Langfuse(
        public_key=LANGFUSE_PUBLIC_KEY, secret_key=LANGFUSE_SECRET_KEY, base_url=endpoint
    )
    handler = CallbackHandler(public_key=LANGFUSE_PUBLIC_KEY)
    return Variant(
        callbacks=[handler],
        flush=lambda timeout: client.flush(),
        count=lambda: {"langfuse": _receiver_count(endpoint, LANGFUSE_PATH)},
        shutdown=lambda timeout: client.shutdown(),
    )


def _instrumented(endpoint: str, instrumentor: Any) -> Variant:
    provider = _otlp_provider(endpoint)
    instrumentor.instrument(tracer_provider=provider)
    return Variant(
        flush=lambda timeout: provider.force_flush(int(timeout * 1000)),
        count=lambda: {"otel": _receiver_count(endpoint, OTLP_PATH)},
        shutdown=lambda timeout: provider.shutdown(),
    )


def openinference(endpoint: str, workdir: Path) -> Variant:
    """Arize's OpenInference LangChain instrumentor with a batch OTLP/HTTP exporter."""
    try:
        from openinference.instrumentation.langchain import LangChainInstrumentor
    except ImportError as exc:
        raise Unavailable(f"openinference-instrumentation-langchain missing ({exc.name})") from exc
    return _instrumented(endpoint, LangChainInstrumentor())


def openllmetry(endpoint: str, workdir: Path) -> Variant:
    """Traceloop's OpenLLMetry LangChain instrumentor with a batch OTLP/HTTP exporter."""
    try:
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor
    except ImportError as exc:
        raise Unavailable(f"opentelemetry-instrumentation-langchain missing ({exc.name})") from exc
    return _instrumented(endpoint, LangchainInstrumentor())


#: name -> builder, in the order they run.
VARIANTS: dict[str, Builder] = {
    "none": no_callbacks,
    "empty": empty_handler,
    "empty-hop": empty_handler_hop,
    "observe-local": observe_local,
    "observe-all": observe_all,
    "observe-null": observe_null,
    "observe-otel": observe_otel,
    "observe-langfuse": observe_langfuse,
    "observe-prometheus": observe_prometheus,
    "langfuse": langfuse_handler,
    "openinference": openinference,
    "openllmetry": openllmetry,
}
FLOOR = "empty"
OURS = ("observe-local", "observe-all")
PEERS = ("langfuse", "openinference", "openllmetry")


def verify(raw: dict[str, Any]) -> tuple[bool, dict[str, float], str]:
    """Did every destination receive every span? Returns (ok, spans per invocation per
    destination, a note). The rate is known for langgraph-observe and learned from the
    warm-up for the peers; the measured run must then deliver exactly that many more."""
    total = raw["warmup"] + raw["n"]
    expected = raw["expected_per_invocation"]
    counts: dict[str, int] = raw["counts"]
    warm: dict[str, int] = raw["counts_after_warmup"]
    if expected == 0 and not counts:
        return True, {}, "emits nothing"
    if not counts:
        return False, {}, "no destination to count"
    rates: dict[str, float] = {}
    problems = []
    for dest, got in counts.items():
        rate = expected if expected is not None else warm.get(dest, 0) / max(1, raw["warmup"])
        rates[dest] = got / total
        if rate <= 0:
            problems.append(f"{dest}: nothing arrived during the warm-up")
        elif abs(got - rate * total) > 0.5:
            problems.append(f"{dest}: {got} of {rate * total:.0f}")
    return not problems, rates, "; ".join(problems) or "all spans arrived"
