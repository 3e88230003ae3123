"""Reading LangChain's callback arguments: run names, LangGraph's tags, model results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import semconv as sc
from ..events import SpanKind, TokenUsage
from ..usage import (
    finish_reason,
    finish_reasons,
    response_model,
    usage_from_llm_result,
    usage_from_usage_metadata,
)

__all__ = [
    "PLUMBING",
    "PLUMBING_PREFIXES",
    "answered_messages",
    "generation_texts",
    "has_tag_prefix",
    "is_cache_hit",
    "is_plumbing",
    "is_task",
    "read_llm_result",
    "read_result_into",
    "serialized_id",
    "serialized_name",
    "step_of",
]

#: Runnable names LangGraph uses for its own plumbing (folded away unless ``keep_plumbing``).
PLUMBING = frozenset(
    {
        "__start__",
        "__end__",
        "ChannelWrite",
        "ChannelRead",
        "RunnableSequence",
        "RunnableParallel",
        "RunnableAssign",
        "RunnablePassthrough",
    }
)
PLUMBING_PREFIXES = (
    "ChannelWrite<",
    "ChannelRead<",
    "Branch<",
    "RunnableSequence<",
    "RunnableParallel<",
    "RunnableAssign<",
)


def step_of(tags: list[str] | None, prefix: str) -> int | None:
    """The N of the first ``<prefix>N`` tag (``graph:step:N``, ``seq:step:N``), if any."""
    if tags:
        for t in tags:
            if t.startswith(prefix):
                try:
                    return int(t[len(prefix) :])
                except ValueError:
                    return None
    return None


def is_plumbing(name: str, tags: list[str] | None, parent: Any) -> bool:
    """Whether a chain run under ``parent`` is LangGraph's plumbing (folded away unless
    ``keep_plumbing``): a name of :data:`PLUMBING`, or a step of a node's sequence that
    comes after the node's own steps."""
    if name in PLUMBING or name.startswith(PLUMBING_PREFIXES):
        return True
    # A node runs one sequence: the user's steps 1..k (one, or a chain's steps), then
    # LangGraph's channel writer (not traced) and branch routers. A step that does not
    # follow the last one seen comes after the writer: plumbing.
    if parent is not None and parent.kind is SpanKind.NODE and not parent.folded:
        step = step_of(tags, "seq:step:")
        if step is None:
            return False
        if step == 1 or step == parent.seq_step + 1:
            parent.seq_step = step
            return False
        return True
    return False


def is_task(name: str | None, metadata: Mapping[str, Any], parent: Any) -> bool:
    """Whether a run is a task of LangGraph's functional API (``@task``): pushed by the
    entrypoint, named as its ``langgraph_node``, in a checkpoint namespace of its own
    (the runnables inside a node share the node's namespace)."""
    if name is None or metadata.get("langgraph_node") != name:
        return False
    if "__pregel_push" not in (metadata.get("langgraph_triggers") or ()):
        return False
    ns = metadata.get("langgraph_checkpoint_ns")
    return (
        isinstance(ns, str)
        and ns.rsplit("|", 1)[-1].partition(":")[0] == name
        and (parent is None or parent.attrs.get(sc.LG_CHECKPOINT_NS) != ns)
    )


def has_tag_prefix(tags: list[str] | None, prefix: str) -> bool:
    """Whether a tag starts with ``prefix``."""
    if tags:
        for t in tags:
            if t.startswith(prefix):
                return True
    return False


def serialized_id(serialized: dict[str, Any] | None) -> str | None:
    if serialized:
        ids = serialized.get("id")
        if isinstance(ids, list) and ids:
            return str(ids[-1])
    return None


def generation_texts(response: Any) -> Any:
    gens = getattr(response, "generations", None)
    if not gens:
        return None
    out = []
    for row in gens:
        for g in row:
            msg = getattr(g, "message", None)
            out.append(msg if msg is not None else getattr(g, "text", None))
    return out[0] if len(out) == 1 else out


def is_cache_hit(response: Any) -> bool:
    gens = getattr(response, "generations", None)
    if not gens or not gens[0]:
        return False
    msg = getattr(gens[0][0], "message", None)
    if msg is None:
        return False
    # LangChain replays a cached answer with ``usage_metadata["total_cost"] = 0``
    usage = getattr(msg, "usage_metadata", None)
    if isinstance(usage, dict) and usage.get("total_cost") == 0:
        return True
    meta = getattr(msg, "response_metadata", None)
    return bool(meta and meta.get("cached"))


