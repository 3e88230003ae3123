"""Budget gauges show a day or month window only while it lasts: once that UTC day or month
is over the series leaves the exposition (at the next batch or scrape), so neither the
alerts nor the dashboards read an ended window's remaining budget. In multiprocess mode the
writing process overwrites it with NaN, stamped with the window's end."""

from __future__ import annotations

import calendar
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from langgraph_observe.budgets import window_key
from langgraph_observe.events import BudgetUpdate
from langgraph_observe.metrics_catalog import PREFIX
from langgraph_observe.sinks._prometheus_budgets import window_end_s
from langgraph_observe.sinks._prometheus_metrics import metrics_for
from langgraph_observe.sinks.prometheus import PrometheusSink

from ._prometheus_exprs import alert_exprs, dashboard_exprs, for_prometheus
from ._prometheus_records import feed
from ._prometheus_server import PromStack, prom_stack

__all__ = ["prom_stack"]  # the session fixture, imported for this module

ROOT = Path(__file__).resolve().parents[1]
GAUGES = tuple(f"{PREFIX}budget_{w}_{u}" for u in ("tokens", "usd") for w in ("remaining", "limit"))
REMAINING_TOKENS, LIMIT_TOKENS, REMAINING_USD, LIMIT_USD = GAUGES


def at(moment: str) -> float:
    """``2026-03-14 12:00:00`` (UTC) in seconds since the epoch."""
    return float(calendar.timegm(time.strptime(moment, "%Y-%m-%d %H:%M:%S")))


class Clock:
    """A wall clock the test sets."""

    def __init__(self, moment: str) -> None:
        self.now = at(moment)

    def __call__(self) -> float:
        return self.now

    def set(self, moment: str) -> None:
        self.now = at(moment)


def update(
    window: str,
    key: str,
    *,
    persona: str = "writer",
    used: int = 950,
    usd: float | None = 0.5,
    tenant: str | None = None,
    workflow: str | None = None,
) -> BudgetUpdate:
    """An update of ``window`` ``key``: 1000 tokens (and 10 USD) budgeted."""
    return BudgetUpdate(
        persona,
        window,
        key,
        time.time_ns(),
        used_tokens=used,
        budget_tokens=1000,
        used_usd=0.0 if usd is None else 10.0 - usd,
        budget_usd=None if usd is None else 10.0,
        tenant=tenant,
        workflow=workflow,
    )


def exposed(registry: CollectorRegistry) -> dict[tuple[str, ...], float]:
    """The budget samples of a scrape (``generate_latest``): (metric, persona, window,
    tenant, workflow) -> value."""
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in GAUGES:
                labels = (s.labels[n] for n in ("persona", "window", "tenant", "workflow"))
                out[(s.name, *labels)] = s.value
    return out


def series(samples: dict[Any, float], persona: str, window: str, workflow: str = "") -> dict:
    """The samples of one label set, by metric."""
    return {
        key[0]: v
        for key, v in samples.items()
        if key[1] == persona and key[2] == window and key[4] == workflow
    }


@pytest.fixture
def clocked() -> Iterator[tuple[CollectorRegistry, PrometheusSink, Clock]]:
    """A sink on a fresh registry whose windows end by a clock the test sets."""
    registry = CollectorRegistry()
    sink = PrometheusSink(registry)
    clock = Clock("2026-03-14 12:00:00")
    metrics_for(registry).budgets.clock = clock
    yield registry, sink, clock


# --- the end of a window ------------------------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize(
    ("window", "key", "end"),
    [
        ("day", "2026-03-14", "2026-03-15 00:00:00"),
        ("day", "2026-02-28", "2026-03-01 00:00:00"),
        ("day", "2028-02-28", "2028-02-29 00:00:00"),
        ("day", "2026-12-31", "2027-01-01 00:00:00"),
        ("day", "support/2026-03-14", "2026-03-15 00:00:00"),
        ("day", "a/b/2026-03-14", "2026-03-15 00:00:00"),
        ("month", "2026-03", "2026-04-01 00:00:00"),
        ("month", "2026-12", "2027-01-01 00:00:00"),
        ("month", "support/2026-12", "2027-01-01 00:00:00"),
    ],
)
def test_window_end(window: str, key: str, end: str) -> None:
    assert window_end_s(window, key) == at(end)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("window", "key"),
    [
        ("run", "0123456789abcdef0123456789abcdef"),
        ("run", "2026-03-14"),
        ("day", "2026-03"),
        ("day", "2026-02-30"),
        ("day", "k"),
        ("day", "2026-03-1x"),
        ("day", "2026-03-\u0661\u0664"),  # digits, not ASCII ones
        ("day", "9999-12-31"),  # ends after the last date Python holds
        ("month", "2026-03-14"),
        ("month", "2026-13"),
        ("week", "2026-03-14"),
    ],
)
def test_no_end_for_a_run_or_a_key_naming_no_day_or_month(window: str, key: str) -> None:
    assert window_end_s(window, key) is None


