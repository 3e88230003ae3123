"""Render captured inputs and outputs to bounded text (runs in sink workers, not callbacks)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

_MAX_DEPTH = 6
_MAX_ITEMS = 50
_SCALARS = (str, int, float, bool, type(None))
_encode = json.JSONEncoder(ensure_ascii=False, default=repr, separators=(",", ":")).encode


def _message(obj: Any, depth: int) -> dict[str, Any]:
    """A LangChain message as ``{type, content, ...}`` (cheaper than a pydantic dump)."""
    out: dict[str, Any] = {"type": obj.type, "content": _plain(obj.content, depth + 1)}
    for attr in ("name", "tool_calls", "tool_call_id"):
        value = getattr(obj, attr, None)
        if value:
            out[attr] = _plain(value, depth + 1)
    return out


def _plain(obj: Any, depth: int) -> Any:
    """A JSON-friendly view of ``obj``, cut at a depth and an item count."""
    cls = type(obj)
    if cls in _SCALARS:
        return obj
    if depth >= _MAX_DEPTH:
        return repr(obj)[:200]
    if cls is dict or isinstance(obj, Mapping):
        if len(obj) <= _MAX_ITEMS:
            return {str(k): _plain(v, depth + 1) for k, v in obj.items()}
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(obj.items()):
            if i >= _MAX_ITEMS:
                out["..."] = f"{len(obj) - _MAX_ITEMS} more"
                break
            out[str(k)] = _plain(v, depth + 1)
        return out
    if (
        cls is list
        or cls is tuple
        or isinstance(obj, (list, tuple, set, frozenset))
        or (isinstance(obj, Sequence) and not isinstance(obj, (bytes, bytearray)))
    ):
        items = obj if cls is list or cls is tuple else list(obj)
        rendered = [_plain(v, depth + 1) for v in items[:_MAX_ITEMS]]
        if len(items) > _MAX_ITEMS:
            rendered.append(f"... {len(items) - _MAX_ITEMS} more")
        return rendered
    if isinstance(obj, (str, int, float, bool)):  # subclasses (enums and the like)
        return obj
    if hasattr(obj, "content") and isinstance(getattr(obj, "type", None), str):
        return _message(obj, depth)
    if hasattr(obj, "page_content"):
        return {"page_content": obj.page_content, "metadata": getattr(obj, "metadata", {})}
    # pydantic models and other objects that can describe themselves
    for attr in ("model_dump", "dict"):
        fn = getattr(obj, attr, None)
        if callable(fn):
            try:
                dumped = fn()
            except Exception:
                break
            if isinstance(dumped, Mapping):
                slim = {k: v for k, v in dumped.items() if v not in (None, {}, [], "")}
                return _plain(slim, depth + 1)
    return repr(obj)


def render(obj: Any, limit: int) -> str:
    """Text for ``obj``: strings as they are, everything else as compact JSON; at most
    ``limit`` characters (a cut text ends with ``…``)."""
    if isinstance(obj, str):
        text = obj
    else:
        try:
            text = _encode(_plain(obj, 0))
        except Exception:  # never let rendering fail a sink
            text = repr(obj)
    if limit >= 0 and len(text) > limit:
        return text[: max(limit - 1, 0)] + "…"
    return text
