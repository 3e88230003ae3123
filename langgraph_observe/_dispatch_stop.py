"""How a :class:`~.dispatch.Dispatcher` flushes and shuts down: flush requests sent
through its threads and waited for, and the shutdown that stops the threads, counts what
is left and releases the flushes still waiting."""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from . import _open_dispatchers as _open
from ._sink_worker import Marker, SinkWorker

if TYPE_CHECKING:
    from .dispatch import Dispatcher

__all__ = ["FlushRequest", "await_flush", "shut_down", "take_intake"]

logger = logging.getLogger("langgraph_observe")


class FlushRequest:
    """Put in the intake by ``flush``: everything before it goes to the sinks, then each
    sink's marker. Pending (registered with the dispatcher) while its flush waits: a
    shutdown releases every pending request when it ends (see
    :meth:`.dispatch.Dispatcher.flush`)."""

    __slots__ = ("markers",)

    def __init__(self, markers: list[tuple[SinkWorker, Marker]]) -> None:
        self.markers = markers

    def release(self) -> None:
        for _, marker in self.markers:
            marker.release()


def await_flush(d: Dispatcher, deadline: float) -> bool:
    """Send a flush request through ``d``'s threads, and wait for it (see
    :meth:`.dispatch.Dispatcher.flush`)."""
    request = FlushRequest([])
    with d._pending_lock:
        d._pending.add(request)
    try:
        if d._shut.is_set():  # shut down meanwhile: it may not have seen the request
            return d._shutdown_ok
        return _await_request(d, request, deadline)
    finally:
        with d._pending_lock:
            d._pending.discard(request)


def _await_request(d: Dispatcher, request: FlushRequest, deadline: float) -> bool:
    carried = d._thread.is_alive()
    alive = [w for w in d._workers if w.thread.is_alive()]
    complete = carried and len(alive) == len(d._workers)
    stopping = d._stopping  # read after the threads: set before they are stopped
    if not complete and not stopping:
        _warn_dead(d, carried, alive)
    if carried:
        request.markers = [(w, Marker(deadline)) for w in alive]
        d._intake.append(request)
        d._flushing = True
        d._wake.set()
        d._full.set()
    hooks_here = not request.markers and not stopping and d._health_hooks
    if hooks_here and time.monotonic() < deadline:  # no worker runs them (one died)
        d._health_hooks(deadline)
    in_time = True
    for _, m in request.markers:
        in_time = m.done.wait(max(0.0, deadline - time.monotonic())) and in_time
    if not in_time:
        return False
    if (not complete and stopping) or any(m.released for _, m in request.markers):
        # A shutdown took this flush over (its request, or a sink's thread, stopped):
        # what the shutdown returns is the answer.
        return d._shut.wait(max(0.0, deadline - time.monotonic())) and d._shutdown_ok
    return complete


def _warn_dead(d: Dispatcher, carried: bool, alive: list[SinkWorker]) -> None:
    if d._warned_dead:
        return
    d._warned_dead = True
    dead = [w.sink.name for w in d._workers if w not in alive]
    logger.warning(
        "langgraph-observe: a thread of this handler ended while it is open (%s): "
        "records for %s are no longer exported; flush() returns False",
        ", ".join(
            ([] if carried else ["the dispatcher's thread"])
            + [f"sink {name}'s worker" for name in dead]
        ),
        "every sink" if not carried else ", ".join(dead),
    )


def shut_down(d: Dispatcher, deadline: float) -> bool:
    ok = d._flush(deadline)
    d._closed = True
    d._stopping = True
    d._wake.set()
    d._full.set()
    d._thread.join(max(0.0, deadline - time.monotonic()))
    for w in d._workers:
        w.stopping = True
        w.wake.set()
    for w in d._workers:
        w.thread.join(max(0.0, deadline - time.monotonic()))
        ok = ok and not w.thread.is_alive()
    # What is still queued at the deadline, or being exported by a late worker, is
    # dropped, once: taken out of the queues, and the batch in flight disowned (its
    # export, returning or failing later, counts for nothing). The flush requests still
    # in the queues are released (their flushes then return what this shutdown returns).
    left_in_intake = take_intake(d._intake) + take_intake(d._ready)
    for w in d._workers:
        left = left_in_intake + w.give_up()
        if left:
            d.health.drop(w.sink.name, "shutdown", left)
    d._health_hooks.close()  # no call follows a sink's shutdown
    for w in d._workers:
        ok = w.shut_down_sink(max(0.0, deadline - time.monotonic())) and ok
    _open.live.discard(d)
    return ok


def take_intake(q: deque[Any]) -> int:
    """Empty the intake (or the ready queue) at shutdown: the number of records (and ended
    spans) it held. The flush requests in it are released."""
    n = 0
    while q:
        try:
            item = q.popleft()
        except IndexError:  # the dispatcher's thread, past the time limit, took the last
            break
        if isinstance(item, FlushRequest):
            item.release()
        else:
            n += 1
    return n
