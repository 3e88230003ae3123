"""Roll-ups of the local store as DataFrames: cost, tokens, slow spans, personas, budgets,
gates and errors.

>>> from langgraph_observe import explore
>>> explore.cost_summary(by=["persona", "model"])     # doctest: +SKIP
>>> explore.slowest(kind="node", n=5)                  # doctest: +SKIP

Cost and tokens are read from model calls only (LLM and embedding spans). Each call
already carries its attribution (workflow, node, persona, tenant, user), so grouping the
calls by those columns attributes them without ever adding a parent's figures to its
children's. ``by`` may also name ``day`` or ``month`` (UTC, from the call's start).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..store import LocalStore
from ._pandas import require_pandas
from .frames import SPAN_COLUMNS, StoreLike, _opened, _trace_spans, spans

__all__ = [
    "MODEL_CALL_KINDS",
    "budget_burn",
    "cost_summary",
    "errors",
    "gate_pass_rates",
    "persona_timeline",
    "slowest",
    "token_summary",
]

MODEL_CALL_KINDS: tuple[str, ...] = ("llm", "embedding")
"""The span kinds that carry tokens and cost."""

_TOKEN_COLUMNS = (
    "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "total_tokens",
)  # fmt: skip


def _by(by: str | Sequence[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


_COST_DTYPES = {
    "calls": "int64", "input_tokens": "Int64", "output_tokens": "Int64", "total_tokens": "Int64",
    "cost_usd": "float64", "priced_calls": "int64",
}  # fmt: skip
_TOKEN_DTYPES = {"calls": "int64", **dict.fromkeys(_TOKEN_COLUMNS, "Int64"),
                 "estimated_calls": "Int64"}  # fmt: skip
_GATE_DTYPES = {
    "evaluations": "int64", "passed": "int64", "failed": "int64", "pass_rate": "float64",
    "mean_value": "float64",
}  # fmt: skip
_BUDGET_DTYPES = {
    "persona": str, "tenant": str, "window": str, "window_key": str, "used_tokens": "int64",
    "budget_tokens": "Int64", "tokens_used_pct": "Float64", "used_usd": "float64",
    "budget_usd": "Float64", "usd_used_pct": "Float64", "remaining_tokens": "Int64",
    "remaining_usd": "Float64", "warned": "bool", "exceeded": "bool",
    "updated_at": "datetime64[ns, UTC]",
}  # fmt: skip
_TIMELINE_DTYPES = {
    "persona": str, "start_s": "float64", "end_s": "float64", "duration_ms": "float64",
    "nodes": object, "model_calls": "int64", "total_tokens": "int64", "cost_usd": "float64",
}  # fmt: skip


def _typed(df: Any, by: Sequence[str], dtypes: dict[str, Any]) -> Any:
    """``df`` with the columns ``*by, *dtypes`` of these dtypes (``by``: text), so that an
    empty result has the dtypes of a full one (``nlargest``, ``.dt`` work on both)."""
    pd = require_pandas()
    if df.empty:
        columns = {c: pd.Series(dtype=str) for c in by}
        columns.update({c: pd.Series(dtype=t) for c, t in dtypes.items()})
        return pd.DataFrame(columns)
    numbers = {c: t for c, t in dtypes.items() if t not in (str, object)}
    return df[[*by, *dtypes]].astype(numbers)


def _check_by(by: Sequence[str], allowed: Sequence[str], what: str) -> None:
    unknown = [c for c in by if c not in allowed]
    if unknown:
        raise ValueError(f"cannot group by {unknown}: not {what}")


_SPAN_GROUPS = (*SPAN_COLUMNS, "day", "month")


def _with_periods(df: Any, columns: Sequence[str]) -> Any:
    """Add ``day``/``month`` (UTC, from ``start_time``) when asked for."""
    if "day" in columns:
        df["day"] = df["start_time"].dt.strftime("%Y-%m-%d")
    if "month" in columns:
        df["month"] = df["start_time"].dt.strftime("%Y-%m")
    return df


def model_calls(store: StoreLike = None, *, trace_id: str | None = None) -> Any:
    """The LLM and embedding spans (columns of :func:`~langgraph_observe.explore.spans`;
    ``trace_id`` may be a unique prefix); ``total_tokens``, when the provider reported none,
    is input + output (as the store's trace roll-ups count it)."""
    df = spans(store, trace_id=trace_id)
    return _with_totals(df[df["kind"].isin(MODEL_CALL_KINDS)].reset_index(drop=True))


def _with_totals(calls: Any) -> Any:
    """``total_tokens`` filled with input + output where the provider reported none."""
    known = calls["input_tokens"].notna() | calls["output_tokens"].notna()
    fill = calls["total_tokens"].isna() & known
    if fill.any():
        summed = calls["input_tokens"].fillna(0) + calls["output_tokens"].fillna(0)
        calls["total_tokens"] = calls["total_tokens"].where(~fill, summed)
    return calls


def _grouped(df: Any, by: list[str]) -> Any:
    keys = df[by].astype("object").where(df[by].notna(), "")
    return df.groupby([keys[c] for c in by], sort=False)


def cost_summary(by: str | Sequence[str] = ("model",), store: StoreLike = None) -> Any:
    """USD cost and tokens of model calls, grouped ``by`` span columns, costliest first.

    Columns: ``*by``, ``calls``, ``input_tokens``, ``output_tokens``, ``total_tokens``,
    ``cost_usd`` (calls without a price count as 0), ``priced_calls``. A group value that is
    unknown (no persona, no tenant, ...) is ``""``.
    """
    columns = _by(by)
    _check_by(columns, _SPAN_GROUPS, "a span column (SPAN_COLUMNS) or day/month")
    df = _with_periods(model_calls(store), columns)
    if df.empty:
        return _typed(df, columns, _COST_DTYPES)
    out = _grouped(df, columns).agg(
        calls=("span_id", "size"),
        input_tokens=("input_tokens", "sum"),
        output_tokens=("output_tokens", "sum"),
        total_tokens=("total_tokens", "sum"),
        cost_usd=("cost_usd", lambda s: float(s.fillna(0.0).sum())),
        priced_calls=("cost_usd", "count"),
    )
    out = out.reset_index().sort_values("cost_usd", ascending=False, kind="stable")
    return _typed(out.reset_index(drop=True), columns, _COST_DTYPES)


def token_summary(by: str | Sequence[str] = ("model",), store: StoreLike = None) -> Any:
    """Token counts of model calls, grouped ``by`` span columns, most tokens first.

    Columns: ``*by``, ``calls``, ``input_tokens``, ``output_tokens``, ``cached_input_tokens``,
    ``reasoning_tokens``, ``total_tokens``, ``estimated_calls`` (calls counted locally
    because the provider reported no usage).
    """
    columns = _by(by)
    _check_by(columns, _SPAN_GROUPS, "a span column (SPAN_COLUMNS) or day/month")
    df = _with_periods(model_calls(store), columns)
    if df.empty:
        return _typed(df, columns, _TOKEN_DTYPES)
    aggregations: dict[str, tuple[str, Any]] = {"calls": ("span_id", "size")}
    aggregations.update({c: (c, "sum") for c in _TOKEN_COLUMNS})
    aggregations["estimated_calls"] = ("tokens_estimated", lambda s: int(s.fillna(False).sum()))
    out = _grouped(df, columns).agg(**aggregations)
    out = out.reset_index().sort_values("total_tokens", ascending=False, kind="stable")
    return _typed(out.reset_index(drop=True), columns, _TOKEN_DTYPES)


def slowest(kind: str | None = "node", n: int = 10, store: StoreLike = None) -> Any:
    """The ``n`` longest spans of one kind (``None``: any kind), longest first."""
    df = spans(store)
    if kind is not None:
        df = df[df["kind"] == str(kind)]
    df = df[df["end_time"].notna()]
    cols = ["trace_id", "workflow", "name", "kind", "node", "persona", "model", "start_time",
            "duration_ms", "status", "error_class"]  # fmt: skip
    return df.nlargest(n, "duration_ms")[cols].reset_index(drop=True)


def _resolve(store: LocalStore, trace_id: str) -> str:
    return store.resolve_trace_id(trace_id)


def _owning_nodes(df: Any, calls: Any) -> Any:
    """For each call, the span id of the innermost node span above it (``None`` if none)."""
    parents = dict(zip(df["span_id"], df["parent_span_id"], strict=False))
    node_ids = set(df.loc[df["kind"] == "node", "span_id"])
    return calls["parent_span_id"].map(lambda p: _first_node(p, parents, node_ids))


def _first_node(span_id: Any, parents: dict[Any, Any], node_ids: set[Any]) -> str | None:
    """Walk up from ``span_id`` to the first node span (cycle-safe)."""
    seen: set[Any] = set()
    while isinstance(span_id, str) and span_id not in seen:
        if span_id in node_ids:
            return span_id
        seen.add(span_id)
        span_id = parents.get(span_id)
    return None


def persona_timeline(trace_id: str, store: StoreLike = None) -> Any:
    """Who worked when in one trace: one row per stretch of consecutive nodes under the
    same persona, in order.

    Columns: ``persona``, ``start_s``/``end_s`` (seconds from the trace's start), ``duration_ms``,
    ``nodes`` (names, in order), ``model_calls``, ``total_tokens``, ``cost_usd``.
    ``trace_id`` may be a unique prefix.

    Each model call counts once, in the stretch of the node it ran in (the innermost node
    span above it), even when a ``with persona(...)`` sub-step made it under another persona
    or parallel branches overlap in time.
    """
    with _opened(store) as s:
        full_id = _resolve(s, trace_id)
        df = _trace_spans(s, full_id)
    origin = df["start_time"].min()
    nodes = df[df["kind"] == "node"].sort_values("start_time", kind="stable")
    calls = _with_totals(df[df["kind"].isin(MODEL_CALL_KINDS)].reset_index(drop=True))
    rows: list[dict[str, Any]] = []
    for node in nodes.itertuples(index=False):
        persona = node.persona if isinstance(node.persona, str) else ""
        if rows and rows[-1]["persona"] == persona:
            row = rows[-1]
            row["nodes"].append(node.name)
            row["end"] = max(row["end"], node.end_time)
            row["span_ids"].add(node.span_id)
        else:
            rows.append({"persona": persona, "start": node.start_time, "end": node.end_time,
                         "nodes": [node.name], "span_ids": {node.span_id}})  # fmt: skip
    owners = _owning_nodes(df, calls)
    out = []
    for row in rows:
        mine = calls[owners.isin(row["span_ids"])]
        out.append(
            {
                "persona": row["persona"],
                "start_s": (row["start"] - origin).total_seconds(),
                "end_s": (row["end"] - origin).total_seconds(),
                "duration_ms": (row["end"] - row["start"]).total_seconds() * 1000.0,
                "nodes": row["nodes"],
                "model_calls": len(mine),
                "total_tokens": int(mine["total_tokens"].fillna(0).sum()),
                "cost_usd": float(mine["cost_usd"].fillna(0.0).sum()),
            }
        )
    pd = require_pandas()
    return _typed(pd.DataFrame(out, columns=list(_TIMELINE_DTYPES)), (), _TIMELINE_DTYPES)


def budget_burn(persona: str | None = None, store: StoreLike = None) -> Any:
    """The latest state of every persona budget window, as recorded by the budget tracker.

    Columns: ``persona``, ``tenant``, ``window`` (run, day, month), ``window_key``,
    ``used_tokens``, ``budget_tokens``, ``tokens_used_pct``, ``used_usd``, ``budget_usd``,
    ``usd_used_pct``, ``remaining_tokens``, ``remaining_usd``, ``warned``, ``exceeded``,
    ``updated_at``. Percentages are null where no budget is set.
    """
    pd = require_pandas()
    with _opened(store) as s:
        rows = s.budget_usage()
    columns = list(_BUDGET_DTYPES)
    df = pd.DataFrame(rows)
    if df.empty:
        return _typed(df, (), _BUDGET_DTYPES)
    if persona is not None:
        df = df[df["persona"] == persona]
    df["budget_tokens"] = df["budget_tokens"].astype("Int64")
    df["budget_usd"] = df["budget_usd"].astype("Float64")
    df["tokens_used_pct"] = (100.0 * df["used_tokens"] / df["budget_tokens"]).astype("Float64")
    df["usd_used_pct"] = (100.0 * df["used_usd"] / df["budget_usd"]).astype("Float64")
    df["remaining_tokens"] = df["budget_tokens"] - df["used_tokens"]
    df["remaining_usd"] = df["budget_usd"] - df["used_usd"]
    df["updated_at"] = pd.to_datetime(df["time_ns"], unit="ns", utc=True)
    return df[columns].reset_index(drop=True)


_SCORE_GROUPS = ("name", "workflow", "node", "persona", "source", "trace_id")
_TRACE_GROUPS = ("tenant", "user_id", "session_id", "thread_id")


def gate_pass_rates(by: str | Sequence[str] = ("name",), store: StoreLike = None) -> Any:
    """Pass rates of quality gates (scores with a pass/fail verdict), grouped ``by`` score
    columns (``name``, ``workflow``, ``node``, ``persona``).

    ``by`` may also name ``source`` and ``trace_id``, and the attribution of the score's
    trace: ``tenant``, ``user_id``, ``session_id``, ``thread_id`` (``""`` when the trace has
    none, or its root span is not stored yet).

    Columns: ``*by``, ``evaluations``, ``passed``, ``failed``, ``pass_rate`` (0..1),
    ``mean_value`` (of numeric values; null when none).
    """
    pd = require_pandas()
    columns = _by(by)
    groups = (*_SCORE_GROUPS, *_TRACE_GROUPS)
    _check_by(columns, groups, f"a score or trace column ({', '.join(groups)})")
    with _opened(store) as s:
        rows = [r for r in s.scores() if r.get("passed") is not None]
        wanted = [c for c in _TRACE_GROUPS if c in columns]
        traces = (
            {r["trace_id"]: r for r in s.query(f"SELECT trace_id, {', '.join(wanted)} FROM traces")}
            if rows and wanted
            else {}
        )
    if not rows:
        return _typed(pd.DataFrame(), columns, _GATE_DTYPES)
    for column in wanted:
        for r in rows:
            r[column] = (traces.get(r["trace_id"]) or {}).get(column)
    df = pd.DataFrame(rows)
    df["passed"] = df["passed"].astype(bool)
    numbers = df["value"].map(lambda v: not isinstance(v, (str, bool)))
    if "data_type" in df.columns:  # true/false scores are stored as 1/0
        numbers &= df["data_type"] == "number"
    df["numeric"] = pd.to_numeric(df["value"].where(numbers), errors="coerce")
    out = (
        _grouped(df, columns)
        .agg(
            evaluations=("passed", "size"),
            passed=("passed", "sum"),
            mean_value=("numeric", "mean"),
        )
        .reset_index()
    )
    out["passed"] = out["passed"].astype(int)
    out["failed"] = out["evaluations"] - out["passed"]
    out["pass_rate"] = out["passed"] / out["evaluations"]
    return _typed(out, columns, _GATE_DTYPES)


def errors(store: StoreLike = None, *, trace_id: str | None = None) -> Any:
    """Spans that ended in an error, newest first.

    With ``trace_id`` (a unique prefix is enough, as in
    :func:`~langgraph_observe.explore.spans`), only that trace's.

    Columns: ``end_time``, ``trace_id``, ``workflow``, ``node``, ``persona``, ``name``,
    ``kind``, ``error_class``, ``error_type``, ``error_message``, ``attempt`` (the node
    attempt under a ``RetryPolicy``; null for other spans).
    """
    df = spans(store, trace_id=trace_id)
    df = df[df["status"] == "error"].copy()
    df["attempt"] = df["attributes"].map(lambda a: a.get("langgraph.attempt")).astype("Int64")
    cols = ["end_time", "trace_id", "workflow", "node", "persona", "name", "kind",
            "error_class", "error_type", "error_message", "attempt"]  # fmt: skip
    return df.sort_values("end_time", ascending=False, kind="stable")[cols].reset_index(drop=True)
