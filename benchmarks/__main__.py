"""``python -m benchmarks``: langgraph-observe's hot path against the peers.

Every variant runs in processes of its own (``--rounds`` per mode), each against a fresh
loopback OTLP receiver that lives in this process (so its decoding costs the measured
process nothing). All processes of a mode are alive at once and are measured in
alternation, one chunk of invocations at a time (see :mod:`benchmarks.drive`).

    python -m benchmarks                      # the full run
    python -m benchmarks --smoke              # a tiny run, as the tests do
    python -m benchmarks --backends-down      # remote backends refused and stalling
    python -m benchmarks --variants observe-local,langfuse --modes sync -n 500
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import report
from .drive import Plan, Spec, run_interleaved
from .goals import goals, render_goals
from .noise import Spread, paired, ratio_of_medians
from .receiver import StallingServer, refused_url
from .variants import VARIANTS


def _progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def _plan(args: argparse.Namespace, n: int) -> Plan:
    return Plan(
        n=n,
        warmup=args.warmup,
        chunk=max(1, min(args.chunk, n)),
        gap=args.gap,
        seed=args.seed,
        flush_timeout=args.flush_timeout,
        shutdown_timeout=args.shutdown_timeout,
        timeout=args.variant_timeout,
    )


def _busy(busy: dict[str, float | None]) -> str:
    """How busy the machine was while the processes took turns."""
    known = ", ".join(f"{mode} {b:.1f}" for mode, b in busy.items() if b is not None)
    if not known:
        return ""
    return (
        f"\n  Cores busy during the cycles ({known} of {os.cpu_count()}): one measured process "
        "runs at a time, so more than about 1 means\n  the runner, the waiting processes' "
        "threads or others' work shared the machine with it."
    )


def _method(plan: Plan, rounds: int, per: str = "variant") -> str:
    """How the run was interleaved, for the output's header."""
    return (
        f"Interleaved: {rounds} process{'es' if rounds > 1 else ''} per {per} and mode, all "
        f"of a mode alive at once, each measuring {plan.n} invocations after {plan.warmup} "
        f"warm-up;\n  {plan.cycles} cycles: in each, every process runs one chunk of up to "
        f"{plan.chunk} invocations, one process at a time, in a shuffled order (seed "
        f"{plan.seed});\n  each chunk is followed by a {plan.gap:g} s gap in its own process "
        "(its exporters flushed within it, then idle);\n  CPU and GC time are counted over "
        "the chunks, their gaps and the final flush, not while a process waits for the others."
    )


