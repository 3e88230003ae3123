"""Giving a store's free pages back to the disk after rows were removed."""

from __future__ import annotations

import sqlite3

from ._busy import is_busy, retry_when_busy
from .schema import BUSY_TIMEOUT_MS

__all__ = ["give_space_back"]


def give_space_back(conn: sqlite3.Connection) -> None:
    """Shrink the file: ``VACUUM`` (rewrites it, holding the write lock meanwhile), or
    ``incremental_vacuum`` in incremental auto-vacuum mode (full auto-vacuum already gave
    the pages back at each commit); then fold the WAL into the file and truncate it."""
    mode = conn.execute("PRAGMA auto_vacuum").fetchone()[0]
    if mode == 0:
        retry_when_busy(lambda: conn.execute("VACUUM"))
    elif mode == 2:
        # a statement step frees one page: executescript steps it to the end
        retry_when_busy(lambda: conn.executescript("PRAGMA incremental_vacuum;"))
    # Fold the WAL in only when no reader is in the way: waiting for readers here would
    # hold the write lock, and block the writers, for up to the busy timeout.
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.OperationalError as exc:
        if not is_busy(exc):
            raise
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
