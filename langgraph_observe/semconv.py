"""Every span attribute name the library writes, documented once.

``gen_ai.*`` names follow the OpenTelemetry GenAI semantic conventions; ``langgraph.*``
names are this library's own. :data:`SPAN_ATTRIBUTES` maps each name to its meaning and
is the source of the attribute reference in the docs.

Span attributes may be high-cardinality (ids, inputs). Metric labels never are: they are
listed apart, with the metric catalog of each sink.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CONTENT_ATTRIBUTES", "SPAN_ATTRIBUTES"]

# --- OpenTelemetry GenAI semantic conventions --------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"

# --- langgraph-observe ---------------------------------------------------------------------
LG_WORKFLOW: Final = "langgraph.workflow"
LG_NODE: Final = "langgraph.node"
LG_STEP: Final = "langgraph.step"
LG_TRIGGERS: Final = "langgraph.triggers"
LG_CHECKPOINT_NS: Final = "langgraph.checkpoint_ns"
LG_THREAD_ID: Final = "langgraph.thread_id"
LG_ATTEMPT: Final = "langgraph.attempt"
LG_PERSONA: Final = "langgraph.persona"
LG_TENANT: Final = "langgraph.tenant"
LG_INVOCATION_PARAMS: Final = "langgraph.llm.invocation_params"
LG_STREAMING: Final = "langgraph.llm.streaming"
LG_TIME_TO_FIRST_TOKEN: Final = "langgraph.llm.time_to_first_token_s"
LG_CACHE_HIT: Final = "langgraph.llm.cache_hit"
LG_USAGE_CACHED_INPUT: Final = "langgraph.usage.cached_input_tokens"
LG_USAGE_CACHE_CREATION: Final = "langgraph.usage.cache_creation_tokens"
LG_USAGE_REASONING: Final = "langgraph.usage.reasoning_tokens"
LG_USAGE_TOTAL: Final = "langgraph.usage.total_tokens"
LG_TOKENS_ESTIMATED: Final = "langgraph.usage.estimated"
LG_COST_USD: Final = "langgraph.cost_usd"
LG_RETRIEVER_QUERY: Final = "langgraph.retriever.query"
LG_RETRIEVER_DOCUMENTS: Final = "langgraph.retriever.documents"
LG_ERROR_CLASS: Final = "langgraph.error.class"
LG_INTERRUPTED: Final = "langgraph.interrupted"
LG_BUBBLE_UP: Final = "langgraph.bubble_up"
LG_STREAM_CLOSED: Final = "langgraph.stream_closed"
LG_CANCELLED: Final = "langgraph.cancelled"
LG_AFTER_PARENT_END: Final = "langgraph.after_parent_end"
LG_RESUMED_FROM: Final = "langgraph.resumed_from_trace_id"
LG_BUDGET_WINDOW: Final = "langgraph.budget.window"
LG_BUDGET_REMAINING_TOKENS: Final = "langgraph.budget.remaining_tokens"
LG_BUDGET_REMAINING_USD: Final = "langgraph.budget.remaining_usd"
LG_GATE_PREFIX: Final = "langgraph.gate."
LG_RAG_DOCUMENTS_IN: Final = "langgraph.rag.documents_in"
LG_RAG_DOCUMENTS_OUT: Final = "langgraph.rag.documents_out"
LG_RAG_TOP_SCORE: Final = "langgraph.rag.top_score"
LG_RAG_TOP_K: Final = "langgraph.rag.top_k"
LG_MEMORY_OPERATION: Final = "langgraph.memory.operation"
LG_MEMORY_NAMESPACE: Final = "langgraph.memory.namespace"
LG_MEMORY_ITEMS: Final = "langgraph.memory.items"


def gate_attribute(gate: str) -> str:
    """The node-span attribute holding gate ``gate``'s verdict (``pass`` or ``fail``)."""
    return LG_GATE_PREFIX + gate


#: Attributes that carry what the application handled (like inputs and outputs): written
#: only with ``capture_io`` on.
CONTENT_ATTRIBUTES: Final = frozenset({LG_RETRIEVER_QUERY})

