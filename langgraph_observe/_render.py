"""Render captured inputs and outputs to bounded text (runs in sink workers, not callbacks)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

_MAX_DEPTH = 6
_MAX_ITEMS = 50


def _plain(obj: Any, depth: int) -> Any:
    """A JSON-friendly view of ``obj``, cut at a depth and an item count."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if depth >= _MAX_DEPTH:
        return repr(obj)[:200]
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(obj.items()):
            if i >= _MAX_ITEMS:
                out["..."] = f"{len(obj) - _MAX_ITEMS} more"
                break
            out[str(k)] = _plain(v, depth + 1)
        return out
    if isinstance(obj, (list, tuple, set, frozenset)) or (
        isinstance(obj, Sequence) and not isinstance(obj, (bytes, bytearray))
    ):
        items = list(obj)
        rendered = [_plain(v, depth + 1) for v in items[:_MAX_ITEMS]]
        if len(items) > _MAX_ITEMS:
            rendered.append(f"... {len(items) - _MAX_ITEMS} more")
        return rendered
    # LangChain messages, documents and pydantic models
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
    if hasattr(obj, "page_content"):
        return {"page_content": obj.page_content, "metadata": getattr(obj, "metadata", {})}
    return repr(obj)


def render(obj: Any, limit: int) -> str:
    """Text for ``obj``: strings as they are, everything else as compact JSON; at most
    ``limit`` characters (a cut text ends with ``…``)."""
    if isinstance(obj, str):
        text = obj
    else:
        try:
            text = json.dumps(
                _plain(obj, 0), ensure_ascii=False, default=repr, separators=(",", ":")
            )
        except Exception:  # never let rendering fail a sink
            text = repr(obj)
    if limit >= 0 and len(text) > limit:
        return text[: max(limit - 1, 0)] + "…"
    return text
