"""How a :class:`~.langchain.CallbackHandler` is put together: its settings (arguments,
environment, config file), sinks and hooks, its dispatcher and tracer; and how a dropped
handler is shut down."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from .._hooks import Hooks
from .._tracer import Tracer
from ..config import Settings
from ..dispatch import Dispatcher, Health
from ..sinks.base import Sink

__all__ = ["build", "refuse_features_beside_hooks", "shut_down_in_background"]


def build(
    sinks: Sequence[Sink] | None,
    settings: Settings | None,
    hooks: Hooks | None,
    health: Health | None,
    config: Any,
    settings_kwargs: Mapping[str, Any],
) -> tuple[Settings, Dispatcher, Tracer]:
    """A handler's settings, dispatcher and tracer from its constructor's arguments."""
    from ..config_file import resolve_config

    observe_config = resolve_config(config)
    if config is not None and hooks is not None and observe_config is not None:
        refuse_features_beside_hooks(observe_config)
    if settings is None:
        file_values = dict(observe_config.settings) if observe_config is not None else None
        settings = Settings.resolve(file_values, **settings_kwargs)
    elif settings_kwargs:
        settings = Settings.resolve(**{**settings.__dict__, **settings_kwargs})
    if sinks is None:
        from ..sinks.auto import default_sinks

        sinks = default_sinks(settings)
    sinks = tuple(sinks)
    if hooks is None:
        from .._defaults import default_hooks

        hooks = default_hooks(settings, observe_config, sinks)
    else:  # day/month budgets must be read from the file the sinks write them to
        from .._defaults import check_hooks

        check_hooks(hooks, sinks)
    dispatcher = Dispatcher(
        sinks,
        max_queue=settings.queue_size,
        interval=settings.flush_interval,
        flush_timeout=settings.flush_timeout,
        health=health,
    )
    tracer = Tracer(
        dispatcher,
        hooks,
        capture_io=settings.capture_io,
        max_payload_chars=settings.max_payload_chars,
        keep_plumbing=settings.keep_plumbing,
        max_open_runs=settings.max_open_runs,
    )
    return settings, dispatcher, tracer


def refuse_features_beside_hooks(config: Any) -> None:
    """``config=`` and ``hooks=`` together: the hooks would silently replace the config's
    personas, budgets, gates, prices and node mapping (its core settings still apply)."""
    budgets = config.budgets
    from ..budgets import BudgetPolicy

    has = [
        name
        for name, value in (
            ("personas", config.personas),
            ("gates", config.gates),
            ("prices", config.prices),
            ("nodes", config.nodes),
            ("budgets", budgets != BudgetPolicy()),
        )
        if value
    ]
    if has:
        raise ValueError(
            f"CallbackHandler(config=..., hooks=...): {config.source} sets {', '.join(has)}, "
            "which the given hooks would replace; build the hooks from the config "
            "(FeatureHooks(config, ...)) or pass only one of the two"
        )


def shut_down_in_background(dispatcher: Dispatcher) -> None:
    """The dispatcher of a handler that was garbage-collected: flushed and stopped on a
    thread of its own."""
    threading.Thread(
        target=dispatcher.shutdown, name="langgraph-observe-close", daemon=True
    ).start()
