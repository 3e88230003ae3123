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
    ambient: UUID | None  #: LangChain's current run (from the context) at opening
    anchor: UUID | None  #: the LangChain run the frame was opened under


_steps: ContextVar[tuple[tuple[Frame, ...], ...]] = ContextVar(
    "langgraph_observe_steps", default=()
)


def new_run_id() -> UUID:
    """A random run id without a system call."""
    return UUID(int=random.getrandbits(128), version=4)


def _ambient() -> tuple[UUID | None, list[Any]]:
    """LangChain's current run in this context, and its handlers."""
    from langchain_core.runnables.config import var_child_runnable_config

    config = var_child_runnable_config.get()
    if not config:
        return None, []
    manager = config.get("callbacks")
    return getattr(manager, "parent_run_id", None), list(getattr(manager, "handlers", ()))


def current_frames(run_manager: Any = None) -> list[Frame]:
    """The open spans that work starting now belongs under, one per active handler
    (empty outside a traced run).

    The innermost open sub-step wins while LangChain's context has not moved since it
    opened (and, with an explicit ``run_manager``, when it was opened under that run);
    otherwise the LangChain run: ``run_manager``'s, or the context's.
    """
    ambient, handlers = _ambient()
    anchor = ambient
    if run_manager is not None:
        anchor = getattr(run_manager, "run_id", None)
        handlers = list(getattr(run_manager, "handlers", ()))
    stack = _steps.get()
    if stack:
        top = stack[-1]
        if top[0].ambient == ambient and (run_manager is None or top[0].anchor == anchor):
            return list(top)
    if anchor is None:
        return []
    frames = []
    seen: set[int] = set()
    for h in handlers:
        tracer = getattr(h, "tracer", None)
        if isinstance(tracer, Tracer) and id(tracer) not in seen:
            seen.add(id(tracer))
            span = tracer.get(anchor)
            if span is not None:
                frames.append(Frame(tracer, anchor, span, ambient, anchor))
    return frames


def push_frames(frames: list[Frame]) -> Any:
    """Make ``frames`` (one per tracer) the innermost level; returns the level, for
    :func:`pop_frames`."""
    level = tuple(frames)
    _steps.set((*_steps.get(), level))
    return level


def pop_frames(level: Any) -> None:
    """Take the level :func:`push_frames` returned off the stack, wherever it is now:
    steps may end in another order than they began."""
    stack = _steps.get()
    if stack and stack[-1] is level:
        _steps.set(stack[:-1])
    elif any(item is level for item in stack):
        _steps.set(tuple(item for item in stack if item is not level))
