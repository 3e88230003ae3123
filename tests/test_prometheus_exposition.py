"""Serving the metrics: HTTP server, WSGI and ASGI apps, and multiprocess mode with real
worker processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

from langgraph_observe.exposition import (
    metrics_asgi_app,
    metrics_registry,
    metrics_wsgi_app,
    start_metrics_server,
)
from langgraph_observe.metrics_catalog import PREFIX

from ._prometheus_records import feed, one_run

ROOT = Path(__file__).resolve().parents[1]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def runs(text: str, workflow: str) -> float:
    key = (f"{PREFIX}workflow_runs_total", frozenset({("workflow", workflow), ("status", "ok")}))
    return samples(text)[key]


@pytest.mark.unit
def test_http_server_on_loopback_serves_and_stops():
    reg = CollectorRegistry()
    _s, _d = feed(one_run("served"), reg)
    server = start_metrics_server(0, registry=reg)
    try:
        assert server.address == "127.0.0.1" and server.port > 0
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            assert resp.status == 200
            assert runs(resp.read().decode(), "served") == 1
    finally:
        server.shutdown()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url, timeout=2)


@pytest.mark.unit
def test_wsgi_app_serves_the_registry():
    reg = CollectorRegistry()
    _s, _d = feed(one_run("wsgi") + one_run("wsgi"), reg)
    app = metrics_wsgi_app(reg)
    environ: dict[str, object] = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = "/metrics"
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers: status.append(s)))
    assert status == ["200 OK"]
    assert runs(body.decode(), "wsgi") == 2


@pytest.mark.unit
def test_asgi_app_serves_the_registry():
    reg = CollectorRegistry()
    _s, _d = feed(one_run("asgi"), reg)
    app = metrics_asgi_app(reg)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "query_string": b"",
        "headers": [],
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:])  # type: ignore[misc]
    assert runs(body.decode(), "asgi") == 1


_WORKER = textwrap.dedent("""
    import sys
    from collections.abc import Sequence
    from langgraph_observe.dispatch import Dispatcher
    from langgraph_observe.sinks.base import BaseSink
    from langgraph_observe.sinks.prometheus import PrometheusSink
    from tests._prometheus_records import extras, one_run

    class Failing(BaseSink):
        name = "broken"
        def export(self, records: Sequence[object]) -> None:
            raise RuntimeError("backend down")

    i = int(sys.argv[1])
    d = Dispatcher([PrometheusSink(), Failing()], interval=0.01)
    for _ in range(i):
        d.emit_many(one_run("mp", input_tokens=10, output_tokens=i))
    if i == 1:
        d.emit_many(extras("mp"))
        d.emit(one_run("mp-open")[0])  # a run that is still going when the process exits
    assert not d.flush(5)  # the broken sink dropped every record
    d.shutdown()
""")


@pytest.mark.e2e
def test_multiprocess_workers_are_merged(tmp_path, monkeypatch):
    mp_dir = tmp_path / "prom-mp"
    mp_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir), "LANGGRAPH_OBSERVE_STRICT": "0"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(i)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2, 3)
    ]
    pids = []
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        pids.append(p.pid)
    assert list(mp_dir.glob("*.db")), "the workers wrote no metric files"

    reg = CollectorRegistry()
    MultiProcessCollector(reg, path=str(mp_dir))
    get = reg.get_sample_value
    assert get(f"{PREFIX}workflow_runs_total", {"workflow": "mp", "status": "ok"}) == 6
    llm = {"workflow": "mp", "persona": "writer", "model": "gpt-x"}
    assert get(f"{PREFIX}tokens_total", {**llm, "type": "input"}) == 60
    assert get(f"{PREFIX}tokens_total", {**llm, "type": "output"}) == 1 + 2 * 2 + 3 * 3
    assert (
        get(
            f"{PREFIX}node_duration_seconds_count",
            {"workflow": "mp", "node": "answer", "persona": "writer"},
        )
        == 6
    )
    budget = {"persona": "writer", "window": "day", "tenant": "acme", "workflow": ""}
    assert get(f"{PREFIX}budget_remaining_tokens", budget) == 100
    # health is mirrored into metric files: every failed export of every worker counted
    assert get(f"{PREFIX}sink_export_errors_total", {"sink": "broken"}) >= 3
    assert (
        get(f"{PREFIX}spans_dropped_total", {"sink": "broken", "reason": "export_error"})
        == 6 * 6 + 7 + 1
    )
    assert get(f"{PREFIX}workflows_in_progress", {"workflow": "mp-open"}) == 1

    # what the exposition helpers serve in multiprocess mode is the merged view
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(mp_dir))
    server = start_metrics_server(0)
    try:
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            assert runs(resp.read().decode(), "mp") == 6
    finally:
        server.shutdown()

    # a dead worker's live gauges leave once it is marked dead
    for pid in pids:
        mark_process_dead(pid, str(mp_dir))
    merged = metrics_registry()
    assert (
        merged.get_sample_value(f"{PREFIX}workflows_in_progress", {"workflow": "mp-open"}) is None
    )
    assert (
        merged.get_sample_value(f"{PREFIX}workflow_runs_total", {"workflow": "mp", "status": "ok"})
        == 6
    )
