"""Configuration errors are one clear message, never a traceback or a silent default: the
config file ``LANGGRAPH_OBSERVE_CONFIG`` names, ``LANGGRAPH_OBSERVE_SINKS``, the boolean and
integer variables, YAML numbers, ``warn_at`` per persona; the demo's hints and the examples'
command lines."""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_observe import cli
from langgraph_observe import config as core
from langgraph_observe.config import ConfigError, Settings
from langgraph_observe.config_file import CONFIG_ENV, load_config, parse_config
from langgraph_observe.sinks import auto
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore
from tests.test_local_store import make_spans, make_trace

from .subprocesses import ROOT

EXAMPLES = ROOT / "examples"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


TRACE_ID = make_trace(1).trace_id


def one_trace_store(path: Path) -> Path:
    sink = LocalStoreSink(path)
    sink.export(make_spans(make_trace(1)))
    sink.shutdown(1.0)
    return path


def cli_process(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m langgraph_observe ARGV`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "langgraph_observe", *argv],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_OBSERVE_")}
    env["PYTHONPATH"] = str(ROOT)  # the checkout, whatever the working directory
    return {**env, **extra}


# --- LANGGRAPH_OBSERVE_CONFIG and the CLI -------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize("broken", ["missing", "invalid"])
def test_with_store_the_cli_does_not_read_the_config_file(tmp_path, monkeypatch, broken):
    config = tmp_path / "observe.yaml"
    if broken == "invalid":
        config.write_text("personas:\n  backend-engineer: {budget_tokens: -5}\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    store = one_trace_store(tmp_path / "t.db")
    code, out = run("--store", str(store), "traces", "list")
    assert code == 0 and TRACE_ID in out
    code, out = run("traces", "show", "0000", "--store", str(store), "--ascii")
    assert code == 0


@pytest.mark.e2e
@pytest.mark.parametrize("broken", ["missing", "invalid"])
def test_without_store_a_bad_config_file_is_a_one_line_usage_error(tmp_path, broken):
    config = tmp_path / "observe.yaml"
    if broken == "invalid":
        config.write_text("personas:\n  backend-engineer: {budget_tokens: -5}\n")
    env = clean_env(**{CONFIG_ENV: str(config)})
    for argv in (["traces", "list"], ["traces", "prune", "--keep", "1"]):
        proc = cli_process(*argv, env=env, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert proc.stderr.startswith("langgraph-observe: configuration error: ")
        assert CONFIG_ENV in proc.stderr and str(config) in proc.stderr
    # with --store, the same environment works
    store = one_trace_store(tmp_path / "t.db")
    proc = cli_process("traces", "list", "--store", str(store), env=env, cwd=tmp_path)
    assert proc.returncode == 0 and TRACE_ID in proc.stdout, proc.stderr


@pytest.mark.unit
def test_an_invalid_variable_is_a_usage_error_of_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LANGGRAPH_OBSERVE_SINKS", "lcoal")
    code, _ = run("demo", "--store", str(tmp_path / "t.db"))
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("langgraph-observe: configuration error: env LANGGRAPH_OBSERVE_SINKS")
    assert not (tmp_path / "t.db").exists()
    assert run("traces", "list", "--store", " ")[0] == 2


@pytest.mark.unit
def test_the_config_file_error_names_the_variable_for_handlers_too(tmp_path, monkeypatch):
    from langgraph_observe import CallbackHandler

    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match=f"nope.yaml: cannot read config file.*{CONFIG_ENV}"):
        CallbackHandler()


# --- LANGGRAPH_OBSERVE_SINKS ----------------------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "bad"),
    [("lcoal,prometheus", "'lcoal'"), ("local;prometheus", "'local;prometheus'"),
     ("local prometheus", "'local prometheus'"), (" ", "names no sink"), (",", "names no sink"),
     ("none,local", "none cannot be combined")],
)  # fmt: skip
def test_a_typo_in_the_sinks_variable_raises(monkeypatch, value, bad):
    monkeypatch.setenv("LANGGRAPH_OBSERVE_SINKS", value)
    with pytest.raises(ConfigError) as caught:
        auto.describe(Settings())
    message = str(caught.value)
    assert message.startswith("env LANGGRAPH_OBSERVE_SINKS: ") and bad in message
    if "none cannot" not in message:
        assert "valid: local, prometheus, otel, langfuse" in message


@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "wanted"),
    [(None, None), ("", None), ("otel", {"otel"}), ("Local, PROMETHEUS,", {"local", "prometheus"}),
     ("none", set()), (" NONE ", set())],
)  # fmt: skip
def test_the_documented_sinks_values_keep_working(monkeypatch, value, wanted):
    if value is None:
        monkeypatch.delenv("LANGGRAPH_OBSERVE_SINKS", raising=False)
    else:
        monkeypatch.setenv("LANGGRAPH_OBSERVE_SINKS", value)
    got = auto.wanted_sinks()
    assert (got if got is None else set(got)) == wanted


@pytest.mark.unit
def test_none_turns_every_default_sink_off(monkeypatch):
    monkeypatch.setenv("LANGGRAPH_OBSERVE_SINKS", "none")
    described = auto.describe(Settings())
    assert [sink for _, sink, _ in described] == [None] * 4
    assert {reason for _, _, reason in described} == {"off: not in LANGGRAPH_OBSERVE_SINKS"}


# --- booleans and integers in the environment -------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "value"),
    [("LANGGRAPH_OBSERVE_PROMETHEUS", "maybe"), ("LANGGRAPH_OBSERVE_PROMETHEUS", " "),
     ("LANGGRAPH_OBSERVE_OTEL", "2"), ("LANGGRAPH_OBSERVE_LANGFUSE", "disabled"),
     ("LANGGRAPH_OBSERVE_PROMETHEUS_MAX_TENANTS", "many"),
     ("LANGGRAPH_OBSERVE_PROMETHEUS_MAX_TENANTS", "-1"),
     ("LANGGRAPH_OBSERVE_PROMETHEUS_MAX_TENANTS", "7.5")],
)  # fmt: skip
def test_an_unreadable_sink_variable_raises_instead_of_a_silent_default(monkeypatch, name, value):
    monkeypatch.setenv("LANGGRAPH_OBSERVE_SINKS", "prometheus,otel,langfuse")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^env {name}: "):
        auto.describe(Settings())


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "value"),
    [("LANGGRAPH_OBSERVE_CAPTURE_IO", " "), ("LANGGRAPH_OBSERVE_CAPTURE_IO", "maybe"),
     ("LANGGRAPH_OBSERVE_KEEP_PLUMBING", "nope"), ("LANGGRAPH_OBSERVE_QUEUE_SIZE", "1e3"),
     ("LANGGRAPH_OBSERVE_MAX_PAYLOAD_CHARS", "4000.0"), ("LANGGRAPH_OBSERVE_MAX_OPEN_RUNS", "0"),
     ("LANGGRAPH_OBSERVE_FLUSH_INTERVAL", "soon")],
)  # fmt: skip
def test_an_unreadable_setting_variable_raises(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^env {name}: "):
        Settings.resolve()


@pytest.mark.unit
def test_the_documented_spellings_keep_working(monkeypatch):
    for text, flag in [("1", True), ("TRUE", True), (" yes ", True), ("On", True),
                       ("0", False), ("false", False), ("No", False), ("OFF ", False)]:  # fmt: skip
        monkeypatch.setenv("LANGGRAPH_OBSERVE_CAPTURE_IO", text)
        monkeypatch.setenv("LANGGRAPH_OBSERVE_OTEL", text)
        assert (
            Settings.resolve().capture_io is flag
            and core.env_flag("LANGGRAPH_OBSERVE_OTEL") is flag
        )
    monkeypatch.setenv("LANGGRAPH_OBSERVE_CAPTURE_IO", "")  # empty: the default
    monkeypatch.setenv("LANGGRAPH_OBSERVE_QUEUE_SIZE", " 500 ")
    monkeypatch.setenv("LANGGRAPH_OBSERVE_FLUSH_TIMEOUT", "0.5")
    settings = Settings.resolve()
    assert settings.capture_io is True and settings.queue_size == 500
    assert settings.flush_timeout == 0.5
    monkeypatch.setenv("LANGGRAPH_OBSERVE_PROMETHEUS_MAX_TENANTS", "7")
    assert core.env_int("LANGGRAPH_OBSERVE_PROMETHEUS_MAX_TENANTS") == 7
    monkeypatch.delenv("LANGGRAPH_OBSERVE_OTEL")
    assert core.env_flag("LANGGRAPH_OBSERVE_OTEL") is None


@pytest.mark.unit
def test_the_checked_switches_are_the_ones_the_sinks_read():
    from langgraph_observe.sinks import _langfuse_switch, _otel_switch, auto, prometheus

    assert set(auto._SWITCHES) == {
        prometheus.ENV_ENABLED,
        _otel_switch.ENV_SWITCH,
        _langfuse_switch.ENV_SWITCH,
    }
    assert auto._COUNTS == (prometheus.ENV_MAX_TENANTS,)


# --- YAML numbers, warn_at per persona -----------------------------------------------------
@pytest.mark.unit
def test_yaml_numbers_in_exponent_notation_are_numbers(tmp_path):
    path = tmp_path / "observe.yaml"
    path.write_text(
        "personas:\n  a: {budget_usd: 5e-2, budget_tokens: 1e6}\n"
        "gates:\n  - {name: g, node: n, key: k, min: 1E-3}\n"
    )
    config = load_config(path)
    assert config.personas["a"].budget_usd == 0.05
    assert config.personas["a"].budget_tokens == 1_000_000
    assert config.gates[0].min == 0.001


@pytest.mark.unit
def test_a_number_written_as_text_gets_a_hint(tmp_path):
    path = tmp_path / "observe.yaml"
    path.write_text("personas:\n  a: {budget_usd: '5e-2'}\n")
    with pytest.raises(ConfigError, match="got '5e-2' \\(text, not a number: write it without"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"got 'high'$"):  # no hint for what is no number
        parse_config({"gates": [{"name": "g", "node": "n", "key": "k", "min": "high"}]})


@pytest.mark.unit
@pytest.mark.parametrize("never", [None, False])
def test_a_persona_can_turn_warnings_off_as_budgets_can(never):
    from langgraph_observe.budgets import BudgetTracker

    config = parse_config(
        {"personas": {"quiet": {"budget_tokens": 100, "warn_at": never},
                      "inherits": {"budget_tokens": 100}},
         "budgets": {"warn_at": 0.5}}
    )  # fmt: skip
    tracker = BudgetTracker(config.personas, config.budgets, store_path=None)
    quiet = [
        tracker.record("quiet", trace_id="0" * 32, tokens=60, usd=None, tenant=None,
                       workflow="wf")[0]
        for _ in range(2)
    ]  # fmt: skip
    assert not any(u.warned for u in quiet) and quiet[-1].used_tokens == 120  # over, no warning
    loud = tracker.record("inherits", trace_id="0" * 32, tokens=60, usd=None, tenant=None,
                          workflow="wf")[0]  # fmt: skip
    assert loud.warned  # the key left out: budgets.warn_at (0.5)


@pytest.mark.unit
def test_warn_at_false_per_persona_in_toml(tmp_path):
    pytest.importorskip("tomllib", reason="TOML config files need Python 3.11")
    path = tmp_path / "observe.toml"
    path.write_text("[personas.quiet]\nbudget_tokens = 10\nwarn_at = false\n")
    assert load_config(path).personas["quiet"].warn_at == float("inf")


# --- the demo's explore hint ----------------------------------------------------------------
@pytest.mark.e2e
def test_demo_with_store_prints_an_explore_hint_that_reads_that_store(tmp_path, monkeypatch):
    pytest.importorskip("pandas", reason="pandas is in the test extra")
    monkeypatch.setenv("LANGGRAPH_OBSERVE_SINKS", "local")
    store = tmp_path / "elsewhere" / "demo.db"
    code, out = run("demo", "--store", str(store))
    assert code == 0
    (hint,) = [line for line in out.splitlines() if "explore.traces(" in line]
    assert f'explore.traces("{store}")' in hint
    with LocalStore(store) as reader:
        [trace] = reader.traces()
    command = shlex.split(hint.split("   #")[0])
    # without LANGGRAPH_OBSERVE_STORE, the default store is another file, under tmp_path
    done = subprocess.run(command, cwd=tmp_path, env=clean_env(PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert trace["trace_id"] in done.stdout


# --- the examples' command lines ------------------------------------------------------------
def example(name: str, *argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *argv],
        cwd=cwd, env=clean_env(LANGGRAPH_OBSERVE_STORE=str(cwd / "default.db"), **env),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.e2e
def test_release_workflow_takes_store_and_help(tmp_path):
    done = example("release_workflow", "--store", str(tmp_path / "r.db"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"--store {tmp_path / 'r.db'}" in done.stdout
    with LocalStore(tmp_path / "r.db") as store:
        assert len(store.traces()) == 1
    helped = example("release_workflow", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--store PATH" in helped.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("r.db")) == []


@pytest.mark.e2e
def test_examples_say_in_one_line_what_they_miss(tmp_path):
    pytest.importorskip("langchain_openai", reason="langchain-openai is in the test extra")
    no_server = example("real_client_openai", cwd=tmp_path, OPENAI_API_KEY="", OPENAI_BASE_URL="")
    assert no_server.returncode == 2
    assert no_server.stderr.count("\n") == 1 and "--base-url" in no_server.stderr
    unreachable = example("real_client_openai", "--base-url", "http://127.0.0.1:9/v1",
                          "--store", str(tmp_path / "o.db"), cwd=tmp_path,
                          OPENAI_API_KEY="", OPENAI_BASE_URL="")  # fmt: skip
    assert unreachable.returncode == 1
    assert unreachable.stderr.count("\n") == 1 and "http://127.0.0.1:9/v1" in unreachable.stderr
    no_keys = example("all_backends", "--langfuse-url", "http://127.0.0.1:9", cwd=tmp_path,
                      LANGFUSE_PUBLIC_KEY="", LANGFUSE_SECRET_KEY="")  # fmt: skip
    assert no_keys.returncode == 2
    assert no_keys.stderr.count("\n") == 1 and "LANGFUSE_PUBLIC_KEY" in no_keys.stderr
