"""Where in a run the current code is: the open span that sub-steps and personas attach to.

Inside a node (or any LangChain runnable) LangChain keeps the running config in
``var_child_runnable_config``; its callback manager names the parent run and carries the
handlers. Our own sub-steps (:mod:`langgraph_observe.rag`) push frames on a contextvar
stack, so steps nest in sync and async code alike. The innermost open sub-step wins while
no LangChain run has started below it.
"""

from __future__ import annotations

import random
from contextvars import ContextVar
from typing import Any, NamedTuple
from uuid import UUID

from ._tracer import OpenSpan, Tracer

__all__ = ["Frame", "current_frames", "new_run_id", "pop_frames", "push_frames"]


class Frame(NamedTuple):
    """An open span of one tracer: the parent for work that starts now."""

    tracer: Tracer
    run_id: UUID
    span: OpenSpan
    lc_parent: UUID | None  #: LangChain's parent run when the frame was opened


_steps: ContextVar[tuple[tuple[Frame, ...], ...]] = ContextVar(
    "langgraph_observe_steps", default=()
)


def new_run_id() -> UUID:
    """A random run id without a system call."""
    return UUID(int=random.getrandbits(128), version=4)


def _langchain_parent(run_manager: Any = None) -> tuple[UUID | None, list[Any]]:
    if run_manager is not None:
        return getattr(run_manager, "run_id", None), list(getattr(run_manager, "handlers", ()))
    from langchain_core.runnables.config import var_child_runnable_config

    config = var_child_runnable_config.get()
    if not config:
        return None, []
    manager = config.get("callbacks")
    parent = getattr(manager, "parent_run_id", None)
    if parent is None:
        return None, []
    return parent, list(getattr(manager, "handlers", ()))


def current_frames(run_manager: Any = None) -> list[Frame]:
    """The open spans that work starting now belongs under, one per active handler
    (empty outside a traced run)."""
    lc_parent, handlers = _langchain_parent(run_manager)
    stack = _steps.get()
    if stack and run_manager is None and stack[-1][0].lc_parent == lc_parent:
        return list(stack[-1])
    if lc_parent is None:
        return []
    frames = []
    seen: set[int] = set()
    for h in handlers:
        tracer = getattr(h, "tracer", None)
        if isinstance(tracer, Tracer) and id(tracer) not in seen:
            seen.add(id(tracer))
            span = tracer.get(lc_parent)
            if span is not None:
                frames.append(Frame(tracer, lc_parent, span, lc_parent))
    return frames


def push_frames(frames: list[Frame]) -> Any:
    """Make ``frames`` (one per tracer) the innermost level; returns a token for
    :func:`pop_frames`."""
    return _steps.set((*_steps.get(), tuple(frames)))


def pop_frames(token: Any) -> None:
    """Undo :func:`push_frames` (in the same context)."""
    _steps.reset(token)
