"""How far a figure can be trusted: paired differences per cycle.

The runner interleaves the variants' processes in cycles: in each cycle every process
runs one chunk of invocations. Chunks of the same cycle ran within seconds of each other,
so they saw the same machine. For each cycle, a variant's chunk median minus the floor's
chunk median (its chunks pooled when it has several rounds) is one *paired* difference;
the machine's slow drift cancels out of it. The spread of those differences over the
cycles says how noisy the variant's figure is.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Spread",
    "by_cycle",
    "paired",
    "paired_overhead",
    "quantile",
    "ratio_of_medians",
    "spread",
]

#: Half-width of a boxplot notch, in IQRs at one sample (McGill, Tukey and Larsen 1978):
#: median +- 1.58 IQR / sqrt(n) is a rough 95 % interval for the median.
NOTCH = 1.58


@dataclass(frozen=True)
class Spread:
    """Median and quartiles of per-cycle values, and how many cycles there were."""

    median: float
    q25: float
    q75: float
    cycles: int

    @property
    def notch(self) -> float:
        """Half-width of a rough 95 % interval for the median."""
        return NOTCH * (self.q75 - self.q25) / math.sqrt(self.cycles)


@dataclass
class Cycle:
    """What one process (or the pooled rounds of a variant) did in one cycle."""

    durations_ns: list[int]
    cpu_s: float
    n: int


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile, interpolating linearly between the two nearest ranks."""
    if not values:
        raise ValueError("quantile of nothing")
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def spread(values: Sequence[float]) -> Spread | None:
    """Median and quartiles of ``values`` (None when there are none)."""
    if not values:
        return None
    return Spread(
        quantile(values, 0.5), quantile(values, 0.25), quantile(values, 0.75), len(values)
    )


def by_cycle(raw: dict[str, Any]) -> dict[int, Cycle]:
    """A raw result's invocations grouped by cycle. ``raw["chunks"]`` lists the chunks in
    the order their durations appear in ``raw["durations_ns"]`` (rounds concatenated)."""
    out: dict[int, Cycle] = {}
    durations = raw["durations_ns"]
    pos = 0
    for chunk in raw.get("chunks", []):
        n = int(chunk["n"])
        c = out.setdefault(int(chunk["cycle"]), Cycle([], 0.0, 0))
        c.durations_ns += durations[pos : pos + n]
        c.cpu_s += float(chunk["cpu_s"])
        c.n += n
        pos += n
    if pos != len(durations):
        raise ValueError(f"chunks cover {pos} invocations, durations {len(durations)}")
    return out


def paired(
    raw: dict[str, Any], ref: dict[str, Any], fn: Callable[[Cycle, Cycle], float]
) -> Spread | None:
    """``fn(variant's cycle, reference's cycle)`` over the cycles both took part in."""
    mine, theirs = by_cycle(raw), by_cycle(ref)
    return spread([fn(mine[c], theirs[c]) for c in sorted(mine.keys() & theirs.keys())])


def paired_overhead(
    raw: dict[str, Any], floor: dict[str, Any], spans: int
) -> tuple[Spread | None, Spread | None]:
    """Per-cycle (wall, CPU) above the floor, in us per span. Wall: the chunk medians'
    difference. CPU: process CPU per invocation of the turns (chunk, flush, idle gap)."""

    def wall(a: Cycle, b: Cycle) -> float:
        return (statistics.median(a.durations_ns) - statistics.median(b.durations_ns)) / 1e3 / spans

    def cpu(a: Cycle, b: Cycle) -> float:
        return (a.cpu_s / a.n - b.cpu_s / b.n) * 1e6 / spans

    return paired(raw, floor, wall), paired(raw, floor, cpu)


def ratio_of_medians(a: Cycle, b: Cycle) -> float:
    """The chunk medians' ratio (backends-down: a condition against the healthy run)."""
    return statistics.median(a.durations_ns) / statistics.median(b.durations_ns)
