"""Measuring one variant in the current process, chunk by chunk: wall time per invocation,
CPU of every thread, garbage-collector time, RSS, and what each destination received.

A :class:`Measurement` builds the variant and the graph and warms up; then ``run(k)`` is
called once per chunk (the runner interleaves the chunks of every variant's process) and
``finish()`` flushes, counts and returns the raw figures. Only ``graph.invoke`` /
``graph.ainvoke`` is timed.

A process's *turn* is one chunk, then its gap: the variant's exporters are flushed (within
the gap) and the process idles the rest of the gap. CPU and garbage-collector time are
counted over the turns and the final flush, not while the process waits for the others'
turns: an idle tracer's threads still wake up (0.2 to 2.5 ms of CPU per second, measured),
and charging that to its invocations would make the figure grow with the number of
processes in the run. The flush in each turn is what makes leaving the waits out fair:
exporters that batch on a timer (the OpenTelemetry SDK's every 5 s) would otherwise do a
chunk's last exports while the process waits, uncounted.
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

    CPU is process CPU (every thread) over the turns and the final flush; the CPU of the
    whole span, waits included, is kept apart (``cpu_span_s``, ``idle_s``). The RSS of
    the first window is read between two invocations, outside the timed calls, once
    ``window`` invocations are done.
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
        self._cpu_first = 0.0  # process CPU at the start of the first turn
        self._turn_end = 0.0  # wall clock at the end of the last turn
        self._turns_s = self._turns_cpu_s = self._idle_s = 0.0

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

    def _settle(self, gap: float) -> None:
        """The end of a turn: flush the exporters within ``gap``, idle the rest of it."""
        if gap <= 0:
            return
        deadline = time.perf_counter() + gap
        self.variant.flush(gap)
        self._idle(deadline - time.perf_counter())

    def _waited(self) -> None:
        """Account the wait since the last turn (the other processes' turns)."""
        if self.chunks:
            self._idle_s += time.perf_counter() - self._turn_end

    def run(self, k: int, cycle: int = 0, gap: float = 0.0) -> None:
        """One turn: the next ``k`` invocations, then the exporters' flush and idle time,
        ``gap`` seconds together."""
        done = len(self.durations)
        k = min(k, self.n - done)
        self._waited()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if not self.chunks:
            self._cpu_first = cpu0
        gc.callbacks.append(self._gc)
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
        self._settle(gap)
        gc.callbacks.remove(self._gc)
        cpu = time.process_time() - cpu0
        self._turn_end = time.perf_counter()
        self._turns_s += self._turn_end - wall0
        self._turns_cpu_s += cpu
        self.chunks.append({"cycle": cycle, "n": k, "cpu_s": cpu})

    def finish(self) -> dict[str, Any]:
        """Flush, count, shut down; the raw figures of the measured run."""
        if not self.chunks:
            raise RuntimeError("finish() before any run()")
        self._waited()
        flush0, cpu0 = time.perf_counter(), time.process_time()
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
            "cpu_s": self._turns_cpu_s + cpu1 - cpu0,
            "cpu_span_s": cpu1 - self._cpu_first,
            "idle_s": self._idle_s,
            "gc_s": self._gc.seconds,
            "gc_collections": self._gc.collections,
            "wall_s": self._turns_s + wall1 - flush0,
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
