"""Token and USD budgets per persona: counting, warnings, and the check before a model call.

A :class:`BudgetTracker` keeps one counter per budget window — a persona's usage in one
run, one UTC day or one UTC month, optionally split by tenant and by workflow. After every
model call of a budgeted persona it returns a :class:`~langgraph_observe.events.BudgetUpdate`
(the sinks turn it into the ``budget_remaining_*`` gauges and the ``budget_usage`` table);
with ``on_exceeded: raise`` :meth:`BudgetTracker.check` raises
:class:`~langgraph_observe.errors.TokenBudgetExceeded` *before* a call that would go over.

Day and month windows live in the local store, one row per counter (each tracker is a
counter with its own id), added up by the store's ``budget_usage`` view: processes sharing
a store never overwrite each other. A tracker with a store and day or month budgets starts
a background thread when it is built: its first pass preloads what the other counters
stored for the current UTC day and month (every key, one indexed SQLite read), and it
reads them again every ``refresh_s`` seconds. A window starts from that cache and counts
its own usage in memory (see ``docs/personas-budgets-gates.md``).

Counting is thread-safe (one lock held for a few dict operations) and does no I/O on the
graph's path; only ``refresh_s <= 0`` (no background thread) reads a window's stored usage
there, the first time the window is needed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _budget_store as _store
from ._forksafe import renew_after_fork
from .errors import TokenBudgetExceeded
from .events import BudgetUpdate

__all__ = [
    "ON_EXCEEDED",
    "WINDOWS",
    "BudgetPolicy",
    "BudgetTracker",
    "PersonaBudget",
    "window_key",
]

WINDOWS = ("run", "day", "month")
"""Budget windows: one run (trace), one UTC day, one UTC month."""
ON_EXCEEDED = ("warn", "raise")
"""What happens when a budget would be exceeded."""

_MAX_RUN_WINDOWS = 100_000


@dataclass(frozen=True)
class BudgetPolicy:
    """Defaults for every persona budget (the ``budgets:`` section of the config file)."""

    window: str = "run"
    warn_at: float | None = 0.8  #: fraction of a budget that fires the warning; None: never
    on_exceeded: str = "warn"
    per_tenant: bool = False  #: one window per tenant
    per_workflow: bool = False  #: one window per workflow


@dataclass(frozen=True)
class PersonaBudget:
    """One persona's limits; ``None`` fields fall back to the :class:`BudgetPolicy`."""

    persona: str
    budget_tokens: int | None = None
    budget_usd: float | None = None
    window: str | None = None
    warn_at: float | None = None
    on_exceeded: str | None = None

    @property
    def limited(self) -> bool:
        """True when there is a token or USD limit (a persona without one is not budgeted)."""
        return self.budget_tokens is not None or self.budget_usd is not None

    def resolved(self, policy: BudgetPolicy) -> PersonaBudget:
        """These limits with the policy's defaults filled in."""
        return PersonaBudget(
            self.persona,
            self.budget_tokens,
            self.budget_usd,
            self.window or policy.window,
            self.warn_at if self.warn_at is not None else policy.warn_at,
            self.on_exceeded or policy.on_exceeded,
        )


def window_key(
    window: str,
    trace_id: str,
    *,
    workflow: str | None = None,
    per_workflow: bool = False,
    now_s: float | None = None,
) -> str:
    """The key of the window a call at ``now_s`` counts in: the trace id for ``run``,
    ``YYYY-MM-DD`` (UTC) for ``day``, ``YYYY-MM`` for ``month``; prefixed ``<workflow>/``
    for day and month windows when budgets are per workflow."""
    if window == "run":
        return trace_id
    t = time.gmtime(now_s)
    key = f"{t.tm_year:04d}-{t.tm_mon:02d}"
    if window == "day":
        key = f"{key}-{t.tm_mday:02d}"
    if per_workflow and workflow:
        key = f"{workflow}/{key}"
    return key


_Window = _store.Window
_Key = _store.Key


