"""One worker per sink: a queue the dispatcher fills, a thread that empties it into
``Sink.export`` in batches, guarding each call. After ``os.fork()`` the child's worker gets a
fresh queue and thread (:meth:`SinkWorker.after_fork`).

Every record is counted once: exported, or dropped by the worker (``export_error``) or by
the dispatcher's shutdown (:meth:`SinkWorker.give_up`: what is queued, and the batch in
flight, whose export then counts for nothing, whatever it does later).

Whatever a sink's call raises (``export``, ``flush``, ``health_changed``), a ``BaseException``
such as ``SystemExit`` or ``asyncio.CancelledError`` included, is counted and logged like an
error, and the worker goes on: a worker that died would leave its queue to fill up unseen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from . import _guard
from ._health import Health
from .events import Record
from .sinks.base import Sink

__all__ = ["HealthHooks", "Marker", "SinkWorker", "take_records"]

logger = logging.getLogger("langgraph_observe")


class Marker:
    """Put in a queue by ``flush``: the worker sets ``done`` once everything before it is out
    (and the sink flushed, and the health hooks ran). A shutdown that takes the marker out
    instead calls :meth:`release`: ``done`` too, and ``released``, for the flush to know
    that the shutdown, not the worker, settled it."""

    __slots__ = ("deadline", "done", "released")

    def __init__(self, deadline: float) -> None:
        self.done = threading.Event()
        self.deadline = deadline
        self.released = False

    def release(self) -> None:
        """Set by a shutdown: nobody will flush what this marker stood for."""
        self.released = True
        self.done.set()


class HealthHooks:
    """The sinks' optional ``health_changed`` hooks (see :mod:`.sinks.base`), called together,
    each guarded; no more once :meth:`close` ran (the sinks are being shut down).

    The workers call them (each time one empties its queue, and for each flush marker
    before releasing it), never the thread that waits in ``flush``: a slow hook makes that
    flush miss its time limit (it returns False in time) and is logged once."""

    __slots__ = ("_hooks", "_late")

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self._hooks: tuple[tuple[str, Callable[[], Any]], ...] = tuple(
            (s.name, hook) for s in sinks if callable(hook := getattr(s, "health_changed", None))
        )
        self._late: set[str] = set()  #: the hooks logged for making a flush late

    def __bool__(self) -> bool:
        return bool(self._hooks)

    def __call__(self, deadline: float | None = None) -> None:
        """Call every hook; ``deadline``: the time limit of the flush waiting on them."""
        for name, hook in self._hooks:
            try:
                hook()
            except BaseException as exc:  # SystemExit, CancelledError: the worker goes on
                _guard.report(f"sink {name}.health_changed", exc)
            if deadline is not None and name not in self._late and time.monotonic() > deadline:
                self._late.add(name)
                logger.warning(
                    "langgraph-observe: sink %s's health_changed hook made a flush() miss its "
                    "time limit (that flush returned False); the hook runs on the sinks' "
                    "worker threads before a flush completes: keep it quick",
                    name,
                )

    def close(self) -> None:
        self._hooks = ()


class SinkWorker:
    """One sink's queue and the thread that hands the sink its batches.

    ``on_idle`` (when given) is called each time the worker has emptied its queue: the
    health counters and queue depths it changed are then final until more work comes; and
    for each flush marker, before the marker is released (so that once ``flush`` returned,
    a report made by a hook holds every count so far).
    """

    __slots__ = (
        "_given_up",
        "_lock",
        "batch_size",
        "health",
        "in_flight",
        "interval",
        "max_queue",
        "on_idle",
        "queue",
        "sink",
        "stopping",
        "thread",
        "wake",
    )

    def __init__(
        self,
        sink: Sink,
        health: Health,
        max_queue: int,
        batch_size: int,
        interval: float,
        on_idle: HealthHooks | None = None,
    ) -> None:
        self.sink = sink
        self.health = health
        self.queue: deque[Any] = deque()
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval = interval
        self.on_idle = on_idle
        self.wake = threading.Event()
        self.stopping = False
        #: records of the batch being exported (0: none); settled under ``_lock``
        self.in_flight = 0
        self._given_up = False
        self._lock = threading.Lock()  #: taking a batch or settling it vs. give_up
        health._watch_depth(sink.name, self.queue)
        self.thread = self._new_thread()

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(
            target=self._run, name=f"langgraph-observe-{self.sink.name}", daemon=True
        )

    def start(self) -> None:
        """Start the thread, unless it was started already."""
        if self.thread.ident is None:
            self.thread.start()

    def after_fork(self, health: Health) -> None:
        """In a forked child: new counters, a fresh queue (what the parent queued is the
        parent's to export), wake-up, lock and thread (not started), then the sink's own
        ``after_fork``."""
        self.queue.clear()  # the inherited counters read its depth: 0 from now on
        self.queue = deque()
        self.wake = threading.Event()
        self.stopping = False
        self._lock = threading.Lock()  # a parent's thread may have held it at the fork
        self.in_flight = 0
        self._given_up = False
        self.health = health
        health._watch_depth(self.sink.name, self.queue)
        self.thread = self._new_thread()
        hook = getattr(self.sink, "after_fork", None)
        if callable(hook):
            try:
                hook()
            except Exception as exc:
                _guard.report(f"sink {self.sink.name}.after_fork", exc)

    def offer(self, records: list[Record]) -> None:
        """Queue ``records`` (what finds no room is counted as ``queue_full``), and wake the
        thread. After :meth:`give_up` they are counted as dropped (``shutdown``) instead:
        a dispatcher still handing over past shutdown's time limit loses nothing uncounted."""
        with self._lock:
            if self._given_up:
                self.health.drop(self.sink.name, "shutdown", len(records))
                return
            q = self.queue
            room = self.max_queue - len(q)
            if room >= len(records):
                q.extend(records)
            else:
                if room > 0:
                    q.extend(records[:room])
                self.health.drop(self.sink.name, "queue_full", len(records) - max(room, 0))
        self.wake.set()

    def offer_marker(self, marker: Marker) -> None:
        """Queue a flush marker (released at once after :meth:`give_up`)."""
        with self._lock:
            if self._given_up:
                marker.release()
                return
            self.queue.append(marker)
        self.wake.set()

    def give_up(self) -> int:
        """At shutdown's time limit: empty the queue (releasing flush markers) and disown
        the batch in flight. Returns how many records that was, for the caller to count as
        dropped; whatever this worker takes or finishes later counts nowhere else."""
        with self._lock:
            self._given_up = True
            n, self.in_flight = self.in_flight, 0
            return n + take_records(self.queue)

    def _take(self, q: deque[Any]) -> tuple[list[Record], Marker | None]:
        """Up to a batch from the queue, as far as the next flush marker (returned too).
        The batch is in flight from now on."""
        batch: list[Record] = []
        marker = None
        with self._lock:
            while q and len(batch) < self.batch_size:
                item = q.popleft()
                if isinstance(item, Marker):
                    marker = item
                    break
                batch.append(item)
            if self._given_up:  # reached the queue after shutdown emptied it: not exported
                if batch:
                    self.health.drop(self.sink.name, "shutdown", len(batch))
                return [], marker
            self.in_flight = len(batch)
        return batch, marker

    def _settle(self) -> bool:
        """The batch in flight is done: True when it is still this worker's to count."""
        with self._lock:
            self.in_flight = 0
            return not self._given_up

    def _export(self, batch: list[Record]) -> None:
        try:
            self.sink.export(batch)
        except BaseException as exc:  # SystemExit, CancelledError: counted, the worker goes on
            if self._settle():
                self.health.export_error(self.sink.name)
                self.health.drop(self.sink.name, "export_error", len(batch))
            _guard.report(f"sink {self.sink.name}.export", exc)
        else:
            self._settle()

    def _flush(self, marker: Marker) -> None:
        """The sink's own flush, then the health hooks (the counts so far, reported before
        the flush that waits on ``marker`` returns), then the marker is released."""
        try:
            self.sink.flush(max(0.0, marker.deadline - time.monotonic()))
        except BaseException as exc:  # SystemExit, CancelledError: counted, the worker goes on
            self.health.export_error(self.sink.name)
            _guard.report(f"sink {self.sink.name}.flush", exc)
        if self.on_idle is not None and not self._given_up:
            self.on_idle(marker.deadline)
        marker.done.set()

    def _run(self) -> None:
        q = self.queue
        while True:
            self.wake.wait()  # woken by the dispatcher's thread (records, flush, stop)
            self.wake.clear()
            reported = False  #: the hooks ran (for a marker) since the last export
            while q:
                batch, marker = self._take(q)
                if batch:
                    self._export(batch)
                    reported = False
                if marker is not None:
                    self._flush(marker)
                    reported = True
            if self.on_idle is not None and not reported and not self._given_up:
                self.on_idle()
            if self.stopping and not q:
                return

    def shut_down_sink(self, timeout: float) -> bool:
        """``Sink.shutdown`` with a hard time limit: on a helper thread, and only once this
        worker is done (a worker stuck in ``export`` holds what ``shutdown`` needs; the
        sink is then shut down in the background when the export returns). False when the
        time limit passed first or ``shutdown`` raised (reported through the guard)."""
        sink, failed = self.sink, []

        def run(limit: float) -> None:
            self.thread.join()  # never shut a sink down under a running export
            try:
                sink.shutdown(limit)
            except Exception as exc:
                failed.append(exc)
                _guard.report(f"sink {sink.name}.shutdown", exc)

        helper = threading.Thread(
            target=run, args=(timeout,), name=f"langgraph-observe-{sink.name}-stop", daemon=True
        )
        helper.start()
        helper.join(timeout)
        return not helper.is_alive() and not failed


def take_records(q: deque[Any], skip: tuple[type, ...] = ()) -> int:
    """Empty ``q``; the number of records it held (not flush markers, which are released,
    nor items of the ``skip`` types)."""
    n = 0
    while q:
        try:
            item = q.popleft()
        except IndexError:
            break
        if isinstance(item, Marker):
            item.release()  # nobody will flush it now
        elif not isinstance(item, skip):
            n += 1
    return n
