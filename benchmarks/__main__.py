"""``python -m benchmarks``: langgraph-observe's hot path against the peers.

Every (variant, mode) runs in a process of its own, against a fresh loopback OTLP
receiver that lives in this process (so its decoding costs the measured process nothing).

    python -m benchmarks                      # the full run
    python -m benchmarks --smoke              # a tiny run, as the tests do
    python -m benchmarks --backends-down      # remote backends refused and stalling
    python -m benchmarks --variants observe-local,langfuse --modes sync -n 500
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from . import report
from .measure import measure
from .receiver import OTLPCounter, StallingServer, refused_url
from .variants import VARIANTS, Unavailable

RESULT_MARK = "BENCH-RESULT "
SKIP_EXIT = 3
_REPO = Path(__file__).resolve().parent.parent
_CLEAN_PREFIXES = ("OTEL_", "LANGFUSE_", "TRACELOOP_", "OPENINFERENCE_")


def _child_env() -> dict[str, str]:
    """The environment of a measured process: no tracer configuration leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_CLEAN_PREFIXES)
        and not (k.startswith("LANGGRAPH_OBSERVE_") and k != "LANGGRAPH_OBSERVE_STRICT")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO), env.get("PYTHONPATH")]))
    return env


def _child(args: argparse.Namespace) -> int:
    import urllib.request  # noqa: F401  - loaded by every variant alike (counting)

    try:
        raw = measure(
            args.child,
            args.mode,
            args.n,
            args.warmup,
            args.endpoint,
            Path(args.workdir),
            flush_timeout=args.flush_timeout,
            shutdown_timeout=args.shutdown_timeout,
        )
    except Unavailable as exc:
        print(f"skipped: {exc}", file=sys.stderr, flush=True)
        os._exit(SKIP_EXIT)
    print(RESULT_MARK + json.dumps(raw), flush=True)
    # Exporters of a stalled backend may hold their threads; the figures are out.
    os._exit(0)


def _run_one(
    variant: str,
    mode: str,
    args: argparse.Namespace,
    endpoint: str | None = None,
    label: str | None = None,
) -> report.Outcome:
    name = label or variant
    receiver = OTLPCounter().start() if endpoint is None else None
    url = receiver.url if receiver is not None else endpoint
    assert url is not None
    with tempfile.TemporaryDirectory(prefix="lgo-bench-") as workdir:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks",
            "--child",
            variant,
            "--mode",
            mode,
            "-n",
            str(args.n),
            "--warmup",
            str(args.warmup),
            "--endpoint",
            url,
            "--workdir",
            workdir,
            "--flush-timeout",
            str(args.flush_timeout),
            "--shutdown-timeout",
            str(args.shutdown_timeout),
        ]
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=args.variant_timeout,
                env=_child_env(),
                cwd=workdir,
            )
        except subprocess.TimeoutExpired:
            return report.Outcome(name, mode, "failed", f"timed out after {args.variant_timeout}s")
        finally:
            if receiver is not None:
                receiver.stop()
        took = time.perf_counter() - started
    if proc.returncode == SKIP_EXIT:
        return report.Outcome(name, mode, "skipped", proc.stderr.strip().splitlines()[-1])
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            raw = json.loads(line[len(RESULT_MARK) :])
            raw["took_s"] = took
            return report.Outcome(name, mode, "ok", raw=raw)
    tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
    return report.Outcome(name, mode, "failed", f"exit {proc.returncode}: {tail}")


def _progress(o: report.Outcome) -> None:
    took = f" in {o.raw['took_s']:.1f}s" if o.raw else ""
    print(f"  {o.mode:<5} {o.variant:<14} {o.status}{took} {o.reason}", file=sys.stderr, flush=True)


