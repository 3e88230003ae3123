"""The price catalog: cost arithmetic, name matching, overrides, unknown models, docs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from langgraph_observe import pricing
from langgraph_observe.config import ConfigError
from langgraph_observe.events import TokenUsage
from langgraph_observe.pricing import ModelPrice, PriceCatalog, normalize_model_name

pytestmark = pytest.mark.unit

DATA = Path(pricing.__file__).parent / "data" / "prices.json"
DOC = Path(__file__).parents[1] / "docs" / "cost.md"


@pytest.fixture
def catalog() -> PriceCatalog:
    return PriceCatalog.load()  # fresh: its own unknown-model counter


def raw_entry(name: str) -> dict[str, float]:
    return json.loads(DATA.read_text())["models"][name]


# --- the data file ---------------------------------------------------------------------------
def test_data_file_is_dated_and_every_price_is_a_non_negative_number():
    data = json.loads(DATA.read_text())
    assert data["prices_as_of"][:4].isdigit() and data["unit"] == "per 1M tokens"
    assert len(data["models"]) >= 40
    for name, entry in data["models"].items():
        for key in pricing.PRICE_FIELDS:
            if key in entry:
                assert isinstance(entry[key], (int, float)) and entry[key] >= 0, (name, key)
        assert "input" in entry, name
        assert entry.get("kind", "chat") == "embedding" or "output" in entry, name


def test_catalog_covers_the_major_providers(catalog):
    providers = {p.provider for p in catalog.models.values()}
    assert {"openai", "anthropic", "google", "mistral"} <= providers
    for model in (
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "o1",
        "o3",
        "o4-mini",
        "gpt-5",
        "claude-3-5-sonnet",
        "claude-3-7-sonnet",
        "claude-sonnet-4",
        "claude-3-5-haiku",
        "claude-opus-4",
        "gemini-1.5-pro",
        "gemini-2.0-flash",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "mistral-large",
        "mistral-small",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "text-embedding-ada-002",
    ):
        assert catalog.lookup(model) is not None, model


# --- cost arithmetic, to the cent against hand computation ---------------------------------
def test_plain_chat_cost_matches_hand_computation(catalog):
    p = raw_entry("gpt-4o")
    usage = TokenUsage(input_tokens=120_000, output_tokens=30_000)
    expected = (120_000 * p["input"] + 30_000 * p["output"]) / 1e6
    assert catalog.cost("gpt-4o", usage) == pytest.approx(expected, abs=0.005)
    assert catalog.cost("gpt-4o", usage) == pytest.approx(expected, rel=1e-12)


def test_cached_input_is_priced_at_the_cached_rate(catalog):
    p = raw_entry("gpt-4.1-mini")
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=200_000, cached_input_tokens=600_000)
    expected = (400_000 * p["input"] + 600_000 * p["cached_input"] + 200_000 * p["output"]) / 1e6
    got = catalog.cost("gpt-4.1-mini", usage)
    assert got == pytest.approx(expected, rel=1e-12)
    assert got < catalog.cost("gpt-4.1-mini", TokenUsage(1_000_000, 200_000))


def test_anthropic_cache_write_and_read(catalog):
    p = raw_entry("claude-3-5-sonnet")
    # normalised usage: input includes cache reads (50k) and cache writes (20k)
    usage = TokenUsage(
        input_tokens=100_000,
        output_tokens=10_000,
        cached_input_tokens=50_000,
        cache_creation_tokens=20_000,
    )
    expected = (
        30_000 * p["input"]
        + 50_000 * p["cached_input"]
        + 20_000 * p["cache_write"]
        + 10_000 * p["output"]
    ) / 1e6
    assert catalog.cost("claude-3-5-sonnet-20241022", usage) == pytest.approx(expected, rel=1e-12)


def test_cache_write_falls_back_to_input_price_when_not_listed(catalog):
    p = raw_entry("gpt-4o")
    assert "cache_write" not in p
    usage = TokenUsage(input_tokens=10_000, output_tokens=0, cache_creation_tokens=4_000)
    assert catalog.cost("gpt-4o", usage) == pytest.approx(10_000 * p["input"] / 1e6, rel=1e-12)


def test_reasoning_tokens_are_part_of_output_and_not_double_counted(catalog):
    p = raw_entry("o3")
    usage = TokenUsage(input_tokens=1_000, output_tokens=5_000, reasoning_tokens=4_000)
    expected = (1_000 * p["input"] + 5_000 * p["output"]) / 1e6
    assert catalog.cost("o3", usage) == pytest.approx(expected, rel=1e-12)


def test_reasoning_priced_apart_where_listed(catalog):
    p = raw_entry("gemini-2.5-flash-preview-05-20")
    assert p["reasoning"] != p["output"]
    usage = TokenUsage(input_tokens=2_000, output_tokens=3_000, reasoning_tokens=2_500)
    expected = (2_000 * p["input"] + 500 * p["output"] + 2_500 * p["reasoning"]) / 1e6
    got = catalog.cost("models/gemini-2.5-flash-preview-05-20", usage)
    assert got == pytest.approx(expected, rel=1e-12)


def test_embedding_cost_counts_input_only(catalog):
    p = raw_entry("text-embedding-3-large")
    usage = TokenUsage(input_tokens=250_000, output_tokens=999)
    assert catalog.cost("text-embedding-3-large", usage) == pytest.approx(
        250_000 * p["input"] / 1e6, rel=1e-12
    )


def test_cache_hit_costs_nothing(catalog):
    usage = TokenUsage(input_tokens=1_000, output_tokens=1_000)
    assert catalog.cost("gpt-4o", usage, cache_hit=True) == 0.0
    assert catalog.cost("gpt-4o", usage) > 0


def test_usage_without_counts_has_no_cost(catalog):
    assert catalog.cost("gpt-4o", TokenUsage()) is None
    assert catalog.cost("gpt-4o", None) is None


# --- name matching ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4o", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("openai/gpt-4o", "gpt-4o"),
        ("openai:gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # snapshot priced apart
        ("gpt-4o-mini", "gpt-4o-mini"),  # not gpt-4o
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("o3-mini-2025-01-31", "o3-mini"),  # not o3
        ("o1-pro", "o1-pro"),  # not o1
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),  # not gpt-4
        ("gpt-4-0613", "gpt-4"),
        ("gpt-4-1106-preview", "gpt-4-turbo"),  # alias
        ("gpt-35-turbo", "gpt-3.5-turbo"),  # Azure's spelling
        ("gpt-5-chat-latest", "gpt-5"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("anthropic:claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("anthropic/claude-3.5-sonnet", "claude-3-5-sonnet"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("claude-opus-4-0", "claude-opus-4"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),  # not claude-opus-4
        ("claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("models/gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),  # not gemini-2.5-flash
        ("gemini-2.5-pro-preview-06-05", "gemini-2.5-pro"),
        ("mistral-large-latest", "mistral-large"),
        ("mistral.mistral-large-2407-v1:0", "mistral-large"),
        ("text-embedding-3-small", "text-embedding-3-small"),
    ],
)
def test_name_matching(catalog, name, expected):
    assert catalog.resolve(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "gpt-4o-mini-search-preview",  # a variant priced differently: no guess
        "gpt-4o-audio-preview",
        "claude-opus-4-7",  # a later version is not an older one
        "gpt-4o-mini-x",
        "llama3:8b",
        "my-azure-deployment",
        "",
    ],
)
def test_names_that_must_not_match(catalog, name):
    assert catalog.resolve(name) is None
    assert catalog.lookup(name) is None


def test_normalize_model_name():
    assert normalize_model_name(" Anthropic:Claude-3.7-Sonnet ") == "claude-3-7-sonnet"
    assert normalize_model_name("publishers/google/models/gemini-2.0-flash") == "gemini-2.0-flash"
    assert normalize_model_name("gpt-4.1") == "gpt-4.1"  # dots kept outside Claude names


def test_lookup_is_cached(catalog):
    first = catalog.lookup("openai/gpt-4o-2024-11-20")
    assert "openai/gpt-4o-2024-11-20" in catalog._cache
    assert catalog.lookup("openai/gpt-4o-2024-11-20") is first


# --- unknown models --------------------------------------------------------------------------
def test_unknown_model_is_none_warned_once_and_counted(catalog, caplog):
    usage = TokenUsage(input_tokens=10, output_tokens=10)
    with caplog.at_level(logging.WARNING, logger="langgraph_observe"):
        results = [catalog.cost("acme-llm-7", usage) for _ in range(3)]
        catalog.cost("acme-llm-8", usage)
    assert results == [None, None, None]
    warnings = [r for r in caplog.records if "no price for model" in r.getMessage()]
    assert [w.args[0] for w in warnings] == ["acme-llm-7", "acme-llm-8"]
    assert catalog.unknown_models() == {"acme-llm-7": 3, "acme-llm-8": 1}


def test_derived_catalogs_share_the_unknown_counter(catalog):
    derived = catalog.with_overrides({"acme-llm": {"input": 1, "output": 2}})
    derived.cost("zeta-1", TokenUsage(1, 1))
    assert catalog.unknown_models() == {"zeta-1": 1}
    assert derived.cost("acme-llm", TokenUsage(1, 1)) is not None


def test_module_level_default_catalog():
    before = pricing.unknown_models().get("nobody-knows-me", 0)
    assert pricing.cost("nobody-knows-me", TokenUsage(1, 1)) is None
    assert pricing.unknown_models()["nobody-knows-me"] == before + 1
    assert pricing.default_catalog() is pricing.default_catalog()
    assert pricing.cost("gpt-4o", TokenUsage(1_000_000, 0)) == pytest.approx(
        raw_entry("gpt-4o")["input"]
    )


# --- overrides ---------------------------------------------------------------------------------
def test_override_changes_a_price_and_keeps_the_rest(catalog):
    p = raw_entry("gpt-4o")
    derived = catalog.with_overrides({"gpt-4o": {"output": 1.0}})
    assert derived.lookup("gpt-4o") == ModelPrice(
        input=p["input"], output=1.0, cached_input=p["cached_input"], provider="openai"
    )
    assert catalog.lookup("gpt-4o").output == p["output"]  # the original is untouched
    # snapshots of the overridden model follow it
    assert derived.lookup("gpt-4o-2024-08-06").output == 1.0


def test_override_adds_a_model_and_an_alias(catalog):
    derived = catalog.with_overrides(
        {
            "Acme/Acme-Large": {"input": 1.5, "output": 4, "cached_input": 0.5},
            "prod-gpt4o-eastus": {"alias": "gpt-4o-2024-08-06"},
            "acme-embed": {"input": 0.05, "kind": "embedding"},
        }
    )
    assert derived.cost("acme-large-2025-01-01", TokenUsage(1_000_000, 1_000_000)) == 5.5
    assert derived.resolve("prod-gpt4o-eastus") == "gpt-4o"
    assert derived.cost("acme-embed", TokenUsage(2_000_000, 0)) == pytest.approx(0.1)


def test_an_alias_may_name_another_alias_of_the_same_override(catalog):
    derived = catalog.with_overrides(
        {"team-default": {"alias": "prod-gpt4o"}, "prod-gpt4o": {"alias": "gpt-4o-2024-08-06"}}
    )
    assert derived.resolve("team-default") == derived.resolve("prod-gpt4o") == "gpt-4o"


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"gpt-4o": {"input": "cheap"}}, "prices: gpt-4o: input: expected a number"),
        ({"gpt-4o": {"input": -1}}, "prices: gpt-4o: input: must be a finite, non-negative"),
        ({"gpt-4o": {"input": float("nan")}}, "must be a finite"),
        ({"gpt-4o": {"input": True}}, "expected a number"),
        ({"gpt-4o": {"inptu": 1}}, "prices: gpt-4o: unknown key(s) ['inptu']"),
        ({"gpt-4o": 2.5}, "prices: gpt-4o: expected a mapping"),
        ({"acme": {"input": 1}}, "prices: acme: a model not in the catalog needs output"),
        ({"acme": {"output": 1}}, "needs input"),
        ({"acme": {"input": 1, "output": 1, "kind": "image"}}, "kind: expected one of"),
        ({"x": {"alias": "no-such-model"}}, "prices: x: alias target 'no-such-model' has no price"),
        ({"x": {"alias": "gpt-4o", "input": 1}}, "an alias entry is {alias: <model name>}"),
        (
            {"x": {"alias": "y"}, "y": {"alias": "no-such-model"}},
            "prices: x: alias target 'no-such-model' (via y) has no price",
        ),
        (
            {"x": {"alias": "y"}, "y": {"alias": "X"}},
            "prices: x: aliases form a cycle: x -> y -> x",
        ),
        ({"": {"input": 1, "output": 1}}, "model names must be non-empty strings"),
        (["gpt-4o"], "prices: expected a mapping of model name to prices"),
    ],
)
def test_override_validation_errors(catalog, prices, message):
    with pytest.raises(ConfigError) as info:
        catalog.with_overrides(prices)
    assert message in str(info.value)


def test_override_errors_name_the_source(catalog):
    with pytest.raises(ConfigError, match=r"^langgraph_observe\.yaml: prices: gpt-4o: output"):
        catalog.with_overrides({"gpt-4o": {"output": -2}}, source="langgraph_observe.yaml: prices")


# --- docs --------------------------------------------------------------------------------------
def test_docs_price_table_is_current():
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "gen_cost_doc.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = DOC.read_text(encoding="utf-8")
    assert PriceCatalog.load().as_of in text
    assert "| `gpt-4o` | openai | chat |" in text


def test_response_model_is_priced_first_and_names_azure_deployments(catalog):
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=0)
    p = raw_entry("gpt-4o-mini")
    # an Azure deployment name the catalog cannot know, answered by a known model
    got = catalog.cost("prod-deployment-7", usage, response_model="gpt-4o-mini-2024-07-18")
    assert got == pytest.approx(p["input"])
    assert catalog.unknown_models() == {}
    assert catalog.cost("gpt-4o-mini", usage, response_model="brand-new-snapshot") == got
    assert catalog.cost("prod-deployment-7", usage, response_model="also-unknown") is None
    assert catalog.unknown_models() == {"prod-deployment-7": 1}


def test_unknown_model_names_are_bounded(caplog, monkeypatch):
    from langgraph_observe import _unknown_models, pricing

    monkeypatch.setattr(_unknown_models, "MAX_UNKNOWN_MODELS", 5)
    unknown = pricing.UnknownModels()
    with caplog.at_level("WARNING", logger="langgraph_observe"):
        for i in range(50):
            unknown.record(f"deployment-{i}")
        unknown.record("deployment-0")
    counts = unknown.snapshot()
    assert len(counts) == 6 and counts["deployment-0"] == 2
    assert counts[pricing.OTHER_UNKNOWN] == 45
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 6 and "more than 5 models have no price" in warnings[-1]
