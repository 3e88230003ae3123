"""prometheus_client objects built from the metric catalog, shared per registry.

Two :class:`~langgraph_observe.sinks.prometheus.PrometheusSink` on one registry share one
:class:`RegistryMetrics` (registering the same names twice would fail with "Duplicated
timeseries"). The library's health (drops, export errors, queue depths) is read from
:class:`~langgraph_observe.dispatch.Health` at scrape time by :class:`HealthCollector`; in
multiprocess mode, where only metric files are read, it is mirrored into real metrics instead
(:meth:`RegistryMetrics.sync_health`).

The budget gauges show a day or month window only while it lasts
(:class:`~._prometheus_budgets.BudgetGauges`): each series is removed once the UTC day or
month it shows is over (checked after each batch and at scrape time), so neither the alerts
nor the dashboards keep reading an ended window's remaining budget.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import weakref
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .._forksafe import renew_after_fork
from ..metrics_catalog import DROP_REASONS, METRICS, OVERFLOW, PREFIX, MetricSpec, by_name
from ._prometheus_budgets import BUDGET_GAUGES, BudgetGauges

if TYPE_CHECKING:
    from ..dispatch import Health

__all__ = [
    "HEALTH_METRICS",
    "MAX_TABLE",
    "HealthCollector",
    "LabelTables",
    "RegistryMetrics",
    "counter_inc",
    "histogram",
    "metrics_for",
    "multiprocess_enabled",
    "zero_drop_keys",
]

DROPPED = f"{PREFIX}spans_dropped_total"
EXPORT_ERRORS = f"{PREFIX}sink_export_errors_total"
QUEUE_DEPTH = f"{PREFIX}sink_queue_depth"
HEALTH_METRICS = frozenset({DROPPED, EXPORT_ERRORS, QUEUE_DEPTH})
TRACER_SINK, TRACER_REASON = "tracer", "open_run_evicted"  #: what the tracer counts as


def multiprocess_enabled() -> bool:
    """True when prometheus_client writes metric files (``PROMETHEUS_MULTIPROC_DIR`` set)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def _build(spec: MetricSpec, registry: CollectorRegistry | None) -> Any:
    name = spec.name.removesuffix("_total") if spec.type == "counter" else spec.name
    if spec.type == "counter":
        return Counter(name, spec.help, spec.labels, registry=registry)
    if spec.type == "histogram":
        return Histogram(name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)
    mode: Any = spec.multiprocess_mode or "all"
    return Gauge(name, spec.help, spec.labels, registry=registry, multiprocess_mode=mode)


_Counts = tuple["weakref.ref[Health]", dict[tuple[str, str], int], dict[str, int]]


def zero_drop_keys(sinks: Iterable[str]) -> list[tuple[str, str]]:
    """The drop series that start at 0 (so ``increase()`` sees a first drop): every
    catalogued reason of every known sink but the tracer's own, which only the tracer
    counts."""
    keys = [(sink, reason) for sink in sinks for reason in DROP_REASONS if reason != TRACER_REASON]
    return [*keys, (TRACER_SINK, TRACER_REASON)] if keys else keys


