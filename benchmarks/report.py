"""Figures from the raw measurements, the comparison table and the goals.

Per-span figures divide by the workload's span count (``SPANS_PER_INVOCATION``) for every
variant, so they compare the same work; each variant's own span count is shown apart
(the peers emit more spans for the same run: LangGraph's internal runnables).
Each over-the-floor figure comes with its per-cycle paired spread (:mod:`.noise`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .noise import Spread, paired_overhead
from .variants import FLOOR, PEERS, verify
from .workload import SPANS_PER_INVOCATION

__all__ = [
    "Outcome",
    "Summary",
    "lightest",
    "merge_rounds",
    "render",
    "render_backends_down",
    "summarize",
]

MIB = 1024 * 1024


@dataclass
class Outcome:
    """What happened to one (variant, mode): ``status`` is ok, skipped or failed."""

    variant: str
    mode: str
    status: str
    reason: str = ""
    raw: dict[str, Any] | None = None


@dataclass
class Summary:
    variant: str
    mode: str
    n: int
    p50_us: float
    p95_us: float
    p99_us: float
    cpu_us: float  #: process CPU (all threads) per invocation, over its turns
    gc_us: float  #: time in the garbage collector per invocation (pauses every thread)
    full_gcs: int  #: full (generation 2) collections during the measured runs
    peak_rss_mib: float
    drift_mib: float  #: RSS after the last window minus RSS after the first
    spans_emitted: float  #: spans per invocation at the busiest destination
    verified: bool
    note: str
    over_us_per_span: float | None = None  #: median wall time above the floor, per span
    cpu_over_us_per_span: float | None = None  #: CPU above the floor, per span
    rss_over_baseline_mib: float | None = None  #: peak RSS above the no-callback run's
    flush_s: float = 0.0
    shutdown_s: float = 0.0
    health: dict[str, Any] | None = None
    #: per-cycle paired differences from the floor, us per span: wall (chunk medians)
    paired_over: Spread | None = None
    #: and CPU per invocation of the turns (chunk, flush and idle gap)
    paired_cpu: Spread | None = None
    #: CPU per second while waiting for the other processes' turns (not counted above)
    idle_cpu_ms_per_s: float | None = None


def merge_rounds(outcomes: list[Outcome]) -> list[Outcome]:
    """One outcome per (mode, variant) from several rounds: timings pooled, CPU and span
    counts added up, the worst RSS kept. A round that failed or skipped decides."""
    merged: dict[tuple[str, str], Outcome] = {}
    for o in outcomes:
        key = (o.mode, o.variant)
        m = merged.get(key)
        if m is None:
            raw = dict(o.raw) if o.raw is not None else None
            if raw is not None:
                raw["drift_bytes"] = raw["rss_last"] - raw["rss_first"]
                raw["rounds"] = 1
            merged[key] = Outcome(o.variant, o.mode, o.status, o.reason, raw)
            continue
        if o.status != "ok" or o.raw is None or m.raw is None:
            if m.status == "ok":
                merged[key] = Outcome(o.variant, o.mode, o.status, o.reason)
            continue
        a, b = m.raw, o.raw
        a["durations_ns"] = a["durations_ns"] + b["durations_ns"]
        a["chunks"] = a.get("chunks", []) + b.get("chunks", [])
        a["rounds"] += 1
        for k in ("n", "warmup", "cpu_s", "cpu_span_s", "idle_s", "wall_s", "gc_s"):
            a[k] = a.get(k, 0) + b.get(k, 0)
        a["gc_collections"] = [
            x + y for x, y in zip(a["gc_collections"], b["gc_collections"], strict=True)
        ]
        for k in ("counts", "counts_after_warmup"):
            a[k] = {d: a[k].get(d, 0) + b[k].get(d, 0) for d in {*a[k], *b[k]}}
        for k in ("peak_rss", "flush_s", "shutdown_s"):
            a[k] = max(a[k], b[k])
        a["drift_bytes"] = max(a["drift_bytes"], b["rss_last"] - b["rss_first"])
        a["health"] = b.get("health")
    return list(merged.values())


def _pct(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[i])


def summarize(outcomes: Iterable[Outcome]) -> dict[tuple[str, str], Summary]:
    """Summaries of the runs that finished, keyed by (mode, variant), with the figures
    relative to the floor and the no-callback baseline of the same mode filled in."""
    out: dict[tuple[str, str], Summary] = {}
    raws: dict[tuple[str, str], dict[str, Any]] = {}
    for o in outcomes:
        if o.status != "ok" or o.raw is None:
            continue
        raw = raws[(o.mode, o.variant)] = o.raw
        d = sorted(raw["durations_ns"])
        ok, rates, note = verify(raw)
        out[(o.mode, o.variant)] = Summary(
            variant=o.variant,
            mode=o.mode,
            n=raw["n"],
            p50_us=statistics.median(d) / 1e3,
            p95_us=_pct(d, 0.95) / 1e3,
            p99_us=_pct(d, 0.99) / 1e3,
            cpu_us=raw["cpu_s"] / raw["n"] * 1e6,
            gc_us=raw.get("gc_s", 0.0) / raw["n"] * 1e6,
            full_gcs=raw.get("gc_collections", [0, 0, 0])[2],
            peak_rss_mib=raw["peak_rss"] / MIB,
            drift_mib=raw.get("drift_bytes", raw["rss_last"] - raw["rss_first"]) / MIB,
            spans_emitted=max(rates.values(), default=0.0),
            verified=ok,
            note=note,
            flush_s=raw["flush_s"],
            shutdown_s=raw["shutdown_s"],
            health=raw.get("health"),
            idle_cpu_ms_per_s=(raw["cpu_span_s"] - raw["cpu_s"]) / raw["idle_s"] * 1e3
            if raw.get("idle_s")
            else None,
        )
    for (mode, variant), s in out.items():
        floor = out.get((mode, FLOOR))
        base = out.get((mode, "none"))
        if floor is not None:
            s.over_us_per_span = (s.p50_us - floor.p50_us) / SPANS_PER_INVOCATION
            s.cpu_over_us_per_span = (s.cpu_us - floor.cpu_us) / SPANS_PER_INVOCATION
            if variant != FLOOR:
                s.paired_over, s.paired_cpu = paired_overhead(
                    raws[(mode, variant)], raws[(mode, FLOOR)], SPANS_PER_INVOCATION
                )
        if base is not None:
            s.rss_over_baseline_mib = s.peak_rss_mib - base.peak_rss_mib
    return out


def lightest(
    summaries: dict[tuple[str, str], Summary], mode: str, attr: str
) -> tuple[str, float] | None:
    """The peer with the smallest ``attr`` in ``mode`` (its name and value)."""
    found = [
        (p, getattr(summaries[(mode, p)], attr))
        for p in PEERS
        if (mode, p) in summaries and getattr(summaries[(mode, p)], attr) is not None
    ]
    return min(found, key=lambda x: x[1]) if found else None


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(value: float | None, ref: tuple[str, float] | None) -> str:
    if value is None or ref is None or ref[1] <= 0:
        return "-"
    return f"{value / ref[1]:.2f}"


def _spread(s: Spread | None) -> str:
    if s is None:
        return "-"
    return f"{s.median:7.1f} [{s.q25:7.1f}, {s.q75:7.1f}] +-{s.notch:5.1f}"


def render_noise(summaries: dict[tuple[str, str], Summary], mode: str) -> list[str]:
    """The paired spread of each variant's figures above the floor, in one mode."""
    rows = [s for (m, _), s in summaries.items() if m == mode and s.paired_over is not None]
    if not rows:
        return []
    cycles = max(s.paired_over.cycles for s in rows if s.paired_over is not None)
    lines = [
        f"noise, paired per cycle against '{FLOOR}' ({cycles} cycles): us per span, "
        "median [q25, q75] of the cycles' differences, +- a rough 95 % interval of the median",
        f"{'variant':<18} {'over/span':>9} {'paired wall':>36} {'cpu over/span':>13} "
        f"{'paired cpu (turns)':>36}",
    ]
    for s in rows:
        lines.append(
            f"{s.variant:<18} {_f(s.over_us_per_span):>9} {_spread(s.paired_over):>36} "
            f"{_f(s.cpu_over_us_per_span):>13} {_spread(s.paired_cpu):>36}"
        )
    return lines


