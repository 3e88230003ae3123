"""Notebook helpers: the local store as pandas DataFrames.

>>> from langgraph_observe import explore
>>> explore.traces()          # one row per trace, newest first
>>> explore.spans()           # one row per span

Needs pandas (``pip install 'langgraph-observe[explore]'``); ``import
langgraph_observe.explore`` itself does not import it.
"""

from __future__ import annotations

from .figures import budget_chart, cost_chart, latency_chart, token_chart, waterfall
from .frames import spans, traces
from .summaries import (
    budget_burn,
    cost_summary,
    errors,
    gate_pass_rates,
    persona_timeline,
    slowest,
    token_summary,
)

__all__ = [
    "budget_burn",
    "budget_chart",
    "cost_chart",
    "cost_summary",
    "errors",
    "gate_pass_rates",
    "latency_chart",
    "persona_timeline",
    "slowest",
    "spans",
    "token_chart",
    "token_summary",
    "traces",
    "waterfall",
]
