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
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..metrics_catalog import METRICS, PREFIX, MetricSpec, by_name

if TYPE_CHECKING:
    from ..dispatch import Health

__all__ = [
    "HEALTH_METRICS",
    "HealthCollector",
    "RegistryMetrics",
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
    """Reads every bound :class:`Health` when the registry is scraped."""

    def __init__(self) -> None:
        self._healths: weakref.WeakSet[Health] = weakref.WeakSet()

    def add(self, health: Health) -> None:
        self._healths.add(health)

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        dropped: dict[tuple[str, str], int] = {}
        errors: dict[str, int] = {}
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
