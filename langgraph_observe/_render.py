"""Render captured inputs and outputs to bounded text (runs in sink workers, not callbacks).

:func:`freeze` runs on the callback path: it copies small plain payloads (strings,
numbers, dicts and lists of them, LangChain messages and documents) into nested tuples
that hold no live object of the graph and that the garbage collector stops tracking, so
what waits in the queues costs the collector nothing. :func:`render` gives a frozen copy
exactly the text it gives the original.
"""

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
            text = _encode(thaw(obj) if is_frozen(obj) else _plain(obj, 0))
        except Exception:  # never let rendering fail a sink
            text = repr(obj)
    if limit >= 0 and len(text) > limit:
        return text[: max(limit - 1, 0)] + "…"
    return text


# -- frozen copies ----------------------------------------------------------------------
# A frozen dict is ``(_DICT, key, value, key, value, ...)``, a frozen list
# ``(_LIST, item, ...)``; inside a frozen copy every tuple is one of these. The markers
# are plain ``object()`` instances, which the collector does not track either.
_DICT = object()
_LIST = object()
_FREEZE_DEPTH = _MAX_DEPTH - 2
_ATOMS = frozenset({str, int, float, bool, type(None)})
#: how instances of a class are frozen: ("message", fields read from ``__dict__``),
#: ("document", ()) or ("", ()) for classes left alone
_class_kind: dict[type, tuple[str, tuple[str, ...]]] = {}
_MESSAGE_FIELDS = ("name", "tool_calls", "tool_call_id")


class _Unfrozen(Exception):
    """The payload is too large or of a kind :func:`freeze` leaves alone."""


def freeze(obj: Any) -> Any:
    """A frozen copy of ``obj`` when it is small and plain (see the module docstring),
    else ``obj`` itself."""
    if type(obj) in _ATOMS:
        return obj
    try:
        return _freeze(obj, 0)
    except _Unfrozen:
        return obj


def _kind_of(obj: Any) -> tuple[str, tuple[str, ...]]:
    """Decided once per class, in the renderer's own order of checks. A message class
    whose fields are plain pydantic fields is read from the instance's ``__dict__``."""
    cls = type(obj)
    kind = _class_kind.get(cls)
    if kind is None:
        if isinstance(obj, (Mapping, Sequence, set, frozenset, str, int, float, bool)):
            kind = ("", ())
        elif hasattr(obj, "content") and isinstance(getattr(obj, "type", None), str):
            fields = getattr(cls, "model_fields", None)
            plain = (
                isinstance(fields, Mapping)
                and "type" in fields
                and "content" in fields
                and isinstance(getattr(obj, "__dict__", None), dict)
            )
            # fields read from __dict__; a name that is not a field is never set there
            kind = ("message", _MESSAGE_FIELDS) if plain else ("message-attrs", ())
        elif hasattr(obj, "page_content"):
            kind = ("document", ())
        else:
            kind = ("", ())
        if len(_class_kind) < 1000:
            _class_kind[cls] = kind
    return kind


def _freeze(obj: Any, depth: int) -> Any:
    cls = type(obj)
    if cls in _ATOMS:
        return obj
    if depth >= _FREEZE_DEPTH:
        raise _Unfrozen
    depth += 1
    if cls is dict:
        if len(obj) > _MAX_ITEMS:
            raise _Unfrozen
        out: list[Any] = [_DICT]
        for k, v in obj.items():
            out.append(k if type(k) is str else str(k))
            out.append(v if type(v) in _ATOMS else _freeze(v, depth))
        return tuple(out)
    if cls is list or cls is tuple:
        if len(obj) > _MAX_ITEMS:
            raise _Unfrozen
        out = [_LIST]
        for v in obj:
            out.append(v if type(v) in _ATOMS else _freeze(v, depth))
        return tuple(out)
    kind, fields = _kind_of(obj)
    if kind == "message":
        d = obj.__dict__
        kind_name, content = d.get("type"), d.get("content")
        if type(kind_name) is not str:
            raise _Unfrozen
        out = [_DICT, "type", kind_name, "content", _freeze(content, depth)]
        for attr in fields:
            value = d.get(attr)
            if value:
                out.append(attr)
                out.append(_freeze(value, depth))
        return tuple(out)
    if kind == "message-attrs":
        if not isinstance(obj.type, str):
            raise _Unfrozen
        out = [_DICT, "type", obj.type, "content", _freeze(obj.content, depth)]
        for attr in _MESSAGE_FIELDS:
            value = getattr(obj, attr, None)
            if value:
                out.append(attr)
                out.append(_freeze(value, depth))
        return tuple(out)
    if kind == "document":
        content = obj.page_content
        meta = getattr(obj, "metadata", {})
        # the renderer encodes a document's metadata as it is: freeze only plain ones
        if type(content) is not str or type(meta) is not dict or len(meta) > _MAX_ITEMS:
            raise _Unfrozen
        for k, v in meta.items():
            if type(k) is not str or type(v) not in _ATOMS:
                raise _Unfrozen
        return (_DICT, "page_content", content, "metadata", _freeze(meta, depth))
    raise _Unfrozen


def is_frozen(obj: Any) -> bool:
    """Whether ``obj`` is a frozen copy of a dict or a list (see :func:`freeze`)."""
    return type(obj) is tuple and bool(obj) and (obj[0] is _DICT or obj[0] is _LIST)


def thaw(obj: Any) -> Any:
    """Plain dicts and lists again, from a frozen copy."""
    if type(obj) is not tuple:
        return obj
    if obj[0] is _DICT:
        return {obj[i]: thaw(obj[i + 1]) for i in range(1, len(obj), 2)}
    return [thaw(v) for v in obj[1:]]
