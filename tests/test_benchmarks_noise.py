"""The benchmark's interleaving bookkeeping and its noise figures: chunks grouped by cycle,
per-cycle paired differences from the floor, quartiles, and chunked measurement."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report
from benchmarks.measure import Measurement
from benchmarks.noise import (
    Spread,
    by_cycle,
    paired,
    paired_overhead,
    quantile,
    ratio_of_medians,
    spread,
)
from benchmarks.variants import Variant

pytestmark = pytest.mark.unit

SPANS = 14


def _raw(chunks: list[tuple[int, list[int], float]]) -> dict[str, Any]:
    """A raw result from (cycle, durations in ns, CPU seconds) per chunk."""
    durations = [d for _, ds, _ in chunks for d in ds]
    return {
        "variant": "v",
        "mode": "sync",
        "n": len(durations),
        "warmup": 5,
        "durations_ns": durations,
        "chunks": [{"cycle": c, "n": len(ds), "cpu_s": cpu} for c, ds, cpu in chunks],
        "cpu_s": sum(cpu for _, _, cpu in chunks),
        "gc_s": 0.0,
        "gc_collections": [0, 0, 0],
        "wall_s": 1.0,
        "flush_s": 0.0,
        "shutdown_s": 0.0,
        "rss_first": 0,
        "rss_last": 0,
        "peak_rss": 100 * 1024 * 1024,
        "counts": {},
        "counts_after_warmup": {},
        "expected_per_invocation": 0,
    }


def test_quantile_interpolates_between_ranks() -> None:
    assert quantile([4, 1, 3, 2], 0.25) == pytest.approx(1.75)
    assert quantile([4, 1, 3, 2], 0.5) == pytest.approx(2.5)
    assert quantile([4, 1, 3, 2], 1.0) == 4
    assert quantile([7], 0.75) == 7
    with pytest.raises(ValueError):
        quantile([], 0.5)


def test_spread_and_its_notch() -> None:
    s = spread([10.0, 20.0, 30.0, 40.0, 50.0])
    assert s == Spread(median=30.0, q25=20.0, q75=40.0, cycles=5)
    assert s.notch == pytest.approx(1.58 * 20.0 / math.sqrt(5))
    assert spread([]) is None


def test_by_cycle_pools_the_rounds_of_a_variant() -> None:
    a = _raw([(0, [1, 2], 0.1), (1, [3, 4], 0.2)])
    b = _raw([(0, [5], 0.3), (1, [6, 7, 8], 0.4)])
    merged = report.merge_rounds(
        [report.Outcome("v", "sync", "ok", raw=a), report.Outcome("v", "sync", "ok", raw=b)]
    )[0].raw
    assert merged is not None
    cycles = by_cycle(merged)
    assert sorted(cycles) == [0, 1]
    assert cycles[0].durations_ns == [1, 2, 5] and cycles[0].n == 3
    assert cycles[1].durations_ns == [3, 4, 6, 7, 8] and cycles[1].n == 5
    assert cycles[1].cpu_s == pytest.approx(0.6)


def test_by_cycle_rejects_chunks_that_do_not_cover_the_durations() -> None:
    raw = _raw([(0, [1, 2], 0.1)])
    raw["durations_ns"].append(3)
    with pytest.raises(ValueError, match="chunks cover 2"):
        by_cycle(raw)


def test_paired_overhead_cancels_the_machine_drift() -> None:
    # The machine slows down 3x over the run; the variant costs 10 us per span more
    # (CPU: 20 us per span) in every cycle. Pooled medians would mix the cycles; the
    # per-cycle pairs do not.
    floor_chunks: list[tuple[int, list[int], float]] = []
    variant_chunks: list[tuple[int, list[int], float]] = []
    for cycle, base in enumerate([4_000_000, 6_000_000, 12_000_000, 5_000_000]):
        floor_chunks.append((cycle, [base - 1000, base, base + 1000], 3 * base / 1e9))
        extra = 10_000 * SPANS
        cpu_s = 3 * (base + 2 * extra) / 1e9
        variant_chunks.append((cycle, [base + extra - 500, base + extra, base + extra + 9], cpu_s))
    wall, cpu = paired_overhead(_raw(variant_chunks), _raw(floor_chunks), SPANS)
    assert wall is not None and cpu is not None
    assert (wall.median, wall.q25, wall.q75, wall.cycles) == pytest.approx((10.0, 10.0, 10.0, 4))
    assert cpu.median == pytest.approx(20.0)
    assert cpu.q75 - cpu.q25 == pytest.approx(0.0, abs=1e-6)


def test_paired_uses_only_the_cycles_both_ran() -> None:
    mine = _raw([(0, [200], 0.0), (1, [300], 0.0), (2, [999], 0.0)])
    ref = _raw([(0, [100], 0.0), (1, [100], 0.0)])
    s = paired(mine, ref, ratio_of_medians)
    assert s is not None
    assert s.cycles == 2
    assert (s.q25, s.median, s.q75) == pytest.approx((2.25, 2.5, 2.75))
    assert paired(mine, _raw([(7, [1], 0.0)]), ratio_of_medians) is None


def test_summarize_pairs_every_variant_with_the_floor_but_not_the_floor() -> None:
    floor = _raw([(0, [1_000_000], 0.001), (1, [2_000_000], 0.002)])
    slower = _raw([(0, [1_140_000], 0.001), (1, [2_280_000], 0.002)])
    outcomes = [
        report.Outcome("empty", "sync", "ok", raw=floor),
        report.Outcome("observe-local", "sync", "ok", raw=slower),
    ]
    summaries = report.summarize(report.merge_rounds(outcomes))
    assert summaries[("sync", "empty")].paired_over is None
    s = summaries[("sync", "observe-local")]
    assert s.paired_over is not None and s.paired_over.cycles == 2
    assert (s.paired_over.q25, s.paired_over.median, s.paired_over.q75) == pytest.approx(
        (12.5, 15.0, 17.5)
    )
    text = report.render(outcomes, summaries, ["sync"], "Interleaved: test")
    assert "Interleaved: test" in text
    assert "noise, paired per cycle against 'empty' (2 cycles)" in text
    assert "observe-local" in text.split("noise, paired")[1]


def test_measurement_runs_in_chunks_and_reads_the_first_window_between_them(tmp_path: Path) -> None:
    m = Measurement(
        "none", "sync", 20, 2, "http://127.0.0.1:9", tmp_path, builder=lambda e, w: Variant()
    )
    assert m.window == 10
    for cycle, k in enumerate([7, 7, 7]):
        m.run(k, cycle)
    raw = m.finish()
    assert raw["n"] == 20 and len(raw["durations_ns"]) == 20
    assert [(c["cycle"], c["n"]) for c in raw["chunks"]] == [(0, 7), (1, 7), (2, 6)]
    assert raw["rss_first"] > 0 and raw["rss_last"] > 0
    assert all(c["cpu_s"] > 0 for c in raw["chunks"])
    assert sorted(by_cycle(raw)) == [0, 1, 2]


def test_async_measurement_keeps_one_event_loop_across_chunks(tmp_path: Path) -> None:
    m = Measurement(
        "none", "async", 6, 1, "http://127.0.0.1:9", tmp_path, builder=lambda e, w: Variant()
    )
    loop = m._loop
    m.run(3, 0, gap=0.01)
    m.run(3, 1, gap=0.01)
    assert m._loop is loop and loop is not None and not loop.is_closed()
    raw = m.finish()
    assert loop.is_closed()
    assert len(raw["durations_ns"]) == 6 and raw["cpu_s"] > 0


def test_cpu_counts_the_turns_and_leaves_out_the_waits_between_them(tmp_path: Path) -> None:
    import threading
    import time

    flushes: list[float] = []
    burn, stop = threading.Event(), threading.Event()

    def spin() -> None:  # a background thread busy only while the process waits
        while not stop.is_set():
            if not burn.wait(0.01):
                continue
            while burn.is_set():
                sum(range(1000))

    threading.Thread(target=spin, daemon=True).start()
    m = Measurement(
        "none",
        "sync",
        4,
        1,
        "http://127.0.0.1:9",
        tmp_path,
        flush_timeout=7.0,
        builder=lambda e, w: Variant(flush=flushes.append),
    )
    flushes.clear()  # the warm-up's
    m.run(2, 0, gap=0.05)
    burn.set()
    time.sleep(0.4)  # another process's turn
    burn.clear()
    m.run(2, 1, gap=0.05)
    raw = m.finish()
    stop.set()
    assert flushes == [0.05, 0.05, 7.0]  # each turn flushes within its gap, then the end
    assert raw["idle_s"] >= 0.4
    assert raw["cpu_span_s"] - raw["cpu_s"] >= 0.05  # the spinning, outside the turns
    assert raw["cpu_s"] == pytest.approx(sum(c["cpu_s"] for c in raw["chunks"]), abs=0.05)


def test_cores_busy_between_two_readings_of_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from benchmarks.drive import cores_busy

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert cores_busy((100, 1000), (175, 1100)) == pytest.approx(1.5)
    assert cores_busy((100, 1000), (100, 1000)) is None
    assert cores_busy(None, (1, 2)) is None


def test_the_goals_show_the_paired_figures_beside_the_verdict() -> None:
    from benchmarks.goals import goals

    def run(extra_ns: int) -> dict[str, Any]:
        return _raw([(c, [base + extra_ns], 0.001) for c, base in enumerate([10**6, 3 * 10**6])])

    outcomes = [
        report.Outcome("empty", "sync", "ok", raw=run(0)),
        report.Outcome("observe-local", "sync", "ok", raw=run(14_000)),  # 1 us per span
        report.Outcome("openllmetry", "sync", "ok", raw=run(280_000)),  # 20 us per span
    ]
    local = goals(report.summarize(outcomes), ["sync"])[0]
    assert local.name == "sync: local store overhead/span vs openllmetry"
    assert local.status == "PASS"
    assert local.value.endswith("; paired per cycle 1.0 +-0.0 vs 20.0 +-0.0 = 0.05x"), local
