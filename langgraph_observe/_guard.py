"""The one guard around every callback and sink call: our errors never reach user code.

Internal errors are logged (once per call site and error type) and counted. Set
``LANGGRAPH_OBSERVE_STRICT=1`` (the test suite does) to re-raise them instead, so bugs in
the library surface in tests.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

logger = logging.getLogger("langgraph_observe")

_F = TypeVar("_F", bound=Callable[..., Any])
_seen: set[tuple[str, str]] = set()
_lock = threading.Lock()
internal_errors = 0  #: how many internal errors were swallowed in this process


def strict() -> bool:
    """True when internal errors should be raised (``LANGGRAPH_OBSERVE_STRICT=1``)."""
    return os.environ.get("LANGGRAPH_OBSERVE_STRICT", "") not in ("", "0", "false", "False")


def report(where: str, exc: BaseException) -> None:
    """Log an internal error once per (where, type) and count it."""
    global internal_errors
    with _lock:
        internal_errors += 1
        key = (where, type(exc).__name__)
        first = key not in _seen
        _seen.add(key)
    if first:
        logger.warning(
            "langgraph-observe internal error in %s (ignored): %r", where, exc, exc_info=exc
        )


def guarded(where: str) -> Callable[[_F], _F]:
    """Decorate a callback so that no exception of ours escapes it."""

    def deco(fn: _F) -> _F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if strict():
                    raise
                report(where, exc)
                return None

        return wrapper  # type: ignore[return-value]

    return deco
