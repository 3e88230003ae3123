"""Compact JSON through one reused encoder.

``json.dumps`` and ``JSONEncoder.encode`` build a new C encoder on every call unless every
option is the default, which costs as much as encoding a small value. :class:`JsonWriter`
builds it once. It uses ``json.encoder.c_make_encoder``, a private name of the standard
library, and falls back to the public encoder (same output) where it is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

__all__ = ["JsonWriter"]


class JsonWriter:
    """``json.dumps(value, ensure_ascii=ascii_only, separators=separators,
    default=default)``, encoder made once.

    With ``check_circular`` (the default) it keeps circular-reference markers: use one
    per thread (or under a lock); they are cleared after a failed encoding. Without it,
    it holds no state and threads may share it, for values that cannot be circular
    (fresh, depth-bounded trees).
    """

    def __init__(
        self,
        *,
        default: Callable[[Any], Any] = str,
        separators: tuple[str, str] = (",", ":"),
        ascii_only: bool = False,
        check_circular: bool = True,
    ) -> None:
        self._public = json.JSONEncoder(
            ensure_ascii=ascii_only,
            separators=separators,
            default=default,
            check_circular=check_circular,
        ).encode
        self._markers: dict[int, Any] | None = {} if check_circular else None
        make = getattr(json.encoder, "c_make_encoder", None)
        string = encode_basestring_ascii if ascii_only else encode_basestring
        item, key = separators
        #: ``chunks(value, 0)``: the pieces of ``value``'s JSON (None: no C encoder)
        self.chunks = (
            make(self._markers, default, string, None, key, item, False, False, True)
            if make is not None
            else None
        )

    def __call__(self, value: Any) -> str:
        if self.chunks is None:
            return self._public(value)
        try:
            return "".join(self.chunks(value, 0))
        except BaseException:
            self.reset()
            raise

    def reset(self) -> None:
        """Forget the markers a failed encoding may have left."""
        if self._markers:
            self._markers.clear()
