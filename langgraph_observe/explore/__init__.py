"""Notebook helpers: the local store as pandas DataFrames.

>>> from langgraph_observe import explore
>>> explore.traces()          # one row per trace, newest first
>>> explore.spans()           # one row per span

Needs pandas (``pip install 'langgraph-observe[explore]'``); ``import
langgraph_observe.explore`` itself does not import it.
"""

from __future__ import annotations

from .frames import spans, traces

__all__ = ["spans", "traces"]
