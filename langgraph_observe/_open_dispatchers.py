"""The open dispatchers of a process, at its edges: too many of them (a warning), its exit
(each is flushed) and ``os.fork()`` (each is renewed in the child).

**Interpreter exit.** Open dispatchers are shut down (flushed) by an ``atexit`` function
that each new dispatcher registers again, so that it runs before the exit functions of
backends set up before the handler (an OpenTelemetry SDK provider shuts itself down at
exit and discards spans that arrive later).

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
#: Past this many open dispatchers (each has a worker thread per sink), warn once: a
#: handler created per request and never shut down leaks threads.
MANY_DISPATCHERS = 32
_warned_many = False


def warn_if_many() -> None:
    global _warned_many
    if _warned_many or len(live) <= MANY_DISPATCHERS:
        return
    _warned_many = True
    logger.warning(
        "langgraph-observe: %d handlers are open in this process, each with its own sink "
        "threads; create one CallbackHandler and reuse it across runs (or call shutdown())",
        len(live),
    )


def _flush_at_exit() -> None:
    """Shut every open dispatcher down (flushing what is queued), at interpreter exit."""
    for d in list(live):
        try:
            d.shutdown()
        except Exception as exc:  # pragma: no cover - interpreter teardown
            logger.debug("flush at exit failed: %r", exc)


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
