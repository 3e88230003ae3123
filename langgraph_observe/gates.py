"""Quality gates: declarative checks on what a node returned.

A gate is evaluated each time its node finishes without error. Its verdict becomes a
:class:`~langgraph_observe.events.ScoreRecord` (``source="gate"``, ``passed=True|False``) and
the attribute ``langgraph.gate.<name>`` (``pass``/``fail``) on the node's span. With
``on_fail="raise"`` a failed gate raises :class:`~langgraph_observe.errors.QualityGateFailed`
into the run, after the node's span is recorded.

Two forms::

    Gate("coverage_ok", node="run_tests", key="coverage", min=0.8)       # a state key
    Gate("has_tests", node="write_code", check=lambda out: bool(out.get("tests")))

    @gate("changelog", node="release", on_fail="raise")                  # a decorator
    def changelog_mentions_version(output) -> bool: ...

``check`` receives the node's output (the state update it returned; for a LangGraph
``Command``, or a list of them, its ``update``) and returns a bool, or a number compared with
``min``/``max``/``equals``. ``key`` reads the output by a dotted path
(mapping keys or attributes); a missing key fails the gate. A ``check``, a key look-up or a
comparison that raises fails the gate too (the error goes into the score's comment) — it
never breaks the run, nor loses the node's span.

A gate's arguments are checked when it is built, by the rules of the config file's
``gates:`` (``TypeError`` for a wrong type, ``ValueError`` for a wrong value): ``min`` and
``max`` are finite numbers, not above one another.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._render import safe_str

__all__ = ["ON_FAIL", "Gate", "GateResult", "GateSet", "gate", "state_update"]

ON_FAIL = ("record", "raise")
"""What a failed gate does: only record the verdict, or also raise into the run."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Any = _Unset()


@dataclass(frozen=True)
class GateResult:
    """One evaluation of one gate."""

    gate: Gate
    passed: bool
    value: float | str | bool  #: the checked value (a bool when the check gave no number)
    comment: str | None = None


@dataclass(frozen=True)
class Gate:
    """A check on a node's output (see the module docstring)."""

    name: str
    node: str
    check: Callable[[Any], Any] | None = None
    key: str | None = None
    min: float | None = None
    max: float | None = None
    equals: Any = field(default=_UNSET)
    on_fail: str = "record"

    def __post_init__(self) -> None:
        """The rules the config file's ``gates:`` apply, for a gate built in Python: a
        ``TypeError`` for a value of the wrong type, a ``ValueError`` for a wrong value."""
        _text("a gate's name", self.name)
        where = f"gate {self.name!r}"
        _text(f"{where}: node", self.node)
        if (self.check is None) == (self.key is None):
            raise ValueError(f"{where}: give exactly one of check or key")
        if self.check is not None and not callable(self.check):
            raise TypeError(f"{where}: check must be callable, got {type(self.check).__name__}")
        if self.key is not None:
            _text(f"{where}: key", self.key)
        for bound in ("min", "max"):
            value = getattr(self, bound)
            if value is not None:  # stored as a float, as the config file's
                object.__setattr__(self, bound, _bound(f"{where}: {bound}", value))
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{where}: min {self.min:g} is above max {self.max:g}")
        if not isinstance(self.on_fail, str) or self.on_fail not in ON_FAIL:
            raise ValueError(f"{where}: on_fail must be one of {ON_FAIL}, got {self.on_fail!r}")
        if self.key is not None and not self.has_condition:
            raise ValueError(f"{where}: a key gate needs min, max or equals")

    @property
    def has_condition(self) -> bool:
        return self.min is not None or self.max is not None or self.equals is not _UNSET

    def evaluate(self, output: Any) -> GateResult:
        """The verdict on ``output`` (a ``Command``'s, or a list of them, on its update).
        Never raises: a check, a key look-up or a comparison that raises fails the gate."""
        try:
            output = state_update(output)
            if self.check is not None:
                try:
                    value = self.check(output)
                except Exception as exc:
                    comment = f"check raised {type(exc).__name__}: {safe_str(exc)}"
                    return GateResult(self, False, False, comment)
            else:
                assert self.key is not None
                value = _lookup(output, self.key)
                if value is _UNSET:
                    return GateResult(self, False, False, f"key {self.key!r} missing from output")
            return self._judge(value)
        except Exception as exc:  # e.g. a value whose == or float() raises
            comment = f"evaluating the gate raised {type(exc).__name__}: {safe_str(exc)}"
            return GateResult(self, False, False, comment)

    def _judge(self, value: Any) -> GateResult:
        value = _native(value)
        if isinstance(value, bool) and not self.has_condition:
            return GateResult(self, value, value)
        if self.equals is not _UNSET:
            passed = bool(value == self.equals)  # an array's == is not a bool: raises here
            shown = value if isinstance(value, (bool, int, float, str)) else safe_str(value)
            return GateResult(self, passed, shown, None if passed else f"expected {self.equals!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return GateResult(
                self, False, safe_str(value), f"expected a number, got {type(value).__name__}"
            )
        number = float(value)
        if math.isnan(number):
            return GateResult(self, False, number, "value is NaN")
        if self.min is not None and number < self.min:
            return GateResult(self, False, number, f"below min {self.min:g}")
        if self.max is not None and number > self.max:
            return GateResult(self, False, number, f"above max {self.max:g}")
        if not self.has_condition:
            return GateResult(self, bool(number), number)
        return GateResult(self, True, number)