SPAN_ATTRIBUTES: Final[dict[str, str]] = {
    GEN_AI_OPERATION_NAME: "GenAI operation: chat, text_completion, embeddings, execute_tool "
    "(OTel spans add retrieval, invoke_workflow and invoke_agent).",
    GEN_AI_PROVIDER_NAME: "Model provider as LangChain reports it (ls_provider), e.g. openai.",
    GEN_AI_REQUEST_MODEL: "Model name requested.",
    GEN_AI_RESPONSE_MODEL: "Model name the provider answered with, when reported.",
    GEN_AI_REQUEST_TEMPERATURE: "Sampling temperature requested.",
    GEN_AI_REQUEST_MAX_TOKENS: "Maximum output tokens requested.",
    GEN_AI_REQUEST_TOP_P: "Top-p requested.",
    GEN_AI_RESPONSE_ID: "Provider's id of the response, when reported.",
    GEN_AI_RESPONSE_FINISH_REASONS: "Finish reasons of the response, when reported.",
    GEN_AI_USAGE_INPUT_TOKENS: "Input (prompt) tokens, cached ones included.",
    GEN_AI_USAGE_OUTPUT_TOKENS: "Output (completion) tokens, reasoning ones included.",
    GEN_AI_TOOL_NAME: "Tool name.",
    GEN_AI_TOOL_CALL_ID: "Tool call id, when the tool was called from a model's tool call.",
    GEN_AI_AGENT_NAME: "Persona (agent) the span ran under.",
    GEN_AI_CONVERSATION_ID: "Session / thread the run belongs to.",
    LG_WORKFLOW: "Name of the root workflow.",
    LG_NODE: "LangGraph node the span ran in.",
    LG_STEP: "LangGraph superstep of the node.",
    LG_TRIGGERS: "Channels that triggered the node.",
    LG_CHECKPOINT_NS: "LangGraph checkpoint namespace of the node task.",
    LG_THREAD_ID: "LangGraph thread id (configurable.thread_id).",
    LG_ATTEMPT: "Attempt number of a node task (1 = first try; >1 = RetryPolicy retry).",
    LG_PERSONA: "Persona the span ran under.",
    LG_TENANT: "Tenant the run is attributed to.",
    LG_INVOCATION_PARAMS: "Model invocation parameters (JSON).",
    LG_STREAMING: "True when the model call streamed tokens.",
    LG_TIME_TO_FIRST_TOKEN: "Seconds from the model call's start to its first streamed token.",
    LG_CACHE_HIT: "True when the answer came from LangChain's LLM cache (not billed).",
    LG_USAGE_CACHED_INPUT: "Input tokens read from the provider's prompt cache.",
    LG_USAGE_CACHE_CREATION: "Input tokens written to the provider's prompt cache.",
    LG_USAGE_REASONING: "Output tokens spent on reasoning.",
    LG_USAGE_TOTAL: "Total tokens of the call.",
    LG_TOKENS_ESTIMATED: "True when token counts were estimated locally (provider reported none).",
    LG_COST_USD: "Cost of the call in USD (LLM and embedding spans only).",
    LG_RETRIEVER_QUERY: "Retriever query (only with capture_io on).",
    LG_RETRIEVER_DOCUMENTS: "Number of documents the retriever returned.",
    LG_ERROR_CLASS: "Error class: transient, rate_limit, timeout, network, permanent, unknown.",
    LG_INTERRUPTED: "True when the run or node stopped at a LangGraph interrupt().",
    LG_STREAM_CLOSED: "True when the caller stopped reading the run's stream before it ended "
    "(not an error).",
    LG_CANCELLED: "True when the span ended cancelled (status cancelled): stopped by an "
    "asyncio.CancelledError (a caller's timeout or disconnect, a failed sibling branch), or "
    "still running when its trace's root ended without an error. Not an error.",
    LG_AFTER_PARENT_END: "True when the span started after its parent span had ended "
    "(cancelled, or closed with its trace's root) while the parent's work went on, e.g. in a "
    "sync node's thread: it stays in its trace, under that parent, its usage and cost counted "
    "(spans under it are its children, not marked).",
    LG_BUBBLE_UP: "LangGraph control flow other than an interrupt that ended the span without "
    "an error: the exception's type, e.g. ParentCommand (a Command to the parent graph).",
    LG_RESUMED_FROM: "Trace id of the interrupted run this run resumes.",
    LG_BUDGET_WINDOW: "Budget window the model call was counted in: run, day or month.",
    LG_BUDGET_REMAINING_TOKENS: "Tokens left in the persona's budget window after this call "
    "(negative once exceeded); LLM spans of budgeted personas.",
    LG_BUDGET_REMAINING_USD: "US dollars left in the persona's budget window after this call.",
    LG_GATE_PREFIX + "<gate>": "Verdict of quality gate <gate> on this node span: pass or fail.",
    LG_RAG_DOCUMENTS_IN: "Documents a RAG sub-step received (rerank, format).",
    LG_RAG_DOCUMENTS_OUT: "Documents a RAG sub-step returned (search, rerank).",
    LG_RAG_TOP_SCORE: "Best relevance score among the documents returned.",
    LG_RAG_TOP_K: "Number of documents asked for.",
    LG_MEMORY_OPERATION: "Memory operation: read or write.",
    LG_MEMORY_NAMESPACE: "Memory namespace or store name.",
    LG_MEMORY_ITEMS: "Items read or written by a memory operation.",
}