def read_llm_result(response: Any) -> tuple[Any, TokenUsage | None, dict[str, Any]]:
    """What a model call's ``LLMResult`` says: its outputs (the message, or a list of
    them), its token usage, and the attributes it sets (the model that answered, the
    finish reasons, a cache hit)."""
    generations = getattr(response, "generations", None)
    if generations and len(generations) == 1 and len(generations[0]) == 1:
        found = _read_one_chat_generation(response, generations[0][0])
        if found is not None:
            return found
    usage = usage_from_llm_result(response)
    extra: dict[str, Any] = {}
    answered = response_model(response)
    if answered:
        extra[sc.GEN_AI_RESPONSE_MODEL] = answered
    first = generations[0][0] if generations and generations[0] else None
    response_id = _response_id(
        getattr(getattr(first, "message", None), "response_metadata", None),
        getattr(response, "llm_output", None),
    )
    if response_id:
        extra[sc.GEN_AI_RESPONSE_ID] = response_id
    reasons = finish_reasons(response)
    if reasons:
        extra[sc.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    if is_cache_hit(response):
        extra[sc.LG_CACHE_HIT] = True
    return generation_texts(response), usage, extra


def _response_id(*metadata: Any) -> str | None:
    """The provider's id of the response (``id`` in a message's ``response_metadata`` or
    the result's ``llm_output``), if reported."""
    for meta in metadata:
        if isinstance(meta, dict):
            found = meta.get("id")
            if isinstance(found, str) and found:
                return found
    return None


def _read_one_chat_generation(
    response: Any, gen: Any
) -> tuple[Any, TokenUsage | None, dict[str, Any]] | None:
    """:func:`read_llm_result` for the usual answer, one chat message whose usage is in its
    ``usage_metadata``: the same reading in one pass (None: not that case)."""
    message = getattr(gen, "message", None)
    um = getattr(message, "usage_metadata", None)
    if message is None or not um or type(um) is not dict:
        return None
    usage = usage_from_usage_metadata(um)
    if usage is None:
        return None
    meta = getattr(message, "response_metadata", None)
    info = getattr(gen, "generation_info", None)
    extra: dict[str, Any] = {}
    answered = response_model(response)
    if answered:
        extra[sc.GEN_AI_RESPONSE_MODEL] = answered
    response_id = _response_id(meta)
    if response_id:
        extra[sc.GEN_AI_RESPONSE_ID] = response_id
    reason = finish_reason(info, meta)
    if reason is not None:
        extra[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [reason]
    if um.get("total_cost") == 0 or (meta and meta.get("cached")):
        extra[sc.LG_CACHE_HIT] = True
    return message, usage, extra


def answered_messages(response: Any) -> Any:
    """The message of each generation of a model result at the call's end (one message for
    the usual single answer; None without generations), read on the graph's path. The
    result itself is read later, and LangChain's LLM cache replaces the message of the
    generations it keeps with a copy marked as costing nothing when it replays them."""
    try:
        ((only,),) = response.generations  # the usual single answer
        return only.message
    except (AttributeError, TypeError, ValueError):
        pass
    gens = getattr(response, "generations", None)
    if not gens:
        return None
    return [[getattr(g, "message", None) for g in row] for row in gens]


class _AnsweredGeneration:
    """A generation with the message it had at the call's end."""

    __slots__ = ("generation_info", "message", "text")

    def __init__(self, gen: Any, message: Any) -> None:
        self.message = message
        self.generation_info = getattr(gen, "generation_info", None)
        self.text = getattr(gen, "text", None)


class _AnsweredResult:
    __slots__ = ("generations", "llm_output")

    def __init__(self, response: Any, generations: list[list[Any]]) -> None:
        self.llm_output = getattr(response, "llm_output", None)
        self.generations = generations


def as_answered(response: Any, messages: Any) -> Any:
    """``response`` as it was at the call's end (``messages``: :func:`answered_messages`):
    itself when no generation's message was replaced since."""
    gens = getattr(response, "generations", None)
    if not gens or messages is None:
        return response
    rows = [[messages]] if not isinstance(messages, list) else messages
    if all(
        getattr(g, "message", None) is m
        for row, kept in zip(gens, rows, strict=False)
        for g, m in zip(row, kept, strict=False)
    ):
        return response
    return _AnsweredResult(
        response,
        [
            [_AnsweredGeneration(g, m) for g, m in zip(row, kept, strict=False)]
            for row, kept in zip(gens, rows, strict=False)
        ],
    )


def read_result_into(span: Any, messages: Any = None) -> None:
    """A model span's ``LLMResult`` (``span.output``) read into the span, as it was at the
    call's end (``messages``: its :func:`answered_messages`): outputs (kept even without
    capture_io: usage estimates need them), usage, the answering model, finish reasons."""
    outputs, usage, extra = read_llm_result(as_answered(span.output, messages))
    span.output = outputs
    if usage is not None:
        span.usage = usage
    if extra:
        span.attrs.update(extra)


def serialized_name(serialized: dict[str, Any] | None) -> str | None:
    """The runnable's name as LangChain serialized it (its ``name``, else its class)."""
    if not serialized:
        return None
    return serialized.get("name") or serialized_id(serialized)
