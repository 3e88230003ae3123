"""Plain-text views of stored traces: a table of traces and the span tree of one trace.

Used by the CLI and the demo; works on the dicts :class:`~.reader.LocalStore` returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..semconv import LG_RETRIEVER_DOCUMENTS

__all__ = ["format_cost", "format_duration", "format_tokens", "trace_table", "trace_tree"]

_UNICODE = {"mid": "├─ ", "last": "└─ ", "pipe": "│  ", "blank": "   ", "error": "✗"}
_ASCII = {"mid": "|- ", "last": "`- ", "pipe": "|  ", "blank": "   ", "error": "x"}


def format_duration(ns: int | None) -> str:
    """``12.3 ms`` below a second, ``1.23 s`` above; ``-`` when unknown."""
    if ns is None:
        return "-"
    ms = ns / 1e6
    if ms < 1000:
        return f"{ms:.1f} ms"
    return f"{ms / 1000:.2f} s"


def format_tokens(total: int | None, inp: int | None = None, out: int | None = None) -> str:
    """``1041 tok (870 in / 171 out)``; ``-`` when no tokens were reported."""
    if total is None and inp is None and out is None:
        return "-"
    total = total if total is not None else (inp or 0) + (out or 0)
    if inp is None and out is None:
        return f"{total} tok"
    return f"{total} tok ({inp or 0} in / {out or 0} out)"


def format_cost(usd: float | None) -> str:
    """``$0.001234``; ``-`` when unknown."""
    return "-" if usd is None else f"${usd:.6f}"


def _started(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def trace_table(traces: Sequence[dict[str, Any]]) -> str:
    """One line per trace (rows from :meth:`LocalStore.traces`); times in UTC. Trace ids
    are printed whole: LangChain's run ids begin with their millisecond, so a prefix of
    any fixed length can name several traces of one busy store."""
    header = ("TRACE", "STARTED (UTC)", "WORKFLOW", "STATUS", "DURATION", "SPANS", "ERRORS",
              "TOKENS", "COST")  # fmt: skip
    rows = []
    for t in traces:
        end = t["end_ns"]
        rows.append((
            t["trace_id"],
            _started(t["start_ns"]),
            str(t["workflow"] or "-"),
            str(t["status"]),
            format_duration(end - t["start_ns"] if end is not None else None),
            str(t["span_count"]),
            str(t["error_count"]),
            "-" if t["total_tokens"] is None else str(t["total_tokens"]),
            format_cost(t["cost_usd"]),
        ))  # fmt: skip
    return _table(header, rows)


def _label(s: dict[str, Any]) -> str:
    parts = [f"{s['kind']} {s['name']}"]
    if s.get("model"):
        parts.append(f"({s['model']})")
    docs = (s.get("attributes") or {}).get(LG_RETRIEVER_DOCUMENTS)
    if docs is not None:
        parts.append(f"({docs} docs)")
    if s.get("persona") and s["kind"] in ("node", "workflow", "subgraph"):
        parts.append(f"[{s['persona']}]")
    if s.get("status") not in (None, "ok"):
        parts.append(f"<{s['status']}>")
    return " ".join(parts)


def trace_tree(
    trace: dict[str, Any] | None, spans: Sequence[dict[str, Any]], *, ascii_only: bool = False
) -> str:
    """A header line for ``trace`` and the indented span tree with durations, tokens, cost
    and errors. Spans whose parent is not stored (yet) are shown as roots."""
    g = _ASCII if ascii_only else _UNICODE
    lines: list[str] = []
    if trace is not None:
        end = trace["end_ns"]
        lines.append(
            f"trace {trace['trace_id']}  {trace['workflow'] or '-'}  {trace['status']}  "
            f"{format_duration(end - trace['start_ns'] if end is not None else None)}  "
            f"{trace['span_count']} spans  "
            f"{format_tokens(trace['total_tokens'], trace['input_tokens'], trace['output_tokens'])}"
            f"  cost {format_cost(trace['cost_usd'])}"
        )
        who = [f"{k}={trace[k]}" for k in ("tenant", "user_id", "session_id") if trace.get(k)]
        if trace.get("tags"):
            who.append("tags=" + ",".join(trace["tags"]))
        if who:
            lines.append("  " + "  ".join(who))
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s["parent_span_id"] if s["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(s)
    for kids in children.values():
        kids.sort(key=lambda s: (s["start_ns"], -s["end_ns"]))

    rows: list[tuple[str, dict[str, Any]]] = []
    extra: dict[int, list[str]] = {}

    def walk(s: dict[str, Any], prefix: str, tail: str) -> None:
        rows.append((prefix + tail + _label(s), s))
        below = prefix + ("" if not tail else g["blank"] if tail == g["last"] else g["pipe"])
        if s.get("error_type"):
            message = (s.get("error_message") or "").splitlines()[0:1]
            text = f"{g['error']} {s['error_type']}: {message[0] if message else ''}".rstrip(": ")
            extra[len(rows) - 1] = [below + "   " + text[:160]]
        kids = children.get(s["span_id"], [])
        for i, k in enumerate(kids):
            walk(k, below, g["last"] if i == len(kids) - 1 else g["mid"])

    for root in children.get(None, []):
        walk(root, "", "")
    width = max((len(label) for label, _ in rows), default=0)
    for i, (label, s) in enumerate(rows):
        cells = [label.ljust(width), format_duration(s["end_ns"] - s["start_ns"]).rjust(10)]
        tokens = format_tokens(s["total_tokens"], s["input_tokens"], s["output_tokens"])
        if tokens != "-":
            cells.append(tokens + (" est." if s.get("tokens_estimated") else ""))
        if s.get("cost_usd") is not None:
            cells.append(format_cost(s["cost_usd"]))
        lines.append("  ".join(cells))
        lines.extend(extra.get(i, []))
    return "\n".join(lines)
