"""Whether ``CallbackHandler()`` turns the OpenTelemetry sink on, decided without importing
the sink (or the OpenTelemetry API) when nothing can have installed a tracer provider."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from ..config import Settings

if TYPE_CHECKING:
    from .otel import OTelSink

__all__ = ["ENV_SWITCH", "autoconfigure"]

ENV_SWITCH = "LANGGRAPH_OBSERVE_OTEL"
#: set by the OpenTelemetry API to name a provider it loads on first use
_PROVIDER_ENV = "OTEL_PYTHON_TRACER_PROVIDER"


def _has_sdk_provider() -> bool:
    """True when the global tracer provider is an SDK one (it takes span processors).
    Without ``opentelemetry.trace`` imported, nothing can have set one, unless the API is
    told to load one by environment variable."""
    if "opentelemetry.trace" not in sys.modules and not os.environ.get(_PROVIDER_ENV):
        return False
    from opentelemetry import trace

    provider: Any = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return False
    return hasattr(provider, "add_span_processor")


def autoconfigure(settings: Settings, **kwargs: Any) -> tuple[OTelSink | None, str]:
    """The sink when the application installed an SDK tracer provider (or
    ``LANGGRAPH_OBSERVE_OTEL=1``), else ``None``; with a one-line reason."""
    forced = os.environ.get(ENV_SWITCH, "").strip().lower()
    if forced in ("0", "false", "no", "off"):
        return None, f"off: {ENV_SWITCH}={forced}"
    if forced in ("1", "true", "yes", "on"):
        reason = f"on: {ENV_SWITCH}={forced}"
    elif _has_sdk_provider():
        reason = "on: an SDK tracer provider is installed"
    else:
        return None, f"off: no SDK tracer provider installed (set one, or {ENV_SWITCH}=1)"
    from .otel import OTelSink

    return OTelSink(**kwargs), reason