def render(
    outcomes: list[Outcome],
    summaries: dict[tuple[str, str], Summary],
    modes: list[str],
    method: str = "",
) -> str:
    """The comparison table, one block per mode (then its noise block), with what was
    skipped or failed in its rows. ``method`` says how the run was interleaved."""
    lines = [
        f"Workload: {SPANS_PER_INVOCATION} spans per invocation "
        f"(per-span figures divide by {SPANS_PER_INVOCATION} for every variant); "
        f"floor = '{FLOOR}'.",
    ]
    if method:
        lines.append(method)
    head = (
        f"{'variant':<18} {'n':>6} {'p50 us':>9} {'p95 us':>9} {'over/span us':>12} "
        f"{'x peer':>6} {'cpu/inv us':>10} {'cpu over/span':>13} {'x peer':>6} "
        f"{'gc us':>6} {'gc2':>4} "
        f"{'peak MiB':>8} {'+base MiB':>9} {'drift MiB':>9} {'spans/inv':>9}  verified"
    )
    for mode in modes:
        lines += ["", f"[{mode}: {'invoke' if mode == 'sync' else 'ainvoke'}]", head]
        light_over = lightest(summaries, mode, "over_us_per_span")
        light_cpu = lightest(summaries, mode, "cpu_over_us_per_span")
        for o in outcomes:
            if o.mode != mode:
                continue
            s = summaries.get((mode, o.variant))
            if s is None:
                lines.append(f"{o.variant:<18} {o.status}: {o.reason}")
                continue
            lines.append(
                f"{s.variant:<18} {s.n:>6} {s.p50_us:>9.0f} {s.p95_us:>9.0f} "
                f"{_f(s.over_us_per_span):>12} {_ratio(s.over_us_per_span, light_over):>6} "
                f"{s.cpu_us:>10.0f} {_f(s.cpu_over_us_per_span):>13} "
                f"{_ratio(s.cpu_over_us_per_span, light_cpu):>6} {s.gc_us:>6.0f} {s.full_gcs:>4} "
                f"{s.peak_rss_mib:>8.1f} "
                f"{_f(s.rss_over_baseline_mib):>9} {s.drift_mib:>9.2f} "
                f"{s.spans_emitted:>9.1f}  {'yes' if s.verified else 'NO'} ({s.note})"
            )
        if light_over is not None and light_cpu is not None:
            lines.append(f"lightest peer (over/span): {light_over[0]}; (cpu): {light_cpu[0]}")
        noise = render_noise(summaries, mode)
        if noise:
            lines += ["", *noise]
    return "\n".join(lines)


