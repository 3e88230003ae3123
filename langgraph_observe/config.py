"""Core settings of the callback adapter and the default sinks.

One precedence rule everywhere: **argument > environment variable > config file > default**.

| setting | env var | default | meaning |
| --- | --- | --- | --- |
| ``store_path`` | ``LANGGRAPH_OBSERVE_STORE`` | ``./.langgraph_observe/traces.db`` | SQLite file of the local store |
| ``capture_io`` | ``LANGGRAPH_OBSERVE_CAPTURE_IO`` | ``true`` | record inputs and outputs |
| ``max_payload_chars`` | ``LANGGRAPH_OBSERVE_MAX_PAYLOAD_CHARS`` | ``4000`` | cut captured inputs/outputs to this many characters |
| ``keep_plumbing`` | ``LANGGRAPH_OBSERVE_KEEP_PLUMBING`` | ``false`` | keep LangGraph's internal runs (``__start__``, routers, channel writes) as spans |
| ``max_open_runs`` | ``LANGGRAPH_OBSERVE_MAX_OPEN_RUNS`` | ``10000`` | bound of the per-run state kept for unfinished runs |
| ``queue_size`` | ``LANGGRAPH_OBSERVE_QUEUE_SIZE`` | ``20000`` | records the dispatcher's intake, and each sink's queue, hold before dropping |
| ``flush_interval`` | ``LANGGRAPH_OBSERVE_FLUSH_INTERVAL`` | ``0.2`` | seconds between background exports |
| ``flush_timeout`` | ``LANGGRAPH_OBSERVE_FLUSH_TIMEOUT`` | ``5.0`` | time limit of ``flush()``/``shutdown()`` |

Environment variables are read strictly (:func:`env_flag`, :func:`env_int`): a value that
is not one of the accepted spellings raises :class:`ConfigError` naming the variable; an
unset or empty variable means the default.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_STORE_PATH",
    "FALSE_WORDS",
    "TRUE_WORDS",
    "ConfigError",
    "Settings",
    "env_flag",
    "env_int",
]

DEFAULT_STORE_PATH = Path(".langgraph_observe") / "traces.db"


class ConfigError(ValueError):
    """A configuration value is invalid. The message names the source, key and reason."""


_ENV = {
    "store_path": "LANGGRAPH_OBSERVE_STORE",
    "capture_io": "LANGGRAPH_OBSERVE_CAPTURE_IO",
    "max_payload_chars": "LANGGRAPH_OBSERVE_MAX_PAYLOAD_CHARS",
    "keep_plumbing": "LANGGRAPH_OBSERVE_KEEP_PLUMBING",
    "max_open_runs": "LANGGRAPH_OBSERVE_MAX_OPEN_RUNS",
    "queue_size": "LANGGRAPH_OBSERVE_QUEUE_SIZE",
    "flush_interval": "LANGGRAPH_OBSERVE_FLUSH_INTERVAL",
    "flush_timeout": "LANGGRAPH_OBSERVE_FLUSH_TIMEOUT",
}


#: settings below which the handler would drop or lose everything
_AT_LEAST_ONE = ("queue_size", "max_open_runs")


#: the names a file may use for a setting (``store`` for ``store_path``)
_SETTING_OF = {"store": "store_path"}


TRUE_WORDS: tuple[str, ...] = ("1", "true", "yes", "on")
"""What a boolean environment variable may say for true (any case, spaces around ignored)."""
FALSE_WORDS: tuple[str, ...] = ("0", "false", "no", "off")
"""What a boolean environment variable may say for false (any case, spaces around ignored)."""


def _flag(where: str, value: Any) -> bool:
    """A boolean, or the text of one (:data:`TRUE_WORDS`, :data:`FALSE_WORDS`); anything
    else, blank text included, is a :class:`ConfigError` naming ``where``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    words = ", ".join((*TRUE_WORDS, *FALSE_WORDS))
    raise ConfigError(f"{where}: expected true or false ({words}), got {value!r}")


