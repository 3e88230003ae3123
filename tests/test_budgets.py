"""Budgets: counting, warnings once per window, raise before the call from the estimated
prompt, day windows shared through the local store by handlers and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph

from langgraph_observe import CallbackHandler, SpanKind, SpanStatus, TokenBudgetExceeded
from langgraph_observe.budgets import BudgetPolicy, BudgetTracker, PersonaBudget, window_key
from langgraph_observe.events import BudgetUpdate
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore
from langgraph_observe.testing import InMemorySink

from . import graphs

pytestmark = pytest.mark.unit


def tracker(**policy: Any) -> BudgetTracker:
    return BudgetTracker(
        {"dev": PersonaBudget("dev", budget_tokens=100, budget_usd=1.0)}, BudgetPolicy(**policy)
    )


def test_warn_once_then_exceeded():
    t = tracker(warn_at=0.5)
    results = [t.record("dev", trace_id="t1", tokens=n, usd=0.0) for n in (40, 20, 30, 20)]
    updates = [u for u, _ in results]
    assert [u.used_tokens for u in updates] == [40, 60, 90, 110]
    assert [u.remaining_tokens for u in updates] == [60, 40, 10, -10]
    assert [u.warned for u in updates] == [False, True, False, False]
    assert [u.exceeded for u in updates] == [False, False, False, True]
    assert [newly for _, newly in results] == [False, False, False, True]
    assert t.record("nobody", trace_id="t1", tokens=5, usd=None) is None


def test_usd_fraction_warns_too():
    t = tracker(warn_at=0.8)
    update, _ = t.record("dev", trace_id="t", tokens=1, usd=0.85)
    assert update.warned and update.remaining_usd == pytest.approx(0.15)


def test_run_windows_are_separate_and_dropped_at_run_end():
    t = tracker()
    t.record("dev", trace_id="a", tokens=70, usd=None)
    update, _ = t.record("dev", trace_id="b", tokens=10, usd=None)
    assert update.used_tokens == 10 and update.window_key == "b"
    assert t.used("dev", "a") == (70, 0.0)
    t.end_run("a")
    assert t.used("dev", "a") == (0, 0.0)


def test_window_keys_per_tenant_and_workflow():
    assert window_key("day", "t", now_s=0) == "1970-01-01"
    assert window_key("month", "t", now_s=86400 * 40) == "1970-02"
    assert window_key("day", "t", workflow="wf", per_workflow=True, now_s=0) == "wf/1970-01-01"
    assert window_key("run", "abc", workflow="wf", per_workflow=True) == "abc"
    t = tracker(window="day", per_tenant=True, per_workflow=True)
    a, _ = t.record("dev", trace_id="1", tokens=30, usd=None, tenant="acme", workflow="w")
    b, _ = t.record("dev", trace_id="2", tokens=5, usd=None, tenant="zeta", workflow="w")
    c, _ = t.record("dev", trace_id="3", tokens=7, usd=None, tenant="acme", workflow="w")
    assert (a.used_tokens, b.used_tokens, c.used_tokens) == (30, 5, 37)
    assert a.window_key.startswith("w/") and a.tenant == "acme"


def test_check_raises_only_in_raise_mode():
    t = BudgetTracker({"dev": PersonaBudget("dev", budget_tokens=100, on_exceeded="raise")})
    t.check("dev", trace_id="r", requested_tokens=100)  # exactly the budget: allowed
    with pytest.raises(TokenBudgetExceeded) as raised:
        t.check("dev", trace_id="r", requested_tokens=101)
    assert (raised.value.used, raised.value.requested, raised.value.budget) == (0, 101, 100)
    t.record("dev", trace_id="r", tokens=100, usd=None)
    with pytest.raises(TokenBudgetExceeded):
        t.check("dev", trace_id="r")  # used up: even an unknown request is refused
    tracker().check("dev", trace_id="r", requested_tokens=10**9)  # warn mode: never raises


def test_counting_is_thread_safe():
    t = BudgetTracker({"dev": PersonaBudget("dev", budget_tokens=10**9)}, BudgetPolicy())

    def work() -> None:
        for _ in range(2000):
            t.record("dev", trace_id="same", tokens=3, usd=0.001)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    tokens, usd = t.used("dev", "same")
    assert tokens == 8 * 2000 * 3
    assert usd == pytest.approx(8 * 2000 * 0.001)


def one_node_graph(model: Any, prompt: str = "hi") -> Any:
    def talk(state: graphs.State) -> graphs.State:
        return {"log": [model.invoke([HumanMessage(prompt)]).content]}

    g = StateGraph(graphs.State)
    g.add_node("talk", talk)
    g.add_edge(START, "talk")
    g.add_edge("talk", END)
    return g.compile(name="chat")


def test_raise_from_the_estimated_prompt_before_any_usage(tmp_path):
    config = {
        "personas": {"writer": {"budget_tokens": 100, "on_exceeded": "raise"}},
        "nodes": {"talk": "writer"},
    }
    long_prompt = "please review this change carefully " * 60  # hundreds of tokens
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink], config=config)
    graph = one_node_graph(graphs.chat_model("never sent", 5, 5), long_prompt)
    with pytest.raises(TokenBudgetExceeded) as raised:
        graph.invoke({"log": []}, config={"callbacks": [handler]})
    assert raised.value.used == 0 and raised.value.requested > 100
    handler.flush()
    assert handler.tracer.open_runs == 0
    (llm,) = sink.spans(SpanKind.LLM)
    assert llm.status is SpanStatus.ERROR and llm.persona == "writer"
    assert not sink.of_type(BudgetUpdate)  # nothing was used
    # a short prompt fits
    graph = one_node_graph(graphs.chat_model("ok", 5, 5), "hi")
    graph.invoke({"log": []}, config={"callbacks": [handler]})
    handler.flush()
    assert sink.of_type(BudgetUpdate)[-1].remaining_tokens == 90
    handler.shutdown()


def test_warning_callback_and_usd_budget(tmp_path):
    from langgraph_observe import FeatureHooks
    from langgraph_observe.config_file import parse_config

    def config(window: str):
        return parse_config(
            {
                "personas": {"writer": {"budget_usd": 0.0001, "window": window}},
                "budgets": {"warn_at": 0.5},
                "nodes": {"talk": "writer"},
                "prices": {"generic-fake-chat-model": {"input": 2.0, "output": 4.0}},
            }
        )

    warnings: list[BudgetUpdate] = []
    graph = one_node_graph(graphs.chat_model("ok", 10, 5))
    # each call: (10 x 2 + 5 x 4) USD per 1M tokens = 0.00004 USD
    for window, expected_warnings in (("run", []), ("day", [0.00008])):
        sink = InMemorySink()
        hooks = FeatureHooks(config(window), on_budget_warning=warnings.append, budget_store=False)
        handler = CallbackHandler(sinks=[sink], hooks=hooks)
        for _ in range(3):
            graph.invoke({"log": []}, config={"callbacks": [handler]})
        handler.shutdown()
        llm = sink.spans(SpanKind.LLM)[0]
        assert llm.cost_usd == pytest.approx(0.00004, abs=1e-12)
        used = [u.used_usd for u in sink.of_type(BudgetUpdate)]
        step = 1 if window == "run" else 0
        assert used == pytest.approx([0.00004 * (1 + (1 - step) * i) for i in range(3)])
        assert [round(u.used_usd, 8) for u in warnings] == expected_warnings
        assert all(u.window == "day" for u in warnings)


def shared_day_budget(db) -> dict[str, Any]:
    """A config: node ``talk`` runs as ``writer``, 40 tokens a day, refused past them."""
    return {
        "personas": {"writer": {"budget_tokens": 40, "window": "day", "on_exceeded": "raise"}},
        "nodes": {"talk": "writer"},
        "store": str(db),
    }


def test_day_window_survives_handlers_on_one_store(tmp_path, monkeypatch):
    db = tmp_path / "budgets.db"
    monkeypatch.delenv("LANGGRAPH_OBSERVE_STORE")  # the file's store key applies
    config = shared_day_budget(db)
    graph = one_node_graph(graphs.chat_model("ok", 10, 5))
    first = CallbackHandler(sinks=[LocalStoreSink(db)], config=config)
    graph.invoke({"log": []}, config={"callbacks": [first]})
    graph.invoke({"log": []}, config={"callbacks": [first]})
    first.shutdown()
    with LocalStore(db) as store:
        (row,) = store.budget_usage()
    assert (row["window"], row["used_tokens"]) == ("day", 30)
    second = CallbackHandler(sinks=[LocalStoreSink(db)], config=config)
    graph.invoke({"log": []}, config={"callbacks": [second]})  # 30 + 15 = 45 > 40: counted
    with pytest.raises(TokenBudgetExceeded) as raised:
        graph.invoke({"log": []}, config={"callbacks": [second]})  # used up: refused
    assert raised.value.used == 45 and raised.value.window == "day"
    second.shutdown()


def test_a_day_window_shared_by_tenants_holds_across_handlers(tmp_path, monkeypatch):
    """Budgets not per tenant: runs of any tenant count in one window, in the store too,
    so a later handler sees what an earlier one used whatever the runs' tenants."""
    db = tmp_path / "tenants.db"
    monkeypatch.delenv("LANGGRAPH_OBSERVE_STORE")
    config = shared_day_budget(db)
    graph = one_node_graph(graphs.chat_model("ok", 10, 5))
    first = CallbackHandler(sinks=[LocalStoreSink(db)], config=config)
    for tenant in ("acme", "globex"):
        graph.invoke({"log": []}, config={"callbacks": [first], "metadata": {"tenant": tenant}})
    first.shutdown()
    with LocalStore(db) as store:
        rows = store.budget_usage()
    assert [(r["tenant"], r["used_tokens"]) for r in rows] == [("", 30)]
    second = CallbackHandler(sinks=[LocalStoreSink(db)], config=config)
    meta = {"tenant": "acme"}
    graph.invoke({"log": []}, config={"callbacks": [second], "metadata": meta})  # 45 > 40
    with pytest.raises(TokenBudgetExceeded):
        graph.invoke({"log": []}, config={"callbacks": [second], "metadata": meta})
    second.shutdown()


