"""The default sink: every record into the embedded SQLite store.

>>> from langgraph_observe import CallbackHandler
>>> from langgraph_observe.sinks.local import LocalStoreSink
>>> handler = CallbackHandler(sinks=[LocalStoreSink("runs/traces.db")])

Batches arrive on the sink's worker thread; each is written in one transaction. The
file (and its directory) is created on the first batch, not when the sink is built.
Read it back with :class:`langgraph_observe.store.LocalStore`.

In the child of an ``os.fork()`` the sink writes through a writer of its own; the one it
inherited is kept, unused and unclosed (:meth:`LocalStoreSink.after_fork`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import Settings
from ..config_file import configured_settings
from ..events import Record
from ..store.writer import StoreWriter
from .base import BaseSink

__all__ = ["LocalStoreSink", "autoconfigure"]

#: writers inherited over ``os.fork()``: kept for the life of the process, never used nor
#: closed (their SQLite connections are the parent's)
_inherited: list[StoreWriter] = []


class LocalStoreSink(BaseSink):
    """Writes records to a SQLite file.

    Args:
        path: the file; by default the resolved ``store_path`` setting
            (``LANGGRAPH_OBSERVE_STORE`` or ``./.langgraph_observe/traces.db``).
    """

    name = "local"

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else configured_settings().store_path
        self._writer = StoreWriter(self.path)

    def __repr__(self) -> str:
        return f"LocalStoreSink({str(self.path)!r})"

    def export(self, records: Sequence[Record]) -> None:
        self._writer.write(records)

    def shutdown(self, timeout: float) -> None:
        self._writer.close()

    def after_fork(self) -> None:
        """A new writer for the same file (it connects at the child's first batch). The
        inherited writer is kept aside without being closed: SQLite connections must not
        cross a fork, and closing the child's copy could release or act on the parent's
        locks and write-ahead log."""
        _inherited.append(self._writer)
        self._writer = StoreWriter(self.path)


def autoconfigure(settings: Settings, **kwargs: Any) -> tuple[LocalStoreSink, str]:
    """Always on: the local store is the default sink."""
    sink = LocalStoreSink(settings.store_path)
    return sink, f"on: default sink, {sink.path}"
