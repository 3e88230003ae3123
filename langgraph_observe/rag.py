"""Spans for the sub-steps of retrieval and memory: embed → search → rerank → format, and
memory reads and writes.

Each helper is a context manager (``with`` / ``async with``) and a decorator (sync and
async functions). The span opens under whatever is running: the innermost open sub-step,
else the current LangChain run (the node, or a retriever when its ``run_manager`` is
passed). Outside a traced run the helpers do nothing. ::

    from langgraph_observe import rag

    def retrieve(state):
        with rag.embedding(model="text-embedding-3-small") as step:
            vector = embed(state["question"])
            step.usage(input_tokens=9)                 # priced like a model call
        with rag.search(query=state["question"], top_k=20) as step:
            hits = index.search(vector, 20)
            step.documents(out=len(hits), top_score=hits[0].score)
        with rag.rerank(documents_in=len(hits)) as step:
            best = rerank(hits)[:5]
            step.documents(out=len(best), top_score=best[0].score)
        with rag.format_context(documents_in=len(best)):
            context = "\\n".join(h.text for h in best)
        return {"context": context}

    class MyRetriever(BaseRetriever):
        @rag.search("vector_search")                   # nests under the retriever's span
        def _get_relevant_documents(self, query, *, run_manager):
            ...                                        # a returned list sets documents_out

    with rag.memory("read", namespace="profile") as step:
        items = store.search(("profile", user))
        step.set(items=len(items))

Spans have the kinds ``embedding``, ``retriever``, ``rerank``, ``format``, ``memory`` and
``step`` (:class:`~langgraph_observe.events.SpanKind`) and the attributes
``langgraph.rag.*`` / ``langgraph.memory.*`` of :mod:`~langgraph_observe.semconv`. A
LangChain runnable called inside a sub-step still attaches to the node (LangChain does not
know our sub-steps).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from . import _guard
from . import semconv as sc
from ._context import Frame, current_frames, new_run_id, pop_frames, push_frames
from .events import SpanKind, TokenUsage
from .personas import current_persona

__all__ = ["SubStep", "embedding", "format_context", "memory", "rerank", "search", "step"]

_F = TypeVar("_F", bound=Callable[..., Any])
_COUNTED_KINDS = (SpanKind.RETRIEVER, SpanKind.RERANK)
_ATTR_NAMES = {
    "documents_in": sc.LG_RAG_DOCUMENTS_IN,
    "documents_out": sc.LG_RAG_DOCUMENTS_OUT,
    "top_score": sc.LG_RAG_TOP_SCORE,
    "top_k": sc.LG_RAG_TOP_K,
    "query": sc.LG_RETRIEVER_QUERY,
    "items": sc.LG_MEMORY_ITEMS,
    "operation": sc.LG_MEMORY_OPERATION,
    "namespace": sc.LG_MEMORY_NAMESPACE,
}


class SubStep:
    """One sub-step span (see the module docstring). Use the factory functions."""

    def __init__(
        self,
        name: str,
        kind: SpanKind = SpanKind.STEP,
        *,
        model: str | None = None,
        provider: str | None = None,
        run_manager: Any = None,
        inputs: Any = None,
        **attributes: Any,
    ) -> None:
        self.name = name
        self.kind = kind
        self.model = model
        self.provider = provider
        self.run_manager = run_manager
        self.inputs = inputs
        self.attributes: dict[str, Any] = {}
        self._opened: list[Frame] = []
        self._token: Any = None
        self._usage: TokenUsage | None = None
        self._output: Any = None
        self.set(**attributes)

    def _template(self) -> dict[str, Any]:
        return {"model": self.model, "inputs": self.inputs}

    # -- while open --------------------------------------------------------------------
    def set(self, **attributes: Any) -> SubStep:
        """Set attributes: ``documents_in``, ``documents_out``, ``top_score``, ``top_k``,
        ``query``, ``items``, ``namespace``, or any full attribute name."""
        for key, value in attributes.items():
            if value is not None:
                self.attributes[_ATTR_NAMES.get(key, key)] = value
        return self

    def documents(
        self, *, out: int | None = None, in_: int | None = None, top_score: float | None = None
    ) -> SubStep:
        """Record document counts and the best score."""
        return self.set(documents_out=out, documents_in=in_, top_score=top_score)

    def usage(self, input_tokens: int, output_tokens: int | None = None) -> SubStep:
        """Token usage of the step (embedding calls are priced from it)."""
        out = output_tokens or 0
        self._usage = TokenUsage(input_tokens, output_tokens, input_tokens + out)
        return self

    def output(self, value: Any) -> SubStep:
        """The step's output, captured like a span output."""
        self._output = value
        return self

    # -- context manager ---------------------------------------------------------------
    def __enter__(self) -> SubStep:
        try:
            self._open()
        except Exception as exc:
            if _guard.strict():
                raise
            _guard.report(f"rag.{self.kind.value}", exc)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            self._close(exc)
        except Exception as error:
            if _guard.strict():
                raise
            _guard.report(f"rag.{self.kind.value}", error)

    async def __aenter__(self) -> SubStep:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def _open(self) -> None:
        frames = current_frames(self.run_manager)
        if not frames:
            return
        persona = current_persona()
        opened = []
        for frame in frames:
            run_id = new_run_id()
            span = frame.tracer.start(
                run_id, frame.run_id, self.name, self.kind, None, None, self.inputs
            )
            if persona is not None and persona != span.persona:
                span.persona = persona
            if span.persona is not None:
                span.attrs[sc.LG_PERSONA] = span.persona
            if self.model is not None:
                span.model = self.model
            if self.provider is not None:
                span.provider = self.provider
            if self.kind is SpanKind.EMBEDDING:
                span.attrs[sc.GEN_AI_OPERATION_NAME] = "embeddings"
            opened.append(Frame(frame.tracer, run_id, span, frame.ambient, frame.anchor))
        self._opened = opened
        self._token = push_frames(opened)

    def _close(self, exc: BaseException | None) -> None:
        opened, self._opened = self._opened, []
        if not opened:
            return
        pop_frames(self._token)
        for frame in opened:
            if exc is not None:
                frame.span.attrs.update(self.attributes)
                frame.tracer.fail(frame.run_id, exc)
            else:
                frame.tracer.end(
                    frame.run_id, self._output, usage=self._usage, extra=self.attributes
                )

    # -- decorator ---------------------------------------------------------------------
    def __call__(self, fn: _F) -> _F:
        template = self

        def fresh(kwargs: dict[str, Any]) -> SubStep:
            return SubStep(
                template.name,
                template.kind,
                model=template.model,
                provider=template.provider,
                run_manager=kwargs.get("run_manager"),
                inputs=template.inputs,
                **dict(template.attributes),
            )

        def finish(step: SubStep, result: Any) -> Any:
            if step.kind in _COUNTED_KINDS and isinstance(result, (list, tuple)):
                step.attributes.setdefault(sc.LG_RAG_DOCUMENTS_OUT, len(result))
            return result

        def count_items(step: SubStep, n: int) -> None:
            if step.kind in _COUNTED_KINDS:
                step.attributes.setdefault(sc.LG_RAG_DOCUMENTS_OUT, n)

        # A generator's step lasts while the caller iterates: until the last item (or the
        # caller stops), so its time, its errors and the steps inside it are its own.
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                with fresh(kwargs) as s:
                    n = 0
                    for item in fn(*args, **kwargs):
                        n += 1
                        yield item
                    count_items(s, n)

            return generator_wrapper  # type: ignore[return-value]

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def async_generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                with fresh(kwargs) as s:
                    n = 0
                    async for item in fn(*args, **kwargs):
                        n += 1
                        yield item
                    count_items(s, n)

            return async_generator_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with fresh(kwargs) as s:
                    return finish(s, await fn(*args, **kwargs))

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            with fresh(kwargs) as s:
                return finish(s, fn(*args, **kwargs))

        return sync_wrapper  # type: ignore[return-value]


