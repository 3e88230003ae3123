"""Forked children in the tests: waiting for one without letting a hung child hang the
test."""

from __future__ import annotations

import os
import signal
import time

import pytest

__all__ = ["exit_code"]


def exit_code(pid: int, timeout: float = 60.0) -> int:
    """The forked child's exit code; it is killed (and the test fails) if it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not exit within {timeout:g} s")
