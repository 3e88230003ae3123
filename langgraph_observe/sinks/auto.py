"""Which sinks ``CallbackHandler()`` turns on when none are given, and why.

Each sink has ``autoconfigure(settings) -> (sink or None, reason)``, in its own module or,
for a sink whose module is heavy to import, in a small module that imports the sink only
when it turns it on: a sink that is off costs nothing (neither it nor its backend is
imported). The choice is logged once, in one line.
"""

from __future__ import annotations

import importlib
import logging
import os

from .._guard import report
from ..config import Settings
from .base import Sink

__all__ = ["SINK_MODULES", "default_sinks", "describe"]

logger = logging.getLogger("langgraph_observe")

#: Sink name -> the module with its ``autoconfigure``, in the order they are tried. Env
#: ``LANGGRAPH_OBSERVE_SINKS`` (comma-separated names, e.g. ``local,prometheus``) limits
#: the set.
SINK_MODULES: dict[str, str] = {
    "local": "langgraph_observe.sinks.local",
    "prometheus": "langgraph_observe.sinks.prometheus",
    "otel": "langgraph_observe.sinks._otel_switch",
    "langfuse": "langgraph_observe.sinks._langfuse_switch",
}

_logged = False


def describe(settings: Settings) -> list[tuple[str, Sink | None, str]]:
    """``(name, sink or None, reason)`` for every known sink."""
    wanted = os.environ.get("LANGGRAPH_OBSERVE_SINKS")
    allowed = {s.strip() for s in wanted.split(",") if s.strip()} if wanted else None
    out: list[tuple[str, Sink | None, str]] = []
    for name, module_name in SINK_MODULES.items():
        if allowed is not None and name not in allowed:
            out.append((name, None, "off: not in LANGGRAPH_OBSERVE_SINKS"))
            continue
        try:
            module = importlib.import_module(module_name)
            sink, reason = module.autoconfigure(settings)
        except ImportError as exc:
            out.append((name, None, f"off: {exc}"))
            continue
        except Exception as exc:  # a broken backend must not stop the others
            report(f"autoconfigure {name}", exc)
            out.append((name, None, f"off: failed to configure ({exc!r})"))
            continue
        out.append((name, sink, reason))
    return out


def default_sinks(settings: Settings) -> list[Sink]:
    """The sinks that are on, logging one line that says which and why the others are off."""
    global _logged
    described = describe(settings)
    if not _logged:
        _logged = True
        logger.info(
            "langgraph-observe sinks: %s",
            "; ".join(f"{name} {reason}" for name, _, reason in described),
        )
    return [sink for _, sink, _ in described if sink is not None]
