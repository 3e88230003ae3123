"""Open spans: what the callback path keeps of a run between its start and its end.

An :class:`OpenSpan` is mutable and private to the tracer, the hooks and the adapters.
The callback path only fills it in (ids, times, names, references to inputs and
outputs); when its run ends the span itself goes to the dispatcher, and its
:class:`~.events.SpanRecord` is built later on the dispatcher's thread
(:mod:`._finish`) — or at once, on the graph's path, when the hooks need it there.

Ids are integers while the span is open: ``sid`` is the low 64 bits of the LangChain
run id; the hex strings of the record are made when it is built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from ._render import safe_str
from .dispatch import Deferred
from .events import (
    ErrorInfo,
    PersonaSwitch,
    SpanEvent,
    SpanKind,
    SpanStatus,
    TokenUsage,
    TraceContext,
)
from .semconv import LG_PERSONA

if TYPE_CHECKING:
    from .events import Record, SpanRecord

__all__ = [
    "LOW64",
    "OpenSpan",
    "Trace",
    "as_uuid",
    "first_of",
    "hex_id",
    "str_or_none",
    "trace_context",
]

LOW64 = (1 << 64) - 1


def hex_id(sid: int) -> str:
    """A span id as the 16 lowercase hex digits records carry."""
    return f"{sid:016x}"


class Trace:
    """State shared by the open spans of one trace (one root run)."""

    __slots__ = (
        "attempts",
        "ctx",
        "emit",
        "finish",
        "interrupted",
        "last_persona",
        "lock",
        "root",
        "runs",
    )

    def __init__(
        self,
        ctx: TraceContext,
        emit: Callable[[Record], None],
        finish: Any,
    ) -> None:
        self.ctx = ctx
        self.emit = emit  #: where the trace's records go (hooks may emit records too)
        self.finish = finish  #: the :class:`._finish.Finisher` that packs and builds records
        self.attempts: dict[Any, int] = {}
        self.interrupted = False
        self.last_persona: str | None = None
        self.lock = threading.Lock()
        self.root = 0  #: the root span's id
        #: run ids (integers) of the trace's runs that started and have not ended
        self.runs: set[int] = set()


class OpenSpan(Deferred):
    """A span that has started (mutable; ended spans wait in the dispatcher's queue until
    their record is built).

    ``input`` and ``output`` hold what the run was given and returned; ``params`` holds
    what was read at the start to become an attribute when the record is built
    (LangGraph's triggers of a node); ``late``, when set, reads what the adapter kept of
    the run's end (a model's raw result) into the span, off the graph's path.
    ``persona_inherited`` is set (True) only on a node span whose persona came from its
    parent rather than from a mapping or the run's metadata; read it with ``getattr``.
    """

    __slots__ = (
        "attrs",
        "cost",
        "end_ns",
        "error",
        "events",
        "first_token_ns",
        "folded",
        "input",
        "kind",
        "late",
        "model",
        "name",
        "node",
        "output",
        "params",
        "parent_sid",
        "persona",
        "persona_inherited",
        "provider",
        "seq_step",
        "sid",
        "start_ns",
        "status",
        "trace",
        "usage",
    )
    persona_inherited: bool  #: not set in ``__init__`` (see the class docstring)

    def __init__(
        self,
        trace: Trace,
        sid: int,
        parent_sid: int | None,
        name: str,
        kind: SpanKind,
        node: str | None,
        persona: str | None,
    ) -> None:
        self.trace = trace
        self.sid = sid
        self.parent_sid = parent_sid
        self.name = name
        self.kind = kind
        self.node = node
        self.persona = persona
        self.start_ns = time.time_ns()
        self.end_ns = 0
        self.attrs: dict[str, Any] = {}
        self.events: list[SpanEvent] | None = None
        self.input: Any = None
        self.output: Any = None
        self.params: Any = None
        self.late: Callable[[OpenSpan], None] | None = None
        self.model: str | None = None
        self.provider: str | None = None
        self.usage: TokenUsage | None = None
        self.cost: float | None = None
        self.status = SpanStatus.OK
        self.error: ErrorInfo | None = None
        self.first_token_ns: int | None = None
        self.folded = False
        #: on a node span: the last ``seq:step`` of the node's own sequence seen so far
        self.seq_step = 0

    @property
    def span_id(self) -> str:
        return hex_id(self.sid)

    @property
    def parent_span_id(self) -> str | None:
        return None if self.parent_sid is None else hex_id(self.parent_sid)

    @property
    def ctx(self) -> TraceContext:
        return self.trace.ctx

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        if self.events is None:
            self.events = []
        self.events.append(SpanEvent(name, time.time_ns(), attributes or {}))

    def enter_persona(self, emit: Callable[[Record], None]) -> None:
        """Attribution of a node span with a persona: its attribute, and a switch (an event
        and a :class:`~.events.PersonaSwitch` record) when the trace's last persona was
        another one."""
        name = self.persona
        assert name is not None
        self.attrs[LG_PERSONA] = name
        trace = self.trace
        with trace.lock:
            previous = trace.last_persona
            trace.last_persona = name
        if previous is not None and previous != name:
            self.add_event("persona_switch", {"from": previous, "to": name})
            ctx = trace.ctx
            emit(
                PersonaSwitch(
                    ctx.trace_id, ctx.workflow, previous, name, self.start_ns, self.span_id,
                    ctx.tenant,
                )
            )  # fmt: skip

    def alias(self) -> OpenSpan:
        """A folded stand-in for this span: runs under it attach to this span."""
        alias = OpenSpan(
            self.trace, self.sid, self.parent_sid, self.name, self.kind, self.node, self.persona
        )
        alias.folded = True
        return alias

    def pack(self) -> Any:
        """This ended span as it waits for the sinks (see :meth:`._finish.Finisher.pack`)."""
        return self.trace.finish.pack(self)

    def record(self) -> SpanRecord | None:
        """This ended span's record (built once, on the dispatcher's thread)."""
        record: SpanRecord | None = self.trace.finish(self)
        return record


def first_of(meta: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first of ``keys`` set (not None) in ``meta``."""
    for k in keys:
        v = meta.get(k)
        if v is not None:
            return v
    return None


def str_or_none(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    return safe_str(value)  # a user's object whose __str__ fails still names its trace


def trace_context(
    trace_id: str, name: str, meta: Mapping[str, Any], tags: Sequence[str] | None
) -> TraceContext:
    """The context of a trace whose root run is ``name`` with metadata ``meta`` (the
    aliases Langfuse's handler reads count too: ``langfuse_user_id``, ...)."""
    return TraceContext(
        trace_id=trace_id,
        workflow=name,
        tenant=str_or_none(first_of(meta, "tenant", "tenant_id")),
        user_id=str_or_none(first_of(meta, "user_id", "langfuse_user_id")),
        session_id=str_or_none(first_of(meta, "session_id", "langfuse_session_id")),
        thread_id=str_or_none(first_of(meta, "thread_id")),
        tags=tuple(tags or ()),
        metadata=meta,
    )


def as_uuid(run_id: Any) -> UUID:
    """A run id as a ``UUID``: LangChain passes the one a caller gave
    (``config={"run_id": ...}``) as it is, text included; text that is no UUID names one
    derived from it."""
    if isinstance(run_id, UUID):
        return run_id
    try:
        return UUID(str(run_id))
    except ValueError:
        return uuid5(NAMESPACE_URL, str(run_id))
