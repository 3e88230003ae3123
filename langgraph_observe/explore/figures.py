"""Charts of the local store: a trace waterfall and roll-up bar charts (matplotlib).

>>> from langgraph_observe import explore
>>> explore.waterfall("3fa2")                      # doctest: +SKIP
>>> explore.cost_chart(by="persona")               # doctest: +SKIP

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot`` (no
global figure state); in Jupyter it renders as an image. Needs matplotlib and pandas
(``pip install 'langgraph-observe[notebook]'``).
"""

from __future__ import annotations

import sys
from typing import Any, Literal

from ._pandas import require_pandas
from .frames import StoreLike, _opened, _trace_spans, spans
from .summaries import budget_burn, cost_summary, token_summary

__all__ = [
    "NOTEBOOK_INSTALL_HINT",
    "budget_chart",
    "cost_chart",
    "latency_chart",
    "token_chart",
    "waterfall",
]

NOTEBOOK_INSTALL_HINT = "pip install 'langgraph-observe[notebook]'"

# Colours of the span kinds (matplotlib's tab10, fixed so charts read the same everywhere).
KIND_COLORS: dict[str, str] = {
    "workflow": "#7f7f7f", "subgraph": "#bcbd22", "node": "#1f77b4", "llm": "#d62728",
    "tool": "#2ca02c", "retriever": "#9467bd", "chain": "#c7c7c7", "embedding": "#ff7f0e",
    "rerank": "#8c564b", "format": "#e377c2", "memory": "#17becf", "step": "#aec7e8",
}  # fmt: skip
_ERROR_EDGE = "#000000"


def _figure(width: float, height: float) -> Any:
    """A new Figure (no pyplot), registered for display when running under IPython."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            f"langgraph_observe.explore charts need matplotlib: {NOTEBOOK_INSTALL_HINT}"
        ) from exc
    _register_ipython_png()
    return Figure(figsize=(width, height), layout="constrained")


def _register_ipython_png() -> None:
    """Let IPython render bare Figures as PNG (pyplot does this only for its own figures)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return
    shell = ipython.get_ipython()
    if shell is None:
        return
    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure

    formatter = shell.display_formatter.formatters["image/png"]
    formatter.for_type(Figure, lambda fig: print_figure(fig, "png"))  # type: ignore[no-untyped-call]


def _palette(values: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {v: cmap(i % 10) for i, v in enumerate(sorted(set(values)))}


def _label(row: Any) -> str:
    parts = [f"{row.kind}:{row.name}"]
    tokens = row.total_tokens
    if tokens is not None and not _isna(tokens):
        parts.append(f"{int(tokens)} tok")
    if row.cost_usd is not None and not _isna(row.cost_usd):
        parts.append(f"${row.cost_usd:.4f}")
    if row.status == "error":
        parts.append(f"ERROR {row.error_type or ''}".strip())
    return "  ".join(parts)


def _isna(value: Any) -> bool:
    pd = require_pandas()
    return bool(pd.isna(value))


def _ordered(df: Any) -> list[tuple[Any, int]]:
    """Spans in tree order (parents before children, siblings by start), with depth."""
    ids = set(df["span_id"])
    children: dict[str | None, list[Any]] = {}
    for row in df.sort_values("start_time", kind="stable").itertuples(index=False):
        parent = row.parent_span_id if row.parent_span_id in ids else None
        children.setdefault(parent, []).append(row)
    out: list[tuple[Any, int]] = []
    stack = [(r, 0) for r in reversed(children.get(None, []))]
    while stack:
        row, depth = stack.pop()
        out.append((row, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(row.span_id, [])))
    return out


_TITLE_ID_CHARS = 12
"""Characters of the trace id in a waterfall's title (ids are time-ordered, so the first
eight are shared by runs started within about a minute)."""


def _waterfall_title(name: str | None, trace_id: str) -> str:
    short = trace_id[:_TITLE_ID_CHARS]
    return f"{name}  {short}" if name else short


def _empty_waterfall(title: str) -> Any:
    """The waterfall of a run with no span stored yet."""
    fig = _figure(11.0, 2.0)
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, "no spans stored yet", ha="center", va="center")
    ax.set_axis_off()
    ax.set_title(title)
    return fig


