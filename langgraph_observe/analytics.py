"""Operational analytics over the local store, as plain JSON-ready dicts (no pandas).

>>> from langgraph_observe import analytics
>>> from langgraph_observe.store import LocalStore
>>> store = LocalStore()
>>> analytics.realtime_summary(store)          # doctest: +SKIP
{'window_s': 3600, 'runs': 12, 'success_rate': 0.92, 'p50_duration_s': 1.3, ...}

``langgraph-observe serve`` exposes each function as a JSON endpoint. Days and months are
UTC calendar days and months. A run is one trace (one root workflow invocation); it
succeeded when its root span ended ``ok`` (``interrupted`` and ``cancelled`` runs count as
finished, not as errors). Tokens and cost come from model calls only (LLM and embedding spans), each
attributed through its own columns, so a parent's figures are never added to its children's.
"""

from __future__ import annotations

import calendar
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ._utc_windows import NS, day_start, epoch_ns, month_start, ns, utc
from .store import LocalStore

__all__ = [
    "cost_daily",
    "cost_forecast",
    "cost_monthly",
    "node_summary",
    "percentile",
    "persona_summary",
    "quality_summary",
    "realtime_summary",
    "tenant_summary",
]

_MODEL_CALLS = "kind IN ('llm', 'embedding')"
_TOTAL = "coalesce(total_tokens, coalesce(input_tokens, 0) + coalesce(output_tokens, 0))"
_STALE_RUNNING_S = 24 * 3600  # a "running" trace older than this is counted as abandoned


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _run_stats(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts, success rate and duration percentiles of trace rows."""
    runs = finished = ok = failed = 0
    durations: list[float] = []
    for r in rows:
        runs += 1
        if r["status"] == "running":
            continue
        finished += 1
        ok += r["status"] == "ok"
        failed += r["status"] == "error"
        if r["end_ns"] is not None:
            durations.append((r["end_ns"] - r["start_ns"]) / NS)
    return {
        "runs": runs,
        "finished": finished,
        "succeeded": ok,
        "failed": failed,
        "success_rate": _round(_ratio(ok, finished)),
        "error_rate": _round(_ratio(failed, finished)),
        "p50_duration_s": _round(percentile(durations, 50)),
        "p95_duration_s": _round(percentile(durations, 95)),
    }


def _usage_between(store: LocalStore, since_ns: int, until_ns: int) -> dict[str, Any]:
    rows = store.query(
        f"SELECT count(*) AS calls, coalesce(sum({_TOTAL}), 0) AS tokens, "
        f"coalesce(sum(cost_usd), 0.0) AS cost FROM spans WHERE {_MODEL_CALLS} "
        f"AND start_ns >= ? AND start_ns < ?",
        [since_ns, until_ns],
    )
    row = rows[0] if rows else {"calls": 0, "tokens": 0, "cost": 0.0}
    return {"model_calls": int(row["calls"]), "tokens": int(row["tokens"]),
            "cost_usd": round(float(row["cost"]), 8)}  # fmt: skip


def realtime_summary(
    store: LocalStore, *, window_s: int = 3600, now: datetime | None = None
) -> dict[str, Any]:
    """Runs started in the last ``window_s`` seconds (count, success and error rate, p50/p95
    duration), tokens and cost since UTC midnight, and the runs in progress now."""
    moment = utc(now)
    now_ns = epoch_ns(moment)
    recent = store.query(
        "SELECT status, start_ns, end_ns FROM traces WHERE start_ns >= ? AND start_ns < ?",
        [now_ns - window_s * NS, now_ns],
    )
    in_progress = store.query(
        "SELECT count(*) AS n FROM traces WHERE status = 'running' AND start_ns >= ? "
        "AND start_ns < ?",
        [now_ns - _STALE_RUNNING_S * NS, now_ns],
    )
    day_ns = ns(day_start(moment))
    today = _usage_between(store, day_ns, now_ns)
    runs_today = store.query(
        "SELECT count(*) AS n FROM traces WHERE start_ns >= ? AND start_ns < ?", [day_ns, now_ns]
    )
    return {
        "window_s": window_s,
        **_run_stats(recent),
        "in_progress": int(in_progress[0]["n"]) if in_progress else 0,
        "today": {
            "date": moment.date().isoformat(),
            "runs": int(runs_today[0]["n"]) if runs_today else 0,
            **today,
        },
        "as_of": moment.isoformat(),
    }


def _quality_by(
    store: LocalStore, column: str, since_ns: int, until_ns: int
) -> dict[str, dict[str, Any]]:
    """Gate pass rate and mean numeric score per value of a trace ``column``."""
    rows = store.query(
        f"SELECT coalesce(t.{column}, '') AS key, s.passed, s.value, s.data_type "
        f"FROM scores AS s JOIN traces AS t ON t.trace_id = s.trace_id "
        f"WHERE s.time_ns >= ? AND s.time_ns < ?",
        [since_ns, until_ns],
    )
    out: dict[str, dict[str, Any]] = {}
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        grouped[r["key"]].append(r)
    for key, scores in grouped.items():
        gates = [bool(s["passed"]) for s in scores if s["passed"] is not None]
        numbers = [float(s["value"]) for s in scores if _is_number(s)]
        out[key] = {
            "gate_pass_rate": _round(_ratio(sum(gates), len(gates))),
            "mean_score": _round(sum(numbers) / len(numbers) if numbers else None),
        }
    return out


def _is_number(score: Mapping[str, Any]) -> bool:
    """A numeric score (true/false ones are stored as 1/0 with ``data_type = 'bool'``)."""
    value = score["value"]
    return (
        score["data_type"] == "number"
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    )


def tenant_summary(store: LocalStore, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per tenant (``""`` for runs without one), this month: runs, success rate, cost today
    and this month, tokens this month, gate pass rate and mean score."""
    moment = utc(now)
    month_ns, day_ns, now_ns = ns(month_start(moment)), ns(day_start(moment)), epoch_ns(moment)
    traces = store.query(
        "SELECT coalesce(tenant, '') AS tenant, status, start_ns, end_ns FROM traces "
        "WHERE start_ns >= ? AND start_ns < ?",
        [month_ns, now_ns],
    )
    by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in traces:
        by_tenant[r["tenant"]].append(r)
    costs = store.query(
        f"SELECT coalesce(tenant, '') AS tenant, coalesce(sum(cost_usd), 0.0) AS month_cost, "
        f"coalesce(sum(CASE WHEN start_ns >= ? THEN cost_usd END), 0.0) AS day_cost, "
        f"coalesce(sum({_TOTAL}), 0) AS tokens FROM spans "
        f"WHERE {_MODEL_CALLS} AND start_ns >= ? AND start_ns < ? GROUP BY coalesce(tenant, '')",
        [day_ns, month_ns, now_ns],
    )
    cost_of = {r["tenant"]: r for r in costs}
    quality = _quality_by(store, "tenant", month_ns, now_ns)
    out = []
    for tenant in sorted(set(by_tenant) | set(cost_of)):
        stats = _run_stats(by_tenant.get(tenant, []))
        c = cost_of.get(tenant, {"month_cost": 0.0, "day_cost": 0.0, "tokens": 0})
        out.append(
            {
                "tenant": tenant,
                "month": moment.strftime("%Y-%m"),
                "runs": stats["runs"],
                "success_rate": stats["success_rate"],
                "cost_today_usd": round(float(c["day_cost"]), 8),
                "cost_month_usd": round(float(c["month_cost"]), 8),
                "tokens_month": int(c["tokens"]),
                **quality.get(tenant, {"gate_pass_rate": None, "mean_score": None}),
            }
        )
    return out


def _span_groups(
    store: LocalStore, column: str, kinds: Sequence[str], since_ns: int, until_ns: int
) -> list[dict[str, Any]]:
    placeholders = ", ".join("?" * len(kinds))
    spans = store.query(
        f"SELECT workflow, {column} AS key, status, start_ns, end_ns FROM spans "
        f"WHERE kind IN ({placeholders}) AND {column} IS NOT NULL "
        f"AND start_ns >= ? AND start_ns < ?",
        [*kinds, since_ns, until_ns],
    )
    costs = store.query(
        f"SELECT workflow, {column} AS key, count(*) AS calls, coalesce(sum({_TOTAL}), 0) AS "
        f"tokens, coalesce(sum(cost_usd), 0.0) AS cost FROM spans WHERE {_MODEL_CALLS} "
        f"AND {column} IS NOT NULL AND start_ns >= ? AND start_ns < ? "
        f"GROUP BY workflow, {column}",
        [since_ns, until_ns],
    )
    cost_of = {(r["workflow"], r["key"]): r for r in costs}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in spans:
        grouped[(s["workflow"], s["key"])].append(s)
    out = []
    for workflow, key in sorted(set(grouped) | set(cost_of), key=lambda k: (k[0] or "", k[1])):
        rows = grouped.get((workflow, key), [])
        latencies = [(r["end_ns"] - r["start_ns"]) / NS for r in rows]
        ok = sum(r["status"] == "ok" for r in rows)
        failed = sum(r["status"] == "error" for r in rows)
        c = cost_of.get((workflow, key), {"calls": 0, "tokens": 0, "cost": 0.0})
        out.append(
            {
                "workflow": workflow,
                column: key,
                "runs": len(rows),
                "errors": failed,
                "success_rate": _round(_ratio(ok, len(rows))),
                "p50_latency_s": _round(percentile(latencies, 50)),
                "p95_latency_s": _round(percentile(latencies, 95)),
                "p99_latency_s": _round(percentile(latencies, 99)),
                "model_calls": int(c["calls"]),
                "tokens": int(c["tokens"]),
                "cost_usd": round(float(c["cost"]), 8),
            }
        )
    return out


def node_summary(
    store: LocalStore, *, days: int = 30, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per workflow and node over the last ``days``: node executions (every attempt counts),
    errors, success rate, latency p50/p95/p99 and the model calls, tokens and cost spent
    inside the node."""
    moment = utc(now)
    return _span_groups(
        store, "node", ("node",), ns(moment - timedelta(days=days)), epoch_ns(moment)
    )


def persona_summary(
    store: LocalStore, *, days: int = 30, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per workflow and persona (agent) over the last ``days``: the node executions run under
    the persona, their success rate and latency, and the persona's model calls, tokens, cost.

    A persona that only ran ``with persona(...)`` sub-steps has a row too: no executions
    (``runs`` 0, rates and latencies ``None``) but its model calls and cost."""
    moment = utc(now)
    since = ns(moment - timedelta(days=days))
    return _span_groups(store, "persona", ("node",), since, epoch_ns(moment))


def _cost_by_period(
    store: LocalStore, fmt: str, since_ns: int, until_ns: int
) -> dict[str, dict[str, Any]]:
    rows = store.query(
        f"SELECT strftime('{fmt}', start_ns / 1000000000, 'unixepoch') AS period, "
        f"count(*) AS calls, coalesce(sum({_TOTAL}), 0) AS tokens, "
        f"coalesce(sum(cost_usd), 0.0) AS cost FROM spans WHERE {_MODEL_CALLS} "
        f"AND start_ns >= ? AND start_ns < ? GROUP BY period ORDER BY period",
        [since_ns, until_ns],
    )
    return {r["period"]: r for r in rows}


def cost_daily(
    store: LocalStore, *, days: int = 30, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Cost, tokens and model calls per UTC day for the last ``days`` days (oldest first,
    today included, days without calls as zeros)."""
    moment = utc(now)
    first = day_start(moment) - timedelta(days=days - 1)
    found = _cost_by_period(store, "%Y-%m-%d", ns(first), epoch_ns(moment))
    out = []
    for i in range(days):
        day = (first + timedelta(days=i)).date().isoformat()
        r = found.get(day, {"calls": 0, "tokens": 0, "cost": 0.0})
        out.append({"date": day, "model_calls": int(r["calls"]), "tokens": int(r["tokens"]),
                    "cost_usd": round(float(r["cost"]), 8)})  # fmt: skip
    return out


def cost_monthly(
    store: LocalStore, *, months: int = 12, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Cost, tokens and model calls per UTC month for the last ``months`` months."""
    moment = utc(now)
    start = month_start(moment)
    keys = []
    year, month = start.year, start.month
    for _ in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    keys.reverse()
    first = datetime(int(keys[0][:4]), int(keys[0][5:]), 1, tzinfo=timezone.utc)
    found = _cost_by_period(store, "%Y-%m", ns(first), epoch_ns(moment))
    out = []
    for key in keys:
        r = found.get(key, {"calls": 0, "tokens": 0, "cost": 0.0})
        out.append({"month": key, "model_calls": int(r["calls"]), "tokens": int(r["tokens"]),
                    "cost_usd": round(float(r["cost"]), 8)})  # fmt: skip
    return out


def cost_forecast(store: LocalStore, *, now: datetime | None = None) -> dict[str, Any]:
    """Month-to-date cost and a month-end forecast: month-to-date plus the average cost per
    elapsed day (today counted as a fraction of a day) times the time left in the month."""
    moment = utc(now)
    start = month_start(moment)
    days_in_month = calendar.monthrange(moment.year, moment.month)[1]
    elapsed_days = max((moment - start).total_seconds() / 86400.0, 1e-9)
    spent = _usage_between(store, ns(start), epoch_ns(moment))
    per_day = spent["cost_usd"] / elapsed_days
    remaining_days = days_in_month - elapsed_days
    return {
        "month": moment.strftime("%Y-%m"),
        "month_to_date_usd": spent["cost_usd"],
        "elapsed_days": round(elapsed_days, 4),
        "days_in_month": days_in_month,
        "daily_average_usd": round(per_day, 8),
        "forecast_month_usd": round(spent["cost_usd"] + per_day * remaining_days, 8),
        "as_of": moment.isoformat(),
    }


def quality_summary(
    store: LocalStore, *, days: int = 30, now: datetime | None = None
) -> dict[str, Any]:
    """Gate pass rates (scores with a pass/fail verdict) and mean numeric scores per score
    name over the last ``days``."""
    moment = utc(now)
    rows = store.query(
        "SELECT name, source, value, data_type, passed FROM scores "
        "WHERE time_ns >= ? AND time_ns < ?",
        [ns(moment - timedelta(days=days)), epoch_ns(moment)],
    )
    gates: dict[str, list[bool]] = defaultdict(list)
    scores: dict[str, list[float]] = defaultdict(list)
    sources: dict[str, str] = {}
    for r in rows:
        if r["passed"] is not None:
            gates[r["name"]].append(bool(r["passed"]))
        if _is_number(r):
            scores[r["name"]].append(float(r["value"]))
        sources.setdefault(r["name"], r["source"])
    return {
        "days": days,
        "gates": [
            {"gate": name, "evaluations": len(v), "passed": sum(v), "failed": len(v) - sum(v),
             "pass_rate": _round(_ratio(sum(v), len(v)))}
            for name, v in sorted(gates.items())
        ],
        "scores": [
            {"name": name, "source": sources[name], "count": len(v),
             "mean": _round(sum(v) / len(v)), "min": min(v), "max": max(v)}
            for name, v in sorted(scores.items())
        ],
    }  # fmt: skip
