"""Shared fixtures. Backend-specific fixtures live in their own modules."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LANGGRAPH_OBSERVE_STRICT", "1")


def require(condition: bool, reason: str) -> None:
    """Skip when a real component is missing on a user's machine; fail under CI=true."""
    if condition:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    """Every test writes its default store under its own tmp dir, never into the repo."""
    monkeypatch.setenv("LANGGRAPH_OBSERVE_STORE", str(tmp_path / "traces.db"))
    yield
