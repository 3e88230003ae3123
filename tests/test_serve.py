"""``langgraph-observe serve`` on a loopback port: every endpoint, the OpenAPI description,
and the numbers against a store filled by real runs."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from langgraph_observe import analytics
from langgraph_observe.serve import ROUTES, openapi_spec, start_server
from langgraph_observe.store import LocalStore

from .filled_store import fill_store

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    return fill_store(tmp_path_factory.mktemp("serve") / "traces.db")


@pytest.fixture(scope="module")
def server(filled):
    registry = CollectorRegistry()
    Counter("serve_probe", "a probe counter", registry=registry).inc(3)
    srv = start_server(port=0, store=filled.path, registry=registry)
    yield srv
    srv.shutdown()


def get(server, path):
    with urllib.request.urlopen(server.url + path, timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type"), resp.read()


def get_json(server, path):
    status, ctype, body = get(server, path)
    assert status == 200 and ctype == "application/json"
    return json.loads(body)


def test_binds_loopback_by_default(server):
    assert server.host == "127.0.0.1"


def test_openapi_is_valid_and_lists_every_endpoint(server):
    from openapi_spec_validator import validate

    spec = get_json(server, "/openapi.json")
    validate(spec)
    assert set(spec["paths"]) == {r.path for r in ROUTES} | {"/metrics", "/healthz"}
    assert spec == json.loads(json.dumps(openapi_spec()))


def test_every_endpoint_answers(server):
    for route in ROUTES:
        body = get_json(server, route.path)
        assert isinstance(body, list if route.returns_list else dict), route.path
    health = get_json(server, "/healthz")
    assert health["status"] == "ok" and health["store_exists"] is True


def test_metrics_endpoint(server):
    status, ctype, body = get(server, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    assert "serve_probe_total 3.0" in body.decode()


def test_numbers_match_the_store(server, filled):
    with LocalStore(filled.path) as store:
        calls = store.query("SELECT * FROM spans WHERE kind = 'llm'")
        traces = store.traces()
        expected_nodes = analytics.node_summary(store, days=7)
    summary = get_json(server, "/api/summary?window_s=600")
    assert summary["window_s"] == 600
    assert summary["runs"] == len(traces)
    assert summary["today"]["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in calls))
    assert summary["today"]["tokens"] == sum(c["total_tokens"] for c in calls)
    tenants = {t["tenant"]: t for t in get_json(server, "/api/tenants")}
    assert tenants["globex"]["runs"] == sum(t["tenant"] == "globex" for t in traces)
    assert get_json(server, "/api/nodes?days=7") == expected_nodes
    personas = get_json(server, "/api/personas")
    assert sum(p["model_calls"] for p in personas) == len(calls)
    daily = get_json(server, "/api/cost/daily?days=3")
    assert len(daily) == 3
    assert daily[-1]["cost_usd"] == pytest.approx(summary["today"]["cost_usd"])
    monthly = get_json(server, "/api/cost/monthly?months=2")
    assert len(monthly) == 2 and monthly[-1]["model_calls"] == len(calls)
    forecast = get_json(server, "/api/cost/forecast")
    assert forecast["forecast_month_usd"] >= forecast["month_to_date_usd"] > 0
    quality = get_json(server, "/api/quality")
    assert quality["gates"][0]["pass_rate"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/nodes?days=zero", 400),
        ("/api/nodes?days=0", 400),
        ("/api/nodes?colour=red", 400),
        ("/api/cost/monthly?months=1201", 400),
        ("/api/cost/daily?days=36501", 400),
        ("/api/nothing", 404),
    ],
)
def test_bad_requests(server, path, status):
    with pytest.raises(urllib.error.HTTPError) as info:
        get(server, path)
    assert info.value.code == status
    assert "error" in json.loads(info.value.read())
    info.value.close()


def test_cli_serve_subcommand_is_wired():
    from langgraph_observe.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", "0"])
    assert args.port == 0 and args.host == "127.0.0.1"


def test_cli_serve_process(filled):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "langgraph_observe", "serve", "--port", "0", "--store",
         str(filled.path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        url = line.split()[1].removesuffix("/metrics")
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "/api/summary", timeout=10) as resp:
            assert json.loads(resp.read())["runs"] == len(filled.trace_ids)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def test_the_longest_look_backs_answer(server):
    assert isinstance(get_json(server, "/api/cost/monthly?months=1200"), list)
    assert isinstance(get_json(server, "/api/cost/daily?days=36500"), list)
    spec = openapi_spec()["paths"]["/api/cost/monthly"]["get"]["parameters"][0]["schema"]
    assert spec["maximum"] == 1200


def test_a_store_that_cannot_be_read_answers_500_in_json(tmp_path):
    broken = tmp_path / "traces.db"
    broken.write_bytes(b"this is not a database" * 100)
    srv = start_server(port=0, store=broken, registry=CollectorRegistry())
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            get(srv, "/api/summary")
        assert info.value.code == 500
        assert json.loads(info.value.read())["error"] == "DatabaseError"
        info.value.close()
    finally:
        srv.shutdown()
