"""Cost of a model call in USD, from a catalog of list prices per 1M tokens.

The catalog ships as ``langgraph_observe/data/prices.json`` (its ``prices_as_of`` field
says when the prices were taken; they change, so override them for your contract)::

    from langgraph_observe import pricing
    catalog = pricing.default_catalog().with_overrides(
        {"gpt-4o": {"input": 2.0, "output": 8.0},
         "my-azure-deployment": {"alias": "gpt-4o"}})
    catalog.cost("openai/gpt-4o-2024-08-06", usage)      # -> float, or None if unknown

Billing rules of :meth:`ModelPrice.cost`:

* uncached input tokens at ``input``; cache reads at ``cached_input``; cache writes at
  ``cache_write`` (both fall back to ``input`` when the model lists no such price);
* output tokens at ``output``, except reasoning tokens (a part of the output) at
  ``reasoning`` when the model prices them apart;
* embedding models bill input tokens only;
* a LangChain cache hit (``cache_hit=True``) costs 0.0;
* an unknown model costs ``None`` (never a guess): it is logged once per name and counted
  in :func:`unknown_models`.

Model names are matched by :func:`normalize_model_name` and then the longest catalog name
or alias that equals it or is followed only by version-like parts (dates, ``latest``,
``preview``, ``exp``, ``v2``); see ``docs/cost.md``. Lookups are cached: the graph's path
pays a dict get.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ._forksafe import renew_after_fork
from ._unknown_models import MAX_UNKNOWN_MODELS, OTHER_UNKNOWN, UnknownModels
from .config import ConfigError
from .events import TokenUsage

__all__ = [
    "MAX_UNKNOWN_MODELS",
    "OTHER_UNKNOWN",
    "ModelPrice",
    "PriceCatalog",
    "UnknownModels",
    "cost",
    "default_catalog",
    "normalize_model_name",
    "unknown_models",
]

logger = logging.getLogger("langgraph_observe")

PRICE_FIELDS = ("input", "output", "cached_input", "cache_write", "reasoning")
"""Price keys of a catalog entry or an override, in USD per 1M tokens."""
_META_FIELDS = ("kind", "provider", "note")
_KINDS = ("chat", "embedding")
_PER_TOKEN = 1e-6
_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """List prices of one model, in USD per 1M tokens (``None``: not priced apart)."""

    input: float
    output: float = 0.0
    cached_input: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    kind: str = "chat"  #: ``chat`` or ``embedding`` (input tokens only)
    provider: str | None = None
    note: str | None = None

    def cost(self, usage: TokenUsage) -> float | None:
        """USD cost of ``usage`` at these prices; None when the usage holds no counts."""
        inp = usage.input_tokens
        out = usage.output_tokens
        if inp is None and out is None:
            return None
        inp = inp or 0
        if self.kind == "embedding":
            return inp * self.input * _PER_TOKEN
        cache_read = usage.cached_input_tokens or 0
        cache_write = usage.cache_creation_tokens or 0
        fresh = max(inp - cache_read - cache_write, 0)
        out = out or 0
        reasoning = min(usage.reasoning_tokens or 0, out)
        read_price = self.input if self.cached_input is None else self.cached_input
        write_price = self.input if self.cache_write is None else self.cache_write
        reasoning_price = self.output if self.reasoning is None else self.reasoning
        total = (
            fresh * self.input
            + cache_read * read_price
            + cache_write * write_price
            + (out - reasoning) * self.output
            + reasoning * reasoning_price
        )
        return total * _PER_TOKEN


# --- names ---------------------------------------------------------------------------------
_PROVIDER_COLON = re.compile(
    r"^(?:openai|azure_openai|azure|anthropic|google_genai|google_vertexai|google_anthropic_vertex"
    r"|vertex_ai|vertexai|google|gemini|mistralai|mistral|bedrock|bedrock_converse|groq"
    r"|together|fireworks|openrouter|ollama|deepseek|xai|cohere):"
)
_BEDROCK_VENDOR = re.compile(
    r"^(?:(?:us|eu|apac|jp|au|ca|us-gov|global)\.)?"
    r"(?:anthropic|mistral|meta|amazon|cohere|ai21|deepseek|openai)\."
)
_BEDROCK_VERSION = re.compile(r":\d+$")
_CLAUDE_DOTS = re.compile(r"^(claude-(?:[a-z]+-)?)(\d+)\.(\d+)")
_VERSION_TAIL = re.compile(r"(?:-(?:\d{2,}|latest|preview|exp|v\d+))+")


def normalize_model_name(name: str) -> str:
    """The comparable form of a model name: lower case, without provider prefixes
    (``openai/``, ``anthropic:``, ``models/``, Bedrock's ``us.anthropic.`` and ``:0``,
    Vertex's ``@``), with Claude versions spelled with dashes (``claude-3-5-sonnet``)."""
    s = name.strip().lower()
    if "/" in s:
        s = s.rsplit("/", 1)[1]
    s = _PROVIDER_COLON.sub("", s)
    s = _BEDROCK_VENDOR.sub("", s)
    s = _BEDROCK_VERSION.sub("", s).replace("@", "-")
    return _CLAUDE_DOTS.sub(r"\1\2-\3", s)


# --- the catalog ---------------------------------------------------------------------------
def _number(source: str, model: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            f"{source}: {model}: {key}: expected a number of USD per 1M tokens, got {value!r}"
        )
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ConfigError(
            f"{source}: {model}: {key}: must be a finite, non-negative number, got {value!r}"
        )
    return number


def _entry(source: str, model: str, raw: Any, base: ModelPrice | None) -> ModelPrice:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{source}: {model}: expected a mapping with keys "
            f"{', '.join(PRICE_FIELDS)} (or 'alias'), got {raw!r}"
        )
    unknown = sorted(set(raw) - set(PRICE_FIELDS) - set(_META_FIELDS))
    if unknown:
        raise ConfigError(
            f"{source}: {model}: unknown key(s) {unknown}; allowed: "
            f"{', '.join(PRICE_FIELDS + _META_FIELDS)} or 'alias'"
        )
    values: dict[str, Any] = {
        k: _number(source, model, k, raw[k]) for k in PRICE_FIELDS if raw.get(k) is not None
    }
    kind = raw.get("kind", base.kind if base else "chat")
    if kind not in _KINDS:
        raise ConfigError(f"{source}: {model}: kind: expected one of {list(_KINDS)}, got {kind!r}")
    for key in ("provider", "note"):
        if raw.get(key) is not None:
            values[key] = str(raw[key])
    if base is not None:
        return replace(base, kind=kind, **values)
    required = ("input",) if kind == "embedding" else ("input", "output")
    missing = [k for k in required if k not in values]
    if missing:
        raise ConfigError(
            f"{source}: {model}: a model not in the catalog needs {' and '.join(missing)}"
        )
    return ModelPrice(kind=kind, **values)


