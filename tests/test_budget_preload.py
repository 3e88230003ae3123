"""Day and month windows start from what a background thread preloaded from the store: a
tracker reads nothing on the graph's path (unless ``refresh_s <= 0``), and still sees a
budget other counters already used up."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from langgraph_observe import TokenBudgetExceeded, _budget_store
from langgraph_observe.budgets import BudgetPolicy, BudgetTracker, PersonaBudget
from langgraph_observe.dispatch import Dispatcher
from langgraph_observe.sinks.local import LocalStoreSink

from .test_forksafe import in_child

pytestmark = pytest.mark.unit

DEV = {"dev": PersonaBudget("dev", budget_tokens=100, window="day", on_exceeded="raise")}


def store_usage(db: Path, policy: BudgetPolicy, *calls: tuple[int, str | None]) -> None:
    """Another counter (another handler or process) stores ``dev``'s usage: each call's
    tokens, in the given tenant's window."""
    other = BudgetTracker(DEV, policy, refresh_s=0)
    dispatcher = Dispatcher([LocalStoreSink(db)])
    for tokens, tenant in calls:
        counted = other.record("dev", trace_id="o", tokens=tokens, usd=None, tenant=tenant)
        assert counted is not None
        dispatcher.emit(counted[0])
    assert dispatcher.flush()
    dispatcher.shutdown()


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], set[int]]]:
    """The ids of the threads that opened an SQLite connection since the last call."""
    threads: list[int] = []
    connect = sqlite3.connect

    def recording(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        threads.append(threading.get_ident())
        return connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", recording)
    # a loaded machine may take longer than the default bound to read the store
    monkeypatch.setattr(_budget_store, "PRELOAD_WAIT_S", 30.0, raising=False)

    def since() -> set[int]:
        seen = set(threads)
        threads.clear()
        return seen

    yield since


def test_a_used_up_day_budget_is_refused_without_reading_on_the_graphs_thread(tmp_path, opened):
    db = tmp_path / "budgets.db"
    store_usage(db, BudgetPolicy(), (60, None), (40, None))
    tracker = BudgetTracker(DEV, BudgetPolicy(), store_path=db)  # starts the preload
    opened()
    with pytest.raises(TokenBudgetExceeded) as raised:
        tracker.check("dev", trace_id="t")  # at once, as a graph started right away would
    assert (raised.value.used, raised.value.window) == (100, "day")
    assert threading.get_ident() not in opened()


def test_a_new_tenant_starts_from_the_preload(tmp_path, opened):
    db = tmp_path / "tenants.db"
    policy = BudgetPolicy(per_tenant=True)
    store_usage(db, policy, (100, "acme"), (30, "globex"))
    tracker = BudgetTracker(DEV, policy, store_path=db)
    tracker.check("dev", trace_id="t", tenant="globex")  # 30 of 100: allowed
    opened()
    with pytest.raises(TokenBudgetExceeded) as raised:
        tracker.check("dev", trace_id="t", tenant="acme")  # a tenant first seen now
    assert raised.value.used == 100
    counted = tracker.record("dev", trace_id="t", tokens=5, usd=None, tenant="newcomer")
    assert counted is not None and counted[0].used_tokens == 5  # nothing stored: zero
    assert threading.get_ident() not in opened()
    assert tracker.used("dev", tenant="globex") == (30, 0.0)


def test_refresh_s_zero_reads_on_demand_and_only_then(tmp_path, opened):
    """``refresh_s=0``: no background thread, so the first check of a window reads the
    store itself; with a refresher, the same check reads nothing."""
    db = tmp_path / "demand.db"
    store_usage(db, BudgetPolicy(), (100, None))
    for refresh_s, reads_here in ((0, True), (60, False)):
        tracker = BudgetTracker(DEV, BudgetPolicy(), store_path=db, refresh_s=refresh_s)
        assert (tracker._refresher is None) == reads_here
        opened()
        with pytest.raises(TokenBudgetExceeded):
            tracker.check("dev", trace_id="t")
        assert (threading.get_ident() in opened()) == reads_here


def test_a_slow_preload_is_waited_for_briefly_then_folded_in(tmp_path, monkeypatch):
    db = tmp_path / "slow.db"
    store_usage(db, BudgetPolicy(), (100, None))
    release = threading.Event()
    read_periods = getattr(_budget_store, "read_periods", None)

    def slow(*args: Any) -> Any:
        release.wait(30)
        assert read_periods is not None
        return read_periods(*args)

    monkeypatch.setattr(_budget_store, "read_periods", slow, raising=False)
    monkeypatch.setattr(_budget_store, "PRELOAD_WAIT_S", 0.05, raising=False)
    tracker = BudgetTracker(DEV, BudgetPolicy(), store_path=db, refresh_s=0.05)
    started = time.monotonic()
    tracker.check("dev", trace_id="t")  # the preload is not done: starts at zero
    assert time.monotonic() - started < 5
    release.set()
    deadline = time.monotonic() + 10
    while tracker.used("dev") != (100, 0.0) and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(TokenBudgetExceeded):
        tracker.check("dev", trace_id="t")


def test_a_new_day_starts_at_zero_until_the_refresher_reads_it(tmp_path, opened, monkeypatch):
    day = {"now": 1_764_374_400.0}  # 2025-11-29 00:00 UTC
    real_gmtime = time.gmtime
    monkeypatch.setattr(time, "gmtime", lambda s=None: real_gmtime(day["now"] if s is None else s))
    db = tmp_path / "days.db"
    store_usage(db, BudgetPolicy(), (100, None))
    tracker = BudgetTracker(DEV, BudgetPolicy(), store_path=db, refresh_s=3600)
    with pytest.raises(TokenBudgetExceeded):
        tracker.check("dev", trace_id="t")
    day["now"] += 86_400
    store_usage(db, BudgetPolicy(), (100, None))  # the next day, used up by then too
    opened()
    tracker.check("dev", trace_id="t")  # the new day is not read yet: zero
    assert threading.get_ident() not in opened()
    tracker.refresh()  # what the refresher's next pass does
    with pytest.raises(TokenBudgetExceeded):
        tracker.check("dev", trace_id="t")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reads_in_its_own_refresher(tmp_path, opened):
    db = tmp_path / "forked.db"
    policy = BudgetPolicy(per_tenant=True)
    store_usage(db, policy, (100, "acme"))
    tracker = BudgetTracker(DEV, policy, store_path=db)
    tracker.record("dev", trace_id="p", tokens=10, usd=None, tenant="globex")

    def child() -> list[Any]:
        opened()
        try:
            tracker.check("dev", trace_id="c", tenant="acme")
            refused = False
        except TokenBudgetExceeded:
            refused = True
        counted = tracker.record("dev", trace_id="c", tokens=1, usd=None, tenant="globex")
        assert counted is not None
        return [
            refused,
            counted[0].used_tokens,
            counted[0].counter_tokens,
            threading.get_ident() in opened(),
            tracker._refresher is not None and tracker._refresher.is_alive(),
        ]

    assert in_child(child) == [True, 11, 1, False, True]
