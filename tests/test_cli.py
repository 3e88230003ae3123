"""The command line on a real demo run: ``demo``, ``traces list``, ``traces show``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_observe import cli
from langgraph_observe.demo import PERSONAS, WORKFLOW, run_demo
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore
from tests.test_local_store import make_spans, make_trace


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One real demo run, shared by the read-only tests below."""
    path = tmp_path_factory.mktemp("demo") / "traces.db"
    result = run_demo(path)
    assert result.flushed and result.trace_id is not None
    return path, result.trace_id


@pytest.mark.e2e
def test_demo_run_lands_in_the_store(demo_store: tuple[Path, str]) -> None:
    path, trace_id = demo_store
    with LocalStore(path) as store:
        trace = store.trace(trace_id)
        spans = store.spans(trace_id=trace_id)
    assert trace is not None and trace["status"] == "ok" and trace["workflow"] == WORKFLOW
    nodes = {s["name"]: s["persona"] for s in spans if s["kind"] == "node"}
    assert nodes == PERSONAS
    kinds = sorted(s["kind"] for s in spans)
    assert kinds.count("llm") == 3 and kinds.count("tool") == 2 and "retriever" in kinds
    llm_total = sum(s["total_tokens"] for s in spans if s["kind"] == "llm")
    assert trace["total_tokens"] == llm_total > 0


@pytest.mark.e2e
def test_traces_list_shows_the_run(demo_store: tuple[Path, str]) -> None:
    path, trace_id = demo_store
    code, out = run("traces", "list", "--store", str(path))
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split()[:3] == ["TRACE", "STARTED", "(UTC)"]
    assert len(rows) == 1 and rows[0].startswith(trace_id + "  ")
    with LocalStore(path) as store:
        total = store.trace(trace_id)["total_tokens"]  # type: ignore[index]
    assert WORKFLOW in rows[0] and " ok " in rows[0] and f" {total} " in rows[0]


@pytest.mark.e2e
def test_traces_show_prints_the_tree(demo_store: tuple[Path, str]) -> None:
    path, trace_id = demo_store
    code, out = run("traces", "show", trace_id[:6], "--store", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"trace {trace_id}  {WORKFLOW}  ok")
    assert lines[2].startswith(f"workflow {WORKFLOW}")
    for node, persona in PERSONAS.items():
        assert any(f"node {node} [{persona}]" in line for line in lines), out
    assert sum("llm ScriptedChatModel" in line and " tok (" in line for line in lines) == 3
    assert any("tool run_test_suite" in line for line in lines)
    assert any("retriever ChecklistRetriever (2 docs)" in line for line in lines)
    # children are drawn under their node
    release = next(i for i, line in enumerate(lines) if "node release" in line)
    assert "tool publish_package" in lines[release + 2] and lines[release + 2][:1] == " "


@pytest.mark.e2e
def test_demo_command_end_to_end_in_a_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "LANGGRAPH_OBSERVE_STORE": str(tmp_path / "env.db")}
    proc = subprocess.run([sys.executable, "-m", "langgraph_observe", "demo"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"traces: {tmp_path / 'env.db'}" in out
    assert "local       on: default sink" in out
    assert "langgraph-observe traces list" in out
    with LocalStore(tmp_path / "env.db") as store:
        [trace] = store.traces()
    assert f"trace {trace['trace_id']}  {WORKFLOW}  ok" in out
    assert f"langgraph-observe traces show {trace['trace_id']}" in out
    metrics = tmp_path / "metrics.prom"
    assert f"metrics: {metrics}" in out
    text = metrics.read_text()
    assert 'langgraph_observe_workflow_runs_total{status="ok",workflow="package-release"} 1.0' in (
        text
    )
    assert "langgraph_observe_tokens_total" in text
    script = Path(sys.executable).with_name("langgraph-observe")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "langgraph_observe"]
    listed = subprocess.run([*command, "traces", "list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert listed.returncode == 0 and trace["trace_id"] in listed.stdout


@pytest.mark.unit
def test_errors_and_empty_store(tmp_path: Path) -> None:
    code, out = run("traces", "list", "--store", str(tmp_path / "none.db"))
    assert code == 0 and "no traces in" in out
    assert not (tmp_path / "none.db").exists()
    sink = LocalStoreSink(tmp_path / "t.db")
    sink.export(make_spans(make_trace(1)))
    sink.shutdown(1.0)
    assert run("traces", "show", "ffff", "--store", str(tmp_path / "t.db"))[0] == 1
    code, out = run("--store", str(tmp_path / "t.db"), "traces", "show", "0", "--ascii")
    assert code == 0
    assert "`- " in out and "├" not in out
    assert "x ValueError: boom" in out, "errors are printed under their span"
    with pytest.raises(SystemExit) as exc:
        cli.main(["traces"])
    assert exc.value.code == 2


@pytest.mark.e2e
def test_demo_says_why_no_trace_when_the_local_sink_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANGGRAPH_OBSERVE_SINKS", "otel")
    code, out = run("demo", "--store", str(tmp_path / "t.db"))
    assert code == 1
    assert "local       off: not in LANGGRAPH_OBSERVE_SINKS" in out
    assert "the local sink is off" in capsys.readouterr().err
    assert not (tmp_path / "t.db").exists()


@pytest.mark.unit
def test_bad_limits_and_unreadable_stores(tmp_path: Path) -> None:
    from langgraph_observe.store.text import trace_table

    sink = LocalStoreSink(tmp_path / "t.db")
    sink.export(make_spans(make_trace(1)))
    sink.shutdown(1.0)
    for limit in ("0", "-1"):
        assert run("traces", "list", "--limit", limit, "--store", str(tmp_path / "t.db"))[0] == 2
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database" * 100)
    assert run("traces", "list", "--store", str(broken))[0] == 1
    assert trace_table([]).startswith("TRACE")  # a header alone


@pytest.mark.e2e
def test_an_ascii_terminal_gets_escapes_not_a_crash(tmp_path: Path) -> None:
    from langgraph_observe.events import SpanKind, SpanRecord, TraceContext

    ctx = TraceContext(trace_id="c" * 32, workflow="résumé-流程")
    sink = LocalStoreSink(tmp_path / "t.db")
    sink.export([SpanRecord(ctx, "1" * 16, None, "résumé-流程", SpanKind.WORKFLOW, 10**18,
                            10**18 + 10**6)])  # fmt: skip
    sink.shutdown(1.0)
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    for action in (["list"], ["show", "cccc"]):
        proc = subprocess.run(
            [sys.executable, "-m", "langgraph_observe", "traces", *action,
             "--store", str(tmp_path / "t.db")],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "r\\xe9sum\\xe9-\\u6d41\\u7a0b" in proc.stdout


def test_the_readers_read_the_store_the_config_file_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler with no arguments writes where the config file's ``store:`` says; the
    readers (``LocalStore()``, the CLI) read the same file."""
    from langgraph_observe import CallbackHandler
    from langgraph_observe.config_file import CONFIG_ENV

    from . import graphs

    store = tmp_path / "from-config.db"
    config = tmp_path / "observe.yaml"
    config.write_text(f"store: {store}\n")
    monkeypatch.delenv("LANGGRAPH_OBSERVE_STORE")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.chdir(tmp_path)
    handler = CallbackHandler()
    graphs.linear_graph().invoke({"log": []}, {"callbacks": [handler]})
    handler.shutdown(5)
    assert store.is_file()
    with LocalStore() as reader:
        assert reader.path == store and len(reader.traces()) == 1
    code, out = run("traces", "list")
    assert code == 0 and "linear" in out
