"""How the handler's callbacks are guarded: our errors never reach the graph; deliberate
control errors (budget exceeded, gate failed) do."""

from __future__ import annotations

from typing import Any

from .. import _guard
from ..errors import ObserveControlError

__all__ = ["guard_callback", "swallow"]


def guard_callback(fn: Any) -> Any:
    """Guard a callback: our errors are swallowed (re-raised under strict mode); deliberate
    control errors (budget exceeded, gate failed) go through to the run."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except ObserveControlError:
            raise
        except Exception as exc:
            if _guard.strict():
                raise
            _guard.report(f"CallbackHandler.{fn.__name__}", exc)
            return None

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def swallow(where: str, exc: Exception) -> None:
    """What a guarded callback does with an exception: control errors (budget exceeded,
    gate failed) and, in strict mode, every error go on to the run; the rest is reported."""
    if isinstance(exc, ObserveControlError) or _guard.strict():
        raise exc
    _guard.report(f"CallbackHandler.{where}", exc)
