"""What a :class:`~.budgets.BudgetTracker` reads from the local store: the usage other
counters (other handlers, other processes) stored for day and month windows.

A tracker with a store and day or month budgets starts its background refresher when it is
built: the refresher's first pass preloads what every other counter stored for the current
UTC day and month (its day and month personas, every tenant and workflow: one indexed read)
into a :class:`StoredUsage` cache, and each later pass reads it again and updates the open
windows. A window needed for the first time starts from that cache, so the graph's path
does no I/O; only with ``refresh_s <= 0`` (no background thread) is it read on demand."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .budgets import BudgetTracker

__all__ = [
    "PRELOAD_WAIT_S",
    "Key",
    "OtherUsage",
    "StoredUsage",
    "Window",
    "fold_in",
    "read_other_counters",
    "read_periods",
    "refresh_loop",
    "start_refresher",
]

Key = tuple[str, str, str, str]  #: persona, window, window key, tenant ('' for none)
OtherUsage = tuple[int, float, bool, bool]  #: tokens, USD, warned, exceeded

PRELOAD_WAIT_S = 1.0
"""How long a day or month window needed before the refresher's first pass (the preload)
is done waits for it, so that a process started again sees a budget already used up; past
that it starts at zero, and the next pass adds what the other counters stored."""

_SQL = (
    "SELECT COALESCE(SUM(used_tokens), 0) AS t, COALESCE(SUM(used_usd), 0) AS u,"
    " COALESCE(MAX(warned), 0) AS w, COALESCE(MAX(exceeded), 0) AS x "
    "FROM budget_counters WHERE persona = ? AND window = ? AND window_key = ?"
    " AND tenant = ? AND counter != ?"
)

_PERIODS_SQL = (  # the primary key's (persona, window) prefix selects the rows
    "SELECT persona, window, window_key, tenant, SUM(used_tokens) AS t, SUM(used_usd) AS u,"
    " MAX(warned) AS w, MAX(exceeded) AS x FROM budget_counters"
    " WHERE persona IN ({personas}) AND window IN ('day', 'month') AND counter != ?"
    " AND (window_key IN (?, ?) OR window_key LIKE ? OR window_key LIKE ?)"
    " GROUP BY persona, window, window_key, tenant"
)


class Window:
    """One window's usage: what this tracker counted, plus what other counters (other
    handlers, other processes) had stored when last read."""

    __slots__ = ("exceeded", "others_tokens", "others_usd", "own_tokens", "own_usd", "warned")

    def __init__(
        self,
        others_tokens: int = 0,
        others_usd: float = 0.0,
        warned: bool = False,
        exceeded: bool = False,
    ) -> None:
        self.own_tokens = 0
        self.own_usd = 0.0
        self.others_tokens = others_tokens
        self.others_usd = others_usd
        self.warned = warned
        self.exceeded = exceeded

    @property
    def used_tokens(self) -> int:
        return self.own_tokens + self.others_tokens

    @property
    def used_usd(self) -> float:
        return self.own_usd + self.others_usd


def period_of(key: Key) -> str:
    """The day or month a window key names (after a ``<workflow>/`` prefix)."""
    return key[2].rsplit("/", 1)[-1]


def read_other_counters(
    store_path: Path | None, counter_id: str, keys: Sequence[Key]
) -> dict[Key, OtherUsage]:
    """The usage every counter but ``counter_id`` stored for ``keys`` (one indexed read
    per key); empty without a store file or its budget table."""
    if store_path is None or not store_path.is_file():
        return {}
    from .store import LocalStore

    out: dict[Key, OtherUsage] = {}
    with LocalStore(store_path) as store:
        for key in keys:
            rows = store.query(_SQL, [*key, counter_id])
            if not rows:  # no budget table yet
                continue
            row = rows[0]
            out[key] = (int(row["t"]), float(row["u"]), bool(row["w"]), bool(row["x"]))
    return out


def read_periods(
    store_path: Path | None, counter_id: str, personas: Sequence[str], day: str
) -> dict[Key, OtherUsage]:
    """The usage every counter but ``counter_id`` stored for every day window of ``day``
    (``YYYY-MM-DD``) and month window of its month, for each persona of ``personas``:
    one indexed read grouped by window key and tenant; empty without a store file or its
    budget table."""
    if store_path is None or not personas or not store_path.is_file():
        return {}
    from .store import LocalStore

    month = day[:7]
    sql = _PERIODS_SQL.format(personas=", ".join("?" * len(personas)))
    params = [*personas, counter_id, day, month, f"%/{day}", f"%/{month}"]
    with LocalStore(store_path) as store:
        rows = store.query(sql, params)
    out: dict[Key, OtherUsage] = {}
    for row in rows:
        key = (row["persona"], row["window"], row["window_key"], row["tenant"])
        if period_of(key) == (day if key[1] == "day" else month):
            out[key] = (int(row["t"]), float(row["u"]), bool(row["w"]), bool(row["x"]))
    return out


class StoredUsage:
    """The preloaded cache: what the other counters had stored, when last read, for every
    key of one UTC day and its month. ``ready`` is set once the first read was tried."""

    __slots__ = ("day", "ready", "usage")

    def __init__(self, day: str = "", usage: dict[Key, OtherUsage] | None = None) -> None:
        self.day = day  #: the day read ('' before the first read), its month ``day[:7]``
        self.usage: dict[Key, OtherUsage] = usage or {}
        self.ready = threading.Event()

    def get(self, key: Key) -> OtherUsage | None:
        """The stored usage of ``key``; None when nothing was stored for it or its period
        is not the one read (a new day: it starts at zero until the next read)."""
        if not self.day or period_of(key) != (self.day if key[1] == "day" else self.day[:7]):
            return None
        return self.usage.get(key)

    @classmethod
    def read(
        cls, store_path: Path | None, counter_id: str, personas: Sequence[str], day: str
    ) -> StoredUsage:
        """A cache of what :func:`read_periods` reads, its ``ready`` set."""
        cache = cls(day, read_periods(store_path, counter_id, personas, day))
        cache.ready.set()
        return cache

    def renewed(self) -> StoredUsage:
        """A copy for a forked child: the same usage, with an Event of its own, not set
        (the child's own refresher reads the store again)."""
        return StoredUsage(self.day, dict(self.usage))


def fold_in(windows: Mapping[Key, Window], stored: Mapping[Key, OtherUsage]) -> None:
    """Give each of ``windows`` found in ``stored`` the other counters' usage read; their
    ``warned`` and ``exceeded`` stay set once set (call with the tracker's lock held)."""
    for key, (tokens, usd, warned, exceeded) in stored.items():
        window = windows.get(key)
        if window is not None:
            window.others_tokens, window.others_usd = tokens, usd
            window.warned = window.warned or warned
            window.exceeded = window.exceeded or exceeded


def start_refresher(tracker: BudgetTracker, every_s: float) -> threading.Thread:
    """Start ``tracker``'s background refresher (it holds the tracker weakly: a tracker
    that is garbage collected ends it)."""
    thread = threading.Thread(
        target=refresh_loop,
        args=(weakref.ref(tracker), every_s),
        daemon=True,
        name="langgraph-observe-budgets",
    )
    thread.start()
    return thread


def refresh_loop(ref: weakref.ReferenceType[BudgetTracker], every_s: float) -> None:
    """Keep a tracker's view of other counters current until the tracker is gone: a
    first pass at once (the preload), then one every ``every_s`` seconds."""
    from ._guard import report

    stop = threading.Event()
    wait = 0.0
    while not stop.wait(wait):
        wait = every_s
        tracker = ref()
        if tracker is None:
            return
        try:
            tracker.refresh()
        except Exception as exc:  # a busy or broken store must not end the loop
            report("budget refresh", exc)
        del tracker
