"""The goals of the performance issue, checked on one run's summaries."""

from __future__ import annotations

from dataclasses import dataclass

from .noise import Spread
from .report import Summary, lightest
from .variants import OURS

__all__ = ["FLAT_TOLERANCE_MIB", "Goal", "goals", "render_goals"]

#: RSS growth between the first and the last window that still counts as flat.
FLAT_TOLERANCE_MIB = 1.0


@dataclass
class Goal:
    name: str
    value: str
    target: str
    status: str  #: PASS, MISS or n/a


def _ratio_goal(
    name: str,
    ours: float | None,
    theirs: tuple[str, float] | None,
    limit: float,
    unit: str = "us",
    paired: tuple[Spread | None, Spread | None] = (None, None),
) -> Goal:
    """``ours / theirs`` against ``limit`` (``n/a`` when a figure is missing). ``paired``:
    both sides' per-cycle spreads, shown beside the verdict so the reader can weigh it."""
    if ours is None or theirs is None or not theirs[1]:
        return Goal(name, "-", f"<= {limit:.2f} x peer", "n/a")
    r = ours / theirs[1]
    value = f"{ours:.1f} {unit} vs {theirs[1]:.1f} {unit} = {r:.2f}x"
    a, b = paired
    if a is not None and b is not None and b.median:
        value += (
            f"; paired per cycle {a.median:.1f} +-{a.notch:.1f} vs {b.median:.1f} "
            f"+-{b.notch:.1f} = {a.median / b.median:.2f}x"
        )
    return Goal(
        f"{name} vs {theirs[0]}", value, f"<= {limit:.2f}x", "PASS" if r <= limit else "MISS"
    )


def _paired(
    summaries: dict[tuple[str, str], Summary],
    mode: str,
    ours: Summary | None,
    peer: tuple[str, float] | None,
    attr: str,
) -> tuple[Spread | None, Spread | None]:
    """The paired spreads (``attr``) of ours and of the peer named in ``peer``."""
    theirs = summaries.get((mode, peer[0])) if peer is not None else None
    return (
        getattr(ours, attr) if ours is not None else None,
        getattr(theirs, attr) if theirs is not None else None,
    )


def goals(summaries: dict[tuple[str, str], Summary], modes: list[str]) -> list[Goal]:
    """The goals of the issue, checked on this run's figures."""
    out: list[Goal] = []
    for mode in modes:
        local = summaries.get((mode, "observe-local"))
        allv = summaries.get((mode, "observe-all"))
        peer = lightest(summaries, mode, "over_us_per_span")
        out.append(
            _ratio_goal(
                f"{mode}: local store overhead/span",
                local.over_us_per_span if local else None,
                peer,
                0.10,
                paired=_paired(summaries, mode, local, peer, "paired_over"),
            )
        )
        peer = lightest(summaries, mode, "cpu_over_us_per_span")
        out.append(
            _ratio_goal(
                f"{mode}: all sinks CPU/span",
                allv.cpu_over_us_per_span if allv else None,
                peer,
                0.50,
                paired=_paired(summaries, mode, allv, peer, "paired_cpu"),
            )
        )
    sync, asy = summaries.get(("sync", "observe-local")), summaries.get(("async", "observe-local"))
    if sync and asy and sync.over_us_per_span and asy.over_us_per_span is not None:
        out.append(
            _ratio_goal(
                "async overhead/span",
                asy.over_us_per_span,
                ("sync (local store)", sync.over_us_per_span),
                1.5,
            )
        )
    mem_mode = "sync" if "sync" in modes else modes[0]
    local = summaries.get((mem_mode, "observe-local"))
    light_mem = lightest(summaries, mem_mode, "rss_over_baseline_mib")
    if local is not None and local.rss_over_baseline_mib is not None and light_mem is not None:
        ok = local.rss_over_baseline_mib <= 0.5 * max(light_mem[1], 0.0)
        out.append(
            Goal(
                f"memory: peak RSS over baseline vs {light_mem[0]} ({local.n} runs)",
                f"{local.rss_over_baseline_mib:.1f} MiB vs {light_mem[1]:.1f} MiB",
                "<= 0.50x",
                "PASS" if ok else "MISS",
            )
        )
    for name in OURS:
        s = summaries.get((mem_mode, name))
        if s is not None:
            out.append(
                Goal(
                    f"memory flat: {name} RSS drift first->last window",
                    f"{s.drift_mib:+.2f} MiB",
                    f"<= {FLAT_TOLERANCE_MIB:.0f} MiB",
                    "PASS" if s.drift_mib <= FLAT_TOLERANCE_MIB else "MISS",
                )
            )
    return out


def render_goals(items: list[Goal]) -> str:
    lines = ["", "Goals (on the pooled figures; paired: median +- a rough 95 % interval):"]
    for g in items:
        lines.append(f"  [{g.status:<4}] {g.name}: {g.value} (target {g.target})")
    return "\n".join(lines)