@pytest.mark.unit
def test_window_keys_of_the_tracker_end_where_expected() -> None:
    now = at("2026-03-14 23:59:59")
    assert window_end_s("day", window_key("day", "t", now_s=now)) == now + 1
    month = window_key("month", "t", workflow="w", per_workflow=True, now_s=now)
    assert window_end_s("month", month) == at("2026-04-01 00:00:00")


# --- single process: series removed ---------------------------------------------------------
@pytest.mark.unit
def test_an_ended_day_leaves_the_scrape(clocked) -> None:
    registry, sink, clock = clocked
    sink.export(
        [update("day", "2026-03-14"), update("month", "2026-03", persona="planner", used=10)]
    )
    before = exposed(registry)
    assert series(before, "writer", "day") == {
        REMAINING_TOKENS: 50,
        LIMIT_TOKENS: 1000,
        REMAINING_USD: 0.5,
        LIMIT_USD: 10,
    }
    assert series(before, "planner", "month")[REMAINING_TOKENS] == 990

    clock.set("2026-03-14 23:59:59")
    assert series(exposed(registry), "writer", "day")[REMAINING_TOKENS] == 50

    clock.set("2026-03-15 00:00:00")  # no batch since: the scrape itself removes it
    after = exposed(registry)
    assert series(after, "writer", "day") == {}
    assert series(after, "planner", "month")[REMAINING_TOKENS] == 990

    clock.set("2026-04-01 00:00:01")
    assert exposed(registry) == {}


@pytest.mark.unit
def test_an_ended_window_is_removed_after_a_batch(clocked) -> None:
    registry, sink, clock = clocked
    sink.export([update("day", "2026-03-14"), update("month", "2026-03", persona="planner")])
    clock.set("2026-03-15 08:00:00")
    sink.export([])  # any batch checks; read the gauges themselves, not through a scrape
    gauges = metrics_for(registry).by_name
    left = {
        (name, tuple(s.labels.values()))
        for name in GAUGES
        for family in gauges[name].collect()
        for s in family.samples
    }
    assert {(name, labels[:2]) for name, labels in left} == {
        (name, ("planner", "month")) for name in GAUGES
    }


@pytest.mark.unit
def test_updates_of_an_ended_window_show_nothing() -> None:
    """Through a real dispatcher, by the real clock: old window keys never show."""
    registry = CollectorRegistry()
    now = time.time()
    today, month = window_key("day", "t", now_s=now), window_key("month", "t", now_s=now)
    feed(
        [
            update("day", "2020-01-01", persona="old"),
            update("month", "2020-01", persona="old"),
            update("day", "support/2020-01-01", persona="old", workflow="support"),
            update("day", today, persona="current"),
            update("month", month, persona="current"),
            update("day", f"support/{today}", persona="current", workflow="support"),
        ],
        registry,
    )
    samples = exposed(registry)
    assert {(k[1], k[2], k[4]) for k in samples} == {
        ("current", "day", ""),
        ("current", "month", ""),
        ("current", "day", "support"),
    }


@pytest.mark.unit
def test_the_next_window_shows_again(clocked) -> None:
    registry, sink, clock = clocked
    other = PrometheusSink(registry)  # shares the registry's metrics and windows
    sink.export([update("day", "2026-03-14", tenant="acme")])
    clock.set("2026-03-15 00:00:01")
    assert exposed(registry) == {}
    sink.export([update("day", "2026-03-15", tenant="acme", used=10)])
    assert series(exposed(registry), "writer", "day")[REMAINING_TOKENS] == 990
    clock.set("2026-03-16 00:00:01")
    assert exposed(registry) == {}
    other.export([update("day", "2026-03-16", tenant="acme", used=20)])
    samples = exposed(registry)
    assert series(samples, "writer", "day")[REMAINING_TOKENS] == 980
    assert {k[3] for k in samples} == {"acme"}


