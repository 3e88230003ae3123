"""The text of a config file, parsed: YAML (a key given twice is an error) or TOML."""

from __future__ import annotations

from typing import Any

from .config import ConfigError

__all__ = ["parse_toml", "parse_yaml"]


#: Floats in exponent notation that YAML 1.1 (PyYAML) reads as text but YAML 1.2, TOML
#: and JSON read as numbers: ``5e-2``, ``1e3``, ``1.5E6`` (1.1 wants a dot and a signed
#: exponent, ``5.0e-2``).
_EXPONENT_FLOAT = r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"


def parse_yaml(source: str, text: str) -> Any:
    """YAML as ``yaml.safe_load`` reads it, except that a key given twice in one mapping is
    an error (as in TOML) instead of the last one silently winning, and that unquoted
    numbers in exponent notation (``5e-2``, ``1e3``) are numbers, as in YAML 1.2 and TOML,
    not text."""
    import re

    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    StrictLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float", re.compile(_EXPONENT_FLOAT), list("-+.0123456789")
    )

    def mapping(loader: StrictLoader, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: left to the constructor's own error
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"key {key!r} given twice", key_node.start_mark,
                )  # fmt: skip
        return loader.construct_mapping(node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None


def parse_toml(source: str, text: str) -> Any:
    """TOML as ``tomllib`` reads it (Python 3.11 and later)."""
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError:  # Python 3.10
        raise ConfigError(
            f"{source}: TOML config files need Python 3.11 or later; use YAML instead"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
