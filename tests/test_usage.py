"""Token usage read from real LangChain result objects."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, LLMResult

from langgraph_observe.events import TokenUsage
from langgraph_observe.usage import (
    finish_reasons,
    response_model,
    usage_from_llm_result,
)

pytestmark = pytest.mark.unit


def chat_result(
    *messages: AIMessage, llm_output: dict | None = None, infos: list[dict] | None = None
) -> LLMResult:
    gens = [
        ChatGeneration(message=m, generation_info=(infos or [None] * len(messages))[i])
        for i, m in enumerate(messages)
    ]
    return LLMResult(generations=[gens], llm_output=llm_output)


def test_standard_usage_metadata_with_details():
    message = AIMessage(
        content="hi",
        usage_metadata={
            "input_tokens": 1200,
            "output_tokens": 300,
            "total_tokens": 1500,
            "input_token_details": {"cache_read": 1000, "cache_creation": 100, "audio": 0},
            "output_token_details": {"reasoning": 120, "audio": 0},
        },
    )
    assert usage_from_llm_result(chat_result(message)) == TokenUsage(
        input_tokens=1200,
        output_tokens=300,
        total_tokens=1500,
        cached_input_tokens=1000,
        cache_creation_tokens=100,
        reasoning_tokens=120,
    )


def test_usage_metadata_without_details_leaves_them_unreported():
    message = AIMessage(
        content="hi", usage_metadata={"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}
    )
    usage = usage_from_llm_result(chat_result(message))
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (5, 7, 12)
    assert usage.cached_input_tokens is None and usage.reasoning_tokens is None
    assert usage.estimated is False


def test_service_tier_prefixed_details_are_read():
    # langchain-openai writes flex_/priority_ prefixed detail keys for those tiers
    message = AIMessage(
        content="hi",
        usage_metadata={
            "input_tokens": 100,
            "output_tokens": 50,
            "total_tokens": 150,
            "input_token_details": {"flex_cache_read": 40, "flex": 60},
            "output_token_details": {"flex_reasoning": 20, "flex": 30},
        },
    )
    usage = usage_from_llm_result(chat_result(message))
    assert (usage.cached_input_tokens, usage.reasoning_tokens) == (40, 20)


def test_usage_metadata_wins_over_llm_output():
    message = AIMessage(
        content="hi", usage_metadata={"input_tokens": 9, "output_tokens": 4, "total_tokens": 13}
    )
    result = chat_result(
        message,
        llm_output={
            "token_usage": {"prompt_tokens": 999, "completion_tokens": 999, "total_tokens": 1998}
        },
    )
    assert usage_from_llm_result(result).input_tokens == 9


def test_openai_style_llm_output():
    result = chat_result(
        AIMessage(content="hi"),
        llm_output={
            "token_usage": {
                "prompt_tokens": 2006,
                "completion_tokens": 300,
                "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 192},
            },
            "model_name": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_1",
        },
    )
    assert usage_from_llm_result(result) == TokenUsage(
        input_tokens=2006,
        output_tokens=300,
        total_tokens=2306,
        cached_input_tokens=1920,
        reasoning_tokens=192,
    )
    assert response_model(result) == "gpt-4o-2024-08-06"


def test_anthropic_style_usage_is_normalised_to_include_cache():
    result = chat_result(
        AIMessage(content="hi"),
        llm_output={
            "id": "msg_1",
            "model": "claude-3-5-sonnet-20241022",
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": 50,
                "output_tokens": 20,
                "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 300,
            },
        },
    )
    usage = usage_from_llm_result(result)
    assert usage.input_tokens == 50 + 1000 + 300
    assert (usage.cached_input_tokens, usage.cache_creation_tokens) == (1000, 300)
    assert usage.total_tokens == 50 + 1000 + 300 + 20
    assert response_model(result) == "claude-3-5-sonnet-20241022"


def test_generation_info_fallback_for_completion_models():
    result = LLMResult(
        generations=[
            [
                Generation(
                    text="hi",
                    generation_info={
                        "prompt_eval_count": 26,
                        "eval_count": 290,
                        "done_reason": "stop",
                        "model": "llama3.1",
                    },
                )
            ]
        ]
    )
    usage = usage_from_llm_result(result)
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (26, 290, 316)
    assert finish_reasons(result) == ["stop"]
    assert response_model(result) == "llama3.1"


def test_response_metadata_fallback():
    message = AIMessage(
        content="hi",
        response_metadata={
            "token_usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            "model_name": "mistral-large-2411",
            "finish_reason": "stop",
        },
    )
    result = chat_result(message)
    assert usage_from_llm_result(result).total_tokens == 5
    assert response_model(result) == "mistral-large-2411"
    assert finish_reasons(result) == ["stop"]


def test_no_usage_anywhere_is_none():
    assert usage_from_llm_result(chat_result(AIMessage(content="hi"))) is None
    assert usage_from_llm_result(LLMResult(generations=[])) is None
    assert usage_from_llm_result(LLMResult(generations=[[]], llm_output=None)) is None
    assert response_model(LLMResult(generations=[])) is None
    assert finish_reasons(LLMResult(generations=[])) == []


def test_streaming_chunks_aggregated():
    chunks = [
        ChatGenerationChunk(message=AIMessageChunk(content="Hel")),
        ChatGenerationChunk(message=AIMessageChunk(content="lo")),
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": 12,
                    "output_tokens": 0,
                    "total_tokens": 12,
                    "input_token_details": {"cache_read": 8},
                },
            )
        ),
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": 0,
                    "output_tokens": 5,
                    "total_tokens": 5,
                    "output_token_details": {"reasoning": 2},
                },
                response_metadata={"finish_reason": "stop", "model_name": "gpt-4o-mini"},
            )
        ),
    ]
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    result = LLMResult(generations=[[total]], llm_output=None)  # streaming: no llm_output
    assert usage_from_llm_result(result) == TokenUsage(
        input_tokens=12, output_tokens=5, total_tokens=17, cached_input_tokens=8, reasoning_tokens=2
    )
    assert response_model(result) == "gpt-4o-mini"
    assert finish_reasons(result) == ["stop"]


def test_n_greater_than_one_with_whole_response_usage_counts_once():
    # langchain-openai puts the response's usage on every candidate message
    whole = {"input_tokens": 100, "output_tokens": 60, "total_tokens": 160}
    result = chat_result(
        AIMessage(content="a", usage_metadata=dict(whole)),
        AIMessage(content="b", usage_metadata=dict(whole)),
        infos=[{"finish_reason": "stop"}, {"finish_reason": "length"}],
    )
    assert usage_from_llm_result(result) == TokenUsage(100, 60, 160)
    assert finish_reasons(result) == ["stop", "length"]


def test_n_greater_than_one_with_per_candidate_usage_is_summed():
    result = chat_result(
        AIMessage(
            content="a", usage_metadata={"input_tokens": 10, "output_tokens": 3, "total_tokens": 13}
        ),
        AIMessage(
            content="b",
            usage_metadata={
                "input_tokens": 10,
                "output_tokens": 7,
                "total_tokens": 17,
                "output_token_details": {"reasoning": 2},
            },
        ),
    )
    usage = usage_from_llm_result(result)
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (20, 10, 30)
    assert usage.reasoning_tokens == 2


def test_several_prompts_are_summed():
    result = LLMResult(
        generations=[
            [
                Generation(
                    text="a",
                    generation_info={
                        "token_usage": {
                            "prompt_tokens": 4,
                            "completion_tokens": 1,
                            "total_tokens": 5,
                        }
                    },
                )
            ],
            [
                Generation(
                    text="b",
                    generation_info={
                        "token_usage": {
                            "prompt_tokens": 6,
                            "completion_tokens": 2,
                            "total_tokens": 8,
                        }
                    },
                )
            ],
        ]
    )
    assert usage_from_llm_result(result) == TokenUsage(10, 3, 13)


def test_extraction_is_cheap():
    """A loose ceiling that only catches pathological regressions (e.g. validation)."""
    import time

    message = AIMessage(
        content="hi",
        usage_metadata={
            "input_tokens": 1200,
            "output_tokens": 300,
            "total_tokens": 1500,
            "input_token_details": {"cache_read": 1000},
            "output_token_details": {"reasoning": 1},
        },
    )
    result = chat_result(message, llm_output={"model_name": "gpt-4o"})
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        usage_from_llm_result(result)
        response_model(result)
        finish_reasons(result)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 200e-6


def _generally(response):
    """read_llm_result's answer, from the general readers one by one."""
    from langgraph_observe.adapters._callbacks import generation_texts, is_cache_hit
    from langgraph_observe.usage import finish_reasons, response_model

    extra = {}
    if response_model(response):
        extra["gen_ai.response.model"] = response_model(response)
    if finish_reasons(response):
        extra["gen_ai.response.finish_reasons"] = finish_reasons(response)
    if is_cache_hit(response):
        extra["langgraph.llm.cache_hit"] = True
    return generation_texts(response), usage_from_llm_result(response), extra


