"""What a :class:`~.budgets.BudgetTracker` reads from the local store: the usage other
counters (other handlers, other processes) stored for day and month windows."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .budgets import BudgetTracker

__all__ = ["Key", "OtherUsage", "read_other_counters", "refresh_loop"]

Key = tuple[str, str, str, str]  #: persona, window, window key, tenant ('' for none)
OtherUsage = tuple[int, float, bool, bool]  #: tokens, USD, warned, exceeded

_SQL = (
    "SELECT COALESCE(SUM(used_tokens), 0) AS t, COALESCE(SUM(used_usd), 0) AS u,"
    " COALESCE(MAX(warned), 0) AS w, COALESCE(MAX(exceeded), 0) AS x "
    "FROM budget_counters WHERE persona = ? AND window = ? AND window_key = ?"
    " AND tenant = ? AND counter != ?"
)


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


def refresh_loop(ref: weakref.ReferenceType[BudgetTracker], every_s: float) -> None:
    """Keep a tracker's view of other counters current until the tracker is gone."""
    from ._guard import report

    stop = threading.Event()
    while not stop.wait(every_s):
        tracker = ref()
        if tracker is None:
            return
        try:
            tracker.refresh()
        except Exception as exc:  # a busy or broken store must not end the loop
            report("budget refresh", exc)
        del tracker
