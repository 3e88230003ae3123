"""Token usage of a model call, read from what LangChain hands ``on_llm_end``.

:func:`usage_from_llm_result` returns a :class:`~langgraph_observe.events.TokenUsage` whose
``input_tokens`` always *include* cache reads and cache writes and whose ``output_tokens``
always include reasoning tokens, whatever the provider's own convention.

Where usage is looked for, first hit wins:

1. ``generation.message.usage_metadata`` — LangChain's standard ``UsageMetadata`` (set by
   every maintained chat-model integration, streamed or not).
2. ``response.llm_output["token_usage" | "usage"]`` — the provider's raw usage (absent when
   streaming: ``llm_output`` is then ``None``).
3. ``generation.message.response_metadata["token_usage" | "usage"]``.
4. ``generation.generation_info`` — its ``token_usage``/``usage`` entry, or the flat keys
   some integrations put there (Ollama's ``prompt_eval_count``/``eval_count``).

Raw provider dictionaries are read with :data:`PROVIDER_USAGE_KEYS`, one small table: the
first row whose input or output key is present is used.

With ``n > 1`` candidates, integrations such as langchain-openai attach the *whole
response's* usage to every candidate message; identical usage on all candidates is
therefore counted once, while differing usage is summed. Separate prompts (the outer list
of ``generations``) are always summed.

This runs on the graph's path at every model call: plain attribute and dict lookups, no
validation, no copies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .events import TokenUsage

__all__ = [
    "PROVIDER_USAGE_KEYS",
    "UsageKeys",
    "finish_reason",
    "finish_reasons",
    "response_model",
    "usage_from_llm_result",
    "usage_from_mapping",
    "usage_from_usage_metadata",
]

_Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UsageKeys:
    """Where one provider's raw usage dictionary keeps each count (nested key paths)."""

    name: str
    input: _Path
    output: _Path
    total: _Path | None = None
    cache_read: _Path | None = None
    cache_write: _Path | None = None
    reasoning: _Path | None = None
    #: the provider's input count leaves cache reads/writes out (they are added back)
    input_excludes_cache: bool = False
    #: the provider's output count leaves reasoning out (it is added back)
    output_excludes_reasoning: bool = False
    #: the row applies only when this top-level key is present
    marker: str | None = None


PROVIDER_USAGE_KEYS: tuple[UsageKeys, ...] = (
    # OpenAI chat completions, and every OpenAI-compatible API (Mistral, Groq, vLLM, ...)
    UsageKeys(
        "openai",
        ("prompt_tokens",),
        ("completion_tokens",),
        ("total_tokens",),
        cache_read=("prompt_tokens_details", "cached_tokens"),
        cache_write=("prompt_tokens_details", "cache_write_tokens"),
        reasoning=("completion_tokens_details", "reasoning_tokens"),
    ),
    # OpenAI responses API: input_tokens includes cached tokens
    UsageKeys(
        "openai_responses",
        ("input_tokens",),
        ("output_tokens",),
        ("total_tokens",),
        cache_read=("input_tokens_details", "cached_tokens"),
        reasoning=("output_tokens_details", "reasoning_tokens"),
        marker="input_tokens_details",
    ),
    # Anthropic messages API: input_tokens counts only the uncached part
    UsageKeys(
        "anthropic",
        ("input_tokens",),
        ("output_tokens",),
        ("total_tokens",),
        cache_read=("cache_read_input_tokens",),
        cache_write=("cache_creation_input_tokens",),
        reasoning=("output_tokens_details", "reasoning_tokens"),
        input_excludes_cache=True,
    ),
    # AWS Bedrock Converse: inputTokens counts only the uncached part
    UsageKeys(
        "bedrock",
        ("inputTokens",),
        ("outputTokens",),
        ("totalTokens",),
        cache_read=("cacheReadInputTokens",),
        cache_write=("cacheWriteInputTokens",),
        input_excludes_cache=True,
    ),
    # Google Gemini (raw usageMetadata): thoughts are not part of candidates
    UsageKeys(
        "gemini",
        ("prompt_token_count",),
        ("candidates_token_count",),
        ("total_token_count",),
        cache_read=("cached_content_token_count",),
        reasoning=("thoughts_token_count",),
        output_excludes_reasoning=True,
    ),
    # Ollama generation_info
    UsageKeys("ollama", ("prompt_eval_count",), ("eval_count",)),
)
"""Raw usage layouts, tried in order by :func:`usage_from_mapping`."""