class HealthCollector:
    """Reads every bound :class:`Health` when the registry is scraped. The counts of a
    handler that is gone are kept, so the counters never go down (Prometheus would read a
    fall as a reset)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")
        self._tokens: weakref.WeakKeyDictionary[Health, int] = weakref.WeakKeyDictionary()
        self._live: dict[int, _Counts] = {}  #: token -> the Health and its counter dicts
        self._next_token = itertools.count()
        self._retired_dropped: dict[tuple[str, str], int] = {}
        self._retired_errors: dict[str, int] = {}

    def add(self, health: Health) -> None:
        """Report ``health`` until it is gone, then keep its counts."""
        with self._lock:
            if health in self._tokens:
                return
            token = self._tokens[health] = next(self._next_token)
            self._live[token] = (weakref.ref(health), health.dropped, health.export_errors)
        weakref.finalize(health, self._retire, token)

    def _retire(self, token: int) -> None:
        with self._lock:
            _ref, dropped, errors = self._live.pop(token)
            _add_to(self._retired_dropped, dropped)
            _add_to(self._retired_errors, errors)

    def describe(self) -> list[Metric]:
        return list(self._families())

    def _read(self) -> tuple[dict[tuple[str, str], int], dict[str, int], dict[str, int]]:
        """Drops, errors and depths summed over retired and live handlers. A handler is
        either live or retired in one copy taken under the lock, so it counts once."""
        with self._lock:
            dropped = dict(self._retired_dropped)
            errors = dict(self._retired_errors)
            live = list(self._live.values())
        depths: dict[str, int] = {}
        for ref, dead_dropped, dead_errors in live:
            health = ref()
            snap: dict[str, Any]
            if health is None:  # gone, not retired yet: its dicts no longer change
                snap = {"dropped": dead_dropped, "export_errors": dead_errors, "queue_depths": {}}
            else:
                snap = health.snapshot()
            _add_to(dropped, snap["dropped"])
            _add_to(errors, snap["export_errors"])
            _add_to(depths, snap["queue_depths"])
        return dropped, errors, depths

    def collect(self) -> Iterator[Metric]:
        dropped, errors, depths = self._read()
        for key in zero_drop_keys(depths):
            dropped.setdefault(key, 0)
        for sink in depths:
            errors.setdefault(sink, 0)
        fam_dropped, fam_errors, fam_depth = self._families()
        for (sink, reason), n in sorted(dropped.items()):
            fam_dropped.add_metric([sink, reason], n)
        for sink, n in sorted(errors.items()):
            fam_errors.add_metric([sink], n)
        for sink, n in sorted(depths.items()):
            fam_depth.add_metric([sink], n)
        yield from (fam_dropped, fam_errors, fam_depth)

    @staticmethod
    def _families() -> tuple[CounterMetricFamily, CounterMetricFamily, GaugeMetricFamily]:
        d, e, q = by_name(DROPPED), by_name(EXPORT_ERRORS), by_name(QUEUE_DEPTH)
        return (
            CounterMetricFamily(d.name, d.help, labels=d.labels),
            CounterMetricFamily(e.name, e.help, labels=e.labels),
            GaugeMetricFamily(q.name, q.help, labels=q.labels),
        )


def _add_to(totals: dict[Any, int], counts: dict[Any, int]) -> None:
    for key, n in counts.items():
        totals[key] = totals.get(key, 0) + n


class RegistryMetrics:
    """The catalog's metrics on one registry, by full catalog name, and what the sinks on
    it share: the tenants given a label of their own."""

    def __init__(self, registry: CollectorRegistry, multiprocess: bool) -> None:
        self.multiprocess = multiprocess
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")  # also renewed by the sinks' after_fork (earlier)
        #: per Health, the totals already added (forgotten with the Health)
        self._seen: weakref.WeakKeyDictionary[Health, dict[tuple[str, tuple[str, ...]], int]]
        self._seen = weakref.WeakKeyDictionary()
        self._zeroed: set[str] = set()  #: sinks whose health series were created at 0
        self._tenants: set[str] = set()
        self.health_collector: HealthCollector | None = None
        self.by_name: dict[str, Any] = {}
        budget = {s.name: _build(s, None) for s in METRICS if s.name in BUDGET_GAUGES}
        self.budgets = BudgetGauges(budget, multiprocess)
        for spec in METRICS:
            if spec.name in HEALTH_METRICS and not multiprocess:
                continue
            if spec.name in budget:  # registered as one collector, where the first one is
                if not any(name in self.by_name for name in budget):
                    registry.register(self.budgets)
                self.by_name[spec.name] = budget[spec.name]
                continue
            self.by_name[spec.name] = _build(spec, registry)
        if not multiprocess:
            self.health_collector = HealthCollector()
            registry.register(self.health_collector)

    def __getitem__(self, name: str) -> Any:
        return self.by_name[name]

    def tenant(self, label: str, max_tenants: int) -> str:
        """``label`` while fewer than ``max_tenants`` tenants have one (on this registry,
        whichever sink saw them), else :data:`OVERFLOW`."""
        with self._lock:
            if label in self._tenants:
                return label
            if len(self._tenants) < max_tenants:
                self._tenants.add(label)
                return label
            return OVERFLOW

    def watch(self, health: Health) -> None:
        """Report ``health`` from now on (at scrape time, or through :meth:`sync_health`)."""
        if self.health_collector is not None:
            self.health_collector.add(health)

    def sync_health(self, health: Health) -> None:
        """Multiprocess mode: add what ``health`` counted since the last call to the metrics,
        and set the queue depths. Read and written under one lock, so that of calls from
        several threads the latest reading is the one written last (a stale depth would stay
        while the process idles)."""
        if not self.multiprocess:
            return
        with self._lock:
            snap = health.snapshot()
            self._zero(snap["queue_depths"])
            seen = self._seen.setdefault(health, {})
            for (sink, reason), n in snap["dropped"].items():
                self._bump(seen, DROPPED, (sink, reason), n)
            for sink, n in snap["export_errors"].items():
                self._bump(seen, EXPORT_ERRORS, (sink,), n)
            for sink, n in snap["queue_depths"].items():
                self.by_name[QUEUE_DEPTH].labels(sink).set(n)

    def after_fork(self) -> None:
        """In a forked child: new locks (a parent's thread may have held one at the fork).
        Called by the sinks' ``after_fork``, before the dispatcher binds them (which takes
        the collector's lock)."""
        self._lock = threading.Lock()
        self.budgets._lock = threading.Lock()
        if self.health_collector is not None:
            self.health_collector._lock = threading.Lock()

    def _zero(self, sinks: Iterable[str]) -> None:
        """Create the 0-valued drop and error series of sinks not seen before."""
        new = [sink for sink in sinks if sink not in self._zeroed]
        if not new:
            return
        for sink, reason in zero_drop_keys(new):
            self.by_name[DROPPED].labels(sink, reason)
        for sink in new:
            self.by_name[EXPORT_ERRORS].labels(sink)
            self._zeroed.add(sink)

    def _bump(
        self,
        seen: dict[tuple[str, tuple[str, ...]], int],
        name: str,
        labels: tuple[str, ...],
        total: int,
    ) -> None:
        key = (name, labels)
        delta = total - seen.get(key, 0)
        if delta > 0:
            self.by_name[name].labels(*labels).inc(delta)
            seen[key] = total


_shared: weakref.WeakKeyDictionary[CollectorRegistry, RegistryMetrics] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()
renew_after_fork(sys.modules[__name__], "_shared_lock")


def metrics_for(registry: CollectorRegistry | None) -> RegistryMetrics:
    """The one :class:`RegistryMetrics` of ``registry`` (default: prometheus_client's)."""
    registry = REGISTRY if registry is None else registry
    with _shared_lock:
        found = _shared.get(registry)
        if found is None:
            found = RegistryMetrics(registry, multiprocess_enabled())
            _shared[registry] = found
        return found


MAX_TABLE = 4096  #: label children and span plans a sink keeps (cleared when full)


def counter_inc(child: Any) -> Any:
    """A counter child's ``inc`` without its checks (for amounts known to be positive)."""
    value = getattr(child, "_value", None)
    return value.inc if value is not None else child.inc


def histogram(child: Any) -> Any:
    """What observing into a histogram child touches: its sum's ``inc``, its bucket bounds
    and bucket values (``observe`` walks the bounds and takes two locks; a bisection,
    and bucket counts added once per batch, give the same samples). The child itself
    when prometheus_client lays them out otherwise."""
    try:
        return (child._sum.inc, child._upper_bounds, child._buckets)
    except AttributeError:  # pragma: no cover - another prometheus_client layout
        return child


class LabelTables:
    """One sink's label children, kept by label values and by the record fields they
    come from (not looked up through ``labels()`` per record), and the counts of one
    batch: integer counter increments and histogram bucket counts are added up and
    applied by :meth:`apply`, as counting one by one would leave them. Not
    thread-safe (a sink exports from one thread)."""

    def __init__(self, metrics: RegistryMetrics) -> None:
        self._m = metrics
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._plans: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._histograms: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._pending: dict[Any, int] = {}  #: counter or bucket -> amount, this batch

    def child(self, name: str, *labels: str) -> Any:
        """``metric.labels(*labels)``, kept."""
        key = (name, labels)
        found = self._children.get(key)
        if found is None:
            if len(self._children) >= MAX_TABLE:
                self._children.clear()
            found = self._children[key] = self._m[name].labels(*labels)
        return found

    def histogram(self, name: str, *labels: str) -> Any:
        """:func:`histogram` of ``metric.labels(*labels)``, kept."""
        key = (name, labels)
        found = self._histograms.get(key)
        if found is None:
            if len(self._histograms) >= MAX_TABLE:
                self._histograms.clear()
            found = self._histograms[key] = histogram(self.child(name, *labels))
        return found

    def plan(self, key: tuple[Any, ...], make: Any, *inputs: Any) -> tuple[Any, ...]:
        """What a span of ``key`` touches, ``make(*inputs)``, kept. ``key`` holds the
        inputs and their types (a ``str`` subclass may label differently from an equal
        ``str``)."""
        found = self._plans.get(key)
        if found is None:
            found = make(*inputs)
            if len(self._plans) >= MAX_TABLE:
                self._plans.clear()
            self._plans[key] = found
        return found

    def count(self, counter: Any, amount: Any = 1) -> None:
        if type(amount) is int:
            pending = self._pending
            pending[counter] = pending.get(counter, 0) + amount
        else:  # a float sum depends on the order of its terms: added as it comes
            counter.inc(amount)

    def observe(self, histogram: Any, amount: Any) -> None:
        if type(histogram) is tuple and amount == amount:  # not NaN
            add_to_sum, bounds, buckets = histogram
            add_to_sum(amount)
            bucket = buckets[bisect_left(bounds, amount)]
            pending = self._pending
            pending[bucket] = pending.get(bucket, 0) + 1
        else:
            histogram.observe(amount)

    def apply(self) -> None:
        """Add the batch's counts to the metrics."""
        pending, self._pending = self._pending, {}
        for target, amount in pending.items():
            target.inc(amount)