def _text(what: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _bound(what: str, value: Any) -> float:
    """A gate's ``min`` or ``max``: a finite real number (not a bool), as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


def _native(value: Any) -> Any:
    """A zero-dimensional numpy (or similar array library's) value — ``numpy.bool_``,
    ``numpy.float32``, a 0-d tensor — as the Python bool or number it holds."""
    if type(value) in (bool, int, float, str) or getattr(value, "ndim", None) != 0:
        return value
    item = getattr(value, "item", None)
    if not callable(item):
        return value
    try:
        return item()
    except Exception:
        return value


def gate(
    name: str,
    *,
    node: str,
    min: float | None = None,
    max: float | None = None,
    equals: Any = _UNSET,
    on_fail: str = "record",
) -> Callable[[Callable[[Any], Any]], Gate]:
    """Decorator: turn a check function into a :class:`Gate`."""

    def deco(fn: Callable[[Any], Any]) -> Gate:
        return Gate(name, node, check=fn, min=min, max=max, equals=equals, on_fail=on_fail)

    return deco


def _is_command(value: Any) -> bool:
    return type(value).__name__ == "Command" and hasattr(value, "update")


def state_update(output: Any) -> Any:
    """What a node returned, as the state update a gate judges: a LangGraph ``Command``
    stands for its ``update`` (``(key, value)`` pairs become a dict), a list of commands
    for their updates merged in order; anything else as it is."""
    if _is_command(output):
        commands = [output]
    elif isinstance(output, (list, tuple)) and output and all(_is_command(c) for c in output):
        commands = list(output)
    else:
        return output
    merged: dict[Any, Any] = {}
    for command in commands:
        update = command.update
        if update is None:
            continue
        if isinstance(update, Mapping):
            merged.update(update)
        elif isinstance(update, (list, tuple)):
            merged.update(pair for pair in update if isinstance(pair, tuple) and len(pair) == 2)
        elif len(commands) == 1:
            return update  # a state object (dataclass, pydantic model): read by attribute
    return merged


def _lookup(output: Any, path: str) -> Any:
    value = output
    for part in path.split("."):
        if isinstance(value, Mapping):
            if part not in value:
                return _UNSET
            value = value[part]
        elif hasattr(value, part):
            value = getattr(value, part)
        else:
            return _UNSET
    return value


class GateSet:
    """Gates grouped by node, for a dict lookup per finished node."""

    def __init__(self, gates: Iterable[Gate] = ()) -> None:
        self.by_node: dict[str, list[Gate]] = {}
        names: set[str] = set()
        for g in gates:
            if g.name in names:
                raise ValueError(f"two gates named {g.name!r}")
            names.add(g.name)
            self.by_node.setdefault(g.node, []).append(g)

    def __bool__(self) -> bool:
        return bool(self.by_node)

    def __iter__(self) -> Any:
        return (g for gates in self.by_node.values() for g in gates)

    def for_node(self, node: str | None) -> list[Gate]:
        return self.by_node.get(node, []) if node is not None else []

    def evaluate(self, node: str | None, output: Any) -> list[GateResult]:
        """Every gate of ``node`` evaluated on ``output``."""
        return [g.evaluate(output) for g in self.for_node(node)]
