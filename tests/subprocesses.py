"""Python code run in a child process from the project's root (so ``tests`` imports), as a
user's fresh process would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ROOT", "run_python"]

ROOT = Path(__file__).resolve().parent.parent


def run_python(
    code: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    drop_env: tuple[str, ...] = (),
    timeout: float = 120,
) -> str:
    """Run ``code`` with ``args``; its stdout. The environment is this one (or ``env``),
    without the variables starting with a prefix in ``drop_env``. Fails the test, with the
    child's stderr, when it exits non-zero."""
    base = os.environ if env is None else env
    clean = (
        {k: v for k, v in base.items() if not k.startswith(drop_env)} if drop_env else dict(base)
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
