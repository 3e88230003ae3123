"""Personas: who (which role) is doing the work of a node, a model call or a sub-step.

Three ways to say it, from the coarsest:

* a node → persona mapping (``ObservedWorkflow.personas``, the config file's ``nodes:``);
* ``@persona("testing-specialist")`` on a node function: tags it (picked up by
  :func:`node_personas` and ``ObservedWorkflow``) and runs its body under that persona, so
  even a plain ``CallbackHandler`` gives its node span that persona; when a mapping or the
  run's metadata gave the node another persona, that one wins (the decorator is the
  lowest-precedence source);
* ``with persona("devops-engineer"):`` inside a node, for a sub-step: model calls and RAG
  sub-steps started in the block run under it.

Switches (:class:`~langgraph_observe.events.PersonaSwitch` records and ``persona_switch``
span events) are counted within a trace, in start order: when a node span starts under
another persona than the last one seen in the trace, and when a ``with persona(...)``
block inside a node names another persona than the node's (a switch there, and one back
when the block ends). Parallel branches (``Send``, fan-out) are ordered by their start
times, so two branches of different personas count one switch each time they alternate.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from . import semconv as sc
from .events import PersonaSwitch, SpanKind, SpanRecord

__all__ = [
    "PERSONA_ATTR",
    "current_persona",
    "node_personas",
    "persona",
    "persona_of",
    "persona_time",
    "switch_pairs",
]

PERSONA_ATTR = "__langgraph_observe_persona__"
"""Attribute ``@persona`` sets on the functions it decorates."""

_F = TypeVar("_F", bound=Callable[..., Any])
_current: ContextVar[str | None] = ContextVar("langgraph_observe_persona", default=None)


def current_persona() -> str | None:
    """The persona of the innermost ``persona`` block or decorated function, if any."""
    return _current.get()


class persona:  # used like a function: ``with persona("x")`` / ``@persona("x")``
    """Run a block or a function under a persona (see the module docstring)."""

    __slots__ = ("_restore", "_token", "_whole_node", "name")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a persona needs a non-empty name")
        self.name = name
        self._token: Token[str | None] | None = None
        self._restore: list[Callable[[], None]] = []
        #: set for a decorated function's body: an unmapped node takes the persona
        self._whole_node = False

    def __enter__(self) -> persona:
        self._token = _current.set(self.name)
        self._restore = _enter_spans(self.name, self._whole_node)
        return self

    def __exit__(self, *exc: object) -> None:
        for undo in self._restore:
            undo()
        self._restore = []
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:  # exited in another context
                _current.set(None)
            self._token = None

    async def __aenter__(self) -> persona:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    def __call__(self, fn: _F) -> _F:
        name = self.name
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if _mapped_otherwise(name):
                    return await fn(*args, **kwargs)
                with _node_persona(name):
                    return await fn(*args, **kwargs)

            wrapper: Any = async_wrapper
        else:

            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                if _mapped_otherwise(name):
                    return fn(*args, **kwargs)
                with _node_persona(name):
                    return fn(*args, **kwargs)

            wrapper = sync_wrapper
        setattr(wrapper, PERSONA_ATTR, name)
        return wrapper  # type: ignore[no-any-return]


def _node_persona(name: str) -> persona:
    """The block a decorated function's body runs in."""
    block = persona(name)
    block._whole_node = True
    return block


def _mapped_otherwise(name: str) -> bool:
    """True when the span the decorated function runs in already has another persona:
    ``@persona`` is the lowest-precedence way to name a node's persona, so a mapping (the
    config file's ``nodes:``, ``ObservedWorkflow.personas``) or the run's metadata wins, for
    the node span and for the calls inside it alike."""
    from . import _guard
    from ._context import current_frames

    try:
        return any(
            f.span.persona not in (None, name) and not getattr(f.span, "persona_inherited", False)
            for f in current_frames()
        )
    except Exception as exc:
        if _guard.strict():
            raise
        _guard.report("persona", exc)
        return False


def _enter_spans(name: str, whole_node: bool) -> list[Callable[[], None]]:
    """Put the open span(s) of the current run under ``name``; return the undo steps."""
    from . import _guard
    from ._context import current_frames

    undo: list[Callable[[], None]] = []
    try:
        for frame in current_frames():
            step = _enter_span(frame.span, name, whole_node)
            if step is not None:
                undo.append(step)
    except Exception as exc:
        if _guard.strict():
            raise
        _guard.report("persona", exc)
    return undo


