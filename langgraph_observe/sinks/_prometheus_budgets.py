"""The budget gauges of a Prometheus registry, shown only while their day or month window
lasts (see :class:`BudgetGauges`)."""

from __future__ import annotations

import calendar
import functools
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, timedelta
from typing import Any

from prometheus_client.core import Metric

from .._forksafe import renew_after_fork
from ..metrics_catalog import PREFIX

__all__ = ["BUDGET_GAUGES", "BudgetGauges", "window_end_s"]

#: the gauges of a budget window, set together from a ``BudgetUpdate``
BUDGET_GAUGES = tuple(
    f"{PREFIX}budget_{what}_{unit}" for unit in ("tokens", "usd") for what in ("remaining", "limit")
)


@functools.lru_cache(maxsize=256)
def window_end_s(window: str, key: str) -> float | None:
    """When the day or month budget window ``key`` ends, in seconds since the epoch: the
    next UTC midnight, or the first of the next month. ``key`` is ``YYYY-MM-DD`` (day) or
    ``YYYY-MM`` (month), prefixed ``<workflow>/`` when budgets are per workflow (see
    :func:`langgraph_observe.budgets.window_key`). None for a ``run`` window, or a key that
    names no day or month: such a series stays until the next update replaces it."""
    if window not in ("day", "month"):
        return None
    parts = key.rsplit("/", 1)[-1].split("-")
    if len(parts) != (3 if window == "day" else 2):
        return None
    if not all(p.isascii() and p.isdigit() for p in parts):
        return None
    try:
        year, month = int(parts[0]), int(parts[1])
        if window == "day":
            end = date(year, month, int(parts[2])) + timedelta(days=1)
        else:
            date(year, month, 1)
            end = date(year + month // 12, month % 12 + 1, 1)
    except (ValueError, OverflowError):  # no such day, or the last one a date can hold
        return None
    return float(calendar.timegm(end.timetuple()))


class BudgetGauges:
    """A registry's budget gauges (:data:`BUDGET_GAUGES`), collected as one, and the day or
    month window each of their series shows.

    A series shows one window: an update of an earlier window than the one shown is ignored,
    and once the UTC day or month it shows is over the series is removed (``gauge.remove``):
    checked by :meth:`expire`, which the sinks call after each batch and :meth:`collect`
    calls at scrape time, so a scrape never reads an ended window's remaining budget (the
    alerts on it stop, the dashboards show no value until the new window's first update).
    ``run`` windows and keys that name no day or month are shown as they come.

    Multiprocess mode: prometheus_client cannot remove a series from the metric files (it
    warns and forgets it in memory only), and only a process that writes them runs this
    check, not the one serving the merged view. The process that wrote an ended window's
    value overwrites it with NaN at its next batch, stamped with the instant the window
    ended: the gauges merge as ``mostrecent`` (latest stamp wins), so NaN hides every value
    written during the ended window while any value written since, for the new window by
    any process, wins over it. Alerts compare false on NaN. A process that exports nothing
    after the window ended leaves its value as it was.
    """

    def __init__(self, gauges: Mapping[str, Any], multiprocess: bool) -> None:
        self.gauges = dict(gauges)  #: full name -> Gauge, in catalog order
        self.multiprocess = multiprocess
        #: the wall clock (seconds since the epoch) that tells when a window is over
        self.clock: Callable[[], float] = time.time
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")
        #: labels -> end of the window shown, and the gauges set for it
        self._shown: dict[tuple[str, ...], tuple[float, frozenset[str]]] = {}
        self._next_end = math.inf  #: no window shown ends before this

    def describe(self) -> list[Metric]:
        return [m for gauge in self.gauges.values() for m in gauge.describe()]

    def collect(self) -> Iterator[Metric]:
        self.expire()
        for gauge in self.gauges.values():
            yield from gauge.collect()

    def set(
        self, labels: tuple[str, ...], window: str, key: str, values: Mapping[str, float]
    ) -> None:
        """Set the gauges ``values`` names (full name -> value) of the series ``labels``,
        from an update of window ``key``, unless an ended or an earlier window."""
        plain = isinstance(window, str) and isinstance(key, str)
        end = window_end_s(window, key) if plain else None
        with self._lock:
            shown = self._shown.get(labels)
            if end is None:
                if shown is not None:
                    del self._shown[labels]
            elif shown is not None and end < shown[0]:
                return  # a late update of an earlier window than the one shown
            elif end <= self.clock():
                return  # its window is over (expire() removes what it showed)
            else:
                names = frozenset(values)
                if shown is not None:
                    if shown[0] == end:
                        names |= shown[1]
                    else:  # a new window: what it does not set is the old one's
                        self._drop(labels, shown[1] - names, shown[0])
                self._shown[labels] = (end, names)
                self._next_end = min(self._next_end, end)
            for name, value in values.items():
                self.gauges[name].labels(*labels).set(value)

    def expire(self) -> None:
        """Remove the series whose window is over."""
        now = self.clock()
        if now < self._next_end:
            return
        with self._lock:
            ended = [(labels, shown) for labels, shown in self._shown.items() if shown[0] <= now]
            for labels, (end, names) in ended:
                del self._shown[labels]
                self._drop(labels, names, end)
            self._next_end = min((end for end, _ in self._shown.values()), default=math.inf)

    def _drop(self, labels: tuple[str, ...], names: Iterable[str], end: float) -> None:
        for name in sorted(names):
            gauge = self.gauges[name]
            if not self.multiprocess:
                gauge.remove(*labels)
                continue
            value: Any = getattr(gauge.labels(*labels), "_value", None)
            if getattr(value, "_multiprocess", False):  # a value in this process's file
                value.set(math.nan, timestamp=end)
