"""The node names a LangGraph graph's spans can have, and the warning about gates and
node → persona entries naming a node the graph does not have (they would never apply)."""

from __future__ import annotations

import contextlib
import difflib
import logging
from collections.abc import Sequence
from typing import Any

__all__ = ["graph_node_names", "warn_unknown_nodes"]

logger = logging.getLogger("langgraph_observe")


def warn_unknown_nodes(workflow: str, graph: Any, entries: Sequence[tuple[str, str]]) -> None:
    """Log a warning for each ``(what, node)`` of ``entries`` whose node ``graph`` does not
    have. (A warning, not an error: a subgraph built or called at run time has nodes no one
    can list beforehand.)"""
    known = graph_node_names(graph)
    if known is None:  # not a LangGraph graph: its node names are unknown
        return
    shown = sorted(n for n in known if not (n.startswith("__") and n.endswith("__")))
    for what, node in entries:
        if node in known:
            continue
        close = difflib.get_close_matches(node, shown, n=3)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        logger.warning(
            "langgraph-observe: workflow %r: the %s is set on node %r, which the graph "
            "does not have%s, so it is never applied. The graph's nodes (its subgraphs' "
            "and tasks' included): %s. A node of a subgraph made or called at run time "
            "is not seen here: if %r is one, ignore this warning.",
            workflow,
            what,
            node,
            hint,
            ", ".join(shown) or "none",
            node,
        )


def graph_node_names(graph: Any) -> set[str] | None:
    """The node names the node spans of ``graph`` can have: its nodes, those of the
    subgraphs LangGraph finds in it (``get_subgraphs(recurse=True)``) and the functional
    API tasks its node functions call; None when that cannot be known (not a LangGraph
    graph, a remote subgraph)."""
    from langgraph.pregel import Pregel

    while not isinstance(graph, Pregel):
        graph = getattr(graph, "bound", None)  # a RunnableBinding (with_config) of a graph
        if graph is None:
            return None
    try:
        graphs: list[Any] = [graph]
        for _, sub in graph.get_subgraphs(recurse=True):
            if not isinstance(sub, Pregel):
                return None
            graphs.append(sub)
        names: set[str] = set()
        seen: set[int] = set()
        for g in graphs:
            for name, node in g.nodes.items():
                names.add(name)
                names.update(_task_names(node.bound, seen))
    except Exception:  # a graph of another LangGraph version: no check
        return None
    return names


def _task_names(runnable: Any, seen: set[int]) -> set[str]:
    """The names of the ``@task`` functions a node's function (or a task's) refers to:
    the globals and closure variables its code reads, and what LangGraph's own look-up for
    a node's subgraph finds (dotted names read from the source)."""
    names: set[str] = set()
    todo = [runnable, *getattr(runnable, "steps", ())]
    while todo:
        item = todo.pop()
        fn = getattr(item, "func", None) or getattr(item, "afunc", None)
        if fn is None or not callable(fn) or id(fn) in seen:
            continue
        seen.add(id(fn))
        for value in _referenced(fn):
            name = getattr(value, "__name__", None)
            if type(value).__name__ == "_TaskFunction" and isinstance(name, str):
                names.add(name)
                todo.append(value)
    return names


def _referenced(fn: Any) -> list[Any]:
    """The values of the global and closure variables ``fn``'s code (nested functions and
    comprehensions included) reads, then those of the names LangChain finds in its source."""
    from langchain_core.runnables.utils import get_function_nonlocals

    fn = getattr(fn, "__func__", fn)  # a bound method's function
    values: list[Any] = []
    code = getattr(fn, "__code__", None)
    if code is not None:
        scope = getattr(fn, "__globals__", {})
        for cell in getattr(fn, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                values.append(cell.cell_contents)
        codes = [code]
        while codes:
            c = codes.pop()
            values.extend(scope[n] for n in c.co_names if n in scope)
            codes.extend(k for k in c.co_consts if hasattr(k, "co_names"))
    with contextlib.suppress(Exception):  # (an unhashable callable, say)
        values.extend(get_function_nonlocals(fn))
    return values
