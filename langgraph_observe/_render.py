"""Render captured inputs and outputs to bounded text (runs in sink workers, not callbacks).

:func:`plain_copy` runs on the callback path: it copies small LangChain messages and
documents (and dicts and lists of them) into the dicts and lists :func:`render` would
encode, so that they can be packed into ``marshal`` bytes that hold no live object of
the graph (see :mod:`._finish`). Rendering what ``marshal`` gives back yields the text
the original would have given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

from ._json import JsonWriter

_MAX_DEPTH = 6
_MAX_ITEMS = 50
_SCALARS = (str, int, float, bool, type(None))
#: Shared by every sink's thread: what it encodes is always a fresh, depth-bounded tree
#: (:func:`_plain` or :func:`plain_copy` made it), so it needs no circular-reference markers.
_encode = JsonWriter(default=repr, check_circular=False)


def safe_repr(obj: Any) -> str:
    """``repr(obj)``, or ``<TypeName>`` when it raises (a broken ``__repr__``, a nesting
    too deep, an integer too long to print)."""
    try:
        return repr(obj)
    except Exception:
        return f"<{type(obj).__qualname__}>"


def safe_str(obj: Any) -> str:
    """``str(obj)``, or :func:`safe_repr` of it when ``__str__`` raises."""
    try:
        return str(obj)
    except Exception:
        return safe_repr(obj)


def _message(obj: Any, depth: int) -> dict[str, Any]:
    """A LangChain message as ``{type, content, ...}`` (cheaper than a pydantic dump)."""
    out: dict[str, Any] = {"type": obj.type, "content": _plain(obj.content, depth + 1)}
    for attr in ("name", "tool_calls", "tool_call_id"):
        value = getattr(obj, attr, None)
        if value:
            out[attr] = _plain(value, depth + 1)
    return out


def _plain(obj: Any, depth: int) -> Any:
    """A JSON-friendly view of ``obj``, cut at a depth and an item count. An object that
    fails to describe itself becomes its :func:`safe_repr`, alone: what holds it is
    still rendered."""
    cls = type(obj)
    if cls in _SCALARS:
        return obj
    if depth >= _MAX_DEPTH:
        return safe_repr(obj)[:200]
    try:
        return _plain_object(obj, cls, depth)
    except Exception:
        return safe_repr(obj)


def _plain_object(obj: Any, cls: type, depth: int) -> Any:
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
        # at most the items shown are taken (a range or a lazy sequence is not unrolled)
        items = obj if cls is list or cls is tuple else list(islice(obj, _MAX_ITEMS + 1))
        rendered = [_plain(v, depth + 1) for v in items[:_MAX_ITEMS]]
        if len(items) > _MAX_ITEMS:
            rendered.append(f"... {_length(obj, len(items)) - _MAX_ITEMS} more")
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
    return safe_repr(obj)


def _length(obj: Any, at_least: int) -> int:
    try:
        return len(obj)
    except Exception:
        return at_least


def render(obj: Any, limit: int, *, plain: bool = False) -> str:
    """Text for ``obj``: strings as they are, everything else as compact JSON; at most
    ``limit`` characters (a cut text ends with ``…``). ``plain``: ``obj`` is already
    JSON-ready (a :func:`plain_copy`), so it is encoded as it is."""
    if isinstance(obj, str):
        text = obj
    else:
        try:
            text = _encode(obj if plain else _plain(obj, 0))
        except Exception:  # never let rendering fail a sink
            text = safe_repr(obj)
    if limit >= 0 and len(text) > limit:
        return text[: max(limit - 1, 0)] + "…"
    return text


# -- plain copies ----------------------------------------------------------------------
_ATOMS = frozenset({str, int, float, bool, type(None)})
_PLAIN_DEPTH = _MAX_DEPTH - 2
#: how instances of a class are copied: ("message", fields read from ``__dict__``),
#: ("message-attrs", ()), ("document", ()) or ("", ()) for classes left alone
_class_kind: dict[type, tuple[str, tuple[str, ...]]] = {}
_MESSAGE_FIELDS = ("name", "tool_calls", "tool_call_id")


class Unplain(Exception):
    """The payload is too large or of a kind :func:`plain_copy` leaves alone."""


def plain_copy(obj: Any) -> Any:
    """The JSON-ready copy of ``obj`` that :func:`render` would encode — dicts, lists and
    scalars only, rendering to the same text — for small payloads made of scalars, dicts,
    lists, tuples, LangChain messages and documents. Raises :class:`Unplain` for anything
    else (then the object itself must be kept, and rendered later)."""
    return _copy(obj, 0)


def _kind_of(obj: Any) -> tuple[str, tuple[str, ...]]:
    """Decided once per class, in the renderer's own order of checks. A message class
    whose fields are plain pydantic fields is read from the instance's ``__dict__``."""
    cls = type(obj)
    kind = _class_kind.get(cls)
    if kind is None:
        try:
            kind = _classify(obj, cls)
        except Exception:  # an attribute lookup that raises: left alone (not cached)
            return ("", ())
        if len(_class_kind) < 1000:
            _class_kind[cls] = kind
    return kind


