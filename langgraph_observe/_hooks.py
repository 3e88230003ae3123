"""The tracer's extension points (:class:`Hooks`): personas, budgets, gates and cost plug in
here. :class:`~langgraph_observe.features.FeatureHooks` is the library's implementation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .events import Record, SpanRecord, SpanStatus, TokenUsage

if TYPE_CHECKING:
    from ._spans import OpenSpan

__all__ = ["Hooks"]


class Hooks:
    """Extension points of the tracer; personas, budgets, gates and cost build on them.

    ``persona_for`` and ``before_llm`` run on the graph's path, inside the callbacks.
    ``estimate_usage``, ``finish_llm`` and ``finish_span`` run when a span's record is
    built: on the dispatcher's thread, or on the graph's path too when :attr:`on_path`
    is true (``after_span`` runs only then). Keep them cheap. The defaults do nothing.
    """

    @property
    def on_path(self) -> bool:
        """Whether records must be built on the graph's path, inside the callback that
        ends the span: true when the hooks must see a span end before the run goes on
        (a budget counts a call before the next one; a gate may stop the run). The
        default is true for hooks that override ``finish_span`` or ``after_span``."""
        cls = type(self)
        return cls.finish_span is not Hooks.finish_span or cls.after_span is not Hooks.after_span

    def persona_for(self, node: str | None, metadata: Mapping[str, Any]) -> str | None:
        """The persona a node runs under, or None to inherit."""
        return None

    def before_llm(self, span: OpenSpan, prompts: Any) -> None:
        """Called before a model call starts. May raise an
        :class:`~.errors.ObserveControlError` (e.g. a budget would be exceeded)."""

    def estimate_usage(self, span: OpenSpan, outputs: Any) -> TokenUsage | None:
        """Called when a model call ends without reported usage; returns an estimate
        (``TokenUsage(estimated=True)``) or None."""
        return None

    def finish_llm(self, span: OpenSpan, usage: TokenUsage | None) -> float | None:
        """Called when a model call ends; returns its cost in USD (None if unknown)."""
        return None

    def finish_span(self, span: OpenSpan, outputs: Any, status: SpanStatus) -> None:
        """Called for every span right before its record is built: the last chance to add
        attributes and events (gate results). Records may be emitted with
        ``span.trace.emit``."""

    def after_span(self, record: SpanRecord, outputs: Any, emit: Callable[[Record], None]) -> None:
        """Called on the graph's path once a span's record is emitted, when :attr:`on_path`
        is true (gates, budgets add records here). May raise an
        :class:`~.errors.ObserveControlError`."""