def _compare(args: argparse.Namespace) -> int:
    modes = args.modes.split(",")
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {sorted(unknown)}; known: {list(VARIANTS)}")
    rounds = max(1, min(args.rounds, args.n // 10))
    plan = _plan(args, args.n // rounds)
    print(f"n={args.n} warmup={args.warmup} modes={modes}", file=sys.stderr)
    outcomes: list[report.Outcome] = []
    busy: dict[str, float | None] = {}
    for mode in modes:
        # 'empty-hop' differs from 'empty' only on an event loop
        here = [v for v in names if not (v == "empty-hop" and mode == "sync")]
        specs = [Spec(v, v, mode) for _ in range(rounds) for v in here]
        done, busy[mode] = run_interleaved(specs, plan, _progress)
        outcomes += done
    outcomes = report.merge_rounds(outcomes)
    summaries = report.summarize(outcomes)
    print(report.render(outcomes, summaries, modes, _method(plan, rounds) + _busy(busy)))
    print(render_goals(goals(summaries, modes)))
    if args.smoke:
        print("(smoke run: tiny n and chunks; the figures prove it runs, no more)")
    _save(args, outcomes, summaries, {"rounds": rounds, "cores_busy": busy} | asdict(plan))
    failed = [o for o in outcomes if o.status == "failed"]
    unverified = [s for s in summaries.values() if not s.verified]
    return 1 if failed or unverified else 0


def _backends_down(args: argparse.Namespace) -> int:
    stalling = StallingServer().start()
    plan = _plan(args, args.n)
    try:
        specs = [
            Spec("healthy", "observe-all", "sync"),
            Spec("refused", "observe-all", "sync", refused_url()),
            Spec("stalling", "observe-all", "sync", stalling.url),
        ]
        outcomes, busy = run_interleaved(specs, plan, _progress)
    finally:
        stalling.stop()
    summaries = report.summarize(outcomes)
    by_cond = {v.variant: v for v in summaries.values()}
    raws = {o.variant: o.raw for o in outcomes if o.status == "ok" and o.raw is not None}
    ratios: dict[str, Spread] = {}
    if "healthy" in raws:
        for cond, raw in raws.items():
            spread = paired(raw, raws["healthy"], ratio_of_medians)
            if spread is not None:
                ratios[cond] = spread
    method = _method(plan, 1, per="condition") + _busy({"sync": busy})
    print(
        report.render_backends_down(by_cond, args.tolerance, args.shutdown_timeout, ratios, method)
    )
    for o in outcomes:
        if o.status != "ok":
            print(f"{o.variant}: {o.status}: {o.reason}")
    _save(args, outcomes, summaries, {"cores_busy": busy} | asdict(plan))
    healthy = by_cond.get("healthy")
    ok = healthy is not None and len(by_cond) == len(outcomes)
    for s in by_cond.values():
        ok = ok and s.shutdown_s <= args.shutdown_timeout + 1.0
    return 0 if ok else 1


def _save(
    args: argparse.Namespace,
    outcomes: list[report.Outcome],
    summaries: dict[tuple[str, str], report.Summary],
    method: dict[str, Any],
) -> None:
    """Write every outcome, with its summary (no per-invocation timings) and how the run
    was interleaved, as JSON."""
    if not args.json:
        return
    data = []
    for o in outcomes:
        s = summaries.get((o.mode, o.variant))
        data.append(
            {"variant": o.variant, "mode": o.mode, "status": o.status, "reason": o.reason}
            | {"summary": asdict(s) if s is not None else None, "method": method}
        )
    Path(args.json).write_text(json.dumps(data, indent=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=2000, help="measured invocations per variant")
    p.add_argument("--warmup", type=int, default=50, help="invocations before measuring")
    p.add_argument("--rounds", type=int, default=3, help="processes per variant and mode")
    p.add_argument("--chunk", type=int, default=100, help="invocations per turn of a process")
    p.add_argument(
        "--gap",
        type=float,
        default=0.25,
        help="seconds after each chunk: exporters flushed, then idle",
    )
    p.add_argument("--seed", type=int, default=0, help="of the shuffled order in each cycle")
    p.add_argument("--modes", default="sync,async", help="sync, async or both")
    p.add_argument("--variants", default="", help=f"comma-separated subset of {list(VARIANTS)}")
    p.add_argument("--smoke", action="store_true", help="a tiny run (n=30, chunks of 10)")
    p.add_argument("--backends-down", action="store_true", help="remote backends down")
    p.add_argument("--tolerance", type=float, default=0.05, help="backends-down latency bound")
    p.add_argument("--flush-timeout", type=float, default=60.0)
    p.add_argument("--shutdown-timeout", type=float, default=5.0)
    p.add_argument(
        "--variant-timeout",
        type=float,
        default=900.0,
        help="the longest a process may take to start, run a chunk or finish",
    )
    p.add_argument("--json", default="", help="write the outcomes (without timings) here")
    args = p.parse_args(argv)
    if args.smoke:
        args.n, args.warmup, args.rounds, args.chunk, args.gap = 30, 5, 1, 10, 0.02
    if args.backends_down:
        args.flush_timeout = args.shutdown_timeout
        return _backends_down(args)
    return _compare(args)


if __name__ == "__main__":
    sys.exit(main())
