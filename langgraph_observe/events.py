"""The event model: the small, plain records every sink consumes.

The callback adapter turns LangChain/LangGraph callbacks into these records once;
sinks (the local store, Langfuse, OpenTelemetry, Prometheus, ...) only ever read them.

* :class:`SpanRecord` — one finished unit of work (a workflow run, a node, an LLM call,
  a tool, a retriever, an inner chain, a RAG sub-step). Emitted when the work ends.
* :class:`WorkflowStarted` — a root workflow began (for in-progress gauges and live views).
* :class:`ScoreRecord` — a named value attached to a trace or a span (quality gates,
  user feedback, evaluations).
* :class:`PersonaSwitch` — consecutive work in a run changed persona.
* :class:`BudgetUpdate` — a persona's token/USD budget changed state.

Records are frozen and slotted; they pickle and compare by value. Timestamps are
nanoseconds since the Unix epoch (``time.time_ns()``).
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ._render import render

__all__ = [
    "BudgetUpdate",
    "ErrorClass",
    "ErrorInfo",
    "Payload",
    "PersonaSwitch",
    "Record",
    "ScoreRecord",
    "SpanEvent",
    "SpanKind",
    "SpanRecord",
    "SpanStatus",
    "TokenUsage",
    "TraceContext",
    "WorkflowStarted",
]


class SpanKind(str, Enum):
    """What a span stands for."""

    WORKFLOW = "workflow"  #: the root graph run of one invocation
    SUBGRAPH = "subgraph"  #: a graph run nested inside a node
    NODE = "node"  #: one execution of a graph node
    LLM = "llm"  #: a chat or completion model call
    TOOL = "tool"  #: a tool call
    RETRIEVER = "retriever"  #: a retriever call (or the search step of a RAG pipeline)
    CHAIN = "chain"  #: any other runnable
    EMBEDDING = "embedding"  #: an embedding call (RAG sub-step)
    RERANK = "rerank"  #: a rerank step (RAG sub-step)
    FORMAT = "format"  #: a context-formatting step (RAG sub-step)
    MEMORY = "memory"  #: a memory read or write
    STEP = "step"  #: a user-defined sub-step

    def __str__(self) -> str:
        return self.value


class SpanStatus(str, Enum):
    """How a span ended."""

    OK = "ok"
    ERROR = "error"
    INTERRUPTED = "interrupted"  #: LangGraph ``interrupt()`` — control flow, not an error
    #: stopped from outside (``asyncio.CancelledError``: a caller's timeout, a client that
    #: went away, a sibling branch that failed), or cut off with its run — not a failure
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class ErrorClass(str, Enum):
    """A coarse class of failure, stable enough to label metrics with."""

    TRANSIENT = "transient"
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    NETWORK = "network"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """The exception that ended a span."""

    type: str  #: qualified exception type name, e.g. ``openai.RateLimitError``
    message: str
    error_class: ErrorClass = ErrorClass.UNKNOWN


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one model call. ``None`` means "not reported"."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None  #: prompt tokens read from the provider's cache
    cache_creation_tokens: int | None = None  #: prompt tokens written to the provider's cache
    reasoning_tokens: int | None = None  #: output tokens spent on reasoning
    estimated: bool = False  #: counted locally (tiktoken) because the provider reported none

    @property
    def total(self) -> int:
        """``total_tokens`` if reported, else input + output."""
        if self.total_tokens is not None:
            return self.total_tokens
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """A point-in-time event inside a span (first token, persona switch, budget warning, ...)."""

    name: str
    time_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TraceContext:
    """Attribution shared by every span of one trace (one root workflow run).

    One instance is shared by all the trace's records; sinks read trace-level fields
    (user, session, tags, tenant) from it.
    """

    trace_id: str  #: 32 lowercase hex digits
    workflow: str  #: the root workflow's name
    tenant: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    thread_id: str | None = None  #: LangGraph ``configurable.thread_id``
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


MARSHALLED = 1  #: a payload kept as the marshal bytes of the captured object
PLAIN_COPY = 2  #: ... of its JSON-ready plain copy


class Payload:
    """A captured input or output, rendered to text lazily (off the graph's path).

    The callback path stores the object as it is; the first sink that reads
    :attr:`text` renders it (JSON where possible, truncated to ``limit`` characters) and
    the result is cached for every other sink. Pickling renders it first.
    """

    __slots__ = ("_limit", "_obj", "_packed", "_text")

    def __init__(self, obj: Any, limit: int) -> None:
        self._obj = obj
        self._limit = limit
        self._text: str | None = None
        self._packed = 0  #: how ``_obj`` is kept: 0 as it is, else marshalled (see below)

    @classmethod
    def of_text(cls, text: str) -> Payload:
        """A payload that is already text (no truncation applied)."""
        p = cls(None, len(text))
        p._text = text
        return p

    @classmethod
    def of_packed(cls, data: bytes, limit: int, *, plain: bool = False) -> Payload:
        """A payload kept as ``marshal`` bytes, rendered on first read: of the captured
        object, or (``plain``) of its JSON-ready plain copy (:func:`._render.plain_copy`)."""
        p = cls(data, limit)
        p._packed = PLAIN_COPY if plain else MARSHALLED
        return p

    @property
    def text(self) -> str:
        """The rendered, truncated text."""
        if self._text is None:
            packed = self._packed
            obj = marshal.loads(self._obj) if packed else self._obj
            self._text = render(obj, self._limit, plain=packed == PLAIN_COPY)
            self._obj = None
        return self._text

    @property
    def raw(self) -> Any:
        """The captured object (or a copy of it), until it has been rendered (then
        ``None``)."""
        if self._packed and self._obj is not None:
            return marshal.loads(self._obj)
        return self._obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (Payload.of_text, (self.text,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Payload) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Payload({self.text[:60]!r})"


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span.

    ``attributes`` carries everything not promoted to a field, under the names in
    :mod:`langgraph_observe.semconv` (``gen_ai.*`` and ``langgraph.*``).
    ``cost_usd`` is set on LLM and embedding spans only; roll-ups are computed, never
    stored on parents.
    """

    trace: TraceContext
    span_id: str  #: 16 lowercase hex digits
    parent_span_id: str | None
    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    status: SpanStatus = SpanStatus.OK
    error: ErrorInfo | None = None
    node: str | None = None
    persona: str | None = None
    model: str | None = None
    provider: str | None = None
    usage: TokenUsage | None = None
    cost_usd: float | None = None
    input: Payload | None = None
    output: Payload | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()

    @property
    def trace_id(self) -> str:
        return self.trace.trace_id

    @property
    def workflow(self) -> str:
        return self.trace.workflow

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def is_root(self) -> bool:
        return self.parent_span_id is None


@dataclass(frozen=True, slots=True)
class WorkflowStarted:
    """A root workflow run began; its :class:`SpanRecord` follows when it ends."""

    trace: TraceContext
    span_id: str
    name: str
    start_ns: int


@dataclass(frozen=True, slots=True)
class ScoreRecord:
    """A named score on a trace or one of its spans (gate result, feedback, evaluation)."""

    trace_id: str
    name: str
    value: float | str | bool
    time_ns: int
    span_id: str | None = None
    comment: str | None = None
    source: str = "api"  #: ``gate``, ``feedback``, ``eval`` or ``api``
    workflow: str | None = None
    node: str | None = None
    persona: str | None = None
    passed: bool | None = None  #: for gate results


@dataclass(frozen=True, slots=True)
class PersonaSwitch:
    """Consecutive work in one run moved from one persona to another."""

    trace_id: str
    workflow: str
    from_persona: str | None
    to_persona: str
    time_ns: int
    span_id: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetUpdate:
    """The state of one persona's budget after a model call was counted."""

    persona: str
    window: str  #: ``run``, ``day`` or ``month``
    window_key: str  #: the trace id for ``run``, ``2026-11-23`` for ``day``, ``2026-11`` ...
    time_ns: int
    used_tokens: int = 0
    budget_tokens: int | None = None
    used_usd: float = 0.0
    budget_usd: float | None = None
    tenant: str | None = None
    workflow: str | None = None
    trace_id: str | None = None
    warned: bool = False  #: this update crossed ``warn_at``
    exceeded: bool = False
    #: identity of the counter (one per budget tracker) that counted this update; the
    #: store keeps one row per counter and adds them up, so processes sharing a store
    #: never overwrite each other's usage
    counter: str = ""
    counter_tokens: int | None = None  #: tokens counted by ``counter`` alone in the window
    counter_usd: float | None = None  #: USD counted by ``counter`` alone in the window

    @property
    def remaining_tokens(self) -> int | None:
        if self.budget_tokens is None:
            return None
        return self.budget_tokens - self.used_tokens

    @property
    def remaining_usd(self) -> float | None:
        if self.budget_usd is None:
            return None
        return self.budget_usd - self.used_usd


Record = SpanRecord | WorkflowStarted | ScoreRecord | PersonaSwitch | BudgetUpdate
"""Anything a sink may receive."""