_CONTAINER_KEYS = ("token_usage", "usage")


def _int(value: Any) -> int | None:
    if value is None or value.__class__ is bool:
        return None
    if value.__class__ is int:
        return value  # type: ignore[no-any-return]
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _get(d: Mapping[str, Any], path: _Path | None) -> int | None:
    if path is None:
        return None
    value: Any = d
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
        if value is None:
            return None
    return _int(value)


def _detail(details: Any, key: str) -> int | None:
    """A detail count, including service-tier-prefixed variants (``flex_cache_read``)."""
    if not details:
        return None
    value = details.get(key)
    if value is not None:
        return _int(value)
    suffix = "_" + key
    found: int | None = None
    for k, v in details.items():
        if k.endswith(suffix) and v is not None:
            found = (found or 0) + (_int(v) or 0)
    return found


def usage_from_usage_metadata(um: Mapping[str, Any]) -> TokenUsage | None:
    """A :class:`TokenUsage` from LangChain's ``UsageMetadata`` (a plain dict)."""
    inp = _int(um.get("input_tokens"))
    out = _int(um.get("output_tokens"))
    if inp is None and out is None:
        return None
    ind = um.get("input_token_details")
    outd = um.get("output_token_details")
    cache_write = _detail(ind, "cache_creation")
    if ind and not cache_write:
        # Anthropic's writes by cache lifetime: newer langchain-anthropic reports them there
        # and sets ``cache_creation`` to 0, older ones report both
        five = ind.get("ephemeral_5m_input_tokens")
        hour = ind.get("ephemeral_1h_input_tokens")
        if five is not None or hour is not None:
            cache_write = (_int(five) or 0) + (_int(hour) or 0)
    return TokenUsage(
        input_tokens=inp,
        output_tokens=out,
        total_tokens=_int(um.get("total_tokens")),
        cached_input_tokens=_detail(ind, "cache_read"),
        cache_creation_tokens=cache_write,
        reasoning_tokens=_detail(outd, "reasoning"),
    )


def usage_from_mapping(raw: Mapping[str, Any]) -> TokenUsage | None:
    """A :class:`TokenUsage` from a provider's raw usage dictionary, or None if no row of
    :data:`PROVIDER_USAGE_KEYS` fits it."""
    for keys in PROVIDER_USAGE_KEYS:
        if keys.marker is not None and keys.marker not in raw:
            continue
        inp = _get(raw, keys.input)
        out = _get(raw, keys.output)
        if inp is None and out is None:
            continue
        cache_read = _get(raw, keys.cache_read)
        cache_write = _get(raw, keys.cache_write)
        reasoning = _get(raw, keys.reasoning)
        if keys.input_excludes_cache and inp is not None:
            inp += (cache_read or 0) + (cache_write or 0)
        if keys.output_excludes_reasoning and reasoning:
            out = (out or 0) + reasoning
        total = _get(raw, keys.total)
        if total is None and inp is not None and out is not None:
            total = inp + out
        elif total is not None and keys.input_excludes_cache and inp is not None:
            total = max(total, inp + (out or 0))
        return TokenUsage(inp, out, total, cache_read, cache_write, reasoning)
    return None


def _from_container(container: Any) -> TokenUsage | None:
    if not container or not isinstance(container, Mapping):
        return None
    for key in _CONTAINER_KEYS:
        raw = container.get(key)
        if raw and isinstance(raw, Mapping):
            found = usage_from_mapping(raw)
            if found is not None:
                return found
    return None


def _add(a: TokenUsage | None, b: TokenUsage | None) -> TokenUsage | None:
    if a is None:
        return b
    if b is None:
        return a

    def plus(x: int | None, y: int | None) -> int | None:
        return None if x is None and y is None else (x or 0) + (y or 0)

    return TokenUsage(
        plus(a.input_tokens, b.input_tokens),
        plus(a.output_tokens, b.output_tokens),
        plus(a.total_tokens, b.total_tokens),
        plus(a.cached_input_tokens, b.cached_input_tokens),
        plus(a.cache_creation_tokens, b.cache_creation_tokens),
        plus(a.reasoning_tokens, b.reasoning_tokens),
        a.estimated or b.estimated,
    )


