"""A store file another connection holds locked: how to tell, how to wait for it, and
write transactions that wait their turn and leave writers theirs."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["RETRIES", "in_transaction", "is_busy", "retry_when_busy", "short_transaction"]

_T = TypeVar("_T")

#: how many times work is tried again after the busy timeout ran out
RETRIES = 5


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """True when ``exc`` says another connection held the file locked."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def retry_when_busy(fn: Callable[[], _T], retries: int = RETRIES) -> _T:
    """``fn()``, tried again up to ``retries`` times, after a growing, jittered pause,
    while the file stays locked past the busy timeout (another process holding a long
    write)."""
    for attempt in range(retries):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            time.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))
    return fn()


def in_transaction(conn: sqlite3.Connection, work: Callable[[], _T]) -> _T:
    """``work`` in one ``BEGIN IMMEDIATE`` transaction, retried as a writer's batch is when
    the file stays locked past the busy timeout."""

    def attempt() -> _T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work()
            conn.execute("COMMIT")
            return result
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    return retry_when_busy(attempt)


def short_transaction(conn: sqlite3.Connection, work: Callable[[], _T]) -> _T:
    """``work`` in a transaction, then a pause as long as it took: writers waiting for the
    lock (their busy handler polls it) get it between two transactions of ours."""
    started = time.monotonic()
    result = in_transaction(conn, work)
    time.sleep(min(time.monotonic() - started, 1.0))
    return result
