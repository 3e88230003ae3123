"""Whether ``CallbackHandler()`` turns the Langfuse sink on, decided from the environment
alone: the sink is imported only when it is on."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..config import Settings

if TYPE_CHECKING:
    from .langfuse import LangfuseSink

__all__ = ["ENV_SWITCH", "autoconfigure"]

ENV_SWITCH = "LANGGRAPH_OBSERVE_LANGFUSE"


def autoconfigure(settings: Settings, **kwargs: Any) -> tuple[LangfuseSink | None, str]:
    """The sink when ``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY`` and
    ``LANGFUSE_BASE_URL`` (or ``LANGFUSE_HOST``) are set, else ``None``; with a reason.
    ``LANGGRAPH_OBSERVE_LANGFUSE=0`` turns it off."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "false", "no", "off"):
        return None, f"off: {ENV_SWITCH}=0"
    missing = [k for k in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY") if not os.environ.get(k)]
    if not (os.environ.get("LANGFUSE_BASE_URL") or os.environ.get("LANGFUSE_HOST")):
        missing.append("LANGFUSE_BASE_URL (or LANGFUSE_HOST)")
    if missing:
        return None, f"off: {', '.join(missing)} not set"
    from .langfuse import LangfuseSink

    return LangfuseSink(**kwargs), "on: LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY set"
