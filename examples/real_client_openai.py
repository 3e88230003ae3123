"""A real client: ``langchain-openai``'s ``ChatOpenAI`` against any OpenAI-compatible endpoint.

    OPENAI_API_KEY=sk-... python examples/real_client_openai.py
    python examples/real_client_openai.py --base-url http://localhost:11434/v1 --model llama3.2

It needs a server: a local OpenAI-compatible one (``--base-url`` or ``OPENAI_BASE_URL``; no
key needed) or OpenAI itself (``OPENAI_API_KEY``). With neither, or when the server cannot
be reached, it says so in one line (exit status 2 and 1).

Two nodes: ``review`` calls the model once; ``summarize`` streams the answer token by token.
With ``stream_usage=True`` the client asks for the usage chunk at the end of the stream, so
both LLM spans carry the provider's token counts (cached prompt tokens and reasoning tokens
included, when the provider reports them), the cost from the price catalog, and the
streamed one its time to first token (``langgraph.llm.time_to_first_token_s``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from langgraph_observe import CallbackHandler
from langgraph_observe.sinks.local import LocalStoreSink


class State(TypedDict, total=False):
    change: str
    review: str
    summary: str


def build_graph(model: Any) -> Any:
    def review(state: State) -> State:
        answer = model.invoke(f"Review this change in one sentence: {state['change']}")
        return {"review": str(answer.content)}

    def summarize(state: State) -> State:
        parts = [str(chunk.content) for chunk in model.stream(f"Summarize: {state['review']}")]
        return {"summary": "".join(parts)}

    g = StateGraph(State)
    g.add_node("review", review)
    g.add_node("summarize", summarize)
    g.add_edge(START, "review")
    g.add_edge("review", "summarize")
    g.add_edge("summarize", END)
    return g.compile(name="code_review")


class NoServer(ValueError):
    """Neither a base URL nor an API key: no server to send the calls to."""


def endpoint(base_url: str | None = None, api_key: str | None = None) -> tuple[str | None, str]:
    """``(base_url, api_key)``: the arguments, else ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``.
    A local server (a base URL) needs no key; OpenAI (no base URL) needs one."""
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    if base_url is None and api_key is None:
        raise NoServer(
            "no server: pass --base-url URL of an OpenAI-compatible server "
            "(e.g. http://localhost:11434/v1), or set OPENAI_API_KEY for OpenAI"
        )
    return base_url, api_key or "not-needed"  # local servers ignore the key


def run(
    base_url: str | None = None,
    model: str = "gpt-4o-mini",
    api_key: str | None = None,
    store_path: Path | str | None = None,
) -> dict[str, Any]:
    """Run the graph once against ``base_url`` (else ``OPENAI_BASE_URL``; without either,
    OpenAI with ``OPENAI_API_KEY``); returns the final state plus ``trace_id`` and
    ``store_path``. Raises :class:`NoServer` when there is neither a URL nor a key."""
    from langchain_openai import ChatOpenAI

    base_url, api_key = endpoint(base_url, api_key)
    llm = ChatOpenAI(
        model=model,
        base_url=base_url,
        api_key=api_key,  # type: ignore[arg-type]
        stream_usage=True,
        max_retries=0,
        timeout=30,
    )
    sink = LocalStoreSink(store_path)
    handler = CallbackHandler(sinks=[sink])
    try:
        state = build_graph(llm).invoke(
            {"change": "retry the upload when the server answers 503"},
            config={"callbacks": [handler]},
        )
        handler.flush()
    finally:
        handler.shutdown()
    from langgraph_observe.store import LocalStore

    with LocalStore(sink.path) as store:
        trace_id = store.traces(limit=1, workflow="code_review")[0]["trace_id"]
    return {**state, "trace_id": trace_id, "store_path": str(sink.path)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="OpenAI-compatible API base URL (ends in /v1)")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--store", help="SQLite store (default: the library's default)")
    args = parser.parse_args(argv)
    import openai

    try:
        result = run(args.base_url, args.model, store_path=args.store)
    except NoServer as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    except openai.APIError as exc:  # unreachable, refused, wrong key or model, ...
        where = args.base_url or os.environ.get("OPENAI_BASE_URL") or "api.openai.com"
        print(f"{parser.prog}: {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"review:  {result['review']}")
    print(f"summary: {result['summary']}")
    print(f"trace:   langgraph-observe traces show {result['trace_id'][:12]} "
          f"--store {result['store_path']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
