"""Every record counted once at the edges of flush and shutdown: the batch a worker is
exporting at shutdown's time limit, ``flush()`` and ``shutdown()`` results that own up to
losses, the Prometheus health series in multiprocess mode once ``flush()`` returned, and
the registry's locks in a forked child."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from langgraph_observe import _guard
from langgraph_observe.dispatch import Deferred, Dispatcher
from langgraph_observe.events import Record
from langgraph_observe.metrics_catalog import PREFIX
from langgraph_observe.sinks import _prometheus_metrics
from langgraph_observe.sinks._prometheus_metrics import metrics_for
from langgraph_observe.sinks.base import BaseSink
from langgraph_observe.sinks.prometheus import PrometheusSink

from ._prometheus_records import one_run
from .blocking_sink import Blocking
from .forking import exit_code

pytestmark = pytest.mark.unit

DROPPED = f"{PREFIX}spans_dropped_total"
ERRORS = f"{PREFIX}sink_export_errors_total"
DEPTH = f"{PREFIX}sink_queue_depth"


class Flaky(BaseSink):
    """Fails its exports (or flushes) while told to."""

    name = "flaky"

    def __init__(self) -> None:
        self.fail_export = False
        self.fail_flush = False
        self.exported = 0

    def export(self, records: Sequence[Record]) -> None:
        if self.fail_export:
            raise RuntimeError("backend down")
        self.exported += len(records)

    def flush(self, timeout: float) -> None:
        if self.fail_flush:
            raise RuntimeError("flush failed")


class Slow(BaseSink):
    """Each export takes ``pause`` seconds, then fails."""

    name = "slow"

    def __init__(self, pause: float) -> None:
        self.pause = pause

    def export(self, records: Sequence[Record]) -> None:
        time.sleep(self.pause)
        raise RuntimeError("backend down")


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- shutdown: the batch in flight --------------------------------------------------------


def test_the_batch_in_flight_at_shutdowns_time_limit_is_counted_once():
    sink = Blocking(fail=True)
    d = Dispatcher([sink], interval=0.01)
    stuck = one_run("stuck")
    d.emit_many(stuck)
    assert sink.entered.wait(5)  # the first run is now in flight
    (worker,) = d._workers
    assert 0 < worker.in_flight <= len(stuck)
    queued = one_run("queued") + one_run("queued")
    d.emit_many(queued)
    started = time.monotonic()
    assert d.shutdown(timeout=0.5) is False
    assert time.monotonic() - started < 1.5
    expected = {("blocking", "shutdown"): len(stuck) + len(queued)}
    assert d.health.dropped == expected
    assert worker.in_flight == 0
    sink.release.set()  # the export fails now, after shutdown counted it
    worker.thread.join(5)
    assert not worker.thread.is_alive()
    assert d.health.dropped == expected  # not counted again as export_error
    assert d.health.export_errors == {}


# -- flush: True only when nothing was lost -----------------------------------------------


class SlowToBuild(Deferred):
    """An ended span whose record takes long to build (the dispatcher's thread is still at
    it when shutdown's time limit passes)."""

    __slots__ = ("delay", "i")

    def __init__(self, i: int, delay: float) -> None:
        self.i, self.delay = i, delay

    def record(self) -> Any:
        time.sleep(self.delay)
        return ("record", self.i)


class Counting(BaseSink):
    name = "count"

    def __init__(self) -> None:
        self.n = 0

    def export(self, records: Sequence[Record]) -> None:
        self.n += len(records)


@pytest.mark.parametrize(("emitted", "delay"), [(1, 0.5), (3000, 0.0005)])
def test_records_built_after_shutdowns_time_limit_are_counted_once(emitted, delay):
    """The dispatcher's thread outlives shutdown's time limit: what it still builds and
    hands over is counted as dropped, and the thread does not die on the emptied queues."""
    crashed: list[str] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: crashed.append(repr(args.exc_value))
    try:
        sink = Counting()
        d = Dispatcher([sink], batch_size=64, interval=0.01)
        for i in range(emitted):
            d.emit(SlowToBuild(i, delay))
        time.sleep(0.05)
        assert d.shutdown(0.2) is False
        d._thread.join(10)
    finally:
        threading.excepthook = previous
    assert crashed == []
    dropped = d.health.dropped
    assert set(dropped) == {("count", "shutdown")}
    assert sink.n + dropped[("count", "shutdown")] == emitted
    assert d.health.snapshot()["queue_depths"] == {"count": 0}


def test_flush_is_false_when_what_it_flushed_was_dropped():
    sink = Flaky()
    d = Dispatcher([sink], interval=0.01)
    try:
        d.emit_many(one_run("ok"))
        assert d.flush(5) is True
        sink.fail_export = True
        d.emit_many(one_run("lost"))
        assert d.flush(5) is False  # everything was handled in time, but dropped
        assert d.health.dropped[("flaky", "export_error")] > 0
        sink.fail_export = False
        d.emit_many(one_run("ok"))
        assert d.flush(5) is True  # the loss was reported by the flush that saw it
        sink.fail_flush = True
        d.emit_many(one_run("ok"))
        assert d.flush(5) is False  # the sink could not flush its own buffers
    finally:
        sink.fail_flush = False
        d.shutdown()


def test_flush_is_false_when_records_were_dropped_before_it():
    sink = Flaky()
    d = Dispatcher([sink], interval=0.01, max_queue=3)
    try:
        d.emit_many(one_run("overflow") * 4)  # the intake, and the sink's queue, hold 3
        assert d.flush(5) is False
        assert d.health.dropped[("flaky", "queue_full")] > 0
        assert d.flush(5) is True
    finally:
        d.shutdown()


# -- shutdown: a sink's own shutdown failing -----------------------------------------------


class BrokenShutdown(BaseSink):
    name = "broken-shutdown"

    def export(self, records: Sequence[Record]) -> None:
        return None

    def shutdown(self, timeout: float) -> None:
        raise RuntimeError("could not close")


def test_shutdown_is_false_when_a_sinks_shutdown_raises():
    d = Dispatcher([BrokenShutdown()], interval=0.01)
    d.emit_many(one_run("run"))
    errors = _guard.internal_errors
    assert d.shutdown(5) is False
    assert _guard.internal_errors > errors  # reported through the guard
    assert d.shutdown(5) is False  # what the shutdown returned


# -- Prometheus multiprocess mode: the merged view after flush ------------------------------


def test_multiprocess_health_series_are_current_once_flush_returned(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    reg = CollectorRegistry()
    d = Dispatcher([PrometheusSink(registry=reg), Slow(0.05)], interval=0.01, batch_size=2)
    try:
        records = one_run("mp") + one_run("mp")
        d.emit_many(records)
        assert d.flush(10) is False  # the slow sink dropped everything
        # the Prometheus sink flushed long before the slow one was done: still current
        got = reg.get_sample_value(DROPPED, {"sink": "slow", "reason": "export_error"})
        assert got == len(records)
        assert reg.get_sample_value(ERRORS, {"sink": "slow"}) == d.health.export_errors["slow"]
        assert reg.get_sample_value(DEPTH, {"sink": "slow"}) == 0
    finally:
        d.shutdown()


def test_multiprocess_health_series_catch_up_when_the_workers_go_idle(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    reg = CollectorRegistry()
    d = Dispatcher([PrometheusSink(registry=reg), Slow(0.05)], interval=0.01, batch_size=2)
    try:
        records = one_run("idle")
        d.emit_many(records)  # no flush: the process just idles afterwards

        def current() -> bool:
            got = reg.get_sample_value(DROPPED, {"sink": "slow", "reason": "export_error"})
            return got == len(records) and reg.get_sample_value(DEPTH, {"sink": "slow"}) == 0

        assert wait_for(current)
    finally:
        d.shutdown()


# -- fork: the registry's locks -----------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
@pytest.mark.parametrize("mode", ["live", "multiprocess", "shut-down"])
def test_a_forked_child_gets_new_registry_locks(tmp_path, monkeypatch, mode):
    if mode == "multiprocess":
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    reg = CollectorRegistry()
    d = Dispatcher([PrometheusSink(registry=reg)], interval=0.01)
    if mode == "shut-down":  # no live dispatcher renews its sinks in the child
        d.shutdown(5)
    metrics = metrics_for(reg)
    # a parent's thread holds the locks while the process forks
    held = [_prometheus_metrics._shared_lock, metrics._lock]
    if metrics.health_collector is not None:
        held.append(metrics.health_collector._lock)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        for lock in held:
            lock.acquire()
        holding.set()
        done.wait(30)
        for lock in held:
            lock.release()

    def use() -> None:  # scrape, count through the registry's locks, look a registry up
        generate_latest(reg)
        d.flush(5)
        metrics_for(CollectorRegistry())

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            worker = threading.Thread(target=use, daemon=True)
            worker.start()
            worker.join(5)
            code = 0 if not worker.is_alive() else 3
        finally:
            os._exit(code)
    done.set()
    holder.join()
    try:
        assert exit_code(pid) == 0
    finally:
        d.shutdown()
