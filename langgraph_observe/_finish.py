"""Ended open spans become records: usage estimates, cost, late attributes, payloads.

This runs once per span, on the dispatcher's thread — off the graph's path — unless the
hooks ask for it on the path (budgets must count a call before the next one starts;
gates may stop the run). Either way the same :class:`Finisher` builds the record.
"""

from __future__ import annotations

from ._hooks import Hooks
from ._render import freeze
from ._spans import OpenSpan, hex_id
from .events import Payload, SpanKind, SpanRecord
from .semconv import LG_TIME_TO_FIRST_TOKEN, LG_TRIGGERS

__all__ = ["Finisher"]


class Finisher:
    """Builds the :class:`SpanRecord` of an ended :class:`OpenSpan`.

    Args:
        hooks: cost, usage estimates and gates (``estimate_usage``, ``finish_llm``,
            ``finish_span``).
        capture_io: keep inputs and outputs as payloads.
        max_payload_chars: the payloads' text limit.
    """

    def __init__(self, hooks: Hooks, *, capture_io: bool, max_payload_chars: int) -> None:
        self.hooks = hooks
        self.capture_io = capture_io
        self.max_payload_chars = max_payload_chars

    def __call__(self, span: OpenSpan) -> SpanRecord:
        kind = span.kind
        attrs = span.attrs
        outputs = span.output
        hooks = self.hooks
        usage = span.usage
        if kind is SpanKind.LLM or kind is SpanKind.EMBEDDING:
            if usage is None and kind is SpanKind.LLM:
                usage = span.usage = hooks.estimate_usage(span, outputs)
            span.cost = hooks.finish_llm(span, usage)
            if span.first_token_ns is not None:
                attrs[LG_TIME_TO_FIRST_TOKEN] = (span.first_token_ns - span.start_ns) / 1e9
        elif kind is SpanKind.NODE and span.params:
            attrs[LG_TRIGGERS] = list(span.params)  # LangGraph's triggers, kept at the start
        hooks.finish_span(span, outputs, span.status)
        limit = self.max_payload_chars
        capture = self.capture_io
        parent = span.parent_sid
        events = span.events
        return SpanRecord(
            span.trace.ctx,
            hex_id(span.sid),
            None if parent is None else hex_id(parent),
            span.name,
            kind,
            span.start_ns,
            span.end_ns,
            span.status,
            span.error,
            span.node,
            span.persona,
            span.model,
            span.provider,
            usage,
            span.cost,
            Payload(span.input, limit) if capture and span.input is not None else None,
            Payload(outputs, limit) if capture and outputs is not None else None,
            attrs,
            tuple(events) if events else (),
        )

    @staticmethod
    def freeze_io(span: OpenSpan) -> None:
        """Swap the span's input and output for frozen copies where they are small and
        plain, so that what waits in the queues holds no live objects of the graph."""
        span.input = freeze(span.input)
        span.output = freeze(span.output)
