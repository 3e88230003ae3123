"""The measured process: ``python -m benchmarks.child --variant NAME ...``.

It builds its variant and the workload graph, warms up, then obeys the runner, one JSON
line per command on stdin, one JSON line per answer on its protocol pipe (the original
stdout; anything the tracers print goes to stderr instead):

    <- {"ready": true}                          after the warm-up
    -> {"run": k, "cycle": c}                   the next k invocations, then the gap
    <- {"done": k}
    -> {"finish": true}                         flush, count, shut down
    <- {"result": {...}}                        the raw figures; then the process exits

A variant whose tracer is not installed exits with :data:`SKIP_EXIT` before ``ready``.
Only what every variant needs is imported here: the runner's side lives elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import IO

from .measure import Measurement
from .variants import Unavailable

__all__ = ["SKIP_EXIT", "main"]

SKIP_EXIT = 3


def _protocol_pipe() -> IO[str]:
    """The original stdout for the protocol; fd 1 now writes to stderr."""
    pipe = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    return pipe


def _send(pipe: IO[str], message: dict[str, object]) -> None:
    pipe.write(json.dumps(message) + "\n")
    pipe.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.child")
    p.add_argument("--variant", required=True)
    p.add_argument("--mode", default="sync")
    p.add_argument("-n", type=int, required=True)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--gap", type=float, default=0.25)
    p.add_argument("--flush-timeout", type=float, default=60.0)
    p.add_argument("--shutdown-timeout", type=float, default=5.0)
    args = p.parse_args(argv)
    pipe = _protocol_pipe()
    import urllib.request  # noqa: F401  - loaded by every variant alike (counting)

    try:
        m = Measurement(
            args.variant,
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
    _send(pipe, {"ready": True})
    for line in sys.stdin:
        command = json.loads(line)
        if "run" in command:
            m.run(int(command["run"]), int(command.get("cycle", 0)), args.gap)
            _send(pipe, {"done": command["run"]})
        elif command.get("finish"):
            _send(pipe, {"result": m.finish()})
            break
    # Exporters of a stalled backend may hold their threads; the figures are out.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