@pytest.mark.unit
def test_an_earlier_window_never_replaces_the_one_shown(clocked) -> None:
    registry, sink, clock = clocked
    other = PrometheusSink(registry)
    clock.set("2026-03-14 23:59:59")  # a faster clock elsewhere already counts the 15th
    sink.export([update("day", "2026-03-15", used=10)])
    other.export([update("day", "2026-03-14", used=990)])  # still going, but earlier
    assert series(exposed(registry), "writer", "day")[REMAINING_TOKENS] == 990
    clock.set("2026-03-15 00:00:01")
    other.export([update("day", "2026-03-14", used=999)])  # over: not shown
    sink.export([])
    assert series(exposed(registry), "writer", "day")[REMAINING_TOKENS] == 990


@pytest.mark.unit
def test_a_gauge_the_new_window_does_not_set_goes(clocked) -> None:
    registry, sink, clock = clocked
    sink.export([update("day", "2026-03-14")])
    clock.set("2026-03-15 06:00:00")
    sink.export([update("day", "2026-03-15", used=100, usd=None)])  # no USD budget any more
    assert series(exposed(registry), "writer", "day") == {
        REMAINING_TOKENS: 900,
        LIMIT_TOKENS: 1000,
    }


@pytest.mark.unit
def test_per_workflow_windows_end_by_their_own_key(clocked) -> None:
    registry, sink, clock = clocked
    sink.export(
        [
            update("day", "support/2026-03-14", workflow="support"),
            update("month", "support/2026-03", workflow="support"),
        ]
    )
    clock.set("2026-03-15 00:00:00")
    samples = exposed(registry)
    assert series(samples, "writer", "day", "support") == {}
    assert series(samples, "writer", "month", "support")[REMAINING_TOKENS] == 50


@pytest.mark.unit
def test_run_windows_and_unknown_keys_stay(clocked) -> None:
    registry, sink, clock = clocked
    sink.export([update("run", "0123456789abcdef" * 2), update("day", "k", persona="p")])
    clock.set("2099-01-01 00:00:00")
    sink.export([])
    samples = exposed(registry)
    assert series(samples, "writer", "run")[REMAINING_TOKENS] == 50
    assert series(samples, "p", "day")[REMAINING_TOKENS] == 50


# --- multiprocess mode: NaN stamped with the window's end -----------------------------------
_WORKER = textwrap.dedent("""
    import json, sys, time, warnings
    warnings.simplefilter("error")  # prometheus_client warns when asked to remove a series
    steps = json.loads(sys.argv[1])
    now = [steps[0]["now"]]
    time.time = lambda: now[0]  # the gauges' mostrecent stamps follow the same clock
    from langgraph_observe.events import BudgetUpdate
    from langgraph_observe.sinks.prometheus import PrometheusSink
    sink = PrometheusSink()
    for step in steps:
        now[0] = step["now"]
        sink.export([BudgetUpdate(**u) for u in step["updates"]])
""")