def test_a_warned_window_stays_warned_in_the_store_and_after_a_restart(tmp_path, monkeypatch):
    """The update that crosses ``warn_at`` is the only one with ``warned``; the store keeps
    the flag set for the window, so a new handler on the same day does not warn again."""
    db = tmp_path / "warned.db"
    monkeypatch.delenv("LANGGRAPH_OBSERVE_STORE")
    config = {
        "personas": {"writer": {"budget_tokens": 100, "window": "day", "warn_at": 0.2}},
        "nodes": {"talk": "writer"},
        "store": str(db),
    }
    graph = one_node_graph(graphs.chat_model("ok", 10, 5))
    warnings: list[BudgetUpdate] = []

    def run_three_times() -> None:
        handler = CallbackHandler(sinks=[LocalStoreSink(db)], config=config)
        handler.tracer.hooks.budgets.on_warning = warnings.append
        for _ in range(3):
            graph.invoke({"log": []}, config={"callbacks": [handler]})
        handler.shutdown()

    run_three_times()  # 15, 30 (crosses 20 %), then 45 tokens of 100
    assert len(warnings) == 1
    with LocalStore(db) as store:
        (row,) = store.budget_usage()
    assert (row["used_tokens"], row["warned"]) == (45, 1)
    run_three_times()  # 60, 75, 90 tokens: already warned today
    assert len(warnings) == 1
    with LocalStore(db) as store:
        (row,) = store.budget_usage()
    assert (row["used_tokens"], row["warned"]) == (90, 1)