def _enter_span(span: Any, name: str, whole_node: bool) -> Callable[[], None] | None:
    trace = span.trace
    if span.persona is None or (whole_node and getattr(span, "persona_inherited", False)):
        # An unmapped node: a decorated body gives it the persona, as at a node start; a
        # block inside it only names its own calls' persona (the node keeps none).
        if whole_node:
            span.persona_inherited = False
            span.persona = name
            span.attrs[sc.LG_PERSONA] = name
        with trace.lock:
            previous = trace.last_persona
            trace.last_persona = name
        if previous is not None and previous != name:
            _switch(span, previous, name)
        return None
    if span.persona == name:
        return None
    outer = span.persona
    with trace.lock:
        trace.last_persona = name
    _switch(span, outer, name)

    def back() -> None:
        with trace.lock:
            trace.last_persona = outer
        _switch(span, name, outer)

    return back


def _switch(span: Any, before: str, after: str) -> None:
    ctx = span.trace.ctx
    now = time.time_ns()
    span.add_event("persona_switch", {"from": before, "to": after})
    span.trace.emit(
        PersonaSwitch(ctx.trace_id, ctx.workflow, before, after, now, span.span_id, ctx.tenant)
    )


def persona_of(fn: Any) -> str | None:
    """The persona ``@persona`` gave ``fn`` (or a LangGraph node runnable wrapping it)."""
    for obj in (fn, getattr(fn, "func", None), getattr(fn, "afunc", None)):
        name = getattr(obj, PERSONA_ATTR, None) if obj is not None else None
        if isinstance(name, str):
            return name
    return None


def node_personas(graph: Any) -> dict[str, str]:
    """``{node: persona}`` of the ``@persona``-decorated node functions of a ``StateGraph``
    builder or a compiled graph."""
    builder = getattr(graph, "builder", graph)
    nodes = getattr(builder, "nodes", None) or {}
    out: dict[str, str] = {}
    for name, spec in nodes.items():
        found = persona_of(getattr(spec, "runnable", spec))
        if found is not None:
            out[str(name)] = found
    return out


def persona_time(spans: Iterable[SpanRecord]) -> dict[str, float]:
    """Seconds of node work per persona.

    Each node span counts its own duration minus the time node spans nested in it (nodes
    of a subgraph) were running, so nested work is counted once, under its own persona;
    nested nodes that ran in parallel take their overlap off once. Parallel branches add
    up (busy time, which may exceed the run's wall time). Nodes without a persona count
    under ``""``.
    """
    spans = list(spans)
    by_id = {s.span_id: s for s in spans}
    nested: dict[str, list[tuple[int, int]]] = {}
    for s in spans:
        if s.kind is SpanKind.NODE:
            parent = by_id.get(s.parent_span_id) if s.parent_span_id else None
            while parent is not None and parent.kind is not SpanKind.NODE:
                parent = by_id.get(parent.parent_span_id) if parent.parent_span_id else None
            if parent is not None:
                nested.setdefault(parent.span_id, []).append((s.start_ns, s.end_ns))
    out: dict[str, float] = {}
    for s in spans:
        if s.kind is SpanKind.NODE:
            busy = _covered_ns(nested.get(s.span_id, ()), s.start_ns, s.end_ns)
            key = s.persona or ""
            out[key] = out.get(key, 0.0) + max(s.end_ns - s.start_ns - busy, 0) / 1e9
    return out


def _covered_ns(intervals: Iterable[tuple[int, int]], start: int, end: int) -> int:
    """Nanoseconds of ``[start, end]`` covered by the union of ``intervals``."""
    covered, reached = 0, start
    for lo, hi in sorted(intervals):
        lo, hi = max(lo, reached), min(hi, end)
        if hi > lo:
            covered += hi - lo
            reached = hi
    return covered


def switch_pairs(records: Iterable[Any]) -> dict[tuple[str | None, str], int]:
    """``{(from, to): count}`` of the :class:`PersonaSwitch` records among ``records``."""
    out: dict[tuple[str | None, str], int] = {}
    for r in records:
        if isinstance(r, PersonaSwitch):
            out[(r.from_persona, r.to_persona)] = out.get((r.from_persona, r.to_persona), 0) + 1
    return out


def merged_mapping(*mappings: Mapping[str, str] | None) -> dict[str, str]:
    """Node → persona mappings merged, later ones winning."""
    out: dict[str, str] = {}
    for m in mappings:
        if m:
            out.update(m)
    return out