def _classify(obj: Any, cls: type) -> tuple[str, tuple[str, ...]]:
    if isinstance(obj, (Mapping, Sequence, set, frozenset, str, int, float, bool)):
        return ("", ())
    if hasattr(obj, "content") and isinstance(getattr(obj, "type", None), str):
        fields = getattr(cls, "model_fields", None)
        plain = (
            isinstance(fields, Mapping)
            and "type" in fields
            and "content" in fields
            and isinstance(getattr(obj, "__dict__", None), dict)
        )
        # fields read from __dict__; a name that is not a field is never set there
        return ("message", _MESSAGE_FIELDS) if plain else ("message-attrs", ())
    if hasattr(obj, "page_content"):
        return ("document", ())
    return ("", ())


def _copy(obj: Any, depth: int) -> Any:
    cls = type(obj)
    if cls in _ATOMS:
        return obj
    if depth >= _PLAIN_DEPTH:
        raise Unplain
    depth += 1
    if cls is dict:
        if len(obj) > _MAX_ITEMS:
            raise Unplain
        return {
            k if type(k) is str else str(k): v if type(v) in _ATOMS else _copy(v, depth)
            for k, v in obj.items()
        }
    if cls is list or cls is tuple:
        if len(obj) > _MAX_ITEMS:
            raise Unplain
        return [v if type(v) in _ATOMS else _copy(v, depth) for v in obj]
    kind, fields = _class_kind.get(cls) or _kind_of(obj)
    if kind == "message":
        d = obj.__dict__
        kind_name = d.get("type")
        content = d.get("content")
        if type(kind_name) is not str:
            raise Unplain
        out = {
            "type": kind_name,
            "content": content if type(content) is str else _copy(content, depth),
        }
        for attr in fields:
            value = d.get(attr)
            if value:
                out[attr] = _copy(value, depth)
        return out
    if kind == "message-attrs":
        if not isinstance(obj.type, str):
            raise Unplain
        out = {"type": obj.type, "content": _copy(obj.content, depth)}
        for attr in _MESSAGE_FIELDS:
            value = getattr(obj, attr, None)
            if value:
                out[attr] = _copy(value, depth)
        return out
    if kind == "document":
        content = obj.page_content
        meta = getattr(obj, "metadata", {})
        # the renderer encodes a document's metadata as it is: copy only plain ones
        if type(content) is not str or type(meta) is not dict or len(meta) > _MAX_ITEMS:
            raise Unplain
        for k, v in meta.items():
            if type(k) is not str or type(v) not in _ATOMS:
                raise Unplain
        return {"page_content": content, "metadata": dict(meta)}
    raise Unplain
