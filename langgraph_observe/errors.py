"""Exceptions the library raises on purpose, and the classification of user errors.

Only subclasses of :class:`ObserveControlError` ever leave the library on the graph's
path, and only when the user asked for it (``on_exceeded: raise``, ``on_fail: raise``).
Every other error of ours is swallowed and counted.
"""

from __future__ import annotations

from typing import Any

from ._render import safe_str
from .events import ErrorClass, ErrorInfo

__all__ = [
    "ObserveControlError",
    "QualityGateFailed",
    "TokenBudgetExceeded",
    "bubbled_command",
    "classify_error",
    "error_info",
    "is_graph_bubble_up",
    "is_graph_interrupt",
]


class ObserveControlError(RuntimeError):
    """Base of the exceptions the library raises into a run on the user's request.

    A ``RuntimeError``, so LangGraph's default ``RetryPolicy`` does not retry it."""


class TokenBudgetExceeded(ObserveControlError):
    """A persona's budget would be exceeded by the next model call (``on_exceeded: raise``).

    Raised before the call, from the estimated prompt tokens.
    """

    def __init__(
        self,
        persona: str,
        *,
        used: float,
        budget: float,
        requested: float,
        unit: str = "tokens",
        window: str = "run",
    ) -> None:
        self.persona = persona
        self.used = used
        self.budget = budget
        self.requested = requested
        self.unit = unit
        self.window = window
        super().__init__(
            f"persona {persona!r} would exceed its {window} budget: used {used:g} + "
            f"~{requested:g} requested > {budget:g} {unit}"
        )


class QualityGateFailed(ObserveControlError):
    """A quality gate declared with ``on_fail: raise`` did not pass."""

    def __init__(self, gate: str, node: str, score: float | None = None) -> None:
        self.gate = gate
        self.node = node
        self.score = score
        extra = f" (score {score:g})" if score is not None else ""
        super().__init__(f"quality gate {gate!r} failed on node {node!r}{extra}")


def _mro_names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def is_graph_bubble_up(exc: BaseException) -> bool:
    """LangGraph control flow (interrupts, parent commands), not an error."""
    return "GraphBubbleUp" in _mro_names(exc)


def bubbled_command(exc: BaseException) -> Any:
    """The LangGraph ``Command`` a bubble-up carries (``ParentCommand``), else None."""
    arg = exc.args[0] if exc.args else None
    return arg if type(arg).__name__ == "Command" else None


def is_graph_interrupt(exc: BaseException) -> bool:
    """A LangGraph ``interrupt()``."""
    names = _mro_names(exc)
    return "GraphInterrupt" in names or "NodeInterrupt" in names


_RATE_LIMIT = ("RateLimit", "TooManyRequests", "ResourceExhausted", "Throttl")
_TIMEOUT = ("Timeout", "TimedOut", "DeadlineExceeded")
_NETWORK = (
    "ConnectionError",
    "ConnectError",
    "APIConnectionError",
    "NetworkError",
    "ConnectionRefused",
    "ConnectionReset",
    "RemoteProtocolError",
    "ReadError",
    "BrokenPipe",
    "gaierror",
    "ServiceUnavailable",
)
_TRANSIENT = (
    "InternalServerError",
    "APIStatusError",
    "Overloaded",
    "BadGateway",
    "TemporaryFailure",
    "TryAgain",
    "Unavailable",
)
_PERMANENT = (
    "ValueError",
    "TypeError",
    "KeyError",
    "IndexError",
    "AttributeError",
    "ValidationError",
    "AuthenticationError",
    "PermissionDenied",
    "PermissionError",
    "BadRequest",
    "NotFound",
    "NotImplementedError",
    "AssertionError",
    "UnprocessableEntity",
    "InvalidRequest",
    "ObserveControlError",
    # LangGraph's (matched by name: langgraph is not imported here): the graph looped past
    # its recursion_limit; the same input loops again
    "GraphRecursionError",
)


def _status_code(exc: BaseException) -> int | None:
    for attr in ("status_code", "status", "code", "http_status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def classify_error(exc: BaseException) -> ErrorClass:
    """A coarse, label-safe class for ``exc``: rate_limit, timeout, network, transient,
    permanent or unknown — from HTTP status codes where the exception carries one, else
    from the exception's type names."""
    code = _status_code(exc)
    if code is not None:
        if code == 429:
            return ErrorClass.RATE_LIMIT
        if code in (408, 504):
            return ErrorClass.TIMEOUT
        if code >= 500:
            return ErrorClass.TRANSIENT
        if code >= 400:
            return ErrorClass.PERMANENT
    names = _mro_names(exc)
    joined = " ".join(names)
    if any(k in joined for k in _RATE_LIMIT):
        return ErrorClass.RATE_LIMIT
    if any(k in joined for k in _TIMEOUT):
        return ErrorClass.TIMEOUT
    if any(k in names or k in joined for k in _NETWORK):
        return ErrorClass.NETWORK
    if any(k in joined for k in _TRANSIENT):
        return ErrorClass.TRANSIENT
    if names & set(_PERMANENT) or any(k in joined for k in _PERMANENT):
        return ErrorClass.PERMANENT
    return ErrorClass.UNKNOWN


def error_info(exc: BaseException, max_message: int = 2000) -> ErrorInfo:
    """The :class:`ErrorInfo` of ``exc`` (qualified type, cut message, class)."""
    cls = type(exc)
    module = cls.__module__
    qualified = (
        cls.__qualname__ if module in ("builtins", "__main__") else (f"{module}.{cls.__qualname__}")
    )
    message = safe_str(exc)  # an exception's own __str__ may fail
    if len(message) > max_message:
        message = message[: max_message - 1] + "…"
    return ErrorInfo(type=qualified, message=message, error_class=classify_error(exc))