_Getter = Callable[[Any], "TokenUsage | None"]


def _from_candidates(candidates: Sequence[Any], getter: _Getter) -> TokenUsage | None:
    """Usage of the candidates of one prompt: once if all report the same, else summed."""
    if len(candidates) == 1:
        return getter(candidates[0])
    found = [u for u in map(getter, candidates) if u is not None]
    if not found:
        return None
    first = found[0]
    if all(u == first for u in found):
        return first
    total: TokenUsage | None = None
    for u in found:
        total = _add(total, u)
    return total


def _message_usage(gen: Any) -> TokenUsage | None:
    message = getattr(gen, "message", None)
    um = getattr(message, "usage_metadata", None)
    return usage_from_usage_metadata(um) if um else None


def _metadata_usage(gen: Any) -> TokenUsage | None:
    message = getattr(gen, "message", None)
    metadata = getattr(message, "response_metadata", None)
    found = _from_container(metadata)
    if found is None and metadata:  # counts at its top level (Ollama's eval counts)
        found = usage_from_mapping(metadata)
    if found is not None:
        return found
    info = getattr(gen, "generation_info", None)
    if not info:
        return None
    return _from_container(info) or usage_from_mapping(info)


def _over_prompts(generations: Any, getter: _Getter) -> TokenUsage | None:
    total: TokenUsage | None = None
    for candidates in generations:
        if candidates:
            total = _add(total, _from_candidates(candidates, getter))
    return total


def usage_from_llm_result(response: Any) -> TokenUsage | None:
    """The token usage of one model call (an ``LLMResult``), or None if none was reported.

    ``input_tokens`` includes cached and cache-creation tokens; ``output_tokens`` includes
    reasoning tokens. See the module docstring for where usage is looked for.
    """
    generations: Any = getattr(response, "generations", None) or ()
    if len(generations) == 1 and len(generations[0]) == 1:  # the common case, fast
        message = getattr(generations[0][0], "message", None)
        um = getattr(message, "usage_metadata", None) if message is not None else None
        if um:
            found = usage_from_usage_metadata(um)
            if found is not None:
                return found
    found = _over_prompts(generations, _message_usage)
    if found is not None:
        return found
    found = _from_container(getattr(response, "llm_output", None))
    if found is not None:
        return found
    return _over_prompts(generations, _metadata_usage)


def _first_generation(response: Any) -> Any:
    generations = getattr(response, "generations", None)
    if generations and generations[0]:
        return generations[0][0]
    return None


def response_model(response: Any) -> str | None:
    """The model name the provider answered with (``model_name``, ``model`` or, for
    Bedrock, ``model_id``), if reported."""
    llm_output = getattr(response, "llm_output", None)
    if llm_output:
        name = llm_output.get("model_name") or llm_output.get("model")
        if isinstance(name, str) and name:
            return name
    gen = _first_generation(response)
    if gen is None:
        return None
    for meta in (
        getattr(getattr(gen, "message", None), "response_metadata", None),
        getattr(gen, "generation_info", None),
    ):
        if meta:
            name = meta.get("model_name") or meta.get("model") or meta.get("model_id")
            if isinstance(name, str) and name:
                return name
    return None


_FINISH_KEYS = ("finish_reason", "stop_reason", "done_reason")


def finish_reason(generation_info: Any, response_metadata: Any) -> str | None:
    """One candidate's finish reason: from its ``generation_info``, else its message's
    ``response_metadata`` (``finish_reason``, ``stop_reason`` or ``done_reason``)."""
    for meta in (generation_info, response_metadata):
        if meta:
            reason = next((meta[k] for k in _FINISH_KEYS if meta.get(k)), None)
            if reason is not None:
                return str(reason)
    return None


def finish_reasons(response: Any) -> list[str]:
    """The finish reason of every candidate (``finish_reason``, ``stop_reason``, ...)."""
    reasons: list[str] = []
    for candidates in getattr(response, "generations", None) or ():
        for gen in candidates:
            reason = finish_reason(
                getattr(gen, "generation_info", None),
                getattr(getattr(gen, "message", None), "response_metadata", None),
            )
            if reason is not None:
                reasons.append(reason)
    return reasons