UM = {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
READ_CASES = {
    "usage and reason in metadata": chat_result(
        AIMessage("a", usage_metadata=UM, response_metadata={"finish_reason": "stop"})
    ),
    "reason in generation_info wins": LLMResult(
        generations=[
            [
                ChatGeneration(
                    message=AIMessage(
                        "b", usage_metadata=UM, response_metadata={"finish_reason": "length"}
                    ),
                    generation_info={"finish_reason": "stop", "model_name": "m-1"},
                )
            ]
        ],
        llm_output={"model_name": "gpt-4o-2024"},
    ),
    "cached replay": chat_result(
        AIMessage("c", usage_metadata={**UM, "total_cost": 0}, response_metadata={"cached": 1})
    ),
    "no usage metadata": chat_result(
        AIMessage("d", response_metadata={"token_usage": {"prompt_tokens": 1}})
    ),
    "text completion": LLMResult(generations=[[Generation(text="e")]]),
    "two candidates": LLMResult(
        generations=[
            [
                ChatGeneration(message=AIMessage("f", usage_metadata=UM)),
                ChatGeneration(message=AIMessage("g", usage_metadata=UM)),
            ]
        ]
    ),
}


@pytest.mark.parametrize("case", list(READ_CASES))
def test_reading_a_result_in_one_pass_agrees_with_the_general_readers(case):
    from langgraph_observe.adapters._callbacks import read_llm_result

    response = READ_CASES[case]
    assert read_llm_result(response) == _generally(response)
