"""The config file: YAML and TOML load the same config; errors name file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from langgraph_observe import CallbackHandler, ConfigError, load_config
from langgraph_observe.config_file import CONFIG_ENV, resolve_config
from langgraph_observe.testing import InMemorySink

pytestmark = pytest.mark.unit

YAML = """
personas:
  backend-engineer:   {budget_tokens: 2000}
  testing-specialist: {budget_tokens: 1500, budget_usd: 0.05, window: day}
budgets:
  window: run
  warn_at: 0.8
  on_exceeded: warn
  per_tenant: true
prices:
  my-model: {input: 1.0, output: 2.0}
gates:
  - {name: tests_pass, node: run_tests, key: coverage, min: 0.8, on_fail: record}
nodes:
  write_code: backend-engineer
store: ./traces.db
capture_io: false
"""

TOML = """
store = "./traces.db"
capture_io = false

[personas.backend-engineer]
budget_tokens = 2000

[personas.testing-specialist]
budget_tokens = 1500
budget_usd = 0.05
window = "day"

[budgets]
window = "run"
warn_at = 0.8
on_exceeded = "warn"
per_tenant = true

[prices.my-model]
input = 1.0
output = 2.0

[[gates]]
name = "tests_pass"
node = "run_tests"
key = "coverage"
min = 0.8
on_fail = "record"

[nodes]
write_code = "backend-engineer"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_and_toml_give_the_same_config(tmp_path):
    y = load_config(write(tmp_path, "observe.yaml", YAML))
    t = load_config(write(tmp_path, "observe.toml", TOML))
    for cfg in (y, t):
        assert cfg.personas["backend-engineer"].budget_tokens == 2000
        tester = cfg.personas["testing-specialist"]
        assert (tester.budget_tokens, tester.budget_usd, tester.window) == (1500, 0.05, "day")
        assert cfg.budgets.per_tenant and cfg.budgets.warn_at == 0.8
        (gate,) = cfg.gates
        assert (gate.name, gate.node, gate.key, gate.min, gate.on_fail) == (
            "tests_pass",
            "run_tests",
            "coverage",
            0.8,
            "record",
        )
        assert dict(cfg.nodes) == {"write_code": "backend-engineer"}
        assert dict(cfg.settings) == {"store_path": Path("traces.db"), "capture_io": False}
        assert cfg.budgeted
    assert y.personas == t.personas and y.budgets == t.budgets and y.prices == t.prices


def test_the_example_config_loads():
    cfg = load_config(Path(__file__).parent.parent / "examples" / "release.yaml")
    assert set(cfg.personas) == {"backend-engineer", "testing-specialist", "devops-engineer"}
    assert len(cfg.gates) == 3


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("personaz: {}", "personaz", "unknown key"),
        ("personas: {dev: {budget_tokens: -5}}", "personas.dev.budget_tokens", "negative"),
        ("personas: {dev: {budget_tokens: lots}}", "personas.dev.budget_tokens", "integer"),
        ("personas: {dev: {budget_tokens: 1.5}}", "personas.dev.budget_tokens", "integer"),
        ("personas: {dev: {budget_usd: -0.1}}", "personas.dev.budget_usd", "negative"),
        ("personas: {dev: {budget: 3}}", "personas.dev.budget", "unknown key"),
        ("personas: {dev: {window: week}}", "personas.dev.window", "run, day, month"),
        ("personas: [dev]", "personas", "expected a mapping"),
        ("budgets: {warn_at: 1.5}", "budgets.warn_at", "fraction"),
        ("budgets: {on_exceeded: stop}", "budgets.on_exceeded", "warn, raise"),
        ("budgets: {per_tenant: 'yes'}", "budgets.per_tenant", "true or false"),
        ("budgets: {windw: day}", "budgets.windw", "unknown key"),
        ("gates: {name: x}", "gates", "list"),
        ("gates: [{node: n, key: k, min: 1}]", "gates[0].name", "required"),
        ("gates: [{name: g, node: n, key: k}]", "gates[0]", "min, max or equals"),
        ("gates: [{name: g, node: n, key: k, min: high}]", "gates[0].min", "number"),
        (
            "gates: [{name: g, node: n, key: k, min: 1, on_fail: boom}]",
            "gates[0].on_fail",
            "record, raise",
        ),
        ("gates: [{name: g, node: n, check: 'nomodule:fn'}]", "gates[0].check", "cannot import"),
        (
            "gates: [{name: g, node: n, key: k, min: 1}, {name: g, node: m, key: k, min: 1}]",
            "gates[1].name",
            "duplicate",
        ),
        ("nodes: {write: 3}", "nodes.write", "non-empty string"),
        ("max_open_runs: -1", "max_open_runs", "negative"),
        ("capture_io: maybe", "capture_io", "true or false"),
        ("capture_io: 'no'", "capture_io", "true or false"),
        ("max_payload_chars: '4000'", "max_payload_chars", "expected a number"),
        ("max_payload_chars: 3.9", "max_payload_chars", "whole number"),
        ("queue_size: 0", "queue_size", "at least 1"),
        ("max_open_runs: 0", "max_open_runs", "at least 1"),
        ("flush_interval: 0", "flush_interval", "more than 0"),
        ("flush_interval: .inf", "flush_interval", "finite"),
        ("flush_timeout: .nan", "flush_timeout", "finite"),
        ("store: 123", "store", "file path"),
        ("store: ''", "store", "file path"),
        ("store:", "store", "file path"),
        ("gates: [{name: g, node: n, key: k, min: 5, max: 1}]", "gates[0]", "above max"),
        ("gates: [{name: g, node: n, key: k, min: .nan}]", "gates[0].min", "number"),
        ("personas: {dev: {budget_tokens: 1}, dev: {budget_tokens: 2}}", "dev", "given twice"),
        ("prices: {my-model: {input: -1, output: 1}}", "my-model", "non-negative"),
        ("prices: {new-model: {input: 1}}", "new-model", "output"),
    ],
)
def test_errors_name_file_key_and_reason(tmp_path, text, key, reason):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(str(path)), message
    assert key in message and reason in message, message


