""":class:`FeatureHooks`: personas, budgets, quality gates, cost and token estimates, wired
into the tracer's :class:`~langgraph_observe._tracer.Hooks` extension points.

Every handler gets one (``CallbackHandler(config="observe.yaml")``, ``ObservedWorkflow``, or
``CallbackHandler(hooks=FeatureHooks(...))``). Without a config it prices model calls and
estimates missing usage, nothing more. Per model call the cost is a cached catalog look-up;
budgets add a dict look-up and a short lock; the prompt is tokenized before the call only
for personas budgeted with ``on_exceeded: raise``.

Day and month budget windows are read from the file a local store sink writes the
counters to: built with the handler's ``sinks``, the hooks read the first
:class:`~langgraph_observe.sinks.local.LocalStoreSink`'s file; when no local store sink
writes to the file the budgets are read from, a warning says so once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from . import semconv as sc
from ._forksafe import renew_after_fork
from ._hooks import Hooks
from ._spans import OpenSpan
from .budgets import BudgetTracker
from .config import Settings
from .config_file import ObserveConfig
from .errors import QualityGateFailed
from .events import BudgetUpdate, Record, ScoreRecord, SpanKind, SpanRecord, SpanStatus, TokenUsage
from .gates import Gate, GateSet
from .personas import current_persona
from .pricing import PriceCatalog, default_catalog

__all__ = ["FeatureHooks", "local_store_paths"]

logger = logging.getLogger("langgraph_observe")

_MAX_PENDING = 10_000
_warned_stores: set[tuple[str, tuple[str, ...]]] = set()  #: mismatches already warned about


def local_store_paths(sinks: Iterable[Any]) -> list[Path]:
    """The files the local store sinks among ``sinks`` write to, in order."""
    from .sinks.local import LocalStoreSink

    return [s.path for s in sinks if isinstance(s, LocalStoreSink)]


class FeatureHooks(Hooks):
    """The library's hooks.

    Args:
        config: a loaded config file (personas, budgets, gates, prices, node mapping).
        settings: core settings (the store holding day/month budget windows, ``capture_io``).
        personas: node → persona mapping, over the config file's ``nodes:``.
        gates: gates in addition to the config file's.
        catalog: the price catalog (default: the shipped one with the config's ``prices:``).
        on_budget_warning: called with the :class:`BudgetUpdate` that crosses ``warn_at``.
        budget_store: whether day/month budget windows start from the local store.
        sinks: the sinks of the handler the hooks serve: day/month budget windows are read
            from the file of the first local store sink among them (default: the
            ``store_path`` setting), and a warning says when none writes to that file.
    """

    def __init__(
        self,
        config: ObserveConfig | None = None,
        settings: Settings | None = None,
        *,
        personas: Mapping[str, str] | None = None,
        gates: Iterable[Gate] = (),
        catalog: PriceCatalog | None = None,
        on_budget_warning: Callable[[BudgetUpdate], Any] | None = None,
        budget_store: bool = True,
        sinks: Iterable[Any] | None = None,
    ) -> None:
        config = config or ObserveConfig()
        settings = settings or Settings.resolve(dict(config.settings))
        self.config = config
        self.capture_io = settings.capture_io
        self.node_personas: dict[str, str] = {**config.nodes, **(personas or {})}
        self.catalog = catalog or default_catalog().with_overrides(
            config.prices or None, source=f"{config.source}: prices"
        )
        self.gates = GateSet([*config.gates, *gates])
        self.budgets: BudgetTracker | None = None
        if config.budgeted:
            sinks = None if sinks is None else list(sinks)
            local = local_store_paths(sinks) if sinks else []
            self.budgets = BudgetTracker(
                config.personas,
                config.budgets,
                store_path=(local[0] if local else settings.store_path) if budget_store else None,
                on_warning=on_budget_warning,
            )
            if sinks is not None:
                self.check_budget_store(sinks)
        self._lock = threading.Lock()
        renew_after_fork(self, "_lock")
        self._prompts: dict[int, Any] = {}  # span id -> prompts, when inputs are not captured
        self._failed: dict[str, QualityGateFailed] = {}  # node span id -> raise-gate failure
        self._warned_unpriced: set[tuple[str, str | None]] = set()  # (persona, model)

    def check_budget_store(self, sinks: Iterable[Any]) -> bool:
        """Whether a local store sink among ``sinks`` writes the day and month budget
        counters to the file the budgets are read from (true when there are no such
        budgets). When none does, every handler and process would count only its own
        usage: a warning says so, once per file and set of sinks."""
        budgets = self.budgets
        if budgets is None or budgets.store_path is None:
            return True
        stored = sorted(p for p, b in budgets.budgets.items() if b.window in ("day", "month"))
        if not stored:
            return True
        read = _same_file(budgets.store_path)
        written = tuple(_same_file(p) for p in local_store_paths(sinks))
        if read in written:
            return True
        if (read, written) not in _warned_stores:
            _warned_stores.add((read, written))
            logger.warning(
                "langgraph-observe: the day/month budgets of %s will NOT hold across handlers "
                "or processes: their usage is read from %s, but no sink of this handler writes "
                "it there (its local store sinks: %s), so each handler counts only its own "
                "usage. Add a LocalStoreSink on that file to the sinks, or build FeatureHooks "
                "with sinks=<the handler's sinks> or a store_path setting naming the sink's file.",
                ", ".join(stored),
                budgets.store_path,
                ", ".join(str(p) for p in written) or "none",
            )
        return False

    @property
    def on_path(self) -> bool:
        """Records are built inside the callbacks only when budgets or gates are set: a
        budget counts each call before the next one starts, a gate may stop the run.
        Otherwise pricing and usage estimates run on the dispatcher's thread."""
        return self.budgets is not None or bool(self.gates)

    # -- personas ----------------------------------------------------------------------
    def persona_for(self, node: str | None, metadata: Mapping[str, Any]) -> str | None:
        return self.node_personas.get(node) if node is not None else None

    # -- model calls -------------------------------------------------------------------
    def before_llm(self, span: OpenSpan, prompts: Any) -> None:
        name = current_persona()
        if name is not None and name != span.persona:
            span.persona = name
            span.attrs[sc.LG_PERSONA] = name
        if not self.capture_io:
            with self._lock:
                if len(self._prompts) >= _MAX_PENDING:
                    self._prompts.pop(next(iter(self._prompts)))
                self._prompts[span.sid] = prompts
        budgets = self.budgets
        if budgets is None:
            return
        limits = budgets.limits(span.persona)
        if limits is None or limits.on_exceeded != "raise":
            return
        from .tokens import count_text_tokens, count_tool_tokens, estimate_prompt_tokens

        tools = _tools_of(span)
        if span.attrs.get(sc.GEN_AI_OPERATION_NAME) == "chat":
            requested = estimate_prompt_tokens(span.model, prompts, tools)
        else:
            requested = count_tool_tokens(span.model, tools) + sum(
                count_text_tokens(span.model, str(p)) for p in prompts or ()
            )
        requested_usd = 0.0
        if limits.budget_usd is not None:
            priced = self.catalog.cost(span.model, TokenUsage(requested, 0))
            if priced is None:
                self._unpriced(limits.persona, span.model)
            requested_usd = priced or 0.0
        ctx = span.ctx
        budgets.check(
            span.persona,
            trace_id=ctx.trace_id,
            tenant=ctx.tenant,
            workflow=ctx.workflow,
            requested_tokens=requested,
            requested_usd=requested_usd,
        )

    def _take_prompts(self, span: OpenSpan) -> Any:
        if self.capture_io:
            return span.input
        with self._lock:
            return self._prompts.pop(span.sid, None)

    def estimate_usage(self, span: OpenSpan, outputs: Any) -> TokenUsage | None:
        if outputs is None:  # the call failed: nothing to estimate
            return None
        from .tokens import estimate_usage

        prompts = self._take_prompts(span)
        text = _output_text(outputs)
        tools = _tools_of(span)
        if span.attrs.get(sc.GEN_AI_OPERATION_NAME) == "chat":
            usage = estimate_usage(span.model, messages=prompts or [], output=text, tools=tools)
        else:
            prompt_texts = [str(p) for p in prompts or ()]
            usage = estimate_usage(span.model, prompts=prompt_texts, output=text, tools=tools)
        return usage

    def finish_llm(self, span: OpenSpan, usage: TokenUsage | None) -> float | None:
        if not self.capture_io and self._prompts:
            with self._lock:
                self._prompts.pop(span.sid, None)
        cache_hit = bool(span.attrs.get(sc.LG_CACHE_HIT))
        cost = self.catalog.cost(
            span.model,
            usage,
            cache_hit=cache_hit,
            response_model=span.attrs.get(sc.GEN_AI_RESPONSE_MODEL),
        )
        if self.budgets is not None and span.persona is not None and usage is not None:
            if cost is None and (usage.input_tokens is not None or usage.output_tokens is not None):
                self._unpriced(span.persona, span.model)  # counts, but no price
            self._count(span, 0 if cache_hit else usage.total, cost)
        return cost

    def _unpriced(self, persona: str, model: str | None) -> None:
        """Warn, once per persona and model, that a USD budget cannot count the calls of a
        model the price catalog has no price for (they count as $0, never as a guess)."""
        assert self.budgets is not None
        limits = self.budgets.limits(persona)
        if limits is None or limits.budget_usd is None:
            return
        key = (persona, model)
        with self._lock:
            if key in self._warned_unpriced:
                return
            self._warned_unpriced.add(key)
        tokens = (
            f"their tokens still count against its budget_tokens ({limits.budget_tokens})"
            if limits.budget_tokens is not None
            else "it has no budget_tokens to count their tokens"
        )
        logger.warning(
            "langgraph-observe: persona %r has a USD budget (budget_usd %g) but model %r has "
            "no price, so that budget cannot count the model's calls (they add $0 to it); %s. "
            "Add the model under 'prices:' in the config file or with "
            "PriceCatalog.with_overrides().",
            persona,
            limits.budget_usd,
            model,
            tokens,
        )

    def _count(self, span: OpenSpan, tokens: int, cost: float | None) -> None:
        assert self.budgets is not None and span.persona is not None
        ctx = span.ctx
        counted = self.budgets.record(
            span.persona,
            trace_id=ctx.trace_id,
            tokens=tokens,
            usd=cost,
            tenant=ctx.tenant,
            workflow=ctx.workflow,
        )
        if counted is None:
            return
        update, newly_exceeded = counted
        attrs = span.attrs
        attrs[sc.LG_BUDGET_WINDOW] = update.window
        if update.remaining_tokens is not None:
            attrs[sc.LG_BUDGET_REMAINING_TOKENS] = update.remaining_tokens
        if update.remaining_usd is not None:
            attrs[sc.LG_BUDGET_REMAINING_USD] = update.remaining_usd
        details = {
            "persona": update.persona,
            "window": update.window,
            "used_tokens": update.used_tokens,
            "used_usd": update.used_usd,
        }
        if update.warned:
            span.add_event("budget_warning", details)
        if newly_exceeded:
            span.add_event("budget_exceeded", details)
        span.trace.emit(update)
        if update.warned and self.budgets.on_warning is not None:
            try:
                self.budgets.on_warning(update)
            except Exception:
                logger.exception("langgraph-observe: on_budget_warning callback failed")

    # -- gates and run ends ------------------------------------------------------------
    def finish_span(self, span: OpenSpan, outputs: Any, status: SpanStatus) -> None:
        if span.kind is not SpanKind.NODE or status is not SpanStatus.OK or not self.gates:
            return
        gates = self.gates.for_node(span.node)
        if not gates or (outputs is None and sc.LG_BUBBLE_UP in span.attrs):
            return  # no gates, or control flow that returned nothing to judge
        ctx = span.ctx
        now = time.time_ns()
        for result in (g.evaluate(outputs) for g in gates):
            g = result.gate
            span.attrs[sc.gate_attribute(g.name)] = "pass" if result.passed else "fail"
            span.trace.emit(
                ScoreRecord(
                    trace_id=ctx.trace_id,
                    name=g.name,
                    value=result.value,
                    time_ns=now,
                    span_id=span.span_id,
                    comment=result.comment,
                    source="gate",
                    workflow=ctx.workflow,
                    node=span.node,
                    persona=span.persona,
                    passed=result.passed,
                )
            )
            if not result.passed and g.on_fail == "raise" and span.span_id not in self._failed:
                score = result.value if isinstance(result.value, (int, float)) else None
                with self._lock:
                    self._failed[span.span_id] = QualityGateFailed(
                        g.name, span.node or span.name, None if score is None else float(score)
                    )

    def after_span(self, record: SpanRecord, outputs: Any, emit: Callable[[Record], None]) -> None:
        if record.parent_span_id is None and self.budgets is not None:
            self.budgets.end_run(record.trace_id)
        if self._failed and record.kind is SpanKind.NODE:
            with self._lock:
                failure = self._failed.pop(record.span_id, None)
            if failure is not None:
                raise failure


def _same_file(path: Path) -> str:
    """``path`` made absolute, to compare two spellings of one file."""
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return str(Path(path).absolute())


def _tools_of(span: OpenSpan) -> Any:
    """The tool definitions sent with a model call (``bind_tools``), if any."""
    params = span.attrs.get(sc.LG_INVOCATION_PARAMS)
    if isinstance(params, Mapping):
        return params.get("tools") or params.get("functions")
    return None


def _output_text(outputs: Any) -> str:
    """The text an answer's output tokens are estimated from: its content, and the name
    and arguments of each tool call it makes (billed as output too)."""
    items = outputs if isinstance(outputs, list) else [outputs]
    parts = []
    for item in items:
        content = getattr(item, "content", item)
        if isinstance(content, list):  # content blocks
            content = " ".join(
                str(b.get("text", "")) if isinstance(b, Mapping) else str(b) for b in content
            )
        parts.append(content if isinstance(content, str) else str(content))
        for call in getattr(item, "tool_calls", None) or ():
            if isinstance(call, Mapping):
                parts.append(str(call.get("name") or ""))
                parts.append(json.dumps(call.get("args") or {}, default=str))
    return "\n".join(parts)
