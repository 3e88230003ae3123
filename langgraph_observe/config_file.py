"""The config file: personas, budgets, gates, prices, node mapping and core settings.

YAML (``.yaml``/``.yml``) or TOML (``.toml``), loaded and validated into a frozen
:class:`ObserveConfig`. Every error is a :class:`~langgraph_observe.config.ConfigError`
whose message names the file, the key and the reason::

    observe.yaml: personas.backend-engineer.budget_tokens: must not be negative, got -5

Use it with ``CallbackHandler(config="observe.yaml")``, ``ObservedWorkflow(config=...)``
or the environment variable ``LANGGRAPH_OBSERVE_CONFIG``. Every key is listed in
``docs/configuration.md``.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ._config_text import parse_toml, parse_yaml
from .budgets import ON_EXCEEDED, WINDOWS, BudgetPolicy, PersonaBudget
from .config import _ENV, DEFAULT_STORE_PATH, ConfigError, Settings, _coerce, _env_text
from .gates import ON_FAIL, Gate

logger = logging.getLogger("langgraph_observe")

__all__ = [
    "CONFIG_ENV",
    "ObserveConfig",
    "configured_settings",
    "configured_store_path",
    "load_config",
    "parse_config",
    "resolve_config",
]

CONFIG_ENV = "LANGGRAPH_OBSERVE_CONFIG"
"""Environment variable naming the config file a handler reads when given none."""

_TOP_KEYS = ("personas", "budgets", "prices", "gates", "nodes")
_SETTING_ALIASES = {"store": "store_path"}
_PERSONA_KEYS = ("budget_tokens", "budget_usd", "window", "warn_at", "on_exceeded", "description")
_BUDGET_KEYS = ("window", "warn_at", "on_exceeded", "per_tenant", "per_workflow")
_GATE_KEYS = ("name", "node", "key", "check", "min", "max", "equals", "on_fail")


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ObserveConfig:
    """A validated config file."""

    source: str = "<config>"
    personas: Mapping[str, PersonaBudget] = field(default_factory=_empty)
    descriptions: Mapping[str, str] = field(default_factory=_empty)
    budgets: BudgetPolicy = field(default_factory=BudgetPolicy)
    prices: Mapping[str, Any] = field(default_factory=_empty)
    gates: tuple[Gate, ...] = ()
    nodes: Mapping[str, str] = field(default_factory=_empty)
    settings: Mapping[str, Any] = field(default_factory=_empty)  #: core settings found

    @property
    def budgeted(self) -> bool:
        """True when some persona has a token or USD budget."""
        return any(
            b.budget_tokens is not None or b.budget_usd is not None for b in self.personas.values()
        )


# --- reading -------------------------------------------------------------------------------
def load_config(path: str | os.PathLike[str]) -> ObserveConfig:
    """Read and validate a YAML or TOML config file."""
    p = Path(path)
    source = str(path)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ConfigError(
            f"{source}: unsupported config file type {suffix!r} (use .yaml, .yml or .toml)"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config file: {exc.strerror or exc}") from None
    data = parse_toml(source, text) if suffix == ".toml" else parse_yaml(source, text)
    return parse_config(data if data is not None else {}, source=source)


def resolve_config(config: Any = None) -> ObserveConfig | None:
    """``config`` as an :class:`ObserveConfig`: a path is loaded, a mapping parsed, a loaded
    config returned as is; None reads ``LANGGRAPH_OBSERVE_CONFIG`` (None when unset)."""
    if config is None:
        env = os.environ.get(CONFIG_ENV)
        if not env:
            return None
        try:
            return load_config(env)
        except ConfigError as exc:  # say where the path came from
            raise ConfigError(f"{exc} (named by env {CONFIG_ENV})") from None
    if isinstance(config, ObserveConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_config(config)
    if isinstance(config, Mapping):
        return parse_config(config)
    raise ConfigError(
        f"config: expected a file path, a mapping or an ObserveConfig, got {type(config).__name__}"
    )


def configured_settings(**arguments: Any) -> Settings:
    """The core settings as a handler given no config resolves them: ``arguments``, then
    the environment, then the config file ``LANGGRAPH_OBSERVE_CONFIG`` names, then the
    defaults. What the store's readers (``LocalStore()``, ``explore``, the CLI, ``serve``,
    ``score()``) use, so they read the store the handlers write."""
    observe_config = resolve_config(None)
    file_values = dict(observe_config.settings) if observe_config is not None else None
    return Settings.resolve(file_values, **arguments)


def configured_store_path(store_path: str | os.PathLike[str] | None = None) -> Path:
    """The ``store_path`` setting alone, as :func:`configured_settings` resolves it:
    ``store_path``, then env ``LANGGRAPH_OBSERVE_STORE``, then the ``store`` of the config
    file ``LANGGRAPH_OBSERVE_CONFIG`` names, then the default. The file is read only when
    neither of the first two names the store (what the CLI uses: ``--store`` works
    whatever that file holds)."""
    if store_path is not None:
        return Path(_coerce("argument", "store_path", store_path, Path))
    env = _ENV["store_path"]
    raw = _env_text(env)
    if raw is not None:
        return Path(_coerce(f"env {env}", "store_path", raw, Path))
    observe_config = resolve_config(None)
    if observe_config is not None and "store_path" in observe_config.settings:
        return Path(observe_config.settings["store_path"])
    return DEFAULT_STORE_PATH


# --- validating ----------------------------------------------------------------------------
def parse_config(data: Mapping[str, Any], *, source: str = "<config>") -> ObserveConfig:
    """Validate the file's structure (a parsed mapping)."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    setting_names = [f.name for f in fields(Settings)]
    allowed = (*_TOP_KEYS, *setting_names, *_SETTING_ALIASES)
    _no_unknown(source, "", data, allowed)
    settings = _settings(source, data, setting_names)
    personas, descriptions = _personas(source, data.get("personas"))
    budgets = _budgets(source, data.get("budgets"))
    prices = _mapping(source, "prices", data.get("prices"))
    if prices:
        from .pricing import default_catalog

        default_catalog().with_overrides(prices, source=f"{source}: prices")  # validates
    nodes = _mapping(source, "nodes", data.get("nodes"))
    for node, persona in nodes.items():
        _string(source, f"nodes.{node}", persona)
        if personas and persona not in personas:  # most likely a typo: it would get no budget
            logger.warning(
                "langgraph-observe: %s: nodes.%s: persona %r is not under personas: "
                "(known: %s); it has no budget",
                source,
                node,
                persona,
                ", ".join(sorted(personas)),
            )
    return ObserveConfig(
        source=source,
        personas=MappingProxyType(personas),
        descriptions=MappingProxyType(descriptions),
        budgets=budgets,
        prices=MappingProxyType(dict(prices)),
        gates=_gates(source, data.get("gates")),
        nodes=MappingProxyType({str(k): str(v) for k, v in nodes.items()}),
        settings=MappingProxyType(settings),
    )