def _whole(where: str, value: Any) -> int:
    """The text of a whole number (``4000``, ``+7``, ``1_000``; spaces around ignored)."""
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None


def _env_text(name: str) -> str | None:
    """The environment variable ``name``; None when unset or empty (blank is not empty)."""
    raw = os.environ.get(name)
    return None if raw is None or raw == "" else raw


def env_flag(name: str) -> bool | None:
    """The boolean environment variable ``name`` (:data:`TRUE_WORDS` or :data:`FALSE_WORDS`,
    any case); None when it is unset or empty. Any other value, blank included, raises a
    :class:`ConfigError` naming the variable: every boolean variable is read this way."""
    raw = _env_text(name)
    return None if raw is None else _flag(f"env {name}", raw)


def env_int(name: str, *, minimum: int = 0) -> int | None:
    """The whole-number environment variable ``name``; None when it is unset or empty. Text
    that is not a whole number, or one below ``minimum``, raises a :class:`ConfigError`
    naming the variable: every integer variable is read this way."""
    raw = _env_text(name)
    if raw is None:
        return None
    number = _whole(f"env {name}", raw)
    if number < minimum:
        least = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
        raise ConfigError(f"env {name}: {least}, got {raw!r}")
    return number


def _coerce(source: str, key: str, value: Any, to: type) -> Any:
    if to is bool:
        return _flag(f"{source}: {key}", value)
    if to in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{source}: {key}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {key}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{source}: {key}: expected a finite number, got {value!r}")
        if to is int and not number.is_integer():
            raise ConfigError(f"{source}: {key}: expected a whole number, got {value!r}")
        if number < 0:
            raise ConfigError(f"{source}: {key}: must not be negative, got {value!r}")
        name = _SETTING_OF.get(key, key)
        if (name in _AT_LEAST_ONE and number < 1) or (name == "flush_interval" and number == 0):
            least = "at least 1" if name in _AT_LEAST_ONE else "more than 0"
            raise ConfigError(f"{source}: {key}: must be {least}, got {value!r}")
        return int(number) if to is int else number
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise ConfigError(f"{source}: {key}: expected a file path, got {value!r}")
    return to(value)


def _from_env(name: str, raw: str, to: type) -> Any:
    """The setting ``name`` from the text of its environment variable: a boolean as
    :func:`env_flag` reads it, an integer as :func:`env_int` does (digits: not ``4e3`` nor
    ``4000.0``), then the setting's own bounds."""
    source = f"env {_ENV[name]}"
    value: Any = _whole(f"{source}: {name}", raw) if to is int else raw
    return _coerce(source, name, value, to)


@dataclass(frozen=True)
class Settings:
    """Core settings (see the module docstring for env vars and defaults)."""

    store_path: Path = DEFAULT_STORE_PATH
    capture_io: bool = True
    max_payload_chars: int = 4000
    keep_plumbing: bool = False
    max_open_runs: int = 10_000
    queue_size: int = 20_000
    flush_interval: float = 0.2
    flush_timeout: float = 5.0

    @classmethod
    def resolve(cls, file_values: dict[str, Any] | None = None, /, **arguments: Any) -> Settings:
        """Settings from arguments, then the environment, then ``file_values``, then defaults.
        Arguments that are ``None`` count as not given."""
        types = {f.name: (Path if f.name == "store_path" else type(f.default)) for f in fields(cls)}
        chosen: dict[str, Any] = {}
        for name, to in types.items():
            if arguments.get(name) is not None:
                chosen[name] = _coerce("argument", name, arguments[name], to)
            elif (raw := _env_text(_ENV[name])) is not None:
                chosen[name] = _from_env(name, raw, to)
            elif file_values and name in file_values:
                chosen[name] = _coerce("config file", name, file_values[name], to)
        unknown = set(arguments) - set(types)
        if unknown:
            raise ConfigError(f"argument: unknown setting(s) {sorted(unknown)}")
        return replace(cls(), **chosen)