class BudgetTracker:
    """Counts usage against persona budgets.

    Args:
        budgets: the limits of each persona; those with neither ``budget_tokens`` nor
            ``budget_usd`` are left out.
        policy: defaults (window, warning threshold, raise or warn, per tenant/workflow).
        store_path: the local store holding day and month windows (None: memory only).
        on_warning: called once per window with the update that crossed ``warn_at``
            (on the graph's path: keep it quick; its exceptions are logged, not raised).
        refresh_s: how often a background thread re-reads what other counters sharing
            the store have used in the current day and month windows (it starts when the
            tracker is built; its first pass preloads them). ``<= 0``: no thread, each
            window reads the store the first time it is needed, on the graph's path.
    """

    def __init__(
        self,
        budgets: Mapping[str, PersonaBudget],
        policy: BudgetPolicy | None = None,
        *,
        store_path: Path | str | None = None,
        on_warning: Callable[[BudgetUpdate], Any] | None = None,
        refresh_s: float = 2.0,
    ) -> None:
        self.policy = policy or BudgetPolicy()
        self.budgets = {  # a persona without a token or USD limit is not budgeted
            p: b.resolved(self.policy) for p, b in budgets.items() if b.limited
        }
        self.store_path = Path(store_path) if store_path is not None else None
        self.on_warning = on_warning
        self.refresh_s = refresh_s
        self.counter_id = uuid.uuid4().hex[:16]  #: this tracker's rows in the store
        self._lock = threading.Lock()
        self._windows: dict[_Key, _Window] = {}
        self._run_keys: dict[str, list[_Key]] = {}
        self._refresher: threading.Thread | None = None
        self._today = ""  #: the UTC day the day and month windows were last pruned for
        #: the personas counted in day and month windows: those the store is read for
        self._periodic = sorted(p for p, b in self.budgets.items() if b.window != "run")
        self._stored = _store.StoredUsage()  #: what other counters stored (the refresher's reads)
        renew_after_fork(self, "_lock", reset=BudgetTracker._after_fork)
        self._start_refresher()  # building a tracker is set-up, not the graph's path

    def _after_fork(self) -> None:
        """In a forked child (its lock already renewed): a counter of its own (the parent
        keeps writing its rows), what the parent had counted becomes another counter's
        usage, and the refresher thread (not inherited) starts again when needed."""
        self.counter_id = uuid.uuid4().hex[:16]
        self._refresher = None
        self._stored = self._stored.renewed()  # read again by the child's refresher
        for trace_id in list(self._run_keys):
            self._forget(trace_id)  # the parent's runs in progress are not the child's
        for window in self._windows.values():
            window.others_tokens += window.own_tokens
            window.others_usd += window.own_usd
            window.own_tokens, window.own_usd = 0, 0.0

    def limits(self, persona: str | None) -> PersonaBudget | None:
        """The resolved limits of ``persona``, or None when it has no budget."""
        return self.budgets.get(persona) if persona is not None else None

    # -- windows -----------------------------------------------------------------------
    def _key(
        self, b: PersonaBudget, trace_id: str, tenant: str | None, workflow: str | None
    ) -> _Key:
        assert b.window is not None
        wkey = window_key(
            b.window, trace_id, workflow=workflow, per_workflow=self.policy.per_workflow
        )
        return (b.persona, b.window, wkey, (tenant or "") if self.policy.per_tenant else "")

    def _window(self, key: _Key, trace_id: str) -> _Window:
        window = self._windows.get(key)
        if window is not None:
            return window
        stored: _store.OtherUsage | None = None
        if key[1] != "run":
            self._prune()
            stored = self._load(key)
        with self._lock:  # the cache is replaced under the lock: no refresh is missed
            window = self._windows.get(key)
            if window is None:
                if key[1] != "run" and stored is None:
                    stored = self._stored.get(key)
                window = self._windows[key] = _Window(*stored) if stored else _Window()
                if key[1] == "run":
                    self._run_keys.setdefault(trace_id, []).append(key)
                    if len(self._run_keys) > _MAX_RUN_WINDOWS:  # runs that never ended
                        self._forget(next(iter(self._run_keys)))
        return window

    def _load(self, key: _Key) -> _store.OtherUsage | None:
        """What other counters stored for a new day or month window, read here only when
        ``refresh_s <= 0``. Else the window starts from the refresher's cache: this waits
        (at most ``PRELOAD_WAIT_S``, 1 s) for its first pass, and returns None."""
        if self.store_path is None:
            return None
        if self.refresh_s <= 0:  # no background thread: read on demand
            return _store.read_other_counters(self.store_path, self.counter_id, [key]).get(key)
        self._start_refresher()  # in a forked child: its own
        stored = self._stored
        if not stored.ready.is_set():
            stored.ready.wait(_store.PRELOAD_WAIT_S)
        return None

    def _prune(self) -> None:
        """Once per UTC day: forget the day and month windows of days and months that are
        over (their usage stays in the store; no call counts in them any more)."""
        today = window_key("day", "")
        if today == self._today:
            return
        month = today[:7]
        with self._lock:
            self._today = today
            for key in [k for k in self._windows if k[1] != "run"]:
                period = key[2].rsplit("/", 1)[-1]  # after a ``<workflow>/`` prefix
                if period != (today if key[1] == "day" else month):
                    del self._windows[key]

    def _start_refresher(self) -> None:
        """Start the background thread that reads the store (with day or month budgets)."""
        if self._refresher is not None or self.store_path is None or self.refresh_s <= 0:
            return
        with self._lock:
            if self._refresher is None and self._periodic:
                self._refresher = _store.start_refresher(self, self.refresh_s)

    def refresh(self) -> None:
        """Re-read what the other counters stored for the current UTC day and month (every
        key: the cache new windows start from), and update the open day and month windows."""
        self._prune()
        cache = self._stored
        try:
            day = window_key("day", "")
            fresh = _store.StoredUsage.read(self.store_path, self.counter_id, self._periodic, day)
            with self._lock:
                self._stored = fresh
                _store.fold_in(self._windows, fresh.usage)
        finally:
            cache.ready.set()  # whatever came of the first pass: nobody waits any longer

    def _forget(self, trace_id: str) -> None:
        for key in self._run_keys.pop(trace_id, ()):
            self._windows.pop(key, None)

    def end_run(self, trace_id: str) -> None:
        """Drop the run windows of a finished trace."""
        if trace_id in self._run_keys:
            with self._lock:
                self._forget(trace_id)

    def used(
        self,
        persona: str,
        trace_id: str = "",
        *,
        tenant: str | None = None,
        workflow: str | None = None,
    ) -> tuple[int, float]:
        """Tokens and USD counted so far in ``persona``'s current window."""
        b = self.limits(persona)
        if b is None:
            return 0, 0.0
        window = self._windows.get(self._key(b, trace_id, tenant, workflow))
        return (window.used_tokens, window.used_usd) if window else (0, 0.0)

    # -- the hot path ------------------------------------------------------------------
    def check(
        self,
        persona: str | None,
        *,
        trace_id: str,
        tenant: str | None = None,
        workflow: str | None = None,
        requested_tokens: int = 0,
        requested_usd: float = 0.0,
    ) -> None:
        """Raise :class:`TokenBudgetExceeded` when ``persona`` is budgeted with
        ``on_exceeded: raise`` and a call of ``requested_*`` would go over (or the budget is
        already used up)."""
        b = self.limits(persona)
        if b is None or b.on_exceeded != "raise":
            return
        window = self._window(self._key(b, trace_id, tenant, workflow), trace_id)
        assert b.window is not None and persona is not None
        tokens, usd = b.budget_tokens, b.budget_usd
        if tokens is not None and (
            window.used_tokens >= tokens or window.used_tokens + requested_tokens > tokens
        ):
            raise TokenBudgetExceeded(
                persona,
                used=window.used_tokens,
                budget=tokens,
                requested=requested_tokens,
                window=b.window,
            )
        if usd is not None and (window.used_usd >= usd or window.used_usd + requested_usd > usd):
            raise TokenBudgetExceeded(
                persona,
                used=round(window.used_usd, 6),
                budget=usd,
                requested=round(requested_usd, 6),
                unit="USD",
                window=b.window,
            )

    def record(
        self,
        persona: str,
        *,
        trace_id: str,
        tokens: int,
        usd: float | None,
        tenant: str | None = None,
        workflow: str | None = None,
    ) -> tuple[BudgetUpdate, bool] | None:
        """Count one call. Returns the window's new state and whether this call made it
        exceed its budget for the first time; None when ``persona`` has no budget."""
        b = self.limits(persona)
        if b is None:
            return None
        key = self._key(b, trace_id, tenant, workflow)
        window = self._window(key, trace_id)
        with self._lock:
            window.own_tokens += tokens
            window.own_usd += usd or 0.0
            fraction = _fraction(window, b)
            crossed_warn = not window.warned and b.warn_at is not None and fraction >= b.warn_at
            if crossed_warn:
                window.warned = True
            over = fraction > 1.0
            newly_exceeded = over and not window.exceeded
            if over:
                window.exceeded = True
            used_tokens, used_usd = window.used_tokens, window.used_usd
            own_tokens, own_usd = window.own_tokens, window.own_usd
        assert b.window is not None
        update = BudgetUpdate(
            persona=persona,
            window=b.window,
            window_key=key[2],
            time_ns=time.time_ns(),
            used_tokens=used_tokens,
            budget_tokens=b.budget_tokens,
            used_usd=used_usd,
            budget_usd=b.budget_usd,
            tenant=key[3] or None,  # the window's tenant: none unless budgets are per tenant
            workflow=workflow,
            trace_id=trace_id,
            warned=crossed_warn,
            exceeded=over,
            counter=self.counter_id,
            counter_tokens=own_tokens,
            counter_usd=own_usd,
        )
        return update, newly_exceeded


def _fraction(window: _Window, b: PersonaBudget) -> float:
    """How much of the budget is used: the larger of the token and USD fractions."""
    fraction = 0.0
    if b.budget_tokens is not None:
        fraction = _share(window.used_tokens, b.budget_tokens)
    if b.budget_usd is not None:
        fraction = max(fraction, _share(window.used_usd, b.budget_usd))
    return fraction


def _share(used: float, budget: float) -> float:
    if budget > 0:
        return used / budget
    return 2.0 if used > 0 else 0.0  # a zero budget: any use is over it
