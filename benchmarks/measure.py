"""Measuring one variant in the current process, chunk by chunk: wall time per invocation,
CPU of every thread, garbage-collector time, RSS, and what each destination received.

A :class:`Measurement` builds the variant and the graph and warms up; then ``run(k)`` is
called once per chunk (the runner interleaves the chunks of every variant's process) and
``finish()`` flushes, counts and returns the raw figures. Only ``graph.invoke`` /
``graph.ainvoke`` is timed.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import time
from pathlib import Path
from typing import Any

from . import workload
from .variants import VARIANTS, Builder

__all__ = ["Measurement", "measure"]


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


class Measurement:
    """One variant in this process: built and warmed up at construction, measured in
    chunks by :meth:`run`, closed by :meth:`finish`.

    CPU is process CPU (every thread) from the start of the first chunk to the end of the
    final flush, idle time between chunks included: a variant's own background threads
    are the only thing that runs then. The RSS of the first window is read between two
    invocations, outside the timed calls, once ``window`` invocations are done.
    """

    def __init__(
        self,
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
    ) -> None:
        self.name, self.mode, self.n, self.warmup = name, mode, n, warmup
        self.flush_timeout, self.shutdown_timeout = flush_timeout, shutdown_timeout
        self.window = max(1, min(window, n // 2))
        self.durations: list[int] = []
        self.chunks: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop() if mode == "async" else None
        self._rss_start = _rss_bytes()
        self.variant = (builder or VARIANTS[name])(endpoint, workdir)
        self._graph = workload.build(mode)
        cbs = self.variant.callbacks
        self._config: dict[str, Any] = {"callbacks": cbs} if cbs else {}

        self._invoke(0, warmup)
        self.variant.flush(flush_timeout)
        self._after_warmup = self.variant.count()
        gc.collect()
        self._rss_base = _rss_bytes()
        self._rss_first = self._rss_last = self._rss_base
        self._gc = _GCTimer()
        self._cpu0 = self._wall0 = 0.0

    def _invoke(self, start: int, n: int) -> list[int]:
        """Run invocations ``start`` .. ``start + n - 1``; their wall times in ns."""
        durations: list[int] = []
        clock = time.perf_counter_ns
        graph, config, inputs = self._graph, self._config, workload.inputs
        if self._loop is None:
            for i in range(start, start + n):
                t = clock()
                graph.invoke(inputs(i), config)
                durations.append(clock() - t)
            return durations

        async def run() -> None:
            for i in range(start, start + n):
                t = clock()
                await graph.ainvoke(inputs(i), config)
                durations.append(clock() - t)

        self._loop.run_until_complete(run())
        return durations

    def _idle(self, seconds: float) -> None:
        """Let the variant's own background work run (its event loop too, in async)."""
        if seconds <= 0:
            return
        if self._loop is None:
            time.sleep(seconds)
        else:
            self._loop.run_until_complete(asyncio.sleep(seconds))

    def run(self, k: int, cycle: int = 0, gap: float = 0.0) -> None:
        """Run the next ``k`` invocations, then stay idle ``gap`` seconds."""
        done = len(self.durations)
        k = min(k, self.n - done)
        if not self.chunks:
            gc.callbacks.append(self._gc)
            self._cpu0, self._wall0 = time.process_time(), time.perf_counter()
        cpu0 = time.process_time()
        first = self.window - done
        if 0 < first < k:  # the first window ends inside this chunk
            self.durations += self._invoke(self.warmup + done, first)
            self._rss_first = _rss_bytes()
            self.durations += self._invoke(self.warmup + done + first, k - first)
        else:
            self.durations += self._invoke(self.warmup + done, k)
        self._rss_last = _rss_bytes()
        if first == k:
            self._rss_first = self._rss_last
        self._idle(gap)
        self.chunks.append({"cycle": cycle, "n": k, "cpu_s": time.process_time() - cpu0})

    def finish(self) -> dict[str, Any]:
        """Flush, count, shut down; the raw figures of the measured run."""
        if not self.chunks:
            raise RuntimeError("finish() before any run()")
        gc.callbacks.remove(self._gc)
        flush0 = time.perf_counter()
        self.variant.flush(self.flush_timeout)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        peak_rss = _peak_rss_bytes()  # before counting: a store read is the benchmark's
        counts = self.variant.count()

        health = self.variant.health() if self.variant.health is not None else None
        if health is not None:  # JSON keys: "sink/reason"
            health["dropped"] = {"/".join(k): v for k, v in health["dropped"].items()}
        stop0 = time.perf_counter()
        self.variant.shutdown(self.shutdown_timeout)
        stop_s = time.perf_counter() - stop0
        if self._loop is not None:
            self._loop.close()
        return {
            "variant": self.name,
            "mode": self.mode,
            "n": len(self.durations),
            "warmup": self.warmup,
            "durations_ns": self.durations,
            "chunks": self.chunks,
            "cpu_s": cpu1 - self._cpu0,
            "gc_s": self._gc.seconds,
            "gc_collections": self._gc.collections,
            "wall_s": wall1 - self._wall0,
            "flush_s": wall1 - flush0,
            "shutdown_s": stop_s,
            "rss_start": self._rss_start,
            "rss_base": self._rss_base,
            "rss_first": self._rss_first,
            "rss_last": self._rss_last,
            "peak_rss": peak_rss,
            "counts_after_warmup": self._after_warmup,
            "counts": counts,
            "expected_per_invocation": self.variant.expected_per_invocation,
            "health": health,
        }


def measure(
    name: str,
    mode: str,
    n: int,
    warmup: int,
    endpoint: str,
    workdir: Path,
    **kw: Any,
) -> dict[str, Any]:
    """Measure variant ``name`` in one chunk of ``n`` invocations (no interleaving)."""
    m = Measurement(name, mode, n, warmup, endpoint, workdir, **kw)
    m.run(n)
    return m.finish()
