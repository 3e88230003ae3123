"""Write record batches to the local store: one transaction per batch, retried when busy.

Runs in the local sink's worker thread (never on the graph's path). Every write is an
upsert, so a re-delivered record replaces its earlier row instead of adding one.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._json import JsonWriter
from .._render import render
from ..events import (
    Record,
    SpanKind,
    SpanRecord,
    SpanStatus,
    TraceContext,
    WorkflowStarted,
)
from ._busy import retry_when_busy
from .schema import connect, ensure_schema, file_identity
from .statements import (
    TRACE_FINISH_SQL,
    TRACE_OPEN_SQL,
    insert_spans,
    insert_traces,
    other_statement,
    rows_per_statement,
)

__all__ = ["StoreWriter"]

logger = logging.getLogger("langgraph_observe")


#: Bound in place of ``None``: SQLite stores a NaN as NULL, and a float skips the
#: ``sqlite3`` module's adaptation of ``None`` (which, before Python 3.12, builds and
#: discards an AttributeError per parameter: half the cost of inserting a span row).
_NULL = float("nan")
_NO_ERROR = (_NULL, _NULL, _NULL)
_NO_USAGE = (_NULL,) * 7
_KIND_TEXT: dict[Any, str] = {k: k.value for k in SpanKind}
_STATUS_TEXT: dict[Any, str] = {s: s.value for s in SpanStatus}


class _Json(JsonWriter):
    """JSON as the store writes it (``default=str``), through one reused encoder. Used
    under the writer's lock."""

    def mapping(self, value: Mapping[str, Any]) -> str:
        """A mapping as a JSON object, its keys passed through ``str`` (a dict with
        ``str`` keys as it is)."""
        if type(value) is dict:
            for key in value:
                if type(key) is not str:
                    break
            else:
                return self(value)
        return self(_plain_mapping(value))


class _SafeJson(_Json):
    """The retry of a batch a value of which no JSON encoder took (a circular or too deep
    structure, an integer too long to print, a ``__str__`` that raises): each JSON field
    is encoded alone, and one that fails becomes the renderer's view of its value."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks = None  # every field through __call__

    def __call__(self, value: Any) -> str:
        try:
            return super().__call__(value)
        except Exception:
            return render(value, -1)


def _plain_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()}


def _trace_fields(t: TraceContext, encode: _Json | None = None) -> tuple[Any, ...]:
    """The trace's columns of a ``traces`` row; the first five are also ``spans``
    columns."""
    encode = encode or _Json()
    return (
        _NULL if t.tenant is None else t.tenant,
        _NULL if t.user_id is None else t.user_id,
        _NULL if t.session_id is None else t.session_id,
        _NULL if t.thread_id is None else t.thread_id,
        encode(list(t.tags)),
        encode.mapping(t.metadata),
    )


def span_row(
    s: SpanRecord, trace_fields: tuple[Any, ...] | None = None, encode: _Json | None = None
) -> tuple[Any, ...]:
    """The ``spans`` row of a record, in ``SPAN_COLUMNS`` order, ``NULL`` bound as NaN
    (``trace_fields``: the first five of the trace's ``_trace_fields``, when already
    computed)."""
    t, u, e = s.trace, s.usage, s.error
    encode = encode or _Json()
    tf = trace_fields if trace_fields is not None else _trace_fields(t, encode)[:5]
    if s.events:
        events = encode(
            [
                {
                    "name": ev.name,
                    "time_ns": ev.time_ns,
                    "attributes": _plain_mapping(ev.attributes),
                }
                for ev in s.events
            ]
        )
    else:
        events = "[]"
    if u is None:
        usage = _NO_USAGE
    else:
        n = u.input_tokens, u.output_tokens, u.total_tokens, u.cached_input_tokens
        m = u.cache_creation_tokens, u.reasoning_tokens
        usage = (
            _NULL if n[0] is None else n[0],
            _NULL if n[1] is None else n[1],
            _NULL if n[2] is None else n[2],
            _NULL if n[3] is None else n[3],
            _NULL if m[0] is None else m[0],
            _NULL if m[1] is None else m[1],
            int(u.estimated),
        )
    kind, status = s.kind, s.status
    parent, node, persona, model, provider = (
        s.parent_span_id, s.node, s.persona, s.model, s.provider
    )  # fmt: skip
    cost, inp, out = s.cost_usd, s.input, s.output
    attributes = s.attributes  # as _Json.mapping, without two calls per span
    if type(attributes) is dict:
        for key in attributes:
            if type(key) is not str:
                attributes = _plain_mapping(attributes)
                break
    else:
        attributes = _plain_mapping(attributes)
    c = encode.chunks  # a failure leaves its markers to the caller's reset()
    return (
        t.trace_id,
        s.span_id,
        _NULL if parent is None else parent,
        s.name,
        _KIND_TEXT.get(kind) or str(kind),
        s.start_ns,
        s.end_ns,
        _STATUS_TEXT.get(status) or str(status),
        *(_NO_ERROR if e is None else (e.type, e.message, str(e.error_class))),
        t.workflow,
        _NULL if node is None else node,
        _NULL if persona is None else persona,
        _NULL if model is None else model,
        _NULL if provider is None else provider,
        *usage,
        _NULL if cost is None else cost,
        _NULL if inp is None else inp.text,
        _NULL if out is None else out.text,
        "".join(c(attributes, 0)) if c is not None else encode(attributes),
        events,
        *tf,
    )


def _float_adapted() -> bool:
    """True when an adapter for ``float`` is registered: the NaN standing for NULL would
    be handed to it, so ``None`` is bound instead."""
    return (float, sqlite3.PrepareProtocol) in sqlite3.adapters


def _with_none(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(None if v is _NULL else v for v in row) for row in rows]


def _merge_opened(
    opened: dict[str, tuple[Any, ...]], finished: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Traces that start and finish in one batch: the finishing upsert sets every column
    but ``start_ns``, which it keeps at the earlier of the two, so its row with the
    opening start folded in leaves the same trace row as both upserts would (one write
    of the row and its indexes instead of two). Takes those traces out of ``opened``."""
    merged = []
    for row in finished:
        start = opened.get(row[0])
        if start is not None:
            row = (*row[:4], min(row[4], start[4]), *row[5:])
        merged.append(row)
    for row in finished:
        opened.pop(row[0], None)
    return merged


