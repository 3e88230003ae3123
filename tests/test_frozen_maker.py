"""``_frozen.maker``: the fast constructor builds exactly what the dataclass would."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from langgraph_observe._frozen import maker
from langgraph_observe.events import (
    ErrorClass,
    ErrorInfo,
    Payload,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TokenUsage,
    TraceContext,
)


def _fields(obj: object) -> tuple[object, ...]:
    return tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))  # type: ignore[arg-type]


def test_a_made_span_record_equals_the_constructed_one() -> None:
    values = (
        TraceContext(trace_id="1" * 32, workflow="wf", tags=("a",)),
        "2" * 16,
        None,
        "model",
        SpanKind.LLM,
        10,
        20,
        SpanStatus.ERROR,
        ErrorInfo("E", "boom", ErrorClass.TIMEOUT),
        "node",
        "persona",
        "gpt-4o",
        "openai",
        TokenUsage(1, 2, 3),
        0.5,
        Payload.of_text("in"),
        None,
        {"k": 1},
        (),
    )
    made = maker(SpanRecord)(*values)
    built = SpanRecord(*values)
    assert type(made) is SpanRecord
    assert made == built
    assert _fields(made) == values
    assert pickle.loads(pickle.dumps(made)) == built
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]


def test_every_field_is_required_and_in_order() -> None:
    make = maker(TokenUsage)
    made = make(1, 2, 3, 4, 5, 6, True)
    assert made == TokenUsage(1, 2, 3, 4, 5, 6, True)
    assert hash(made) == hash(TokenUsage(1, 2, 3, 4, 5, 6, True))
    with pytest.raises(TypeError):
        make(1, 2)


@dataclasses.dataclass(frozen=True)
class _NoSlots:
    a: int


@dataclasses.dataclass(slots=True)
class _NotFrozen:
    a: int


@dataclasses.dataclass(frozen=True, slots=True)
class _PostInit:
    a: int

    def __post_init__(self) -> None:
        pass


@pytest.mark.parametrize("cls", [_NoSlots, _NotFrozen, _PostInit, dict])
def test_refuses_what_it_cannot_build_faithfully(cls: type) -> None:
    with pytest.raises(TypeError):
        maker(cls)
