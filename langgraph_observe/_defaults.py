"""The hooks a handler gets when none are passed: :class:`~.features.FeatureHooks` built
from the settings and the config file (cost from the pricing catalog, a token estimate when
the provider reports no usage, and the file's personas, budgets and gates)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._tracer import Hooks
from .config import Settings

if TYPE_CHECKING:
    from .config_file import ObserveConfig

__all__ = ["default_hooks"]


def default_hooks(settings: Settings, config: ObserveConfig | None = None) -> Hooks:
    """Hooks for ``settings`` and the config file ``config``."""
    from .features import FeatureHooks

    return FeatureHooks(config, settings)
