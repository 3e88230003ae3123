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
from ..config import ConfigError, Settings, env_flag, env_int
from .base import Sink

__all__ = ["SINKS_ENV", "SINK_MODULES", "default_sinks", "describe", "wanted_sinks"]

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

SINKS_ENV = "LANGGRAPH_OBSERVE_SINKS"
"""Environment variable limiting the default sinks: comma-separated names, or ``none``."""

#: The sinks' own switches (``0``/``1``, ``false``/``true``, ...) and numbers, checked
#: here, all at once and strictly, before any sink reads them (the same names as
#: ``prometheus.ENV_ENABLED``, ``_otel_switch.ENV_SWITCH``, ...).
_SWITCHES = ("LANGGRAPH_OBSERVE_PROMETHEUS", "LANGGRAPH_OBSERVE_OTEL", "LANGGRAPH_OBSERVE_LANGFUSE")
_COUNTS = ("LANGGRAPH_OBSERVE_PROMETHEUS_MAX_TENANTS",)

_logged = False


def wanted_sinks() -> frozenset[str] | None:
    """The default sinks env ``LANGGRAPH_OBSERVE_SINKS`` allows: None when it is unset or
    empty (all of them), none for ``none``. A name that is not a sink's raises a
    :class:`~langgraph_observe.config.ConfigError` naming the variable, the name and the
    valid names (a typo must not turn sinks off silently)."""
    raw = os.environ.get(SINKS_ENV)
    if raw is None or raw == "":
        return None
    valid = f"valid: {', '.join(SINK_MODULES)}, comma-separated; or none for no default sink"
    names = [part.strip().lower() for part in raw.split(",")]
    names = [n for n in names if n]
    if not names:
        raise ConfigError(f"env {SINKS_ENV}: names no sink, got {raw!r} ({valid})")
    if names == ["none"]:
        return frozenset()
    for name in names:
        if name == "none":
            raise ConfigError(f"env {SINKS_ENV}: none cannot be combined with sink names")
        if name not in SINK_MODULES:
            raise ConfigError(f"env {SINKS_ENV}: unknown sink {name!r} ({valid})")
    return frozenset(names)


def _check_switches() -> None:
    """Every sink switch and number in the environment, read strictly: ``maybe`` or a blank
    value is a :class:`~langgraph_observe.config.ConfigError`, not on or off."""
    for name in _SWITCHES:
        env_flag(name)
    for name in _COUNTS:
        env_int(name)


def describe(settings: Settings) -> list[tuple[str, Sink | None, str]]:
    """``(name, sink or None, reason)`` for every known sink. Raises
    :class:`~langgraph_observe.config.ConfigError` for an invalid ``LANGGRAPH_OBSERVE_*``
    variable (``LANGGRAPH_OBSERVE_SINKS``, a sink's switch or number)."""
    allowed = wanted_sinks()
    _check_switches()
    out: list[tuple[str, Sink | None, str]] = []
    for name, module_name in SINK_MODULES.items():
        if allowed is not None and name not in allowed:
            out.append((name, None, f"off: not in {SINKS_ENV}"))
            continue
        try:
            module = importlib.import_module(module_name)
            sink, reason = module.autoconfigure(settings)
        except ImportError as exc:
            out.append((name, None, f"off: {exc}"))
            continue
        except ConfigError:  # the user's configuration, not a broken backend: say so
            for _, built, _ in out:
                if built is not None:
                    built.shutdown(0.0)
            raise
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
