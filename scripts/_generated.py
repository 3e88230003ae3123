"""Shared by the generator scripts: write generated files, or check the committed ones."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path


def write_or_check(files: Mapping[Path, str], *, check: bool, command: str) -> int:
    """Write each file's text (``check`` False) or compare it with what is committed.

    Returns the exit code: 1 when ``check`` finds a file missing or different (its names
    and ``command``, the way to regenerate, go to stderr), else 0.
    """
    stale = []
    for path, text in files.items():
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date: {', '.join(stale)}; run {command}", file=sys.stderr)
        return 1
    return 0
