"""Driving the measured processes side by side, interleaved in time.

All processes of a mode start at once (each builds its variant and warms up in parallel),
then wait. The runner then goes round in *cycles*: in each cycle, in a freshly shuffled
order, it tells one process at a time to run its next chunk of invocations (the others sit
blocked on their pipes), until every process has run its ``n``. After each chunk the
process spends a fixed gap (its exporters flushed within it, then idle) before it answers,
so its own background exporters do their work in its own time rather than during the next
process's chunk. Chunks of one cycle run
seconds apart, so every variant sees the machine as it is then: the machine's slow drift
spreads over all of them alike instead of favouring whichever ran in a quiet minute.
"""

from __future__ import annotations

import json
import math
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .child import SKIP_EXIT
from .receiver import OTLPCounter
from .report import Outcome

__all__ = ["Plan", "Spec", "cores_busy", "run_interleaved"]

_REPO = Path(__file__).resolve().parent.parent
_CLEAN_PREFIXES = ("OTEL_", "LANGFUSE_", "TRACELOOP_", "OPENINFERENCE_")


@dataclass(frozen=True)
class Spec:
    """One measured process: ``label`` names its row (several rounds share a label)."""

    label: str
    variant: str
    mode: str
    #: where its exporters send; None: a loopback receiver of its own
    endpoint: str | None = None


@dataclass(frozen=True)
class Plan:
    """How each process is measured and interleaved."""

    n: int  #: measured invocations per process
    warmup: int
    chunk: int  #: invocations per chunk
    gap: float  #: seconds each process idles after its chunk
    seed: int = 0  #: of the per-cycle shuffle
    flush_timeout: float = 60.0
    shutdown_timeout: float = 5.0
    timeout: float = 900.0  #: the longest a process may take to start, run a chunk or finish

    @property
    def cycles(self) -> int:
        return math.ceil(self.n / self.chunk)


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


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine so far (Linux ``/proc/stat``)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def cores_busy(start: tuple[int, int] | None, end: tuple[int, int] | None) -> float | None:
    """How many cores the whole machine kept busy, on average, between two readings."""
    if start is None or end is None or end[1] == start[1]:
        return None
    return (end[0] - start[0]) / (end[1] - start[1]) * (os.cpu_count() or 1)


class _Child:
    """A measured process, its receiver, its working directory and its answers."""

    def __init__(self, spec: Spec, plan: Plan) -> None:
        self.spec, self.plan = spec, plan
        self.done = 0
        self.outcome: Outcome | None = None  # set once it is over (result, skip or failure)
        self._receiver = OTLPCounter().start() if spec.endpoint is None else None
        url = self._receiver.url if self._receiver is not None else spec.endpoint
        assert url is not None
        self._workdir = tempfile.TemporaryDirectory(prefix="lgo-bench-")
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._started = time.perf_counter()
        # fmt: off
        cmd = [
            sys.executable, "-m", "benchmarks.child", "--variant", spec.variant,
            "--mode", spec.mode, "-n", str(plan.n), "--warmup", str(plan.warmup),
            "--endpoint", url, "--workdir", self._workdir.name, "--gap", str(plan.gap),
            "--flush-timeout", str(plan.flush_timeout),
            "--shutdown-timeout", str(plan.shutdown_timeout),
        ]
        # fmt: on
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
            env=_child_env(),
            cwd=self._workdir.name,
        )
        threading.Thread(target=self._read, name="bench-child-reader", daemon=True).start()

    @property
    def live(self) -> bool:
        return self.outcome is None

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                self._answers.put(json.loads(line))
            except ValueError:
                self._answers.put({"garbled": line[:200]})
        self._answers.put(None)

    def _fail(self, reason: str) -> None:
        try:  # at "exit" it is on its way out: let it go by itself
            self._proc.wait(timeout=5 if reason == "exit" else 0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        status = "failed"
        if reason == "exit" and self._proc.returncode == SKIP_EXIT:
            status, reason = "skipped", self._stderr_tail(1)
        elif reason == "exit":
            reason = f"exit {self._proc.returncode}: {self._stderr_tail(5)}"
        self.outcome = Outcome(self.spec.label, self.spec.mode, status, reason)

    def _stderr_tail(self, lines: int) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])

    def _expect(self, key: str) -> dict[str, Any] | None:
        """The next answer, which must carry ``key``; None (and the outcome set) if the
        process died or timed out instead."""
        try:
            answer = self._answers.get(timeout=self.plan.timeout)
        except queue.Empty:
            self._fail(f"timed out after {self.plan.timeout:g}s waiting for {key!r}")
            return None
        if answer is None:
            self._fail("exit")
            return None
        if key not in answer:
            self._fail(f"unexpected answer {answer!r} waiting for {key!r}")
            return None
        return answer

    def _send(self, command: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(command) + "\n")
            self._proc.stdin.flush()
        except OSError:
            pass  # it died; the answer's absence says so

    def wait_ready(self) -> float:
        """Wait until it has warmed up; the seconds since it was started."""
        self._expect("ready")
        return time.perf_counter() - self._started

    def run_chunk(self, cycle: int) -> None:
        k = min(self.plan.chunk, self.plan.n - self.done)
        self._send({"run": k, "cycle": cycle})
        if self._expect("done") is not None:
            self.done += k

    def finish(self) -> None:
        self._send({"finish": True})
        answer = self._expect("result")
        if answer is not None:
            raw = answer["result"]
            raw["took_s"] = time.perf_counter() - self._started
            self.outcome = Outcome(self.spec.label, self.spec.mode, "ok", raw=raw)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._receiver is not None:
            self._receiver.stop()
        self._stderr.close()
        self._workdir.cleanup()


def run_interleaved(
    specs: list[Spec], plan: Plan, progress: Callable[[str], None] = lambda line: None
) -> tuple[list[Outcome], float | None]:
    """Measure every spec in its own process, all alive at once, chunk by chunk in a
    shuffled order per cycle. One outcome per spec, in the order of ``specs``; and how
    many cores the whole machine kept busy during the cycles (None if unknown)."""
    rng = random.Random(plan.seed)
    children: list[_Child] = []
    busy: float | None = None
    try:
        for spec in specs:
            children.append(_Child(spec, plan))
        for c in children:
            took, o = c.wait_ready(), c.outcome
            state = "ready" if o is None else f"{o.status}: {o.reason}"
            progress(f"{c.spec.mode:<5} {c.spec.label:<18} {state} ({took:.1f}s)")
        started, ticks = time.perf_counter(), _cpu_ticks()
        for cycle in range(plan.cycles):
            order = [c for c in children if c.live and c.done < plan.n]
            rng.shuffle(order)
            for c in order:
                c.run_chunk(cycle)
            elapsed = time.perf_counter() - started
            progress(f"{specs[0].mode:<5} cycle {cycle + 1}/{plan.cycles} ({elapsed:.0f}s)")
        busy = cores_busy(ticks, _cpu_ticks())
        order = [c for c in children if c.live]
        rng.shuffle(order)
        for c in order:
            c.finish()
            o = c.outcome
            assert o is not None
            progress(f"{o.mode:<5} {o.variant:<18} {o.status} {o.reason}".rstrip())
    finally:  # at once: each receiver takes up to 0.5 s to stop
        closing = [threading.Thread(target=c.close) for c in children]
        for t in closing:
            t.start()
        for t in closing:
            t.join()
    outcomes = [
        c.outcome or Outcome(c.spec.label, c.spec.mode, "failed", "never finished")
        for c in children
    ]
    return outcomes, busy