def waterfall(
    trace_id: str,
    store: StoreLike = None,
    color_by: Literal["kind", "persona"] = "kind",
) -> Any:
    """One run as a waterfall: a bar per span on a time axis (ms from the run's start),
    nested by parentage, coloured by span kind or persona, labelled with tokens and cost.

    ``trace_id`` may be a unique prefix. Failed spans get a black edge and ``ERROR``. A run
    with no span stored yet gives an empty figure saying so.
    """
    if color_by not in ("kind", "persona"):
        raise ValueError(f"color_by must be 'kind' or 'persona', not {color_by!r}")
    with _opened(store) as s:
        full_id = s.resolve_trace_id(trace_id)
        df = _trace_spans(s, full_id)
        workflow = (s.trace(full_id) or {}).get("workflow")
    if df.empty:
        return _empty_waterfall(_waterfall_title(workflow, full_id))
    ordered = _ordered(df)
    origin = df["start_time"].min()
    fig = _figure(11.0, max(2.0, 0.38 * len(ordered) + 1.2))
    ax = fig.add_subplot()
    if color_by == "kind":
        colors: dict[str, Any] = dict(KIND_COLORS)
    else:
        colors = _palette([r.persona for r, _ in ordered if isinstance(r.persona, str)])
    # the span of the whole trace: its root may not have landed yet (or ended before a
    # late child), so from the first start to the last end
    pd = require_pandas()
    ends = df["start_time"] + pd.to_timedelta(df["duration_ms"].fillna(0.0), unit="ms")
    total_ms = max((ends.max() - origin).total_seconds() * 1000.0, 1e-3)
    for i, (row, _depth) in enumerate(ordered):
        start = (row.start_time - origin).total_seconds() * 1000.0
        width = max(float(row.duration_ms), total_ms * 0.002)
        key = row.kind if color_by == "kind" else row.persona
        color = colors.get(key, "#cccccc") if isinstance(key, str) else "#cccccc"
        failed = row.status == "error"
        ax.barh(
            i,
            width,
            left=start,
            color=color,
            height=0.7,
            edgecolor=_ERROR_EDGE if failed else color,
            linewidth=1.5 if failed else 0.5,
        )
        ax.text(start + width + total_ms * 0.01, i, _label(row), va="center", fontsize=8)
    ax.set_yticks(range(len(ordered)))
    ax.set_yticklabels([f"{'· ' * d}{r.name}" for r, d in ordered], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, total_ms * 1.45)
    ax.set_xlabel("ms since the run started")
    root = ordered[0][0]
    ax.set_title(_waterfall_title(root.workflow or root.name, full_id))
    from matplotlib.patches import Patch

    keys = {r.kind if color_by == "kind" else r.persona for r, _ in ordered}
    shown = sorted(k for k in keys if isinstance(k, str))
    handles = [Patch(color=colors.get(k, "#cccccc"), label=k) for k in shown]
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize=8, title=color_by)
    return fig


def _bars(frame: Any, by: list[str], value: str, title: str, xlabel: str) -> Any:
    fig = _figure(8.0, max(2.0, 0.4 * len(frame) + 1.2))
    ax = fig.add_subplot()
    if frame.empty:
        ax.text(0.5, 0.5, "no data in the store", ha="center", va="center")
        ax.set_axis_off()
        return fig
    labels = [" / ".join(str(v) or "-" for v in row) for row in frame[by].itertuples(index=False)]
    values = [float(v) if not _isna(v) else 0.0 for v in frame[value]]
    ax.barh(range(len(values)), values, color="#1f77b4")
    ax.set_yticks(range(len(values)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return fig


def cost_chart(by: str | list[str] = "model", store: StoreLike = None) -> Any:
    """USD cost of model calls per group (see :func:`cost_summary`)."""
    columns = [by] if isinstance(by, str) else list(by)
    frame = cost_summary(by=columns, store=store)
    return _bars(frame, columns, "cost_usd", f"Cost by {', '.join(columns)}", "USD")


def token_chart(by: str | list[str] = "model", store: StoreLike = None) -> Any:
    """Input and output tokens of model calls per group, stacked (see :func:`token_summary`)."""
    columns = [by] if isinstance(by, str) else list(by)
    frame = token_summary(by=columns, store=store)
    fig = _bars(frame, columns, "input_tokens", f"Tokens by {', '.join(columns)}", "tokens")
    if not frame.empty:
        ax = fig.axes[0]
        inputs = [float(v) if not _isna(v) else 0.0 for v in frame["input_tokens"]]
        outputs = [float(v) if not _isna(v) else 0.0 for v in frame["output_tokens"]]
        ax.barh(range(len(outputs)), outputs, left=inputs, color="#ff7f0e")
        ax.legend(["input", "output"], fontsize=8)
    return fig


def latency_chart(kind: str = "node", store: StoreLike = None) -> Any:
    """Duration distribution (ms) of the spans of one kind, one box per span name."""
    df = spans(store)
    df = df[(df["kind"] == kind) & df["end_time"].notna()]
    fig = _figure(8.0, max(2.0, 0.4 * df["name"].nunique() + 1.2))
    ax = fig.add_subplot()
    if df.empty:
        ax.text(0.5, 0.5, f"no {kind} spans in the store", ha="center", va="center")
        ax.set_axis_off()
        return fig
    groups = df.groupby("name")["duration_ms"]
    order = groups.median().sort_values(ascending=False).index.tolist()
    _horizontal_boxplot(ax, [groups.get_group(n).tolist() for n in order])
    ax.set_yticks(range(1, len(order) + 1))
    ax.set_yticklabels(order, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms")
    ax.set_title(f"{kind} latency")
    return fig


def _horizontal_boxplot(ax: Any, data: list[list[float]]) -> None:
    """``ax.boxplot`` with horizontal boxes: ``orientation=`` where matplotlib has it (3.10
    and later, where ``vert=`` is deprecated, and removed in 3.13), else ``vert=False``."""
    import inspect

    if "orientation" in inspect.signature(ax.boxplot).parameters:
        ax.boxplot(data, orientation="horizontal")
    else:
        ax.boxplot(data, vert=False)


def budget_chart(
    persona: str | None = None, store: StoreLike = None, unit: Literal["usd", "tokens"] = "usd"
) -> Any:
    """Budget burn: the share of each persona budget window used so far, with the limit."""
    frame = budget_burn(persona=persona, store=store)
    pct = "usd_used_pct" if unit == "usd" else "tokens_used_pct"
    if not frame.empty:
        frame = frame[frame[pct].notna()].reset_index(drop=True)
    fig = _bars(
        frame, ["persona", "window", "window_key"], pct, f"Budget used ({unit})", "% of budget"
    )
    if not frame.empty:
        ax = fig.axes[0]
        ax.axvline(100.0, color="#d62728", linestyle="--", linewidth=1)
        for patch, exceeded in zip(ax.patches, frame["exceeded"], strict=False):
            if exceeded:
                patch.set_color("#d62728")
    return fig
