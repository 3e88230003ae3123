"""The goals of the performance issue, checked on one run's summaries."""

from __future__ import annotations

from dataclasses import dataclass

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
    name: str, ours: float | None, theirs: tuple[str, float] | None, limit: float, unit: str = "us"
) -> Goal:
    """``ours / theirs`` against ``limit`` (``n/a`` when a figure is missing)."""
    if ours is None or theirs is None or not theirs[1]:
        return Goal(name, "-", f"<= {limit:.2f} x peer", "n/a")
    r = ours / theirs[1]
    return Goal(
        f"{name} vs {theirs[0]}",
        f"{ours:.1f} {unit} vs {theirs[1]:.1f} {unit} = {r:.2f}x",
        f"<= {limit:.2f}x",
        "PASS" if r <= limit else "MISS",
    )


def goals(summaries: dict[tuple[str, str], Summary], modes: list[str]) -> list[Goal]:
    """The goals of the issue, checked on this run's figures."""
    out: list[Goal] = []
    for mode in modes:
        local = summaries.get((mode, "observe-local"))
        allv = summaries.get((mode, "observe-all"))
        out.append(
            _ratio_goal(
                f"{mode}: local store overhead/span",
                local.over_us_per_span if local else None,
                lightest(summaries, mode, "over_us_per_span"),
                0.10,
            )
        )
        out.append(
            _ratio_goal(
                f"{mode}: all sinks CPU/span",
                allv.cpu_over_us_per_span if allv else None,
                lightest(summaries, mode, "cpu_over_us_per_span"),
                0.50,
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
    lines = ["", "Goals:"]
    for g in items:
        lines.append(f"  [{g.status:<4}] {g.name}: {g.value} (target {g.target})")
    return "\n".join(lines)