class PriceCatalog:
    """Model prices and aliases, with cached name matching and unknown-model counting."""

    def __init__(
        self,
        models: Mapping[str, ModelPrice],
        aliases: Mapping[str, str] | None = None,
        *,
        as_of: str | None = None,
        unknown: UnknownModels | None = None,
    ) -> None:
        self.models: dict[str, ModelPrice] = {normalize_model_name(k): v for k, v in models.items()}
        self.aliases: dict[str, str] = {
            normalize_model_name(k): normalize_model_name(v) for k, v in (aliases or {}).items()
        }
        for alias, target in self.aliases.items():
            if target not in self.models:
                raise ConfigError(f"aliases: {alias}: target {target!r} is not in the catalog")
        self.as_of = as_of  #: date the shipped prices were taken (``YYYY-MM-DD``)
        self.unknown = unknown if unknown is not None else UnknownModels()
        names = list(self.models) + list(self.aliases)
        self._names = sorted(names, key=len, reverse=True)
        self._cache: dict[str, ModelPrice | None] = {}

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "prices.json") -> PriceCatalog:
        """A catalog from the data file's structure (``models``, ``aliases``,
        ``prices_as_of``)."""
        models = {
            name: _entry(source, name, raw, None)
            for name, raw in (data.get("models") or {}).items()
        }
        return cls(models, data.get("aliases") or {}, as_of=data.get("prices_as_of"))

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceCatalog:
        """The catalog in ``path``, or the one shipped with the package."""
        if path is None:
            text = (
                resources.files("langgraph_observe")
                .joinpath("data/prices.json")
                .read_text(encoding="utf-8")
            )
        else:
            text = Path(path).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text), source=str(path or "prices.json"))

    def with_overrides(
        self, prices: Mapping[str, Any] | None, *, source: str = "prices"
    ) -> PriceCatalog:
        """A new catalog with ``prices`` (``{model: {input, output, cached_input,
        cache_write, reasoning, kind}}`` or ``{model: {alias: other_model}}``) applied.

        A model already matched by the catalog keeps the prices not given; a new one needs
        ``input`` and ``output`` (embeddings: ``input``). Invalid entries raise
        :class:`~langgraph_observe.config.ConfigError` naming ``source``, model and key.
        The new catalog shares this one's unknown-model counter.
        """
        if prices is None:
            return self
        if not isinstance(prices, Mapping):
            raise ConfigError(
                f"{source}: expected a mapping of model name to prices, got {prices!r}"
            )
        models = dict(self.models)
        aliases = dict(self.aliases)
        pending_aliases: dict[str, str] = {}
        for model, raw in prices.items():
            if not isinstance(model, str) or not model.strip():
                raise ConfigError(f"{source}: model names must be non-empty strings, got {model!r}")
            key = normalize_model_name(model)
            if isinstance(raw, Mapping) and "alias" in raw:
                target = raw["alias"]
                if len(raw) != 1 or not isinstance(target, str) or not target.strip():
                    raise ConfigError(
                        f"{source}: {model}: an alias entry is "
                        f"{{alias: <model name>}} and nothing else, got {raw!r}"
                    )
                pending_aliases[key] = target
                continue
            base = models.get(key) or self.lookup(model)
            models[key] = _entry(source, model, raw, base)
            aliases.pop(key, None)
        draft = PriceCatalog(models, aliases, as_of=self.as_of, unknown=self.unknown)
        for key, target in pending_aliases.items():
            # an alias may name another alias of the same override: follow the chain
            seen = [key]
            while normalize_model_name(target) in pending_aliases:
                step = normalize_model_name(target)
                if step in seen:
                    chain = " -> ".join([*seen, step])
                    raise ConfigError(f"{source}: {key}: aliases form a cycle: {chain}")
                seen.append(step)
                target = pending_aliases[step]
            resolved = draft.resolve(target)
            if resolved is None:
                via = f" (via {' -> '.join(seen[1:])})" if len(seen) > 1 else ""
                raise ConfigError(f"{source}: {key}: alias target {target!r}{via} has no price")
            aliases[key] = resolved
            models.pop(key, None)
        return PriceCatalog(models, aliases, as_of=self.as_of, unknown=self.unknown)

    # -- lookups ----------------------------------------------------------------------------
    def resolve(self, model: str) -> str | None:
        """The catalog entry name ``model`` matches, or None (not cached, not counted)."""
        s = normalize_model_name(model)
        for name in self._names:
            if s == name or (
                s.startswith(name) and s[len(name)] == "-" and _VERSION_TAIL.fullmatch(s, len(name))
            ):
                return self.aliases.get(name, name)
        return None

    def lookup(self, model: str | None) -> ModelPrice | None:
        """The prices of ``model`` (any spelling :func:`normalize_model_name` accepts)."""
        if not model:
            return None
        try:
            return self._cache[model]
        except KeyError:
            pass
        name = self.resolve(model)
        price = self.models[name] if name is not None else None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[model] = price
        return price

    def cost(
        self,
        model: str | None,
        usage: TokenUsage | None,
        *,
        cache_hit: bool = False,
        response_model: str | None = None,
    ) -> float | None:
        """USD cost of one call; 0.0 for a LangChain cache hit; None for an unknown model
        (logged once per name and counted) or when no usage is known.

        ``response_model`` (the name the provider answered with) is priced first when the
        catalog knows it: it is the exact snapshot, and it names the model behind an Azure
        deployment.
        """
        if cache_hit:
            return 0.0
        price = self.lookup(response_model) if response_model else None
        if price is None:
            price = self.lookup(model)
        if price is None:
            unknown = model or response_model
            if unknown:
                self.unknown.record(unknown)
            return None
        if usage is None:
            return None
        return price.cost(usage)

    def unknown_models(self) -> dict[str, int]:
        """``{model: look-ups}`` of models without a price."""
        return self.unknown.snapshot()


# --- the shared default --------------------------------------------------------------------
_default: PriceCatalog | None = None
_default_lock = threading.Lock()
renew_after_fork(sys.modules[__name__], "_default_lock")


def default_catalog() -> PriceCatalog:
    """The shipped catalog, loaded once (load it before the first model call: it reads a
    file)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = PriceCatalog.load()
    return _default


def cost(
    model: str | None,
    usage: TokenUsage | None,
    *,
    cache_hit: bool = False,
    response_model: str | None = None,
) -> float | None:
    """:meth:`PriceCatalog.cost` on the :func:`default_catalog`."""
    return default_catalog().cost(model, usage, cache_hit=cache_hit, response_model=response_model)


def unknown_models() -> dict[str, int]:
    """``{model: look-ups}`` of unpriced models, counted by the default catalog and every
    catalog derived from it with :meth:`PriceCatalog.with_overrides`."""
    return default_catalog().unknown_models()