def render_backends_down(
    summaries: dict[str, Summary],
    tolerance: float,
    shutdown_timeout: float,
    paired: dict[str, Spread] | None = None,
    method: str = "",
) -> str:
    """The backends-down table: each condition against the healthy run. ``paired``: per
    condition, the per-cycle ratio of its chunk medians to the healthy run's."""
    healthy = summaries.get("healthy")
    paired = paired or {}
    lines = [method] if method else []
    lines.append(
        f"{'backends':<10} {'p50 us':>8} {'p99 us':>8} {'p50 x':>6} {'p99 x':>6} "
        f"{'paired p50 x [q25, q75]':>23} "
        f"{'gc us':>6} {'gc2':>4} {'peak MiB':>8} {'flush s':>7} {'shutdown s':>10}  "
        "dropped / delivered"
    )
    for cond, s in summaries.items():
        r50 = s.p50_us / healthy.p50_us if healthy else float("nan")
        r99 = s.p99_us / healthy.p99_us if healthy else float("nan")
        dropped = (s.health or {}).get("dropped", {})
        pr = paired.get(cond)
        pr_text = "-" if pr is None else f"{pr.median:.3f} [{pr.q25:.3f}, {pr.q75:.3f}]"
        lines.append(
            f"{cond:<10} {s.p50_us:>8.0f} {s.p99_us:>8.0f} {r50:>6.2f} {r99:>6.2f} "
            f"{pr_text:>23} "
            f"{s.gc_us:>6.0f} {s.full_gcs:>4} {s.peak_rss_mib:>8.1f} {s.flush_s:>7.2f} "
            f"{s.shutdown_s:>10.2f}  "
            f"{dropped or 'none'} / {s.note}"
        )
    lines.append(
        f"targets: p50 and p99 within {tolerance:.0%} of healthy; flush and shutdown "
        f"within {shutdown_timeout:g} s. paired p50 x: per cycle, the condition's chunk "
        "median over the healthy run's in the same cycle"
    )
    return "\n".join(lines)