@pytest.mark.e2e
def test_day_window_shared_with_another_process(tmp_path):
    db = tmp_path / "shared.db"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(os.getcwd())!r})
        from langgraph_observe import CallbackHandler
        from langgraph_observe.sinks.local import LocalStoreSink
        from tests.test_budgets import one_node_graph
        from tests import graphs
        config = {{"personas": {{"writer": {{"budget_tokens": 1000, "window": "day"}}}},
                  "nodes": {{"talk": "writer"}}, "store": {str(db)!r}}}
        h = CallbackHandler(sinks=[LocalStoreSink({str(db)!r})], config=config)
        one_node_graph(graphs.chat_model("ok", 100, 20)).invoke(
            {{"log": []}}, config={{"callbacks": [h]}})
        h.shutdown()
        """
    )
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "LANGGRAPH_OBSERVE_STORE": str(db)},
        )
        assert done.returncode == 0, done.stderr
    with LocalStore(db) as store:
        (row,) = store.budget_usage()
    assert row["used_tokens"] == 240  # the second process started from the first's usage


@pytest.mark.e2e
def test_concurrent_processes_add_up_instead_of_overwriting(tmp_path):
    """Two processes count in the same day window at the same time: the store holds the
    sum of both, and each process sees the other's usage after a refresh."""
    db = tmp_path / "concurrent.db"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(os.getcwd())!r})
        from langgraph_observe import CallbackHandler
        from langgraph_observe.sinks.local import LocalStoreSink
        from tests.test_budgets import one_node_graph
        from tests import graphs
        config = {{"personas": {{"writer": {{"budget_tokens": 100000, "window": "day"}}}},
                  "nodes": {{"talk": "writer"}}, "store": {str(db)!r}}}
        h = CallbackHandler(sinks=[LocalStoreSink({str(db)!r})], config=config)
        graph = one_node_graph(graphs.chat_model("ok", 100, 20))
        for _ in range(10):
            graph.invoke({{"log": []}}, config={{"callbacks": [h]}})
            h.flush()
            time.sleep(0.05)
        h.shutdown()
        """
    )
    env = {**os.environ, "LANGGRAPH_OBSERVE_STORE": str(db)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with LocalStore(db) as store:
        (row,) = store.budget_usage()
        counters = store.query("SELECT counter, used_tokens FROM budget_counters")
    assert row["used_tokens"] == 2 * 10 * 120
    assert row["counters"] == 2
    assert sorted(c["used_tokens"] for c in counters) == [1200, 1200]


def test_tracker_refresh_sees_other_counters(tmp_path):
    from langgraph_observe.budgets import BudgetPolicy, BudgetTracker, PersonaBudget
    from langgraph_observe.dispatch import Dispatcher

    db = tmp_path / "refresh.db"
    budgets = {"writer": PersonaBudget("writer", budget_tokens=1000, window="day")}
    a = BudgetTracker(budgets, BudgetPolicy(), store_path=db, refresh_s=0)
    b = BudgetTracker(budgets, BudgetPolicy(), store_path=db, refresh_s=0)
    assert a.counter_id != b.counter_id
    sink = LocalStoreSink(db)
    dispatcher = Dispatcher([sink])
    for tracker, tokens in ((a, 300), (b, 200)):
        update, _ = tracker.record("writer", trace_id="t", tokens=tokens, usd=None)
        dispatcher.emit(update)
    assert dispatcher.flush()
    assert a.used("writer") == (300, 0.0)
    a.refresh()
    assert a.used("writer") == (500, 0.0)
    update, _ = a.record("writer", trace_id="t", tokens=50, usd=None)
    assert update.used_tokens == 550 and update.counter_tokens == 350
    dispatcher.emit(update)
    dispatcher.shutdown()
    with LocalStore(db) as store:
        (row,) = store.budget_usage()
    assert row["used_tokens"] == 550


def test_windows_of_days_and_months_that_are_over_are_forgotten(monkeypatch):
    import time as time_module

    from langgraph_observe import budgets as budgets_module

    day = {"now": 1_764_374_400.0}  # 2025-11-29 00:00 UTC
    real_gmtime = time_module.gmtime
    monkeypatch.setattr(
        budgets_module.time, "gmtime", lambda s=None: real_gmtime(day["now"] if s is None else s)
    )
    t = BudgetTracker(
        {
            "dev": PersonaBudget("dev", budget_tokens=100, window="day"),
            "ops": PersonaBudget("ops", budget_tokens=100, window="month"),
        },
        BudgetPolicy(per_tenant=True, per_workflow=True),
    )
    for tenant in ("a", "b"):
        t.record("dev", trace_id="t1", tokens=5, usd=None, tenant=tenant, workflow="w/x")
        t.record("ops", trace_id="t1", tokens=5, usd=None, tenant=tenant, workflow="w/x")
    assert len(t._windows) == 4
    day["now"] += 86_400  # the next day, same month
    t.record("dev", trace_id="t2", tokens=7, usd=None, tenant="a", workflow="w/x")
    assert sorted((k[0], k[2], k[3]) for k in t._windows) == [
        ("dev", "w/x/2025-11-30", "a"),
        ("ops", "w/x/2025-11", "a"),
        ("ops", "w/x/2025-11", "b"),
    ]
    assert t.used("ops", tenant="b", workflow="w/x") == (5, 0.0)  # the month goes on
    day["now"] += 86_400  # December: a refresh forgets November's month windows too
    t.refresh()
    assert t._windows == {}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_counts_under_a_counter_of_its_own(tmp_path):
    """Workers forked from a process that already counted (gunicorn ``--preload``): each
    child writes its own counter row, and sees the parent's usage as another counter's."""
    path = tmp_path / "budgets.db"
    t = BudgetTracker(
        {"dev": PersonaBudget("dev", budget_tokens=1000, window="day")},
        BudgetPolicy(),
        store_path=path,
        refresh_s=0,
    )
    parent_update, _ = t.record("dev", trace_id="p", tokens=100, usd=None)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's cleanup
        try:
            update, _ = t.record("dev", trace_id="c", tokens=5, usd=None)
            report = [update.counter, update.counter_tokens, update.used_tokens]
            os.write(write, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        counter, counter_tokens, used = json.loads(pipe.read())
    assert counter != parent_update.counter == t.counter_id
    assert (counter_tokens, used) == (5, 105)
    after, _ = t.record("dev", trace_id="p2", tokens=1, usd=None)
    assert after.counter_tokens == 101  # the parent's own count is untouched
