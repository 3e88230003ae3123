"""Measuring one variant in the current process: wall time per invocation, CPU of every
thread, garbage-collector time, RSS, and what each destination received."""

from __future__ import annotations

import asyncio
import gc
import resource
import time
from pathlib import Path
from typing import Any

from . import workload
from .variants import VARIANTS, Builder

__all__ = ["measure"]


def _rss_bytes() -> int:
    """Resident set size now (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return 0


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class _GCTimer:
    """Wall time spent in the garbage collector, and collections per generation."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t0
            self.collections[info["generation"]] += 1


def _loop(graph: Any, mode: str, config: dict[str, Any], start: int, n: int) -> list[int]:
    """Run ``n`` invocations; per-invocation wall times in ns."""
    durations: list[int] = []
    clock = time.perf_counter_ns
    if mode == "sync":
        for i in range(start, start + n):
            t = clock()
            graph.invoke(workload.inputs(i), config)
            durations.append(clock() - t)
        return durations

    async def run() -> None:
        for i in range(start, start + n):
            t = clock()
            await graph.ainvoke(workload.inputs(i), config)
            durations.append(clock() - t)

    asyncio.run(run())
    return durations


def measure(
    name: str,
    mode: str,
    n: int,
    warmup: int,
    endpoint: str,
    workdir: Path,
    *,
    window: int = 1000,
    flush_timeout: float = 60.0,
    shutdown_timeout: float = 5.0,
    builder: Builder | None = None,
) -> dict[str, Any]:
    """Build variant ``name`` here, run the workload ``warmup`` then ``n`` times, and return
    the raw figures: wall times, process CPU (every thread, the final flush included),
    RSS, and the span counts each destination received."""
    rss_start = _rss_bytes()
    variant = (builder or VARIANTS[name])(endpoint, workdir)
    graph = workload.build(mode)
    config: dict[str, Any] = {"callbacks": variant.callbacks} if variant.callbacks else {}

    _loop(graph, mode, config, 0, warmup)
    variant.flush(flush_timeout)
    after_warmup = variant.count()
    gc.collect()
    rss_base = _rss_bytes()

    window = max(1, min(window, n // 2))
    gc_timer = _GCTimer()
    gc.callbacks.append(gc_timer)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    durations = _loop(graph, mode, config, warmup, window)
    rss_first = _rss_bytes()
    durations += _loop(graph, mode, config, warmup + window, n - window)
    rss_last = _rss_bytes()
    gc.callbacks.remove(gc_timer)
    flush0 = time.perf_counter()
    variant.flush(flush_timeout)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    peak_rss = _peak_rss_bytes()  # before counting: a store read is the benchmark's, not the run's
    counts = variant.count()

    health = variant.health() if variant.health is not None else None
    if health is not None:  # JSON keys: "sink/reason"
        health["dropped"] = {"/".join(k): v for k, v in health["dropped"].items()}
    stop0 = time.perf_counter()
    variant.shutdown(shutdown_timeout)
    stop_s = time.perf_counter() - stop0
    return {
        "variant": name,
        "mode": mode,
        "n": n,
        "warmup": warmup,
        "durations_ns": durations,
        "cpu_s": cpu1 - cpu0,
        "gc_s": gc_timer.seconds,
        "gc_collections": gc_timer.collections,
        "wall_s": wall1 - wall0,
        "flush_s": wall1 - flush0,
        "shutdown_s": stop_s,
        "rss_start": rss_start,
        "rss_base": rss_base,
        "rss_first": rss_first,
        "rss_last": rss_last,
        "peak_rss": peak_rss,
        "counts_after_warmup": after_warmup,
        "counts": counts,
        "expected_per_invocation": variant.expected_per_invocation,
        "health": health,
    }
