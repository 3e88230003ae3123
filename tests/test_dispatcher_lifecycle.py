"""The dispatcher's life at its edges: sinks that raise a ``BaseException`` (the worker goes
on), threads that died (``flush`` says so), concurrent and repeated ``shutdown`` calls,
``flush`` racing ``shutdown``, slow ``health_changed`` hooks, a queue smaller than a batch,
the exit flush's one deadline and the warning about many open handlers."""

from __future__ import annotations

import asyncio
import logging
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from langgraph_observe import _open_dispatchers
from langgraph_observe.dispatch import Deferred, Dispatcher
from langgraph_observe.events import Record
from langgraph_observe.sinks.base import BaseSink

from ._prometheus_records import one_run
from .blocking_sink import Blocking
from .subprocesses import run_python

pytestmark = pytest.mark.unit


class Collecting(BaseSink):
    """Keeps what it is given; its calls raise what they are told to, while told to."""

    name = "collecting"

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.raise_in_export: BaseException | None = None
        self.raise_in_flush: BaseException | None = None

    def export(self, records: Sequence[Record]) -> None:
        if self.raise_in_export is not None:
            raise self.raise_in_export
        self.records.extend(records)

    def flush(self, timeout: float) -> None:
        if self.raise_in_flush is not None:
            raise self.raise_in_flush


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``call`` on a thread; the dict gets its result and how long it took."""
    out: dict[str, Any] = {}

    def run() -> None:
        out["result"], out["elapsed"] = timed(call)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


# -- 1. a BaseException from a sink's call does not kill its worker -----------------------


@pytest.mark.parametrize("exc", [SystemExit(3), asyncio.CancelledError()], ids=type)
def test_a_sink_raising_a_base_exception_keeps_its_worker(exc):
    sink = Collecting()
    d = Dispatcher([sink], interval=0.01)
    (worker,) = d._workers
    try:
        sink.raise_in_export = exc
        lost = one_run("lost")
        d.emit_many(lost)
        assert d.flush(5) is False  # counted as a failed export, not a silent death
        assert d.health.dropped == {("collecting", "export_error"): len(lost)}
        assert d.health.export_errors == {"collecting": 1}
        assert worker.thread.is_alive()
        sink.raise_in_export = None
        kept = one_run("kept")
        d.emit_many(kept)
        assert d.flush(5) is True
        assert sink.records == kept
        assert d.health.snapshot()["queue_depths"] == {"collecting": 0}
    finally:
        sink.raise_in_export = None
        assert d.shutdown(5) is True


def test_base_exceptions_from_a_sinks_flush_and_health_hook_keep_the_worker():
    class Hooked(Collecting):
        name = "hooked"

        def __init__(self) -> None:
            super().__init__()
            self.hook_raises = False

        def health_changed(self) -> None:
            if self.hook_raises:
                raise asyncio.CancelledError()

    sink = Hooked()
    d = Dispatcher([sink], interval=0.01)
    (worker,) = d._workers
    try:
        sink.raise_in_flush = SystemExit(1)
        d.emit_many(one_run("a"))
        assert d.flush(5) is False  # the sink's flush failed: counted
        assert d.health.export_errors == {"hooked": 1}
        assert worker.thread.is_alive()
        sink.raise_in_flush = None
        sink.hook_raises = True
        d.emit_many(one_run("b"))
        assert d.flush(5) is True  # a failing hook is logged, not a loss
        assert worker.thread.is_alive()
        sink.hook_raises = False
        d.emit_many(one_run("c"))
        assert d.flush(5) is True
        assert len(sink.records) == 3 * len(one_run("x"))
    finally:
        sink.raise_in_flush = None
        sink.hook_raises = False
        d.shutdown(5)


class Exiting(Deferred):
    """An ended span whose record raises ``SystemExit`` (a hook calling ``sys.exit``)."""

    __slots__ = ()

    def record(self) -> Any:
        raise SystemExit(2)


def test_a_record_raising_a_base_exception_keeps_the_dispatchers_thread():
    sink = Collecting()
    d = Dispatcher([sink], interval=0.01)
    try:
        d.emit(Exiting())
        assert d.flush(5) is False  # the record is lost, and counted
        assert d.health.dropped == {("collecting", "finish_error"): 1}
        assert d._thread.is_alive()
        kept = one_run("kept")
        d.emit_many(kept)
        assert d.flush(5) is True
        assert sink.records == kept
    finally:
        d.shutdown(5)


def test_flush_is_false_and_logs_once_when_a_worker_is_gone(caplog):
    first, second = Collecting(), Collecting()
    second.name = "second"
    d = Dispatcher([first, second], interval=0.01)
    try:
        assert d.flush(5) is True
        dead = d._workers[1]  # stopped as if killed: the dispatcher is still open
        dead.stopping = True
        dead.wake.set()
        dead.thread.join(5)
        assert not dead.thread.is_alive()
        records = one_run("after")
        d.emit_many(records)
        with caplog.at_level(logging.WARNING, logger="langgraph_observe"):
            (ok, elapsed) = timed(lambda: d.flush(5))
            assert ok is False
            assert elapsed < 2.5  # the live sink is flushed; nothing waits on the dead one
            assert first.records == records  # the other sink still got everything
            assert d.flush(5) is False  # still dead
        warnings = [r for r in caplog.records if "ended while it is open" in r.getMessage()]
        assert len(warnings) == 1  # said once
        assert "second" in warnings[0].getMessage()
    finally:
        d.shutdown(5)


# -- 2. concurrent and repeated shutdowns ---------------------------------------------------


def test_a_concurrent_shutdown_keeps_its_own_time_limit():
    sink = Blocking()
    d = Dispatcher([sink], interval=0.01)
    try:
        d.emit_many(one_run("stuck"))
        assert sink.entered.wait(5)  # the sink is now inside export
        first, first_out = in_thread(lambda: d.shutdown(10))
        time.sleep(0.1)  # the first shutdown holds the lock, waiting on the export
        second, second_out = in_thread(lambda: d.shutdown(0.3))
        second.join(5)
        assert not second.is_alive()
        assert second_out["result"] is False  # not done within its own time limit
        assert second_out["elapsed"] < 1.5  # ... and it did not wait for the first
        sink.release.set()  # the export returns: the first shutdown gets everything out
        first.join(15)
        assert first_out["result"] is True
        assert d.shutdown(1) is True  # what the shutdown returned
    finally:
        sink.release.set()


def test_a_shutdown_after_a_failed_one_returns_false_again():
    sink = Blocking()
    d = Dispatcher([sink], interval=0.01)
    try:
        d.emit_many(one_run("stuck"))
        assert sink.entered.wait(5)
        assert d.shutdown(0.3) is False  # the export is stuck: dropped and counted
        assert d.shutdown(1) is False  # not "nothing left to fail": the records are lost
        assert d.shutdown() is False
    finally:
        sink.release.set()


# -- 3. flush racing shutdown -----------------------------------------------------------------


class Stuck(Deferred):
    """An ended span whose record is built once released (the dispatcher's thread waits)."""

    __slots__ = ("entered", "release")

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def record(self) -> Any:
        self.entered.set()
        self.release.wait(30)
        return None


def test_a_flush_request_taken_out_by_shutdown_is_released():
    sink = Collecting()
    d = Dispatcher([sink], interval=0.01)
    stuck = Stuck()
    try:
        d.emit(stuck)
        assert stuck.entered.wait(5)  # the dispatcher's thread is busy with it
        flusher, out = in_thread(lambda: d.flush(8))
        time.sleep(0.1)  # the flush request waits in the intake
        assert d.shutdown(0.3) is False  # the thread is still stuck: shutdown takes it out
        flusher.join(5)
        assert not flusher.is_alive()
        assert out["elapsed"] < 3  # released by the shutdown, not at its own time limit
        assert out["result"] is False  # what the shutdown returned
    finally:
        stuck.release.set()


def test_flushes_racing_shutdown_return_in_time():
    worst, results = 0.0, []
    for _ in range(15):
        d = Dispatcher([Collecting()], interval=0.01)
        d.emit_many(one_run("race"))
        stop = threading.Event()
        times: list[float] = []

        def spin(d: Dispatcher = d, stop: threading.Event = stop, times: list = times) -> None:
            while not stop.is_set():
                ok, elapsed = timed(lambda: d.flush(2.0))
                times.append(elapsed)
                results.append(ok)

        spinners = [threading.Thread(target=spin, daemon=True) for _ in range(6)]
        for t in spinners:
            t.start()
        time.sleep(0.002)
        assert d.shutdown(2.0) is True
        stop.set()
        for t in spinners:
            t.join(10)
            assert not t.is_alive()
        worst = max(worst, *times) if times else worst
    assert worst < 1.0  # none waited out its time limit for a request nobody carried
    assert all(results)  # nothing was lost: every flush (carried or released) says so


# -- 5. health_changed hooks within flush's time limit ------------------------------------------


class SlowHook(Collecting):
    name = "slow-hook"

    def __init__(self) -> None:
        super().__init__()
        self.delay = 0.0
        self.seen: list[dict[tuple[str, str], int]] = []

    def health_changed(self) -> None:
        time.sleep(self.delay)
        if self.health is not None:
            self.seen.append(dict(self.health.dropped))


def test_a_slow_health_hook_does_not_hold_flush_past_its_time_limit(caplog):
    sink = SlowHook()
    d = Dispatcher([sink], interval=0.01)
    try:
        d.emit_many(one_run("run"))
        assert d.flush(5) is True
        sink.delay = 1.5
        d.emit_many(one_run("run"))
        with caplog.at_level(logging.WARNING, logger="langgraph_observe"):
            ok, elapsed = timed(lambda: d.flush(0.2))
            assert elapsed < 1.0  # the hook is not run on the waiting thread
            assert ok is False  # the flush did not complete in time
            time.sleep(3.5)  # the worker is done with its hooks
        assert any("health_changed" in r.getMessage() for r in caplog.records)
    finally:
        sink.delay = 0.0
        d.shutdown(5)


def test_flush_returns_after_the_health_hooks_saw_every_count():
    sink = SlowHook()
    d = Dispatcher([sink], interval=0.01)
    try:
        assert d.flush(5) is True
        d.health.drop("elsewhere", "queue_full", 2)  # counted on this thread, no record
        sink.seen.clear()
        assert d.flush(5) is True  # another sink's loss
        assert sink.seen and sink.seen[-1] == {("elsewhere", "queue_full"): 2}
    finally:
        d.shutdown(5)


# -- 6. a queue smaller than a batch ------------------------------------------------------------


def test_a_queue_smaller_than_a_batch_is_handed_over_before_it_fills():
    sink = Collecting()
    d = Dispatcher([sink], max_queue=200, interval=1.0)  # batch_size 512
    try:
        records = one_run("small") * 150  # 900 records, 10 every 2 ms or so
        for i in range(0, len(records), 10):
            d.emit_many(records[i : i + 10])
            time.sleep(0.002)
        d.flush(5)
        dropped = d.health.total_dropped
        assert dropped <= len(records) // 50, d.health.dropped  # was most of them
        assert len(sink.records) + dropped == len(records)
    finally:
        d.shutdown(5)


# -- 4. the exit flush: one deadline ---------------------------------------------------------------

_EXIT_CHILD = textwrap.dedent("""
    import atexit, sys, threading, time

    ended = []

    def report():  # registered before the import: runs after the library's exit flush
        print("exit flush took %.2f" % (time.monotonic() - ended[0]))

    atexit.register(report)

    from langgraph_observe.dispatch import Dispatcher
    from langgraph_observe.sinks.base import BaseSink
    from tests._prometheus_records import one_run

    class Hanging(BaseSink):
        name = "hanging"

        def export(self, records):
            threading.Event().wait()

    class Healthy(BaseSink):
        name = "healthy"
        got = 0

        def export(self, records):
            Healthy.got += len(records)

        def shutdown(self, timeout):
            print("healthy got", Healthy.got)

    hung = [Dispatcher([Hanging()], flush_timeout=1.0, interval=0.05) for _ in range(4)]
    for d in hung:
        d.emit_many(one_run("hung"))
    healthy = Dispatcher([Healthy()], flush_timeout=1.0, interval=5.0)
    healthy.emit_many(one_run("ok"))
    time.sleep(0.3)
    ended.append(time.monotonic())
""")


def test_the_exit_flush_shares_one_deadline():
    out = run_python(_EXIT_CHILD, timeout=60)
    took = float(out.split("exit flush took ")[1].split()[0])
    assert took < 2.5, out  # one flush_timeout (1 s) for all, not one per handler (4 s)
    assert f"healthy got {len(one_run('ok'))}" in out  # a healthy handler still flushed


# -- 7. many open handlers ------------------------------------------------------------------------


def test_many_open_handlers_warn_again_at_each_doubling(caplog, monkeypatch):
    import weakref

    monkeypatch.setattr(_open_dispatchers, "live", weakref.WeakSet())
    monkeypatch.setattr(_open_dispatchers, "MANY_DISPATCHERS", 2)
    monkeypatch.setattr(_open_dispatchers, "_warned_many", 0)
    dispatchers: list[Dispatcher] = []
    try:
        with caplog.at_level(logging.WARNING, logger="langgraph_observe"):
            for _ in range(9):
                dispatchers.append(Dispatcher([]))
        warnings = [r.getMessage() for r in caplog.records if "handlers are open" in r.getMessage()]
        assert [w.split()[1] for w in warnings] == ["3", "4", "8"]  # past 2, then 4, 8
        text = warnings[0]
        for leak in ("thread", "files", "connections", "memory", "shutdown()"):
            assert leak in text
    finally:
        for d in dispatchers:
            d.shutdown(5)
