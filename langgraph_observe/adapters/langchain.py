"""``CallbackHandler``: LangChain/LangGraph callbacks in, span records out. Nothing else.

Usage::

    from langgraph_observe import CallbackHandler

    handler = CallbackHandler()            # local store + whatever else is configured
    graph.invoke(inputs, config={"callbacks": [handler]})
    handler.flush()                        # optional: wait until every sink has it

The handler runs inline (``run_inline = True``): in async graphs its callbacks are called
directly on the event loop, without an executor hop. It is thread-safe, reusable across
runs and threads, and every callback is guarded: no exception of ours reaches the graph.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

if TYPE_CHECKING:
    _Base = BaseCallbackHandler
else:
    try:  # LangGraph's lifecycle callbacks: interrupts (static breakpoints too), resumes
        from langgraph.callbacks import GraphCallbackHandler as _Base
    except ImportError:  # an older LangGraph: only interrupt() is seen (docs/callback-handler)
        _Base = BaseCallbackHandler

from .. import semconv as sc
from .._hooks import Hooks
from ..config import Settings
from ..dispatch import Health
from ..errors import ObserveControlError
from ..events import SpanKind
from ..sinks.base import Sink
from ._callbacks import (
    answered_messages,
    has_tag_prefix,
    is_plumbing,
    is_task,
    read_result_into,
    serialized_id,
    serialized_name,
    step_of,
)
from ._guarding import guard_callback, swallow
from ._setup import build, shut_down_in_background

__all__ = ["CallbackHandler"]

logger = logging.getLogger("langgraph_observe")


class CallbackHandler(_Base):
    """Records one span tree per graph invocation and hands it to the sinks.

    Args:
        sinks: where records go. ``None`` (the default) turns on the default sinks: the
            local store always, and Prometheus, OpenTelemetry and Langfuse when
            configured (see :func:`langgraph_observe.sinks.auto.default_sinks`).
        settings: core settings; keyword arguments override single fields
            (``store_path``, ``capture_io``, ``max_payload_chars``, ``keep_plumbing``, ...).
        hooks: extension points (personas, budgets, gates, cost); built from the
            configuration when not given.
        config: a config file (YAML or TOML) or a loaded
            :class:`~langgraph_observe.config_file.ObserveConfig`: personas, budgets,
            gates, prices and core settings (default: ``LANGGRAPH_OBSERVE_CONFIG``).
    """

    run_inline = True  # no executor hop in async runs
    raise_error = True  # only ObserveControlError escapes; everything else is guarded

    def __init__(
        self,
        sinks: Sequence[Sink] | None = None,
        *,
        settings: Settings | None = None,
        hooks: Hooks | None = None,
        health: Health | None = None,
        config: Any = None,
        **settings_kwargs: Any,
    ) -> None:
        super().__init__()
        self.settings, self.dispatcher, self.tracer = build(
            sinks, settings, hooks, health, config, settings_kwargs
        )
        # A handler dropped without shutdown() (one made per request, say) must not leave
        # its threads, files and connections behind: its dispatcher is shut down in the
        # background once the handler is garbage-collected (never on the collecting thread,
        # which may be a graph's). At interpreter exit the exit flush does it instead.
        self._finalizer = weakref.finalize(self, shut_down_in_background, self.dispatcher)
        self._finalizer.atexit = False

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def sinks(self) -> tuple[Sink, ...]:
        return self.dispatcher.sinks

    @property
    def health(self) -> Health:
        """Drops, export errors and queue depths of this handler's sinks."""
        return self.dispatcher.health

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything recorded so far is in every sink (or ``timeout``)."""
        return self.dispatcher.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop the sinks. Safe to call twice."""
        self._finalizer.detach()
        return self.dispatcher.shutdown(timeout)

    # -- chains, graphs and nodes -------------------------------------------------------
    def _note_step(self, parent_run_id: UUID | None, tags: list[str] | None) -> None:
        """A model, tool or retriever that is a step of its node's sequence (a node made of
        a chain): later steps of the chain are the user's too."""
        if parent_run_id is not None and tags:
            parent = self.tracer.get(parent_run_id)
            if parent is not None and parent.kind is SpanKind.NODE:
                step = step_of(tags, "seq:step:")
                if step is not None and step == parent.seq_step + 1:
                    parent.seq_step = step

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            tracer = self.tracer
            name = kwargs.get("name") or serialized_name(serialized)
            if parent_run_id is None:
                tracer.start(
                    run_id, None, name or "workflow", SpanKind.WORKFLOW, metadata, tags, inputs
                )
                return
            try:
                parent = tracer.open.get(parent_run_id.int)
            except AttributeError:  # an id given as text
                parent = tracer.get(parent_run_id)
            if (
                metadata
                and "langgraph_node" in metadata
                and (has_tag_prefix(tags, "graph:step:") or is_task(name, metadata, parent))
            ):
                node = metadata["langgraph_node"]
                if node in ("__start__", "__end__") and not tracer.keep_plumbing:
                    tracer.fold(run_id, parent_run_id)
                    return
                tracer.start(
                    run_id, parent_run_id, name or node, SpanKind.NODE, metadata, tags, inputs
                )
                return
            if not tracer.keep_plumbing and is_plumbing(name or "", tags, parent):
                tracer.fold(run_id, parent_run_id)
                return
            tracer.start(
                run_id, parent_run_id, name or "chain", SpanKind.CHAIN, metadata, tags, inputs
            )
        except Exception as exc:
            swallow("on_chain_start", exc)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self.tracer.end(run_id, outputs)
        except Exception as exc:
            swallow("on_chain_end", exc)

    @guard_callback
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracer.fail(run_id, error)

    # -- models -------------------------------------------------------------------------
    def _start_model(
        self,
        serialized: dict[str, Any] | None,
        prompts: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
        operation: str,
    ) -> None:
        meta = metadata or {}
        params = kwargs.get("invocation_params") or {}
        model = (
            params.get("model")
            or params.get("model_name")
            or meta.get("ls_model_name")
            or params.get("_type")
            or serialized_id(serialized)
        )
        name = kwargs.get("name") or serialized_name(serialized)
        self._note_step(parent_run_id, tags)
        span = self.tracer.start(
            run_id, parent_run_id, name or "llm", SpanKind.LLM, meta, tags, prompts
        )
        span.model = str(model) if model is not None else None
        span.provider = meta.get("ls_provider")
        attrs = span.attrs
        attrs[sc.GEN_AI_OPERATION_NAME] = operation
        if params:
            attrs[sc.LG_INVOCATION_PARAMS] = params
        temperature = params.get("temperature", meta.get("ls_temperature"))
        if temperature is not None:
            attrs[sc.GEN_AI_REQUEST_TEMPERATURE] = temperature
        max_tokens = params.get("max_tokens", meta.get("ls_max_tokens"))
        if max_tokens is not None:
            attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        top_p = params.get("top_p")
        if top_p is not None:
            attrs[sc.GEN_AI_REQUEST_TOP_P] = top_p
        if span.persona is not None:
            attrs[sc.LG_PERSONA] = span.persona
        try:
            self.tracer.hooks.before_llm(span, prompts)
        except ObserveControlError as exc:  # the call will not happen: close its span
            self.tracer.fail(run_id, exc)
            raise

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            self._start_model(
                serialized, messages, run_id, parent_run_id, tags, metadata, kwargs, "chat"
            )
        except Exception as exc:
            swallow("on_chat_model_start", exc)

    @guard_callback
    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_model(
            serialized, prompts, run_id, parent_run_id, tags, metadata, kwargs, "text_completion"
        )

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        # the most frequent callback: the first token alone does work
        try:
            try:
                span = self.tracer.open.get(run_id.int)
            except AttributeError:  # an id given as text
                span = self.tracer.get(run_id)
            if span is not None and span.first_token_ns is None:
                span.first_token_ns = time.time_ns()
                span.attrs[sc.LG_STREAMING] = True
        except Exception as exc:
            swallow("on_llm_new_token", exc)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            # the result is read when the record is built (off the graph's path)
            messages = answered_messages(response)  # before LangChain's cache replays them
            self.tracer.end(run_id, response, late=lambda span: read_result_into(span, messages))
        except Exception as exc:
            swallow("on_llm_end", exc)

    @guard_callback
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracer.fail(run_id, error)

    # -- tools and retrievers -----------------------------------------------------------
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: Any = None,
        **kwargs: Any,
    ) -> None:
        try:
            name = kwargs.get("name") or (serialized or {}).get("name") or "tool"
            self._note_step(parent_run_id, tags)
            span = self.tracer.start(
                run_id,
                parent_run_id,
                name,
                SpanKind.TOOL,
                metadata,
                tags,
                inputs if inputs is not None else input_str,
            )
            span.attrs[sc.GEN_AI_OPERATION_NAME] = "execute_tool"
            span.attrs[sc.GEN_AI_TOOL_NAME] = name
            call_id = kwargs.get("tool_call_id")
            if call_id:
                span.attrs[sc.GEN_AI_TOOL_CALL_ID] = call_id
        except Exception as exc:
            swallow("on_tool_start", exc)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self.tracer.end(run_id, output)
        except Exception as exc:
            swallow("on_tool_end", exc)

    @guard_callback
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracer.fail(run_id, error)

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            name = kwargs.get("name") or (serialized or {}).get("name") or "retriever"
            self._note_step(parent_run_id, tags)
            span = self.tracer.start(
                run_id, parent_run_id, name, SpanKind.RETRIEVER, metadata, tags, query
            )
            span.attrs[sc.LG_RETRIEVER_QUERY] = query
        except Exception as exc:
            swallow("on_retriever_start", exc)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        try:
            self.tracer.end(run_id, documents, extra={sc.LG_RETRIEVER_DOCUMENTS: len(documents)})
        except Exception as exc:
            swallow("on_retriever_end", exc)

    @guard_callback
    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracer.fail(run_id, error)

    @guard_callback
    def on_interrupt(self, event: Any) -> None:
        """LangGraph paused a run: an ``interrupt()``, or a static breakpoint
        (``interrupt_before`` / ``interrupt_after``), which raises no exception we see."""
        self.tracer.paused(event.run_id)

    @guard_callback
    def on_resume(self, event: Any) -> None:
        """LangGraph resumed a run from its checkpoint (after an interrupt or a breakpoint,
        with a ``Command`` or with no input)."""
        self.tracer.resuming(event.run_id)

    @guard_callback
    def on_retry(self, retry_state: Any, *, run_id: UUID, **kwargs: Any) -> None:
        span = self.tracer.get(run_id)
        if span is not None and not span.folded:
            attempt = getattr(retry_state, "attempt_number", None)
            outcome = getattr(retry_state, "outcome", None)
            exc = outcome.exception() if outcome is not None and outcome.failed else None
            span.add_event(
                "retry", {"attempt": attempt, "error.type": type(exc).__name__ if exc else ""}
            )
