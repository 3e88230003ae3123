"""The Langfuse sink: one Langfuse trace per workflow run, through the Langfuse SDK.

::

    from langgraph_observe.sinks.langfuse import LangfuseSink
    sink = LangfuseSink()  # LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY / LANGFUSE_BASE_URL
    sink.score(trace_id, "helpfulness", 0.9, comment="from user feedback")

Nodes, LLM calls, tools, retrievers, embeddings and inner chains become observations of
the matching Langfuse types (agent / chain / span, generation, tool, retriever,
embedding) with model, model parameters, usage and cost details and the completion
start time. User, session, tags and trace metadata (workflow, tenant, thread) come from
the record's :class:`~langgraph_observe.events.TraceContext`. :class:`ScoreRecord`
records become Langfuse scores.

**A private tracer provider.** The Langfuse SDK is built on OpenTelemetry: left alone it
installs its own provider as the global one, or attaches to the application's and
exports every span carrying ``gen_ai.*`` attributes (so with the OTel sink on too, each
LLM call would reach Langfuse twice). This sink hands the Langfuse client a tracer
provider of its own and never touches the global one.

**Ids and times.** Observations are OTel spans started on that provider with the
records' start and end times and their own trace and span ids (the provider's id
generator hands out the record's ids), so parents and children link up in whatever
order the records arrive, and ids match the local store and the OTel sink.

``flush(timeout)`` returns within ``timeout`` even when Langfuse is unreachable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from .._guard import report
from ..config import Settings
from ..events import Record, ScoreRecord, SpanRecord
from ._langfuse_map import observation_fields, observation_type, score_fields, trace_attributes
from ._otel_flush import BoundedFlush
from ._otel_ids import PresetIds
from ._sdk_queue import SDKQueueGuard
from .base import BaseSink

__all__ = ["LangfuseSink", "autoconfigure"]

INSTALL_HINT = "pip install 'langfuse>=3'"
ENV_SWITCH = "LANGGRAPH_OBSERVE_LANGFUSE"
INSTRUMENTATION_SCOPE = "langgraph_observe"


def _langfuse() -> Any:
    try:
        import langfuse
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError as exc:
        raise ImportError(
            f"LangfuseSink needs the Langfuse SDK and the OpenTelemetry SDK: {INSTALL_HINT}"
        ) from exc
    return langfuse, TracerProvider, Resource


def _export_everything(span: Any) -> bool:
    return True  # the private provider holds this sink's spans only


class LangfuseSink(BaseSink):
    """Sends span records and scores to Langfuse.

    Args:
        public_key, secret_key, base_url: Langfuse credentials and server; ``None`` reads
            ``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY``, ``LANGFUSE_BASE_URL`` (or
            ``LANGFUSE_HOST``), as the Langfuse SDK does.
        environment, release: Langfuse environment and release of every observation.
        timeout_s: time limit of one HTTP request to Langfuse.
        name: the sink's name in health counters.
        **langfuse_kwargs: more arguments of ``langfuse.Langfuse`` (``flush_at``,
            ``flush_interval``, ``mask``, ``additional_headers``, ...).

    Raises:
        ValueError: no public or secret key was given or found in the environment.
    """

    def __init__(
        self,
        public_key: str | None = None,
        secret_key: str | None = None,
        base_url: str | None = None,
        *,
        environment: str | None = None,
        release: str | None = None,
        timeout_s: int = 5,
        name: str = "langfuse",
        **langfuse_kwargs: Any,
    ) -> None:
        langfuse, tracer_provider_cls, resource_cls = _langfuse()
        self.name = name
        self.public_key = public_key or os.environ.get("LANGFUSE_PUBLIC_KEY")
        secret = secret_key or os.environ.get("LANGFUSE_SECRET_KEY")
        if not self.public_key or not secret:
            raise ValueError(
                "LangfuseSink needs a public and a secret key "
                "(arguments or LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY)"
            )
        self._ids = PresetIds()
        self.tracer_provider = tracer_provider_cls(
            id_generator=self._ids,
            resource=resource_cls.create({"service.name": "langgraph-observe"}),
        )
        langfuse_kwargs.setdefault("should_export_span", _export_everything)
        self.client = langfuse.Langfuse(
            public_key=self.public_key,
            secret_key=secret,
            base_url=base_url,
            environment=environment,
            release=release,
            timeout=timeout_s,
            tracer_provider=self.tracer_provider,
            **langfuse_kwargs,
        )
        resources = getattr(self.client, "_resources", None)
        self._owns_client = getattr(resources, "tracer_provider", None) is self.tracer_provider
        if not self._owns_client:
            self._attach_exporter(secret, timeout_s, langfuse_kwargs)
        self._propagate = langfuse.propagate_attributes
        self._classes = {
            "agent": langfuse.LangfuseAgent,
            "chain": langfuse.LangfuseChain,
            "generation": langfuse.LangfuseGeneration,
            "tool": langfuse.LangfuseTool,
            "retriever": langfuse.LangfuseRetriever,
            "embedding": langfuse.LangfuseEmbedding,
            "span": langfuse.LangfuseSpan,
        }
        self._tracer = self.tracer_provider.get_tracer(INSTRUMENTATION_SCOPE)
        self._flush = BoundedFlush(self._flush_all, f"langgraph-observe-{name}-flush")
        self._sdk_queue = SDKQueueGuard(self.tracer_provider)

    def _attach_exporter(self, secret: str, timeout_s: int, kwargs: dict[str, Any]) -> None:
        """Another Langfuse client with this public key exists in the process, and the SDK
        shares its resources (and ignores our provider): export from ours ourselves."""
        from langfuse._client.span_processor import LangfuseSpanProcessor

        self.tracer_provider.add_span_processor(
            LangfuseSpanProcessor(
                public_key=self.public_key or "",
                secret_key=secret,
                base_url=self.client._base_url,
                timeout=timeout_s,
                should_export_span=kwargs["should_export_span"],
                additional_headers=kwargs.get("additional_headers"),
            )
        )

    # -- records ------------------------------------------------------------------------

    def export(self, records: Sequence[Record]) -> None:
        for record in records:
            if isinstance(record, SpanRecord):
                if self._sdk_queue.full():  # the SDK would drop it: count it, skip the work
                    if self.health is not None:
                        self.health.drop(self.name, "sdk_queue_full")
                    continue
                self._export_span(record)
            elif isinstance(record, ScoreRecord):
                self.client.create_score(**score_fields(record))

    def _export_span(self, record: SpanRecord) -> None:
        as_type = observation_type(record)
        with self._propagate(**trace_attributes(record.trace)):
            ctx = otel_context.get_current()
            if record.parent_span_id:
                parent = NonRecordingSpan(
                    SpanContext(
                        trace_id=int(record.trace_id, 16),
                        span_id=int(record.parent_span_id, 16),
                        is_remote=False,
                        trace_flags=TraceFlags(TraceFlags.SAMPLED),
                    )
                )
                ctx = trace.set_span_in_context(parent, ctx)
            with self._ids.use(record.trace_id, record.span_id):
                span = self._tracer.start_span(record.name, ctx, start_time=record.start_ns)
            cls = self._classes[as_type]
            observation = cls(
                otel_span=span,
                langfuse_client=self.client,
                **observation_fields(record, as_type),
            )
            observation.end(end_time=max(record.end_ns, record.start_ns))

    def score(
        self,
        trace_id: str,
        name: str,
        value: float | str | bool,
        comment: str | None = None,
        span_id: str | None = None,
    ) -> None:
        """Send a score on a trace (or one of its spans) to Langfuse. Queues, never blocks."""
        import time

        record = ScoreRecord(
            trace_id=trace_id,
            name=name,
            value=value,
            time_ns=time.time_ns(),
            span_id=span_id,
            comment=comment,
        )
        try:
            self.client.create_score(**score_fields(record))
        except Exception as exc:
            report("LangfuseSink.score", exc)

    # -- lifecycle ----------------------------------------------------------------------

    def _flush_all(self, timeout: float) -> None:
        self.tracer_provider.force_flush(max(1, int(timeout * 1000)))
        self.client.flush()

    def flush(self, timeout: float) -> None:
        """Send what is buffered; returns within ``timeout`` seconds even when Langfuse
        stalls (the flush then goes on in the background)."""
        self._flush(timeout)

    def shutdown(self, timeout: float) -> None:
        """Flush, then stop the private provider and (when it is this sink's own) the
        Langfuse client's background threads, within ``timeout`` seconds."""
        self._flush(timeout)
        stop = BoundedFlush(lambda _t: self._stop(), f"langgraph-observe-{self.name}-stop")
        stop(timeout)

    def _stop(self) -> None:
        self.tracer_provider.shutdown()
        if self._owns_client:
            resources = getattr(self.client, "_resources", None)
            self.client.shutdown()
            # let a later sink with the same key start afresh instead of reusing a
            # shut-down Langfuse resource manager
            instances = getattr(type(resources), "_instances", None)
            if isinstance(instances, dict) and instances.get(self.public_key) is resources:
                instances.pop(self.public_key, None)


def autoconfigure(settings: Settings, **kwargs: Any) -> tuple[LangfuseSink | None, str]:
    """The sink when ``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY`` and
    ``LANGFUSE_BASE_URL`` (or ``LANGFUSE_HOST``) are set, else ``None``; with a reason.
    ``LANGGRAPH_OBSERVE_LANGFUSE=0`` turns it off."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "false", "no", "off"):
        return None, f"off: {ENV_SWITCH}=0"
    missing = [k for k in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY") if not os.environ.get(k)]
    if not (os.environ.get("LANGFUSE_BASE_URL") or os.environ.get("LANGFUSE_HOST")):
        missing.append("LANGFUSE_BASE_URL (or LANGFUSE_HOST)")
    if missing:
        return None, f"off: {', '.join(missing)} not set"
    return LangfuseSink(**kwargs), "on: LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY set"
