"""prometheus_client objects built from the metric catalog, shared per registry.

Two :class:`~langgraph_observe.sinks.prometheus.PrometheusSink` on one registry share one
:class:`RegistryMetrics` (registering the same names twice would fail with "Duplicated
timeseries"). The library's health (drops, export errors, queue depths) is read from
:class:`~langgraph_observe.dispatch.Health` at scrape time by :class:`HealthCollector`; in
multiprocess mode, where only metric files are read, it is mirrored into real metrics instead
(:meth:`RegistryMetrics.sync_health`).
"""

from __future__ import annotations

import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..metrics_catalog import METRICS, PREFIX, MetricSpec, by_name

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
]

DROPPED = f"{PREFIX}spans_dropped_total"
EXPORT_ERRORS = f"{PREFIX}sink_export_errors_total"
QUEUE_DEPTH = f"{PREFIX}sink_queue_depth"
HEALTH_METRICS = frozenset({DROPPED, EXPORT_ERRORS, QUEUE_DEPTH})
_USUAL_REASONS = ("queue_full", "export_error")


def multiprocess_enabled() -> bool:
    """True when prometheus_client writes metric files (``PROMETHEUS_MULTIPROC_DIR`` set)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def _build(spec: MetricSpec, registry: CollectorRegistry) -> Any:
    name = spec.name.removesuffix("_total") if spec.type == "counter" else spec.name
    if spec.type == "counter":
        return Counter(name, spec.help, spec.labels, registry=registry)
    if spec.type == "histogram":
        return Histogram(name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)
    mode: Any = spec.multiprocess_mode or "all"
    return Gauge(name, spec.help, spec.labels, registry=registry, multiprocess_mode=mode)


class HealthCollector:
    """Reads every bound :class:`Health` when the registry is scraped. The counts of a
    handler that is gone are kept, so the counters never go down (Prometheus would read a
    fall as a reset)."""

    def __init__(self) -> None:
        self._healths: weakref.WeakSet[Health] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._retired_dropped: dict[tuple[str, str], int] = {}
        self._retired_errors: dict[str, int] = {}

    def add(self, health: Health) -> None:
        if health in self._healths:
            return
        self._healths.add(health)
        # the finalizer keeps the counter dicts (not the Health) for when it is gone
        weakref.finalize(health, self._retire, health.dropped, health.export_errors)

    def _retire(self, dropped: dict[tuple[str, str], int], errors: dict[str, int]) -> None:
        with self._lock:
            for key, n in dropped.items():
                self._retired_dropped[key] = self._retired_dropped.get(key, 0) + n
            for sink, n in errors.items():
                self._retired_errors[sink] = self._retired_errors.get(sink, 0) + n

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            dropped = dict(self._retired_dropped)
            errors = dict(self._retired_errors)
        depths: dict[str, int] = {}
        for health in list(self._healths):
            snap = health.snapshot()
            for sink in snap["queue_depths"]:  # known sinks start at 0, so increase() sees
                errors.setdefault(sink, 0)  # their first error
                for reason in _USUAL_REASONS:
                    dropped.setdefault((sink, reason), 0)
            for key, n in snap["dropped"].items():
                dropped[key] = dropped.get(key, 0) + n
            for sink, n in snap["export_errors"].items():
                errors[sink] = errors.get(sink, 0) + n
            for sink, n in snap["queue_depths"].items():
                depths[sink] = depths.get(sink, 0) + n
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


class RegistryMetrics:
    """The catalog's metrics on one registry, by full catalog name."""

    def __init__(self, registry: CollectorRegistry, multiprocess: bool) -> None:
        self.multiprocess = multiprocess
        self._lock = threading.Lock()
        self._seen: dict[tuple[int, str, tuple[str, ...]], int] = {}
        self.health_collector: HealthCollector | None = None
        self.by_name: dict[str, Any] = {}
        for spec in METRICS:
            if spec.name in HEALTH_METRICS and not multiprocess:
                continue
            self.by_name[spec.name] = _build(spec, registry)
        if not multiprocess:
            self.health_collector = HealthCollector()
            registry.register(self.health_collector)

    def __getitem__(self, name: str) -> Any:
        return self.by_name[name]

    def watch(self, health: Health) -> None:
        """Report ``health`` from now on (at scrape time, or through :meth:`sync_health`)."""
        if self.health_collector is not None:
            self.health_collector.add(health)

    def sync_health(self, health: Health) -> None:
        """Multiprocess mode: add what ``health`` counted since the last call to the metrics."""
        if not self.multiprocess:
            return
        snap = health.snapshot()
        with self._lock:
            for (sink, reason), n in snap["dropped"].items():
                self._bump(health, DROPPED, (sink, reason), n)
            for sink, n in snap["export_errors"].items():
                self._bump(health, EXPORT_ERRORS, (sink,), n)
        for sink, n in snap["queue_depths"].items():
            self.by_name[QUEUE_DEPTH].labels(sink).set(n)

    def _bump(self, health: Health, name: str, labels: tuple[str, ...], total: int) -> None:
        key = (id(health), name, labels)
        delta = total - self._seen.get(key, 0)
        if delta > 0:
            self.by_name[name].labels(*labels).inc(delta)
            self._seen[key] = total


_shared: weakref.WeakKeyDictionary[CollectorRegistry, RegistryMetrics] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


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
