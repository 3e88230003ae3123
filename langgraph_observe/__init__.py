"""langgraph-observe: observability for LangGraph.

Attach :class:`CallbackHandler` to any compiled graph::

    from langgraph_observe import CallbackHandler
    handler = CallbackHandler()
    graph.invoke(inputs, config={"callbacks": [handler]})

Spans go to an embedded SQLite store by default, and at the same time to Prometheus,
OpenTelemetry and Langfuse when those are configured.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from .config import ConfigError, Settings
from .config_file import ObserveConfig, load_config
from .errors import QualityGateFailed, TokenBudgetExceeded
from .events import (
    ErrorClass,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
)
from .features import FeatureHooks
from .gates import Gate, gate
from .personas import persona, persona_time
from .scores import score

if TYPE_CHECKING:
    from .adapters.langchain import CallbackHandler
    from .workflow import ObservedWorkflow

#: imported on first use: the handler's module imports LangGraph (its lifecycle callbacks),
#: which ``import langgraph_observe`` alone (the CLI, the explore helpers) does not need
_LAZY = {"CallbackHandler": ".adapters.langchain", "ObservedWorkflow": ".workflow"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


try:
    __version__ = version("langgraph-observe")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "CallbackHandler",
    "ConfigError",
    "ErrorClass",
    "FeatureHooks",
    "Gate",
    "ObserveConfig",
    "ObservedWorkflow",
    "QualityGateFailed",
    "Settings",
    "SpanKind",
    "SpanRecord",
    "SpanStatus",
    "TokenBudgetExceeded",
    "TokenUsage",
    "__version__",
    "gate",
    "load_config",
    "persona",
    "persona_time",
    "score",
]
