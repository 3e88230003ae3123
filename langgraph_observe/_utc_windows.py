"""UTC instants and calendar boundaries, in the nanoseconds the store keeps."""

from __future__ import annotations

import time
from datetime import datetime, timezone

__all__ = ["NS", "day_start", "epoch_ns", "month_start", "ns", "utc"]

NS = 1_000_000_000


def epoch_ns(now: datetime | None) -> int:
    """``now`` (or the current time) in nanoseconds since the epoch."""
    return time.time_ns() if now is None else int(now.timestamp() * NS)


def utc(now: datetime | None) -> datetime:
    """``now`` (or the current time) in UTC."""
    return datetime.now(timezone.utc) if now is None else now.astimezone(timezone.utc)


def day_start(now: datetime) -> datetime:
    """Midnight starting ``now``'s day."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    """Midnight starting ``now``'s month."""
    return day_start(now).replace(day=1)


def ns(moment: datetime) -> int:
    """``moment`` in nanoseconds since the epoch, whole seconds."""
    return int(moment.timestamp()) * NS
