"""The open dispatchers of a process, at its edges: too many of them (a warning), its exit
(each is flushed) and ``os.fork()`` (each is renewed in the child).

**Too many.** Past ``MANY_DISPATCHERS`` open dispatchers a warning is logged, and again
each time their number reaches the next power of two (64, 128, ...): a handler created per
request and never shut down is visible in the log without flooding it.

**Interpreter exit.** Open dispatchers are shut down (flushed) by an ``atexit`` function
that each new dispatcher registers again, so that it runs before the exit functions of
backends set up before the handler (an OpenTelemetry SDK provider shuts itself down at
exit and discards spans that arrive later). They are shut down together, each on a thread
of its own, within one deadline: the largest ``flush_timeout`` among them. Hanging sinks
delay the exit by that much at most, however many handlers are open.

**Fork.** In a child of ``os.fork()`` only the forking thread exists. An at-fork hook gives
every open dispatcher fresh queues, events and locks, and each sink its ``after_fork``;
the threads start at the child's first record (or ``flush``). What was queued at the fork
is the parent's to export: the child neither exports it nor counts it as dropped. The
child counts into a new :class:`~._health.Health` (one for all the dispatchers that shared
one), so its counts are its own: the Prometheus sink writes them to the child's metric
files in multiprocess mode without the parent's again.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING

from . import _guard
from ._health import Health

if TYPE_CHECKING:
    from .dispatch import Dispatcher

__all__ = ["MANY_DISPATCHERS", "flush_at_exit_first", "live", "warn_if_many"]

logger = logging.getLogger("langgraph_observe")

#: the dispatchers not shut down yet
live: weakref.WeakSet[Dispatcher] = weakref.WeakSet()
#: Past this many open dispatchers (each has a thread, a worker thread per sink, the
#: sinks' files and connections), warn: a handler created per request and never shut down
#: leaks them. Again at each power of two above (64, 128, ...).
MANY_DISPATCHERS = 32
#: how many dispatchers were open at the latest warning (0: none yet)
_warned_many = 0
_warn_lock = threading.Lock()
#: the exit flush's time limit when no dispatcher says (the default flush_timeout)
_EXIT_TIMEOUT_S = 5.0
#: most dispatchers shut down at once at exit (each on a thread); more take turns
_EXIT_THREADS = 64


def warn_if_many() -> None:
    """Warn when the open dispatchers pass ``MANY_DISPATCHERS``, and again each time they
    reach the next power of two (bounded log volume)."""
    global _warned_many
    n = len(live)
    if n <= MANY_DISPATCHERS or (_warned_many and n < 1 << _warned_many.bit_length()):
        return
    with _warn_lock:
        if _warned_many and n < 1 << _warned_many.bit_length():
            return  # another thread warned at this level
        _warned_many = n
    logger.warning(
        "langgraph-observe: %d handlers are open in this process. Each one holds a "
        "dispatcher thread and a worker thread per sink, its sinks' files and connections "
        "(the local store's database connection, HTTP clients) and the records queued in "
        "memory until it is shut down. Create one CallbackHandler (or ObservedWorkflow) and "
        "reuse it across runs, or shut each one down when it is done: handler.shutdown(), "
        "or `with ObservedWorkflow(...) as wf:`. (Warned again at %d open handlers.)",
        n,
        1 << n.bit_length(),
    )


def _flush_at_exit() -> None:
    """Shut every open dispatcher down (flushing what is queued), at interpreter exit: all
    at once, within one deadline (the largest ``flush_timeout``, see the module's doc)."""
    pending = list(live)
    if not pending:
        return
    budget = max((d.flush_timeout for d in pending), default=_EXIT_TIMEOUT_S)
    deadline = time.monotonic() + max(0.0, budget)

    def shut_down_next() -> None:
        while pending:
            try:
                d = pending.pop()
            except IndexError:
                return
            # its own time limit, or what is left of the shared one (a turn taken late)
            left = max(0.0, min(d.flush_timeout, deadline - time.monotonic()))
            try:
                d.shutdown(left)
            except Exception as exc:  # pragma: no cover - interpreter teardown
                logger.debug("flush at exit failed: %r", exc)

    if len(pending) == 1:
        shut_down_next()
        return
    threads = []
    for i in range(min(len(pending), _EXIT_THREADS)):
        t = threading.Thread(target=shut_down_next, name=f"langgraph-observe-exit-{i}")
        t.daemon = True
        try:
            t.start()
        except RuntimeError:  # no new thread at this point of the exit: the rest in turn
            break
        threads.append(t)
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    shut_down_next()  # what no thread took (none could start), with the time left


def flush_at_exit_first() -> None:
    """Make :func:`_flush_at_exit` the latest ``atexit`` registration, so that it runs
    before the exit functions registered so far (``atexit`` runs the latest first): the
    sinks' backends, set up before the handler, still take what it flushes."""
    atexit.unregister(_flush_at_exit)
    atexit.register(_flush_at_exit)


def _flush_at_exit_last() -> None:
    """Registered once, at import: shuts down the dispatchers of handlers created while
    the interpreter exits (``atexit`` never calls a function registered during its run, so
    their re-registration of :func:`_flush_at_exit` would leave them out)."""
    _flush_at_exit()


atexit.register(_flush_at_exit_last)


#: health counters inherited over ``os.fork()``, replaced in the child: kept (a Prometheus
#: registry inherited in memory goes on reporting their counts, which must not go down)
_inherited_health: list[Health] = []


def _after_fork_in_child() -> None:
    fresh: dict[Health, Health] = {}
    for d in list(live):
        try:
            d._after_fork(fresh)
        except Exception as exc:  # pragma: no cover - defensive
            _guard.report("dispatcher: after fork", exc)
    for old in fresh:
        old._lock = threading.Lock()  # still read; a parent's thread may have held it
    _inherited_health.extend(fresh)


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
