"""One worker per sink: a queue the dispatcher fills, a thread that empties it into
``Sink.export`` in batches, guarding each call. After ``os.fork()`` the child's worker gets a
fresh queue and thread (:meth:`SinkWorker.after_fork`)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from . import _guard
from ._health import Health
from .events import Record
from .sinks.base import Sink

__all__ = ["Marker", "SinkWorker"]


class Marker:
    """Put in a queue by ``flush``: the worker sets ``done`` once everything before it is out."""

    __slots__ = ("deadline", "done")

    def __init__(self, deadline: float) -> None:
        self.done = threading.Event()
        self.deadline = deadline


class SinkWorker:
    """One sink's queue and the thread that hands the sink its batches."""

    __slots__ = (
        "batch_size",
        "health",
        "interval",
        "max_queue",
        "queue",
        "sink",
        "stopping",
        "thread",
        "wake",
    )

    def __init__(
        self, sink: Sink, health: Health, max_queue: int, batch_size: int, interval: float
    ) -> None:
        self.sink = sink
        self.health = health
        self.queue: deque[Any] = deque()
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval = interval
        self.wake = threading.Event()
        self.stopping = False
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
        parent's to export), wake-up and thread (not started), then the sink's own
        ``after_fork``."""
        self.queue.clear()  # the inherited counters read its depth: 0 from now on
        self.queue = deque()
        self.wake = threading.Event()
        self.stopping = False
        self.health = health
        health._watch_depth(self.sink.name, self.queue)
        self.thread = self._new_thread()
        hook = getattr(self.sink, "after_fork", None)
        if callable(hook):
            try:
                hook()
            except Exception as exc:
                _guard.report(f"sink {self.sink.name}.after_fork", exc)

    def _export(self, batch: list[Record]) -> None:
        try:
            self.sink.export(batch)
        except Exception as exc:
            self.health.export_error(self.sink.name)
            self.health.drop(self.sink.name, "export_error", len(batch))
            _guard.report(f"sink {self.sink.name}.export", exc)

    def _run(self) -> None:
        q = self.queue
        while True:
            self.wake.wait()  # woken by the dispatcher's thread (records, flush, stop)
            self.wake.clear()
            batch: list[Record] = []
            while q:
                item = q.popleft()
                if isinstance(item, Marker):
                    if batch:
                        self._export(batch)
                        batch = []
                    try:
                        self.sink.flush(max(0.0, item.deadline - time.monotonic()))
                    except Exception as exc:
                        self.health.export_error(self.sink.name)
                        _guard.report(f"sink {self.sink.name}.flush", exc)
                    item.done.set()
                    continue
                batch.append(item)
                if len(batch) >= self.batch_size:
                    self._export(batch)
                    batch = []
            if batch:
                self._export(batch)
            if self.stopping and not q:
                return