def _err(source: str, key: str, reason: str) -> ConfigError:
    return ConfigError(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")


def _no_unknown(source: str, where: str, data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise _err(source, key, f"unknown key; allowed keys: {', '.join(allowed)}")


def _mapping(source: str, key: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _err(source, key, f"expected a mapping, got {type(value).__name__}")
    return value


def _string(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(source, key, f"expected a non-empty string, got {value!r}")
    return value


def _bool(source: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _err(source, key, f"expected true or false, got {value!r}")
    return value


def _as_text_hint(value: Any) -> str:
    """For a number written as text (``'0.05'``, quoted), a hint to write it without quotes."""
    try:
        number = float(value) if isinstance(value, str) else math.nan
    except ValueError:
        return ""
    return " (text, not a number: write it without quotes)" if math.isfinite(number) else ""


def _not_a_number(source: str, key: str, value: Any, kind: str = "a number") -> ConfigError:
    return _err(source, key, f"expected {kind}, got {value!r}{_as_text_hint(value)}")


def _number(source: str, key: str, value: Any, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _not_a_number(source, key, value, "an integer" if integer else "a number")
    if integer and not float(value).is_integer():
        raise _err(source, key, f"expected an integer, got {value!r}")
    if not math.isfinite(value):
        raise _err(source, key, f"expected a finite number, got {value!r}")
    if value < 0:
        raise _err(source, key, f"must not be negative, got {value!r}")
    return float(value)


def _choice(source: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _err(source, key, f"expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _fraction(source: str, key: str, value: Any) -> float:
    number = _number(source, key, value)
    if not 0 < number <= 1:
        raise _err(source, key, f"expected a fraction in (0, 1], got {value!r}")
    return number


def _settings(source: str, data: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    types = {
        f.name: (Path if f.name == "store_path" else type(f.default)) for f in fields(Settings)
    }
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = _SETTING_ALIASES.get(key, key)
        if name not in names:
            continue
        if name in out:
            raise _err(source, key, f"given twice (as {name} and an alias)")
        to = types[name]
        if to is bool:  # a file says true or false, not "no"
            value = _bool(source, key, value)
        elif name != "store_path" and isinstance(value, (bool, str)):
            raise _not_a_number(source, key, value)
        out[name] = _coerce(source, key, value, to)
    return out


def _personas(source: str, value: Any) -> tuple[dict[str, PersonaBudget], dict[str, str]]:
    personas: dict[str, PersonaBudget] = {}
    descriptions: dict[str, str] = {}
    for name, raw in _mapping(source, "personas", value).items():
        where = f"personas.{name}"
        _string(source, "personas", name)
        raw = _mapping(source, where, raw if raw is not None else {})
        _no_unknown(source, where, raw, _PERSONA_KEYS)
        tokens = raw.get("budget_tokens")
        usd = raw.get("budget_usd")
        personas[name] = PersonaBudget(
            persona=name,
            budget_tokens=None
            if tokens is None
            else int(_number(source, f"{where}.budget_tokens", tokens, integer=True)),
            budget_usd=None if usd is None else _number(source, f"{where}.budget_usd", usd),
            window=None
            if raw.get("window") is None
            else _choice(source, f"{where}.window", raw["window"], WINDOWS),
            warn_at=_persona_warn_at(source, f"{where}.warn_at", raw),
            on_exceeded=None
            if raw.get("on_exceeded") is None
            else _choice(source, f"{where}.on_exceeded", raw["on_exceeded"], ON_EXCEEDED),
        )
        if raw.get("description") is not None:
            descriptions[name] = _string(source, f"{where}.description", raw["description"])
    return personas, descriptions


def _never_warn(value: Any) -> bool:
    """``warn_at: null`` (YAML) or ``false`` (TOML has no null): never warn."""
    return value is None or value is False


def _persona_warn_at(source: str, key: str, raw: Mapping[str, Any]) -> float | None:
    """A persona's ``warn_at``: None (the key left out) inherits ``budgets.warn_at``; null or
    false never warns, as under ``budgets:`` (``math.inf``: no share of a budget reaches it)."""
    if "warn_at" not in raw:
        return None
    if _never_warn(raw["warn_at"]):
        return math.inf
    return _fraction(source, key, raw["warn_at"])


def _budgets(source: str, value: Any) -> BudgetPolicy:
    raw = _mapping(source, "budgets", value)
    _no_unknown(source, "budgets", raw, _BUDGET_KEYS)
    policy = BudgetPolicy()
    warn_at: float | None = policy.warn_at
    if "warn_at" in raw:
        warn_at = (
            None  # null (YAML) or false (TOML has no null): never warn
            if _never_warn(raw["warn_at"])
            else _fraction(source, "budgets.warn_at", raw["warn_at"])
        )
    return BudgetPolicy(
        window=_choice(source, "budgets.window", raw.get("window", policy.window), WINDOWS),
        warn_at=warn_at,
        on_exceeded=_choice(
            source, "budgets.on_exceeded", raw.get("on_exceeded", policy.on_exceeded), ON_EXCEEDED
        ),
        per_tenant=_bool(source, "budgets.per_tenant", raw.get("per_tenant", False)),
        per_workflow=_bool(source, "budgets.per_workflow", raw.get("per_workflow", False)),
    )


def _gates(source: str, value: Any) -> tuple[Gate, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _err(source, "gates", f"expected a list of gates, got {type(value).__name__}")
    gates: list[Gate] = []
    names: set[str] = set()
    for i, raw in enumerate(value):
        where = f"gates[{i}]"
        raw = _mapping(source, where, raw)
        _no_unknown(source, where, raw, _GATE_KEYS)
        for required in ("name", "node"):
            if required not in raw:
                raise _err(source, f"{where}.{required}", "required")
        name = _string(source, f"{where}.name", raw["name"])
        if name in names:
            raise _err(source, f"{where}.name", f"duplicate gate name {name!r}")
        names.add(name)
        node = _string(source, f"{where}.node", raw["node"])
        if ("key" in raw) == ("check" in raw):
            raise _err(source, where, "give exactly one of key or check")
        check = None
        if "check" in raw:
            check = _import_check(
                source, f"{where}.check", _string(source, f"{where}.check", raw["check"])
            )
        bounds: dict[str, Any] = {}
        for bound in ("min", "max"):
            if raw.get(bound) is not None:
                number = raw[bound]
                if (
                    isinstance(number, bool)
                    or not isinstance(number, (int, float))
                    or not math.isfinite(number)
                ):
                    raise _not_a_number(source, f"{where}.{bound}", number)
                bounds[bound] = float(number)
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise _err(source, where, f"min {bounds['min']:g} is above max {bounds['max']:g}")
        if "equals" in raw:
            bounds["equals"] = raw["equals"]
        if "key" in raw and not bounds:
            raise _err(source, where, "a key gate needs min, max or equals")
        gates.append(
            Gate(
                name,
                node,
                check=check,
                key=_string(source, f"{where}.key", raw["key"]) if "key" in raw else None,
                on_fail=_choice(source, f"{where}.on_fail", raw.get("on_fail", "record"), ON_FAIL),
                **bounds,
            )
        )
    return tuple(gates)


def _import_check(source: str, key: str, target: str) -> Any:
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise _err(source, key, f"expected 'package.module:function', got {target!r}")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise _err(source, key, f"cannot import {target!r}: {exc}") from None
    if not callable(fn):
        raise _err(source, key, f"{target!r} is not callable")
    return fn