def _compare(args: argparse.Namespace) -> int:
    modes = args.modes.split(",")
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {sorted(unknown)}; known: {list(VARIANTS)}")
    print(f"n={args.n} warmup={args.warmup} modes={modes}", file=sys.stderr)
    rounds = max(1, min(args.rounds, args.n // 10))
    args.n //= rounds
    # Round-robin: each round runs every variant once, so load from outside the
    # benchmark spreads over all of them instead of skewing one.
    runs = [
        (name, mode)
        for mode in modes
        for _ in range(rounds)
        for name in names
        # 'empty-hop' differs from 'empty' only on an event loop
        if not (name == "empty-hop" and mode == "sync")
    ]

    def one(run: tuple[str, str]) -> report.Outcome:
        outcome = _run_one(run[0], run[1], args)
        _progress(outcome)
        return outcome

    # Several at once only when timings do not matter (the smoke run).
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = report.merge_rounds(list(pool.map(one, runs)))
    summaries = report.summarize(outcomes)
    print(report.render(outcomes, summaries, modes))
    print(report.render_goals(report.goals(summaries, modes)))
    if args.smoke:
        print("(smoke run: tiny n, variants run in parallel; the figures prove it runs, no more)")
    _save(args, outcomes, summaries)
    failed = [o for o in outcomes if o.status == "failed"]
    unverified = [s for s in summaries.values() if not s.verified]
    return 1 if failed or unverified else 0


def _backends_down(args: argparse.Namespace) -> int:
    outcomes: list[report.Outcome] = []
    stalling = StallingServer().start()
    try:
        conditions = [("healthy", None), ("refused", refused_url()), ("stalling", stalling.url)]
        for label, endpoint in conditions:
            outcome = _run_one("observe-all", "sync", args, endpoint=endpoint, label=label)
            _progress(outcome)
            outcomes.append(outcome)
    finally:
        stalling.stop()
    summaries = report.summarize(outcomes)
    by_cond = {v.variant: v for v in summaries.values()}
    print(report.render_backends_down(by_cond, args.tolerance, args.shutdown_timeout))
    for o in outcomes:
        if o.status != "ok":
            print(f"{o.variant}: {o.status}: {o.reason}")
    _save(args, outcomes, summaries)
    healthy = by_cond.get("healthy")
    ok = healthy is not None and len(by_cond) == len(outcomes)
    for s in by_cond.values():
        ok = ok and s.shutdown_s <= args.shutdown_timeout + 1.0
    return 0 if ok else 1


def _save(
    args: argparse.Namespace,
    outcomes: list[report.Outcome],
    summaries: dict[tuple[str, str], report.Summary],
) -> None:
    """Write every outcome, with its summary (no per-invocation timings), as JSON."""
    if not args.json:
        return
    data = []
    for o in outcomes:
        s = summaries.get((o.mode, o.variant))
        data.append(
            {"variant": o.variant, "mode": o.mode, "status": o.status, "reason": o.reason}
            | {"summary": asdict(s) if s is not None else None}
        )
    Path(args.json).write_text(json.dumps(data, indent=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=2000, help="measured invocations per variant")
    p.add_argument("--warmup", type=int, default=50, help="invocations before measuring")
    p.add_argument("--rounds", type=int, default=3, help="processes per variant, round-robin")
    p.add_argument("--modes", default="sync,async", help="sync, async or both")
    p.add_argument("--variants", default="", help=f"comma-separated subset of {list(VARIANTS)}")
    p.add_argument("--smoke", action="store_true", help="a tiny run (n=30, warmup=5)")
    p.add_argument("--backends-down", action="store_true", help="remote backends down")
    p.add_argument("--tolerance", type=float, default=0.05, help="backends-down latency bound")
    p.add_argument("--flush-timeout", type=float, default=60.0)
    p.add_argument("--shutdown-timeout", type=float, default=5.0)
    p.add_argument("--variant-timeout", type=float, default=900.0)
    p.add_argument("--jobs", type=int, default=1, help="variants run at once (smoke only)")
    p.add_argument("--json", default="", help="write the outcomes (without timings) here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--mode", default="sync", help=argparse.SUPPRESS)
    p.add_argument("--endpoint", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args)
    if args.smoke:
        args.n, args.warmup, args.rounds = 30, 5, 1
        args.jobs = max(args.jobs, 2)
    if args.backends_down:
        args.flush_timeout = args.shutdown_timeout
        return _backends_down(args)
    return _compare(args)


if __name__ == "__main__":
    sys.exit(main())