def _worker(mp_dir: Path, steps: list[dict[str, Any]]) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    proc = subprocess.run(
        [sys.executable, "-c", _WORKER, json.dumps(steps)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def _mp_update(persona: str, key: str, used: int) -> dict[str, Any]:
    return {
        "persona": persona,
        "window": "day",
        "window_key": key,
        "time_ns": 0,
        "used_tokens": used,
        "budget_tokens": 1000,
    }


@pytest.mark.e2e
def test_multiprocess_ended_windows_turn_nan_without_hiding_a_newer_value(tmp_path) -> None:
    mp_dir = tmp_path / "prom-mp"
    mp_dir.mkdir()
    # worker A shows the 14th for both personas, then exports a batch 10 s after midnight
    ended = [_mp_update("writer", "2026-03-14", 950), _mp_update("planner", "2026-03-14", 960)]
    _worker(
        mp_dir,
        [
            {"now": at("2026-03-14 12:00:00"), "updates": ended},
            {"now": at("2026-03-15 00:00:10"), "updates": []},
        ],
    )
    # worker B counted the writer's first call of the 15th 5 s after midnight: before A's
    # batch, so A's NaN (stamped at midnight, not at 00:00:10) must not hide it
    new = [_mp_update("writer", "2026-03-15", 100)]
    _worker(mp_dir, [{"now": at("2026-03-15 00:00:05"), "updates": new}])

    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=str(mp_dir))
    get = merged.get_sample_value
    writer = {"persona": "writer", "window": "day", "tenant": "", "workflow": ""}
    planner = {**writer, "persona": "planner"}
    assert get(REMAINING_TOKENS, writer) == 900  # the new window's value, by worker B
    assert get(LIMIT_TOKENS, writer) == 1000
    remaining = get(REMAINING_TOKENS, planner)
    assert remaining is not None and math.isnan(remaining)  # the ended window: NaN, not 40
    limit = get(LIMIT_TOKENS, planner)
    assert limit is not None and math.isnan(limit)


# --- the shipped artifacts ------------------------------------------------------------------
def _budget_panel_exprs() -> list[str]:
    return [expr for where, expr in dashboard_exprs() if "budget left" in where]


@pytest.mark.unit
def test_budget_panels_filter_and_name_the_workflow() -> None:
    board = json.loads(
        (ROOT / "deploy" / "grafana" / "langgraph-observe-overview.json").read_text("utf-8")
    )
    panels = [p for p in board["panels"] if "budget left" in p["title"]]
    assert len(panels) == 2
    for panel in panels:
        (target,) = panel["targets"]
        assert target["expr"].count('{workflow=~"$workflow"}') == 2, target["expr"]
        assert "{{workflow}}" in target["legendFormat"]
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == "workflow"]
    assert variable["includeAll"] and variable["allValue"] == ".*"  # "All" matches workflow=""


@pytest.mark.unit
def test_metric_reference_tables_keep_their_columns() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text("utf-8")
    columns = 0
    for line in text.splitlines():
        if not line.startswith("|"):
            columns = 0
            continue
        cells = line.replace("\\|", "").count("|") - 1  # an escaped | stays in its cell
        columns = columns or cells
        assert cells == columns, line
    assert "kind=llm\\|embedding usage" in text


# --- against a real Prometheus ---------------------------------------------------------------
def _found(prom: PromStack, expr: str, persona: str) -> dict[str, float]:
    """workflow -> value of the series of ``persona`` that ``expr`` yields."""
    answer = prom.query(for_prometheus(expr))
    assert answer["status"] == "success", answer
    return {
        r["metric"].get("workflow", ""): float(r["value"][1])
        for r in answer["data"]["result"]
        if r["metric"].get("persona") == persona
    }


def _wait(prom: PromStack, expr: str, persona: str, ok: Any) -> dict[str, float]:
    deadline = time.monotonic() + 40
    while True:
        found = _found(prom, expr, persona)
        if ok(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


@pytest.mark.e2e
@pytest.mark.slow
def test_prometheus_alert_and_panels_drop_an_ended_window(prom_stack: PromStack) -> None:
    persona = "budget-window-e2e"
    budgets = metrics_for(prom_stack.registry).budgets
    (alert,) = [e for w, e in alert_exprs() if w.endswith("NearlyExhaustedTokens")]
    (panel, _usd) = _budget_panel_exprs()
    now = time.time()
    today = window_key("day", "t", now_s=now)
    clock = [now]
    budgets.clock = lambda: clock[0]
    try:
        PrometheusSink(prom_stack.registry).export(
            [
                update("day", today, persona=persona),
                update("day", f"support/{today}", persona=persona, workflow="support", used=500),
            ]
        )
        fired = _wait(prom_stack, alert, persona, lambda f: f)
        assert fired == {"": pytest.approx(0.05)}
        # the dashboard's regex: "All" (.*) matches the empty workflow, one workflow does not
        everything = _found(prom_stack, panel, persona)
        assert everything == {"": pytest.approx(0.05), "support": pytest.approx(0.5)}
        one = _found(prom_stack, panel.replace("$workflow", "support"), persona)
        assert one == {"support": pytest.approx(0.5)}

        # midnight: the next scrape drops both
        clock[0] = at(time.strftime("%Y-%m-%d 00:00:00", time.gmtime(now + 86400)))
        assert _wait(prom_stack, alert, persona, lambda f: not f) == {}
        assert _found(prom_stack, panel, persona) == {}
    finally:
        budgets.clock = time.time