def step(name: str, kind: SpanKind | str = SpanKind.STEP, **kwargs: Any) -> SubStep:
    """A sub-step of any kind."""
    return SubStep(name, SpanKind(kind), **kwargs)


def _bare(name: Any, default: str, kind: SpanKind) -> Any:
    """``@rag.search`` used without parentheses: the function, wrapped with the defaults."""
    return SubStep(default, kind)(name)


def embedding(
    name: str = "embed", *, model: str | None = None, provider: str | None = None, **kwargs: Any
) -> SubStep:
    """An embedding call (priced from :meth:`SubStep.usage` and ``model``; ``provider``,
    e.g. ``openai``, becomes ``gen_ai.provider.name``)."""
    if callable(name):
        return _bare(name, "embed", SpanKind.EMBEDDING)  # type: ignore[no-any-return]
    return SubStep(name, SpanKind.EMBEDDING, model=model, provider=provider, **kwargs)


def search(
    name: str = "search", *, query: str | None = None, top_k: int | None = None, **kwargs: Any
) -> SubStep:
    """A vector or keyword search."""
    if callable(name):
        return _bare(name, "search", SpanKind.RETRIEVER)  # type: ignore[no-any-return]
    return SubStep(name, SpanKind.RETRIEVER, query=query, top_k=top_k, **kwargs)


def rerank(
    name: str = "rerank",
    *,
    documents_in: int | None = None,
    top_k: int | None = None,
    **kwargs: Any,
) -> SubStep:
    """A rerank of retrieved documents."""
    if callable(name):
        return _bare(name, "rerank", SpanKind.RERANK)  # type: ignore[no-any-return]
    return SubStep(name, SpanKind.RERANK, documents_in=documents_in, top_k=top_k, **kwargs)


def format_context(
    name: str = "format", *, documents_in: int | None = None, **kwargs: Any
) -> SubStep:
    """Formatting documents into a prompt context."""
    if callable(name):
        return _bare(name, "format", SpanKind.FORMAT)  # type: ignore[no-any-return]
    return SubStep(name, SpanKind.FORMAT, documents_in=documents_in, **kwargs)


def memory(
    operation: str, name: str | None = None, *, namespace: str | None = None, **kwargs: Any
) -> SubStep:
    """A memory operation (``read`` or ``write``)."""
    return SubStep(
        name or f"memory.{operation}",
        SpanKind.MEMORY,
        operation=operation,
        namespace=namespace,
        **kwargs,
    )
