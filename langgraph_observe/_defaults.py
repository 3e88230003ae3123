"""The hooks a handler gets when none are passed: :class:`~.features.FeatureHooks` built
from the settings and the config file (cost from the pricing catalog, a token estimate when
the provider reports no usage, and the file's personas, budgets and gates)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._tracer import Hooks
from .config import Settings

if TYPE_CHECKING:
    from .config_file import ObserveConfig
    from .sinks.base import Sink

__all__ = ["check_hooks", "default_hooks"]


def default_hooks(
    settings: Settings, config: ObserveConfig | None = None, sinks: Sequence[Sink] | None = None
) -> Hooks:
    """Hooks for ``settings`` and the config file ``config``; day and month budget windows
    are read from the file the first local store sink among ``sinks`` writes to."""
    from .features import FeatureHooks

    return FeatureHooks(config, settings, sinks=sinks)


def check_hooks(hooks: Hooks, sinks: Sequence[Sink]) -> None:
    """Warn when ``hooks`` given to a handler read day or month budgets from a file none of
    its ``sinks`` writes the budget counters to."""
    from .features import FeatureHooks

    if isinstance(hooks, FeatureHooks):
        hooks.check_budget_store(sinks)
