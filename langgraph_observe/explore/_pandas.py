"""The one place ``explore`` imports pandas, with the install hint when it is missing."""

from __future__ import annotations

from typing import Any

__all__ = ["INSTALL_HINT", "require_pandas"]

INSTALL_HINT = "pip install 'langgraph-observe[explore]'"


def require_pandas() -> Any:
    """The ``pandas`` module, or an ImportError that says how to install it."""
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(f"langgraph_observe.explore needs pandas: {INSTALL_HINT}") from exc
    return pandas