def test_file_level_errors(tmp_path):
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(write(tmp_path, "x.yaml", "personas: {dev: [}"))
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "x.toml", "personas = ["))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="unsupported config file type"):
        load_config(write(tmp_path, "x.json", "{}"))
    with pytest.raises(ConfigError, match="top level"):
        load_config(write(tmp_path, "x.yaml", "- a\n- b\n"))
    assert not load_config(write(tmp_path, "empty.yaml", "")).budgeted


def test_gate_check_imported_from_the_file(tmp_path):
    cfg = load_config(
        write(tmp_path, "g.yaml", "gates: [{name: g, node: n, check: 'builtins:bool'}]")
    )
    assert cfg.gates[0].evaluate({"x": 1}).passed
    assert not cfg.gates[0].evaluate({}).passed


def test_env_var_and_handler(tmp_path, monkeypatch):
    path = write(tmp_path, "observe.yaml", YAML)
    assert resolve_config(None) is None
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert resolve_config(None).personas["backend-engineer"].budget_tokens == 2000
    handler = CallbackHandler(sinks=[InMemorySink()])
    assert handler.settings.capture_io is False  # from the file
    assert handler.tracer.hooks.persona_for("write_code", {}) == "backend-engineer"
    handler.shutdown()
    # arguments beat the file
    handler = CallbackHandler(sinks=[InMemorySink()], capture_io=True)
    assert handler.settings.capture_io is True
    handler.shutdown()
    with pytest.raises(ConfigError, match="expected a file path"):
        resolve_config(42)


def test_warn_at_false_means_never_in_toml_and_yaml(tmp_path):
    toml = load_config(write(tmp_path, "a.toml", "[budgets]\nwarn_at = false\n"))
    yaml = load_config(write(tmp_path, "a.yaml", "budgets: {warn_at: null}"))
    assert toml.budgets.warn_at is None and yaml.budgets.warn_at is None


def test_a_node_mapped_to_an_unknown_persona_is_warned_about(tmp_path, caplog):
    text = "personas: {backend-engineer: {budget_tokens: 10}}\nnodes: {code: backend-enginer}"
    with caplog.at_level("WARNING", logger="langgraph_observe"):
        config = load_config(write(tmp_path, "typo.yaml", text))
    assert config.nodes == {"code": "backend-enginer"}  # still loaded: it may be meant
    (message,) = [r.getMessage() for r in caplog.records]
    assert "nodes.code" in message and "'backend-enginer'" in message