def _valid_text(value: str) -> str:
    """``value`` with any lone surrogate (which UTF-8 cannot hold) replaced by ``?``."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _valid_rows(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(_valid_text(v) if type(v) is str else v for v in row) for row in rows]


def _write(
    conn: sqlite3.Connection,
    records: Sequence[Record],
    per: int = 1,
    encode: _Json | None = None,
    valid_text: bool = False,
) -> None:
    """Write one batch: span rows ``per`` to a statement, trace rows with
    ``executemany``, the trace-level JSON encoded once per trace, one trace-open row per
    trace (not one per span). ``valid_text``: replace lone surrogates in every text first
    (the retry of a batch SQLite could not encode)."""
    encode = encode or _Json()
    span_rows: list[tuple[Any, ...]] = []
    append = span_rows.append
    opened: dict[str, tuple[Any, ...]] = {}
    finished: list[tuple[Any, ...]] = []
    others: list[Record] = []
    fields_of: dict[int, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
    for r in records:
        if type(r) is SpanRecord or isinstance(r, SpanRecord):
            t = r.trace
            fields = fields_of.get(id(t)) or _trace_of(fields_of, t, encode)
            append(span_row(r, fields[1], encode))
            if r.parent_span_id is None:
                finished.append(
                    (t.trace_id, r.span_id, r.name, t.workflow, r.start_ns, r.end_ns,
                     _STATUS_TEXT.get(r.status) or str(r.status), *fields[0])
                )  # fmt: skip
            else:
                row = opened.get(t.trace_id)
                if row is None or (row[1] is _NULL and r.start_ns < row[4]):
                    opened[t.trace_id] = (t.trace_id, _NULL, _NULL, t.workflow, r.start_ns,
                                          *fields[0])  # fmt: skip
        elif isinstance(r, WorkflowStarted):
            t = r.trace
            fields = fields_of.get(id(t)) or _trace_of(fields_of, t, encode)
            opened[t.trace_id] = (t.trace_id, r.span_id, r.name, t.workflow, r.start_ns,
                                  *fields[0])  # fmt: skip
        else:
            others.append(r)
    if opened and finished:
        finished = _merge_opened(opened, finished)
    open_rows: Iterable[tuple[Any, ...]] = opened.values()
    if _float_adapted():
        span_rows, open_rows, finished = (
            _with_none(span_rows), _with_none(open_rows), _with_none(finished)
        )  # fmt: skip
    if valid_text:
        span_rows, open_rows, finished = (
            _valid_rows(span_rows), _valid_rows(open_rows), _valid_rows(finished)
        )  # fmt: skip
    if opened:
        insert_traces(conn, TRACE_OPEN_SQL, list(open_rows), per)
    if span_rows:
        insert_spans(conn, span_rows, per)
    if finished:
        insert_traces(conn, TRACE_FINISH_SQL, finished, per)
    for r in others:
        statement = other_statement(r)
        if statement is not None:
            sql, params = statement
            conn.execute(sql, _valid_rows([params])[0] if valid_text else params)


def _trace_of(
    fields_of: dict[int, tuple[tuple[Any, ...], tuple[Any, ...]]], t: TraceContext, encode: _Json
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """A trace's columns (of a ``traces`` row, and of a ``spans`` row), computed once a
    batch."""
    tf = _trace_fields(t, encode)
    fields = fields_of[id(t)] = (tf, tf[:5])
    return fields


def _journal_files(path: Path) -> tuple[Path, Path]:
    return (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))


#: The writer's page cache, KiB. Writes touch the right edge of each B-tree and one
#: path down each index; the OS's file cache serves the rest as fast, so a large
#: cache of our own would only add to the process's memory.
WRITER_CACHE_KIB = 128


class StoreWriter:
    """Writes batches to one SQLite file. The file and its directory are created on the
    first write. Thread-safe (one connection, one lock).

    Args:
        path: the SQLite file.
        retries: how many times a batch is retried when the file stays locked past the
            busy timeout (another process holding a long write).
    """

    def __init__(self, path: Path | str, *, retries: int = 5) -> None:
        self.path = Path(path)
        self.retries = retries
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  #: (device, inode) of the open file
        #: the open file's ``-wal`` and ``-shm`` files and their identities
        self._journal: dict[Path, tuple[int, int] | None] = {}
        self.rows_per_statement = 1
        self._lock = threading.Lock()
        self._encode = _Json()

    def _same_file(self) -> bool:
        """True while the open connection's file is still the one at ``path`` (not
        deleted, not replaced, e.g. by a clean-up job or a test)."""
        return file_identity(self.path) == self._file

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and not self._same_file():
            logger.warning(
                "langgraph-observe: the local store %s was deleted or replaced; opening it again",
                self.path,
            )
            self._conn.close()
            self._conn = None
            self._remove_stale_journal()
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path)
            try:
                self._retry(lambda: ensure_schema(conn))
                conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            self._file = file_identity(self.path)
            self._journal = {p: file_identity(p) for p in _journal_files(self.path)}
            self.rows_per_statement = rows_per_statement(conn)
        return self._conn

    def _remove_stale_journal(self) -> None:
        """Remove the ``-wal`` and ``-shm`` files the old file's connection left beside a
        replaced or deleted store: SQLite would replay the old file's WAL over the new
        one. Files that came with the new store (other identities) are left alone."""
        for journal, identity in self._journal.items():
            if identity is not None and file_identity(journal) == identity:
                try:
                    journal.unlink()
                except OSError as exc:
                    logger.warning("langgraph-observe: cannot remove %s: %s", journal, exc)
        self._journal = {}

    def _retry(self, fn: Callable[[], Any]) -> None:
        retry_when_busy(fn, self.retries)

    def write(self, records: Sequence[Record]) -> None:
        """Write ``records`` in one transaction. Raises when the file stays locked after
        every retry (the dispatcher then counts the batch as dropped)."""
        if not records:
            return
        with self._lock:
            conn = self._connection()

            def transaction(valid_text: bool = False, encode: _Json = self._encode) -> None:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    _write(conn, records, self.rows_per_statement, encode, valid_text)
                    conn.execute("COMMIT")
                except BaseException:
                    self._encode.reset()
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise

            try:
                self._retry(transaction)
            except UnicodeEncodeError:  # a text with a lone surrogate: "?" in its place
                self._retry(lambda: transaction(valid_text=True))
            except sqlite3.Error:
                raise
            except Exception:  # a value no encoder takes: only that value degrades
                self._retry(lambda: transaction(valid_text=True, encode=_SafeJson()))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
