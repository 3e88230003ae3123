"""Fan-out from the graph's path to the sinks: one bounded intake, then one bounded queue
and one worker per sink.

``Dispatcher.emit`` is all the callback path does with a record or an ended span: one
append to the intake (no lock, no I/O; a wake-up only for the first item after the
intake ran empty, or a full batch: ``batch_size`` items, or a quarter of ``max_queue`` when
that is fewer, so that a small queue is handed over by about half full, before it drops).
While items arrive, the dispatcher's thread wakes every ``PACK_INTERVAL_S`` to pack the
ended spans (:class:`Deferred`: let go of the graph's objects, see :mod:`._finish`); once
per ``interval`` (or for a full batch, or a ``flush``) it builds their records and appends
them, in one burst, to every sink's queue, and wakes the sinks' workers. With nothing
queued, no thread wakes. Each worker hands its sink a batch and guards the call: a slow,
failing or crashing sink neither slows the graph nor the other sinks. When a queue is
full the record is dropped for that sink and counted in :class:`Health`
(``reason="queue_full"``), never silently.

How a dispatcher flushes and shuts down is in :mod:`._dispatch_stop`. The dispatchers of
a process are flushed at its exit and renewed in a forked child (:mod:`._open_dispatchers`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import _guard
from . import _open_dispatchers as _open
from ._dispatch_stop import FlushRequest, await_flush, shut_down
from ._health import Health
from ._sink_worker import HealthHooks, SinkWorker
from .events import Record
from .sinks.base import Sink

__all__ = ["Deferred", "Dispatcher", "Health"]

logger = logging.getLogger("langgraph_observe")

#: longest an idle dispatcher sleeps without looking at its intake
_IDLE_WAKE_S = 2.0
#: how often, while spans are coming, the dispatcher's thread packs the ended ones
PACK_INTERVAL_S = 0.02


class Deferred:
    """Something the graph's path queues whose record is made on the dispatcher's thread
    (an ended span: :class:`~._spans.OpenSpan`)."""

    __slots__ = ()

    def pack(self) -> Deferred | tuple[Any, ...]:
        """What waits for the next hand-over: a plain tuple the dispatcher's ``unpack``
        turns into the record, or this object itself."""
        return self

    def record(self) -> Record | None:  # pragma: no cover - abstract
        """The record (None: nothing to send)."""
        raise NotImplementedError


class Dispatcher:
    """Owns the intake, the sinks' queues and the threads that feed the sinks.

    Args:
        sinks: the sinks to feed.
        max_queue: records (or ended spans) the intake, and each sink's queue, may hold
            before new ones are dropped.
        batch_size: most records handed to ``Sink.export`` at once.
        interval: seconds between the dispatcher's wake-ups when the graph is quiet.
        flush_timeout: default time limit of :meth:`flush` and :meth:`shutdown`.
        health: counters to share (a new :class:`Health` by default; a forked child counts
            into a new one).
    """

    def __init__(
        self,
        sinks: Iterable[Sink],
        *,
        max_queue: int = 20_000,
        batch_size: int = 512,
        interval: float = 0.2,
        flush_timeout: float = 5.0,
        health: Health | None = None,
    ) -> None:
        self.health = health if health is not None else Health()
        self.flush_timeout = flush_timeout
        self.sinks: tuple[Sink, ...] = tuple(sinks)
        self._bind_sinks()
        self.max_queue = max_queue
        self.batch_size = batch_size
        #: items that make the dispatcher hand over early: in the intake (a wake-up), or
        #: packed. A queue smaller than two batches is handed over by about half full (a
        #: quarter in each), not only once per ``interval``: it would fill up, and drop.
        self._wake_at = max(1, min(batch_size, max_queue // 4))
        self.interval = interval
        self._intake: deque[Any] = deque()  #: what the graph's path emitted
        self._ready: deque[Any] = deque()  #: packed, waiting for the next hand-over
        self.health._watch_shared(self._intake, self._ready)
        #: makes the record of a packed span (a plain tuple; set by the tracer)
        self.unpack: Callable[[tuple[Any, ...]], Record] | None = None
        self._wake = threading.Event()  #: the intake got its first item (or flush/stop)
        self._full = threading.Event()  #: the intake holds a batch
        self._flushing = False
        self._stopping = False
        #: the sinks' ``health_changed`` hooks: after a worker empties its queue, after flush
        self._health_hooks = HealthHooks(self.sinks)
        on_idle = self._health_hooks if self._health_hooks else None
        self._workers = tuple(
            SinkWorker(s, self.health, max_queue, batch_size, interval, on_idle) for s in self.sinks
        )
        self._sink_names = frozenset(s.name for s in self.sinks)
        #: the sinks' losses (drops, failed calls) when the last flush ended
        self._losses = self.health.losses(self._sink_names)
        self._closed = False
        self._warned_closed = False  #: the warning about records after shutdown was given
        self._warned_dead = False  #: the warning about a thread that died was given
        #: what the shutdown returned (returned again by later calls); True for a forked
        #: child's copy of a dispatcher the parent was shutting down (nothing of its own)
        self._shutdown_ok = True
        self._shut = threading.Event()  #: the shutdown is over: set, then pending released
        self._pending: set[FlushRequest] = set()  #: the requests of the flushes waiting now
        self._pending_lock = threading.Lock()
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        #: set in a forked child until its first emit or flush starts the threads
        self._forked = False
        self._thread = self._new_thread()
        self._start_threads()
        _open.live.add(self)
        _open.flush_at_exit_first()
        _open.warn_if_many()

    def _bind_sinks(self) -> None:
        for sink in self.sinks:
            bind = getattr(sink, "bind", None)
            if callable(bind):
                bind(self.health)

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._run, name="langgraph-observe-dispatch", daemon=True)

    def _start_threads(self) -> None:
        for w in self._workers:
            w.start()
        if self._thread.ident is None:
            self._thread.start()

    def emit(self, record: Record | Deferred | tuple[Any, ...]) -> None:
        """Queue a record (or an ended span, open or packed) for every sink. Never blocks,
        never raises."""
        q = self._intake
        n = len(q)
        if n + len(self._ready) >= self.max_queue or self._closed:
            self._drop_for_all("closed" if self._closed else "queue_full")
            return
        q.append(record)
        if n == 0:
            if self._forked:  # the first record of a forked child: start its threads
                self._restart()
            self._wake.set()
        elif n + 1 == self._wake_at:
            self._full.set()

    def emit_many(self, records: Sequence[Record]) -> None:
        for r in records:
            self.emit(r)

    # -- fork ---------------------------------------------------------------------------
    def _after_fork(self, fresh: dict[Health, Health]) -> None:
        """In a forked child (only the forking thread exists): fresh locks, events, queues,
        health counters (``fresh``: the new one of each inherited one) and threads (not
        started: see :meth:`_restart`); each sink's ``after_fork``, then its ``bind``. The
        child's copies of what the parent had queued are let go: the parent exports it."""
        self._lock = threading.Lock()  # a parent's thread may have held it at the fork
        self._start_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending = set()  # the parent's flushes: not waiting in the child
        if self._closed:  # shut down (or shutting down) in the parent: nothing to resume
            # nothing to wait for in the child (if the parent was in the middle of it, its
            # _shutdown_ok is still the initial True: the child has nothing of its own)
            self._shut = threading.Event()
            self._shut.set()
            _open.live.discard(self)
            return
        health = fresh.get(self.health)
        if health is None:
            health = fresh[self.health] = Health()
        self.health = health
        self._losses = health.losses(self._sink_names)
        self._intake.clear()  # the inherited counters read their depths: 0 from now on
        self._ready.clear()
        self._intake = deque()
        self._ready = deque()
        health._watch_shared(self._intake, self._ready)
        self._wake = threading.Event()
        self._full = threading.Event()
        self._flushing = False
        self._stopping = False
        for w in self._workers:
            w.after_fork(health)  # the sinks' own after_fork: before bind, which may lock
        self._bind_sinks()
        self._thread = self._new_thread()
        self._forked = True

    def _restart(self) -> None:
        """Start a forked child's threads, once. Never raises."""
        try:
            with self._start_lock:
                if self._forked:
                    self._start_threads()
                    self._forked = False
        except Exception as exc:
            _guard.report("dispatcher: starting the threads after fork", exc)

    def _drop_for_all(self, reason: str, n: int = 1) -> None:
        if reason == "closed" and not self._warned_closed:
            self._warned_closed = True
            logger.warning(
                "langgraph-observe: a handler that was shut down is still attached to a "
                "run: its records are dropped (counted in health as 'closed')"
            )
        for w in self._workers:
            self.health.drop(w.sink.name, reason, n)

    # -- the dispatcher's thread --------------------------------------------------------
    def _run(self) -> None:
        intake, ready = self._intake, self._ready
        while True:
            # asleep while nothing is queued: the first item wakes the thread. (The timeout
            # is a safety net: an emit racing the end of a drain may not wake it.)
            self._wake.wait(_IDLE_WAKE_S)
            self._wake.clear()
            if not intake and not ready and not self._stopping:
                continue
            # One period: every PACK_INTERVAL_S the ended spans waiting in the intake are
            # packed (what they hold of the graph is let go before the garbage collector
            # would promote it); once ``interval`` has passed (or a batch is waiting, or a
            # flush asks) everything is handed to the sinks in one burst.
            deadline = time.monotonic() + self.interval
            while True:
                self._pack(intake, ready)
                left = deadline - time.monotonic()
                if self._stopping or self._flushing or len(ready) >= self._wake_at:
                    break
                if left <= 0:
                    break
                self._full.wait(min(PACK_INTERVAL_S, left))
                self._full.clear()
            self._flushing = False
            self._pack(intake, ready)
            while ready:
                self._dispatch(ready)
            if self._stopping and not intake and not ready:
                return

    def _pack(self, intake: deque[Any], ready: deque[Any]) -> None:
        """Move everything from the intake to the ready queue, ended spans packed."""
        while intake:
            try:
                item = intake.popleft()
            except IndexError:  # emptied by a shutdown past its time limit
                return
            if isinstance(item, Deferred):
                try:
                    item = item.pack()
                except BaseException as exc:  # SystemExit, CancelledError: the thread goes on
                    self._drop_for_all("finish_error")
                    _guard.report("dispatcher: packing a span", exc)
                    continue
            ready.append(item)

    def _dispatch(self, q: deque[Any]) -> None:
        """Take up to a batch from the intake, build the records of ended spans, and hand
        them to the sinks' queues in order. (One burst per batch: the graph's threads
        are interrupted once, not once per handful of records.)"""
        records: list[Record] = []
        for _ in range(min(len(q), self.batch_size)):
            try:
                item = q.popleft()
            except IndexError:  # emptied by a shutdown past its time limit
                break
            if type(item) is tuple or isinstance(item, Deferred):
                try:
                    record = self._record_of(item)
                except BaseException as exc:  # SystemExit, CancelledError: the thread goes on
                    self._drop_for_all("finish_error")
                    _guard.report("dispatcher: building a record", exc)
                    continue
                if record is not None:
                    records.append(record)
            elif isinstance(item, FlushRequest):
                self._hand_over(records)
                records = []
                for worker, marker in item.markers:
                    worker.offer_marker(marker)
            else:
                records.append(item)
        self._hand_over(records)

    def _record_of(self, item: tuple[Any, ...] | Deferred) -> Record | None:
        if isinstance(item, Deferred):
            return item.record()
        return self.unpack(item) if self.unpack is not None else None

    def _hand_over(self, records: list[Record]) -> None:
        if records:
            for w in self._workers:
                w.offer(records)

    # -- flush and shutdown -------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Block until every record emitted so far has been exported by every sink and each
        sink has flushed its own buffers (and the sinks' ``health_changed`` hooks ran, on
        the sinks' workers: the merged Prometheus view holds every count so far), or until
        ``timeout`` seconds (default ``flush_timeout``) pass. Never waits longer.

        True when everything got out in time: False when the time limit passed first, when
        a sink's worker (or the dispatcher's thread) is no longer running while the
        dispatcher is open (something killed it: logged once), or when, since the previous
        flush ended (or the dispatcher started), a record was dropped for one of the sinks
        (any reason) or an export or sink flush failed.

        A flush that was waiting when the dispatcher was shut down (by another thread)
        returns once that shutdown is over (or at its own time limit, if sooner), with what
        the shutdown returned: the shutdown, not this flush, saw the records out (or
        dropped them). A flush called after the shutdown ended waits for nothing."""
        if self._forked:
            self._restart()
        timeout = self.flush_timeout if timeout is None else timeout
        return self._flush(time.monotonic() + timeout)

    def _flush(self, deadline: float) -> bool:
        before = self._losses
        ok = self._shut.is_set() or await_flush(self, deadline)
        self._losses = now = self.health.losses(self._sink_names)
        return ok and now == before

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, stop the threads and shut the sinks down, within ``timeout`` seconds
        (default ``flush_timeout``). Safe to call twice, and from several threads: a call
        made while another one runs waits for it within its own time limit (False when
        that passes first); once the dispatcher is shut down, every call returns what the
        shutdown returned. Flushes waiting meanwhile are released when it ends."""
        if self._forked:  # a forked child's copy, not used yet: its threads, to stop them
            self._restart()
        timeout = self.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=min(max(0.0, timeout), threading.TIMEOUT_MAX)):
            return False  # another shutdown is still at it
        try:
            if self._closed:
                return self._shutdown_ok
            ok = False
            try:
                ok = shut_down(self, deadline)
            finally:
                if self._closed:
                    self._shutdown_ok = ok
                    self._shut.set()
                    with self._pending_lock:
                        pending = list(self._pending)
                    for request in pending:  # flushes still waiting: released, see flush()
                        request.release()
            return ok
        finally:
            self._lock.release()

    @property
    def closed(self) -> bool:
        return self._closed
