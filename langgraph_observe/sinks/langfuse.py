"""The Langfuse sink: one Langfuse trace per workflow run.

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

**How spans travel.** Langfuse ingests traces over OTLP/HTTP, as spans carrying its
``langfuse.*`` attributes (the ones its SDK writes). This sink writes those spans
straight from the records: the attributes are computed from the already rendered
payloads, each batch is encoded to OTLP/protobuf in one pass, gzipped and POSTed to
``<base_url>/api/public/otel/v1/traces`` from the sink's worker thread. No span objects
are built and nothing reaches an OpenTelemetry tracer provider, so the application's
own provider (global or not) never sees these spans and the OTel sink's spans never
reach Langfuse twice. A batch that Langfuse refuses, or that cannot be delivered within
``timeout_s`` (retries included), is counted as dropped (``reason="export_failed"``).
When delivery failed because Langfuse was unreachable or overloaded, the sink pauses
(``outage_pause_s``, doubling with each failure in a row up to twelve times as long):
batches that arrive during the pause are dropped before they are encoded
(``reason="backend_down"``), and the first batch after it tries again.

Scores go through the Langfuse SDK's client (``create_score``), which batches them in
the background; the client gets a tracer provider of its own, so creating it leaves
the global provider alone.

**Ids and times** are the records' own, so parents and children link up in whatever
order the records arrive, and ids match the local store and the OTel sink.

``flush(timeout)`` and ``shutdown(timeout)`` return within ``timeout`` even when
Langfuse is unreachable.

**Fork.** In the child of an ``os.fork()`` the sink opens a connection of its own (the
parent's kept-alive one is let go); an outage pause inherited from the parent goes on.
The Langfuse client restarts its own threads after a fork.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from .. import __version__
from .._guard import report
from ..events import Record, ScoreRecord, SpanRecord, SpanStatus, TraceContext
from ._langfuse_map import A, Mask, score_fields, trace_attributes
from ._langfuse_switch import autoconfigure
from ._langfuse_wire import ObservationWriter
from ._otel_flush import BoundedFlush
from ._otlp_http import OTLPPoster, PostFailed
from ._otlp_wire import (
    SPAN_ATTRIBUTES,
    STATUS_ERROR,
    encode_attributes,
    encode_request,
    span_message,
    trace_field,
)
from ._outage import OutagePause
from .base import BaseSink

__all__ = ["LangfuseSink", "autoconfigure"]

logger = logging.getLogger("langgraph_observe")

INSTALL_HINT = "pip install 'langfuse>=3'"
INSTRUMENTATION_SCOPE = "langgraph_observe"
DEFAULT_BASE_URL = "https://cloud.langfuse.com"
TRACES_PATH = "api/public/otel/v1/traces"
MAX_REQUEST_BYTES = 4 * 1024 * 1024  #: default cap of one request body (uncompressed)


def _langfuse() -> Any:
    try:
        import langfuse
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError as exc:
        raise ImportError(
            f"LangfuseSink needs the Langfuse SDK and the OpenTelemetry SDK: {INSTALL_HINT}"
        ) from exc
    return langfuse, TracerProvider


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class LangfuseSink(BaseSink):
    """Sends span records and scores to Langfuse.

    Args:
        public_key, secret_key, base_url: Langfuse credentials and server; ``None`` reads
            ``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY``, ``LANGFUSE_BASE_URL`` (or
            ``LANGFUSE_HOST``), as the Langfuse SDK does.
        environment, release: Langfuse environment and release of every observation
            (``None`` reads ``LANGFUSE_TRACING_ENVIRONMENT`` / ``LANGFUSE_RELEASE``).
        timeout_s: time limit of sending one batch of spans, retries included.
        outage_pause_s: after a batch could not be delivered because Langfuse was
            unreachable or overloaded, how long to drop batches (unencoded, counted as
            ``backend_down``) before trying again; doubles with each failure in a row,
            up to twelve times as long. ``0`` tries every batch.
        gzip: compress the span batches (level 1).
        name: the sink's name in health counters.
        **langfuse_kwargs: more arguments of ``langfuse.Langfuse``, for the scores'
            client; the sink itself also honours ``mask`` (applied to every
            observation's input, output and metadata), ``sample_rate`` (or
            ``LANGFUSE_SAMPLE_RATE``: the share of traces sent, chosen by trace id)
            and ``additional_headers``.

    Raises:
        ValueError: no public or secret key was given or found in the environment, or
            ``mask_otel_spans`` was given (use ``mask``).
    """

    def __init__(
        self,
        public_key: str | None = None,
        secret_key: str | None = None,
        base_url: str | None = None,
        *,
        environment: str | None = None,
        release: str | None = None,
        timeout_s: float = 5,
        outage_pause_s: float = 5,
        gzip: bool = True,
        name: str = "langfuse",
        **langfuse_kwargs: Any,
    ) -> None:
        langfuse, tracer_provider_cls = _langfuse()
        if "mask_otel_spans" in langfuse_kwargs:
            raise ValueError("LangfuseSink applies `mask` to its observations; use mask=")
        self.name = name
        self.public_key = public_key or os.environ.get("LANGFUSE_PUBLIC_KEY")
        secret = secret_key or os.environ.get("LANGFUSE_SECRET_KEY")
        if not self.public_key or not secret:
            raise ValueError(
                "LangfuseSink needs a public and a secret key "
                "(arguments or LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY)"
            )
        self.base_url = (
            base_url or _env("LANGFUSE_BASE_URL", "LANGFUSE_HOST") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.environment = environment or _env("LANGFUSE_TRACING_ENVIRONMENT")
        self.release = release or _env("LANGFUSE_RELEASE")
        self._mask: Mask | None = langfuse_kwargs.get("mask")
        rate = langfuse_kwargs.get("sample_rate", _env("LANGFUSE_SAMPLE_RATE"))
        self.sample_rate = 1.0 if rate is None else min(1.0, max(0.0, float(rate)))
        #: a trace is kept when the low 64 bits of its id fall below this (as OTel's
        #: TraceIdRatioBased sampler decides, so the same traces are kept everywhere)
        self._sample_bound = round(self.sample_rate * (1 << 64))
        # The client sends scores; its own provider keeps it off the global one (and is
        # shut down with the sink: the client leaves it running).
        self._client_provider = tracer_provider_cls()
        self.client = langfuse.Langfuse(
            public_key=self.public_key,
            secret_key=secret,
            base_url=self.base_url,
            environment=environment,
            release=release,
            timeout=max(1, int(timeout_s)),
            tracer_provider=self._client_provider,
            **langfuse_kwargs,
        )
        auth = base64.b64encode(f"{self.public_key}:{secret}".encode()).decode("ascii")
        headers = {
            "Authorization": f"Basic {auth}",
            "x-langfuse-sdk-name": "python",
            "x-langfuse-sdk-version": langfuse.__version__,
            "x-langfuse-public-key": self.public_key,
            "x-langfuse-ingestion-version": "4",
            **(langfuse_kwargs.get("additional_headers") or {}),
        }
        path = _env("LANGFUSE_OTEL_TRACES_EXPORT_PATH") or TRACES_PATH
        limit = _env("LANGFUSE_OTEL_MAX_BATCH_SIZE_BYTES")
        #: largest request body before compression; a batch above it is split
        self.max_request_bytes = int(limit) if limit and limit.isdigit() else MAX_REQUEST_BYTES
        self._poster = OTLPPoster(f"{self.base_url}/{path.lstrip('/')}", headers, timeout_s, gzip)
        self._resource = {
            "service.name": "langgraph-observe",
            "telemetry.sdk.name": "langgraph-observe",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.version": __version__,
        }
        common = {A.ENVIRONMENT: self.environment, A.RELEASE: self.release}
        self._common = encode_attributes(SPAN_ATTRIBUTES, common)
        self._observations = ObservationWriter(self._mask)
        #: per trace of the last batch: (context, trace id field, trace attributes, sampled in)
        self._traces: dict[int, tuple[TraceContext, bytes, bytes, bool]] = {}
        self._failing = False
        self._outage = OutagePause(outage_pause_s)
        self._flush = BoundedFlush(self._flush_client, f"langgraph-observe-{name}-flush")

    # -- records ------------------------------------------------------------------------

    def export(self, records: Sequence[Record]) -> None:
        if self._outage.paused():
            self._skip(records)
            return
        spans: list[bytes] = []
        previous, self._traces = self._traces, {}  # kept one batch: traces span batches
        attributes = self._observations.attributes
        for record in records:
            if type(record) is SpanRecord or isinstance(record, SpanRecord):
                ctx = record.trace
                trace = self._traces.get(id(ctx))
                if trace is None:
                    trace = previous.get(id(ctx))
                    if trace is None or trace[0] is not ctx:
                        trace = self._trace(ctx)
                    self._traces[id(ctx)] = trace
                if not trace[3]:
                    continue  # sampled out
                error = record.status is SpanStatus.ERROR
                spans.append(
                    span_message(
                        trace[1],
                        record.span_id,
                        record.parent_span_id,
                        record.name,
                        record.start_ns,
                        max(record.end_ns, record.start_ns),
                        attributes(record),
                        [(e.name, e.time_ns, e.attributes) for e in record.events]
                        if record.events
                        else (),
                        STATUS_ERROR if error else 0,
                        (f"{record.error.type}: {record.error.message}" if record.error else "")
                        if error
                        else "",
                        trace[2],
                    )
                )
            elif isinstance(record, ScoreRecord):
                self.client.create_score(**score_fields(record))
        if spans:
            self._send(spans)

    def _trace(self, ctx: TraceContext) -> tuple[TraceContext, bytes, bytes, bool]:
        """What every span of a trace shares: its encoded id and trace-level attributes,
        and whether it is sampled in."""
        keep = self._sample_bound > int(ctx.trace_id[-16:], 16)
        if not keep:
            return (ctx, b"", b"", False)
        attributes = self._common + encode_attributes(SPAN_ATTRIBUTES, trace_attributes(ctx))
        return (ctx, trace_field(ctx.trace_id), attributes, True)

    def _send(self, spans: list[bytes]) -> None:
        """POST ``spans`` in as few requests as the size limit allows."""
        chunk: list[bytes] = []
        size = 0
        for i, span in enumerate(spans):
            if chunk and size + len(span) > self.max_request_bytes:
                self._post(chunk)
                chunk, size = [], 0
                if self._outage.paused():
                    self._drop("backend_down", len(spans) - i)
                    return
            chunk.append(span)
            size += len(span)
        if chunk:
            self._post(chunk)

    def _skip(self, records: Sequence[Record]) -> None:
        """During an outage's pause: drop the batch's spans unencoded; scores still go to
        the Langfuse client, which buffers and retries them itself."""
        spans = 0
        for record in records:
            if type(record) is SpanRecord or isinstance(record, SpanRecord):
                spans += 1
            elif isinstance(record, ScoreRecord):
                self.client.create_score(**score_fields(record))
        self._drop("backend_down", spans)

    def _drop(self, reason: str, n: int) -> None:
        if self.health is not None and n:
            self.health.drop(self.name, reason, n)

    def _post(self, spans: list[bytes]) -> None:
        body = encode_request(self._resource, INSTRUMENTATION_SCOPE, __version__, spans)
        try:
            self._poster.post(body)
        except PostFailed as exc:
            if self.health is not None:
                self.health.export_error(self.name)
            self._drop("export_failed", len(spans))
            pause = self._outage.failed() if exc.retryable else 0.0
            if not self._failing:  # once per outage, not once per batch
                self._failing = True
                logger.warning(
                    "langgraph-observe: Langfuse export failed (%s); spans are dropped and "
                    "counted (export_failed%s) until it succeeds again",
                    exc,
                    f", then backend_down while it pauses {pause:g} s before trying again"
                    if pause
                    else "",
                )
            return
        self._outage.succeeded()
        if self._failing:
            self._failing = False
            logger.warning("langgraph-observe: Langfuse export works again")

    def score(
        self,
        trace_id: str,
        name: str,
        value: float | str | bool,
        comment: str | None = None,
        span_id: str | None = None,
    ) -> None:
        """Send a score on a trace (or one of its spans) to Langfuse. Queues, never blocks."""
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

    def _flush_client(self, timeout: float) -> None:
        self.client.flush()

    def flush(self, timeout: float) -> None:
        """Send the scores the client buffers; returns within ``timeout`` seconds even
        when Langfuse stalls (the flush then goes on in the background). Spans need no
        flush: each batch is sent as the worker receives it."""
        self._flush(timeout)

    def shutdown(self, timeout: float) -> None:
        """Flush, then stop the Langfuse client's background threads, within ``timeout``
        seconds."""
        deadline = time.monotonic() + timeout
        self._flush(timeout)
        stop = BoundedFlush(lambda _t: self._stop(), f"langgraph-observe-{self.name}-stop")
        stop(max(0.0, deadline - time.monotonic()))

    def after_fork(self) -> None:
        """In a forked child: a connection and a flush helper of the child's own."""
        self._poster.after_fork()
        self._flush = BoundedFlush(self._flush_client, f"langgraph-observe-{self.name}-flush")

    def _stop(self) -> None:
        self._poster.close()
        resources = getattr(self.client, "_resources", None)
        self.client.shutdown()
        self._client_provider.shutdown()
        # the client's prompt cache keeps a thread of its own (no public way to stop it)
        tasks = getattr(getattr(resources, "prompt_cache", None), "_task_manager", None)
        stop_tasks = getattr(tasks, "shutdown", None)
        if callable(stop_tasks):
            stop_tasks()
        # let a later sink with the same key start afresh instead of reusing a
        # shut-down Langfuse resource manager
        instances = getattr(type(resources), "_instances", None)
        if isinstance(instances, dict) and instances.get(self.public_key) is resources:
            instances.pop(self.public_key, None)
