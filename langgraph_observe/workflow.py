"""``ObservedWorkflow``: a LangGraph graph run with personas, budgets, gates and attribution.

Subclass it and give it the graph — ``build_graph()`` returning a ``StateGraph`` builder,
or an existing graph passed in — then run it like the compiled graph::

    class Release(ObservedWorkflow):
        name = "release"
        config = "release.yaml"                       # budgets, gates, prices (optional)
        personas = {"write_code": "backend-engineer", "run_tests": "testing-specialist"}
        gates = [Gate("coverage", node="run_tests", key="coverage", min=0.8)]

        def build_graph(self) -> StateGraph:
            ...                                       # the nodes stay as they are

    release = Release(tenant="acme")
    release.invoke({"version": "1.2.0"}, user_id="u-7", session_id="s-1", tags=["nightly"])
    release.score(release.last_trace_id, "approved", True)   # this thread's / task's run
    release.shutdown()

    Release(graph=existing_compiled_graph)            # or wrap a graph you already have

Node personas come from, lowest precedence first: ``@persona`` on node functions, the
config file's ``nodes:``, the class attribute ``personas``, the ``personas`` argument.
Attribution (``tenant``, ``user_id``, ``session_id``, ``tags``) set on the instance applies
to every run (unless the run's ``config`` metadata says otherwise); the same keywords on a
call override both for that run.

Each instance has its own :class:`CallbackHandler` (and its sink threads): create a
workflow once and reuse it, and call :meth:`~ObservedWorkflow.shutdown` (or use it as a
context manager) when done. An instance that is dropped without it is shut down in the
background once it is garbage-collected. :attr:`~ObservedWorkflow.last_trace_id` is kept
per context (thread, asyncio task), so one instance serves concurrent requests.

A gate or a node → persona entry naming a node the graph does not have (its subgraphs' and
functional API tasks' included) is logged as a warning when the workflow is built.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ._context import new_run_id
from ._graph_nodes import warn_unknown_nodes
from ._last_trace import new_key, recall, remember
from ._spans import as_uuid
from .adapters.langchain import CallbackHandler
from .config import Settings
from .config_file import ObserveConfig, resolve_config
from .events import BudgetUpdate, ScoreRecord
from .features import FeatureHooks
from .gates import Gate
from .personas import node_personas
from .scores import score as _score
from .sinks.base import Sink

__all__ = ["ObservedWorkflow"]

logger = logging.getLogger("langgraph_observe")


class ObservedWorkflow:
    """Base class of an observed workflow (see the module docstring).

    The class attribute ``name`` is the workflow's name: the name a builder is compiled
    under, and the one a compiled graph (built or passed in) runs under, as a copy.

    Args:
        graph: a compiled graph or a ``StateGraph`` builder; default: :meth:`build_graph`.
        sinks: where records go (default: the handler's default sinks).
        config: a config file path or :class:`ObserveConfig` (default: the class attribute
            ``config``, then ``LANGGRAPH_OBSERVE_CONFIG``).
        personas: node → persona, over the class attribute.
        gates: gates in addition to the class attribute's and the config file's.
        tenant, user_id, session_id, tags: attribution of every run (unless the run's
            ``config["metadata"]`` has it, under the key or an alias such as ``tenant_id``).
        on_budget_warning: called when a budget crosses ``warn_at`` (default: the method).
        settings_kwargs: core settings (``store_path``, ``capture_io``, ...).
    """

    name: ClassVar[str | None] = None
    config: ClassVar[Any] = None
    personas: ClassVar[Mapping[str, str]] = {}
    gates: ClassVar[Sequence[Gate]] = ()

    def __init__(
        self,
        graph: Any = None,
        *,
        sinks: Sequence[Sink] | None = None,
        config: Any = None,
        personas: Mapping[str, str] | None = None,
        gates: Sequence[Gate] = (),
        tenant: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        tags: str | Sequence[str] = (),
        on_budget_warning: Callable[[BudgetUpdate], Any] | None = None,
        **settings_kwargs: Any,
    ) -> None:
        super().__init__()  # cooperative: a mixin after this class in the MRO is initialised
        self.observe_config: ObserveConfig | None = resolve_config(
            config if config is not None else type(self).config
        )
        file_values = dict(self.observe_config.settings) if self.observe_config else None
        settings = Settings.resolve(file_values, **settings_kwargs)
        source = graph if graph is not None else self._built_graph()
        self.graph = self._compile(source)
        if sinks is None:
            from .sinks.auto import default_sinks

            sinks = default_sinks(settings)
        sinks = tuple(sinks)  # the hooks read day/month budgets from the local sink's file
        self.node_personas: dict[str, str] = {
            **node_personas(source),
            **(self.observe_config.nodes if self.observe_config else {}),
            **type(self).personas,
            **(personas or {}),
        }
        self.hooks = FeatureHooks(
            self.observe_config,
            settings,
            personas=self.node_personas,
            gates=[*type(self).gates, *gates],
            # weakly: the sink threads reach the hooks, and must not keep this instance alive
            on_budget_warning=on_budget_warning or _weak_method(self.on_budget_warning),
            sinks=sinks,
        )
        self.handler = CallbackHandler(sinks, settings=settings, hooks=self.hooks)
        closer = weakref.finalize(self, _shut_down_in_background, self.handler)
        closer.atexit = False  # at exit the dispatchers flush themselves
        self.tenant = tenant
        self.user_id = user_id
        self.session_id = session_id
        self.tags = _tag_tuple(tags)
        self._trace_key = new_key()
        self._latest_trace_id: str | None = None  # of the latest run started, anywhere
        self._check_node_names()

    @property
    def last_trace_id(self) -> str | None:
        """The trace id of the last run started in this context: by this thread, or this
        asyncio task (tasks started together with ``asyncio.gather`` each see their own).
        A context that has started no run of this workflow (the caller of
        ``asyncio.run(wf.ainvoke(...))``, a thread that left the runs to others) sees the
        last run started anywhere; None before the first run. The id of one given run:
        ``config["run_id"].hex`` of the :meth:`run_config` it ran with, or pass your own
        ``config={"run_id": uuid4()}`` and use ``run_id.hex``."""
        return recall(self._trace_key, self._latest_trace_id)

    @last_trace_id.setter
    def last_trace_id(self, trace_id: str | None) -> None:
        remember(self._trace_key, trace_id)
        self._latest_trace_id = trace_id

    if not TYPE_CHECKING:  # (for a type checker, attributes stay as declared)

        def __getattr__(self, name: str) -> Any:
            """Only called for a missing attribute: says so clearly when ``__init__`` did
            not run (a subclass's ``__init__`` that does not call ``super().__init__()``)."""
            if name in _SET_BY_INIT:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}: "
                    "ObservedWorkflow.__init__ sets it, and has not run (or not finished) "
                    "on this object; a subclass's __init__ must call super().__init__(...)",
                    name=name,
                    obj=self,
                )
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
            )

    # -- to override -------------------------------------------------------------------
    def build_graph(self) -> Any:
        """Return the workflow's ``StateGraph`` builder (or a compiled graph)."""
        raise NotImplementedError(
            f"{type(self).__name__}: override build_graph() or pass graph=... to the constructor"
        )

    def on_budget_warning(self, update: BudgetUpdate) -> None:
        """Called once per budget window when usage crosses ``warn_at``."""

    # -- building ----------------------------------------------------------------------
    def _built_graph(self) -> Any:
        """What :meth:`build_graph` returned, checked."""
        source = self.build_graph()
        if not hasattr(source, "invoke") and not hasattr(source, "compile"):
            cls = type(self).__name__
            got = "None (is a return statement missing?)" if source is None else repr(source)
            raise TypeError(
                f"{cls}.build_graph() must return a StateGraph builder or a compiled graph, "
                f"got {got}"
            )
        return source

    def _check_node_names(self) -> None:
        """Warn about each gate and node → persona entry naming a node the graph does not
        have (see :func:`._graph_nodes.warn_unknown_nodes`)."""
        entries = [(f"gate {g.name!r}", g.node) for g in self.hooks.gates]
        entries += [(f"persona {p!r}", node) for node, p in self.node_personas.items()]
        workflow = getattr(self.graph, "name", None) or type(self).__name__
        warn_unknown_nodes(workflow, self.graph, entries)

    # -- running -----------------------------------------------------------------------
    def _compile(self, source: Any) -> Any:
        """The graph to run: ``source`` compiled, named after :attr:`name` (a compiled graph
        is copied under that name, the caller's left as it was)."""
        name = type(self).name
        if not hasattr(source, "invoke"):
            if not hasattr(source, "compile"):
                raise TypeError(
                    "graph must be a StateGraph builder or a compiled graph, got "
                    f"{type(source).__name__}"
                )
            return source.compile(name=name or type(self).__name__)
        if name is None or getattr(source, "name", None) == name:
            return source
        from langgraph.pregel import Pregel

        if isinstance(source, Pregel):  # same checkpointer, store and nodes; another name
            return source.copy({"name": name})
        return source.with_config(run_name=name)  # another runnable: its runs' name

    def run_config(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        tenant: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        tags: str | Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The LangChain run config of one run: ``config`` plus the handler, attribution
        metadata (``tenant``, ``user_id``, ``session_id``), tags and a fresh ``run_id``
        (unless ``config`` has one). The run's trace id is ``config["run_id"].hex``; it
        becomes :attr:`last_trace_id` in this context."""
        out = dict(config or {})
        metadata = dict(out.get("metadata") or {})
        for key, alias, given, default in (
            ("tenant", "tenant_id", tenant, self.tenant),
            ("user_id", "langfuse_user_id", user_id, self.user_id),
            ("session_id", "langfuse_session_id", session_id, self.session_id),
        ):
            if given is not None:  # the call's keywords win
                metadata[key] = given
            elif default is not None and metadata.get(key) is None and metadata.get(alias) is None:
                metadata[key] = default  # the instance's, unless the run's metadata has it
        out["metadata"] = metadata
        all_tags = [*_tag_tuple(out.get("tags")), *self.tags, *_tag_tuple(tags)]
        if all_tags:
            out["tags"] = list(dict.fromkeys(all_tags))
        callbacks = out.get("callbacks")
        if callbacks is None:
            out["callbacks"] = [self.handler]
        elif isinstance(callbacks, (list, tuple)):
            if self.handler not in callbacks:
                out["callbacks"] = [*callbacks, self.handler]
        else:  # a callback manager: a copy, so that the caller's (maybe shared) one is unchanged
            manager = callbacks.copy()
            manager.add_handler(self.handler, inherit=True)
            out["callbacks"] = manager
        run_id = out.get("run_id")
        if run_id is None:
            run_id = out["run_id"] = new_run_id()
        self.last_trace_id = as_uuid(run_id).hex  # the tracer's trace id, also for text
        return out

    def invoke(
        self,
        input: Any,
        config: Mapping[str, Any] | None = None,
        *,
        tenant: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        tags: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the graph (``graph.invoke``) observed."""
        cfg = self.run_config(
            config, tenant=tenant, user_id=user_id, session_id=session_id, tags=tags
        )
        return self.graph.invoke(input, cfg, **kwargs)

    async def ainvoke(
        self,
        input: Any,
        config: Mapping[str, Any] | None = None,
        *,
        tenant: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        tags: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the graph (``graph.ainvoke``) observed."""
        cfg = self.run_config(
            config, tenant=tenant, user_id=user_id, session_id=session_id, tags=tags
        )
        return await self.graph.ainvoke(input, cfg, **kwargs)

    def stream(
        self,
        input: Any,
        config: Mapping[str, Any] | None = None,
        *,
        tenant: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        tags: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Stream the graph (``graph.stream``) observed. (The run's config, and
        :attr:`last_trace_id`, are set by the call itself, before the first chunk.)"""
        cfg = self.run_config(
            config, tenant=tenant, user_id=user_id, session_id=session_id, tags=tags
        )
        chunks: Iterator[Any] = self.graph.stream(input, cfg, **kwargs)
        return chunks

    def astream(
        self,
        input: Any,
        config: Mapping[str, Any] | None = None,
        *,
        tenant: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        tags: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Stream the graph (``graph.astream``) observed (``async for chunk in ...``)."""
        cfg = self.run_config(
            config, tenant=tenant, user_id=user_id, session_id=session_id, tags=tags
        )
        chunks: AsyncIterator[Any] = self.graph.astream(input, cfg, **kwargs)
        return chunks

    # -- scores and lifecycle ----------------------------------------------------------
    def score(
        self,
        trace_id: str,
        name: str,
        value: float | str | bool,
        comment: str | None = None,
        *,
        span_id: str | None = None,
        source: str = "api",
    ) -> ScoreRecord:
        """:func:`langgraph_observe.score` through this workflow's sinks."""
        return _score(
            trace_id, name, value, comment, span_id=span_id, handler=self.handler, source=source
        )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record so far is in every sink."""
        return self.handler.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop the sinks."""
        return self.handler.shutdown(timeout)

    def __enter__(self) -> ObservedWorkflow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


_SET_BY_INIT = frozenset(
    {
        "observe_config",
        "graph",
        "node_personas",
        "hooks",
        "handler",
        "tenant",
        "user_id",
        "session_id",
        "tags",
        "_trace_key",
        "_latest_trace_id",
        "last_trace_id",  # (a property reading _trace_key)
    }
)  #: the attributes ObservedWorkflow.__init__ sets


def _tag_tuple(tags: str | Iterable[str] | None) -> tuple[str, ...]:
    """Tags as a tuple: a string is one tag (not its characters)."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        return (tags,)
    return tuple(tags)


def _weak_method(method: Callable[[BudgetUpdate], Any]) -> Callable[[BudgetUpdate], None]:
    """``method`` (bound) called through a weak reference to its instance."""
    ref = weakref.WeakMethod(method)  # type: ignore[arg-type]

    def call(update: BudgetUpdate) -> None:
        bound = ref()
        if bound is not None:
            bound(update)

    return call


def _shut_down_in_background(handler: CallbackHandler) -> None:
    """A dropped workflow's handler: flushed and stopped on a thread of its own (the
    garbage collector may run on any thread, the graph's included)."""
    threading.Thread(target=handler.shutdown, name="langgraph-observe-close", daemon=True).start()
