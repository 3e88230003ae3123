"""A fork while another thread of the parent holds one of the library's locks, or loads an
encoding: the child does not hang on the lock, and loads the encoding itself."""

from __future__ import annotations

import json
import logging
import os
import threading

import pytest

from langgraph_observe import CallbackHandler, _guard, pricing
from langgraph_observe.store import LocalStore
from langgraph_observe.testing import InMemorySink
from langgraph_observe.tokens import TokenCounter

from . import graphs
from .forking import exit_code

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]


def in_child(work) -> dict:
    """Fork; run ``work()`` in the child and bring back what it returns (JSON)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            result = {"ok": work()}
        except BaseException as exc:  # reported to the parent, which fails the test
            result = {"error": repr(exc)}
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    status = exit_code(pid, 30)
    with os.fdopen(read) as pipe:
        out = json.loads(pipe.read() or "{}")
    assert status == 0 and "error" not in out, out
    return out["ok"]


def test_locks_held_by_other_threads_at_the_fork_are_new_in_the_child(tmp_path):
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])
    graph = graphs.linear_graph()
    graph.invoke({"log": []}, {"callbacks": [handler]})
    assert handler.flush(5)
    reader = LocalStore(tmp_path / "none.db")

    def library_locks() -> dict[str, threading.Lock]:
        return {
            "finisher": handler.tracer.finisher._lock,
            "tracer": handler.tracer._evict_lock,
            "run memory": handler.tracer.ended._lock,
            "hooks": handler.tracer.hooks._lock,
            "guard": _guard._lock,
            "pricing": pricing._default_lock,
            "memory sink": sink._lock,
            "reader": reader._lock,
        }

    locks = library_locks()
    held, release = threading.Event(), threading.Event()

    def hold_them() -> None:  # a parent's thread, inside the library, at the fork
        for lock in locks.values():
            lock.acquire()
        held.set()
        release.wait(30)
        for lock in locks.values():
            lock.release()

    holder = threading.Thread(target=hold_them)
    holder.start()
    assert held.wait(5)

    def child() -> dict:
        renewed = library_locks()
        free = {name: lock.acquire(timeout=2) for name, lock in renewed.items()}
        for name, lock in renewed.items():
            if free[name]:
                lock.release()
        graph.invoke({"log": []}, {"callbacks": [handler]})  # the root's record takes them
        return {"free": free, "flushed": handler.flush(5), "spans": len(sink.spans())}

    try:
        got = in_child(child)
    finally:
        release.set()
        holder.join(5)
    assert got["free"] == dict.fromkeys(locks, True)
    assert got["flushed"] and got["spans"] == 2 * len(sink.spans())
    handler.shutdown(5)


def test_an_encoding_loading_at_the_fork_is_loaded_again_in_the_child():
    started, go_on = threading.Event(), threading.Event()

    def loader(name: str) -> str:
        if os.getpid() == parent:
            started.set()
            go_on.wait(30)  # the parent's load is still running at the fork
        return f"encoding {name}"

    parent = os.getpid()
    counter = TokenCounter(loader=loader)
    assert counter.encoding("cl100k_base") is None  # starts the load
    assert started.wait(5)

    def child() -> str | None:
        counter.encoding("cl100k_base")
        counter.preload(["cl100k_base"], timeout=5)
        return counter.encoding("cl100k_base")

    try:
        assert in_child(child) == "encoding cl100k_base"
    finally:
        go_on.set()


def test_a_handler_a_child_never_used_shuts_down_cleanly(caplog):
    sink = InMemorySink()
    handler = CallbackHandler(sinks=[sink])

    def work() -> list:
        with caplog.at_level(logging.WARNING, logger="langgraph_observe"):
            ok = handler.shutdown(5)
        return [ok, [r.getMessage() for r in caplog.records]]

    ok, warnings = in_child(work)
    assert ok is True and warnings == []
    assert handler.shutdown(5)  # the parent's own, untouched
