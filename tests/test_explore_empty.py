"""explore on an empty store has the dtypes of a full one; every trace id may be a prefix;
gate pass rates per tenant; the latency chart without matplotlib's deprecated ``vert``."""

from __future__ import annotations

import itertools
import warnings

import pytest

pd = pytest.importorskip("pandas", reason="pandas is in the test extra")

from langgraph_observe import explore  # noqa: E402
from langgraph_observe.explore.summaries import model_calls  # noqa: E402
from langgraph_observe.store import LocalStore, TraceNotFound  # noqa: E402

from .filled_store import fill_store, store_of  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    return fill_store(tmp_path_factory.mktemp("explore-empty") / "traces.db")


#: (function, arguments): every roll-up whose result is a table of groups
SUMMARIES = [
    ("cost_summary", {"by": ["persona", "model"]}),
    ("cost_summary", {"by": "day"}),
    ("token_summary", {"by": "model"}),
    ("token_summary", {"by": ["month", "tenant"]}),
    ("budget_burn", {}),
    ("gate_pass_rates", {"by": "name"}),
    ("gate_pass_rates", {"by": ["workflow", "persona"]}),
]


@pytest.mark.parametrize(("name", "kwargs"), SUMMARIES)
def test_an_empty_summary_has_the_columns_and_dtypes_of_a_full_one(tmp_path, filled, name, kwargs):
    fn = getattr(explore, name)
    full = fn(store=filled.path, **kwargs)
    assert not full.empty
    for empty_store in (tmp_path / "missing.db", _store_with_tables(tmp_path)):
        empty = fn(store=empty_store, **kwargs)
        assert empty.empty
        assert list(empty.columns) == list(full.columns)
        assert dict(empty.dtypes.astype(str)) == dict(full.dtypes.astype(str)), name


def test_the_usual_follow_ups_work_on_empty_summaries(tmp_path):
    store = tmp_path / "missing.db"
    assert explore.cost_summary(store=store).nlargest(3, "cost_usd").empty
    assert explore.token_summary(store=store)["total_tokens"].nlargest(2).empty
    updated = explore.budget_burn(store=store)["updated_at"]
    assert str(updated.dt.tz_convert("Europe/Berlin").dtype) == "datetime64[ns, Europe/Berlin]"
    assert explore.gate_pass_rates(store=store)["pass_rate"].round(2).empty
    assert explore.cost_summary(store=store)["cost_usd"].sum() == 0.0


def test_a_persona_timeline_without_nodes_has_the_dtypes_of_one_with_nodes(tmp_path, filled):
    from langgraph_observe.events import SpanKind, SpanRecord, TraceContext

    full = explore.persona_timeline(filled.ok_trace_ids[0], store=filled.path)
    ctx, t0 = TraceContext(trace_id="e" * 32, workflow="wf"), 10**18
    root = SpanRecord(ctx, "1" * 16, None, "wf", SpanKind.WORKFLOW, t0, t0 + 10**6)
    empty = explore.persona_timeline("eeee", store=store_of(tmp_path, [root]))
    assert empty.empty and not full.empty
    assert dict(empty.dtypes.astype(str)) == dict(full.dtypes.astype(str))


def test_an_unknown_grouping_column_is_an_error_even_on_an_empty_store(tmp_path):
    with pytest.raises(ValueError, match="cannot group by \\['modle'\\]"):
        explore.cost_summary(by="modle", store=tmp_path / "missing.db")
    with pytest.raises(ValueError, match="not a score or trace column"):
        explore.gate_pass_rates(by="model", store=tmp_path / "missing.db")


def test_spans_and_errors_take_a_unique_prefix_as_the_others_do(filled):
    trace_id = filled.ok_trace_ids[0]
    whole = explore.spans(filled.path, trace_id=trace_id)
    by_prefix = explore.spans(filled.path, trace_id=trace_id[:14].upper())
    assert len(whole) > 0 and list(by_prefix["span_id"]) == list(whole["span_id"])
    failed = filled.failed_trace_ids[0]
    errors = explore.errors(filled.path, trace_id=failed[:14])
    assert len(errors) > 0 and set(errors["trace_id"]) == {failed}
    with LocalStore(filled.path) as store:
        support = next(r["trace_id"] for r in store.traces() if r["workflow"] == "support")
    assert len(model_calls(filled.path, trace_id=support[:14])) == 3
    # no trace, or several: the same errors as waterfall and persona_timeline
    shared = _shared_prefix(filled.trace_ids)  # two traces or more start with it
    calls = {
        "spans": lambda p: explore.spans(filled.path, trace_id=p),
        "errors": lambda p: explore.errors(filled.path, trace_id=p),
        "persona_timeline": lambda p: explore.persona_timeline(p, store=filled.path),
        "waterfall": lambda p: explore.waterfall(p, store=filled.path),
    }
    for call in calls.values():
        with pytest.raises(TraceNotFound, match="no trace id starts with 'zzzz'"):
            call("zzzz")
        with pytest.raises(TraceNotFound, match="matches several traces"):
            call(shared)


def test_gate_pass_rates_by_the_traces_tenant(filled):
    rates = explore.gate_pass_rates(by=["tenant", "name"], store=filled.path)
    with LocalStore(filled.path) as store:
        tenants = {r["trace_id"]: r["tenant"] or "" for r in store.traces()}
        expected: dict[tuple[str, str], list[bool]] = {}
        for score in store.scores():
            if score["passed"] is not None:
                key = (tenants[score["trace_id"]], score["name"])
                expected.setdefault(key, []).append(bool(score["passed"]))
    got = {(r.tenant, r.name): (r.evaluations, r.passed) for r in rates.itertuples()}
    assert got == {k: (len(v), sum(v)) for k, v in expected.items()}
    assert {t for t, _ in got} == {"acme", "globex"}
    assert str(rates["pass_rate"].dtype) == "float64"


def test_latency_chart_uses_no_deprecated_boxplot_argument(filled):
    pytest.importorskip("matplotlib", reason="matplotlib is in the test extra")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MatplotlibDeprecationWarning on vert= (3.11 and later)
        fig = explore.latency_chart(kind="node", store=filled.path)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert {"triage", "research", "answer"} <= set(labels)


def _shared_prefix(ids: list[str]) -> str:
    """The longest prefix of an id that another id starts with too."""
    best = ""
    for a, b in itertools.pairwise(sorted(ids)):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        best = max(best, a[:n], key=len)
    return best


def _store_with_tables(tmp_path):
    """A store file with its tables but no rows (as after pruning everything)."""
    from langgraph_observe.store import StoreWriter

    path = tmp_path / "empty.db"
    writer = StoreWriter(path)
    writer.write([])
    writer.close()
    return path
