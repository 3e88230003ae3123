"""The pause a remote sink takes while its backend is down."""

from __future__ import annotations

from langgraph_observe.sinks._outage import MAX_PAUSE_FACTOR, OutagePause


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pause_doubles_up_to_its_limit_and_ends_on_success() -> None:
    clock = Clock()
    pause = OutagePause(1.0, clock)
    assert not pause.paused()
    pauses = [pause.failed() for _ in range(7)]
    assert pauses == [1, 2, 4, 8, MAX_PAUSE_FACTOR, MAX_PAUSE_FACTOR, MAX_PAUSE_FACTOR]
    assert pause.paused()
    clock.now += MAX_PAUSE_FACTOR - 0.01
    assert pause.paused()
    clock.now += 0.02
    assert not pause.paused()  # the probe may go
    pause.succeeded()
    assert pause.failures == 0
    assert pause.failed() == 1  # a new outage starts short again
    assert pause.paused()


def test_a_long_outage_does_not_overflow() -> None:
    pause = OutagePause(5.0, Clock())
    for _ in range(5000):
        last = pause.failed()
    assert last == 5.0 * MAX_PAUSE_FACTOR


def test_zero_never_pauses() -> None:
    pause = OutagePause(0, Clock())
    assert pause.failed() == 0
    assert not pause.paused()
