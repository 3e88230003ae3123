"""The store's file under the hands of other programs: replaced by a clean-up job while the
application writes, read from a directory the reader cannot write."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from langgraph_observe import CallbackHandler
from langgraph_observe.sinks.local import LocalStoreSink
from langgraph_observe.store import LocalStore

from . import graphs
from .conftest import require

pytestmark = pytest.mark.unit


def run(handler: CallbackHandler, tenant: str, n: int = 1) -> None:
    graph = graphs.linear_graph()
    for _ in range(n):
        graph.invoke({"log": []}, {"callbacks": [handler], "metadata": {"tenant": tenant}})
    assert handler.flush(10)


def tenants(path: Path) -> dict[str, int]:
    with LocalStore(path) as store:
        rows = store.query("SELECT tenant, count(*) AS n FROM traces GROUP BY tenant")
    return {r["tenant"]: r["n"] for r in rows}


def test_a_replaced_store_keeps_its_own_contents(tmp_path):
    """The old file's WAL, left beside the path by the writer's connection, is not
    replayed over the file that replaced it."""
    path, fresh = tmp_path / "traces.db", tmp_path / "prepared.db"
    preparing = CallbackHandler(sinks=[LocalStoreSink(fresh)])
    run(preparing, "prepared", 3)
    preparing.shutdown(5)
    assert not Path(f"{fresh}-wal").exists()  # closed cleanly: one file

    handler = CallbackHandler(sinks=[LocalStoreSink(path)])
    run(handler, "old", 2)
    assert Path(f"{path}-wal").exists()
    os.replace(fresh, path)
    run(handler, "new")
    handler.shutdown(5)
    assert handler.health.snapshot()["dropped"] == {}
    assert tenants(path) == {"prepared": 3, "new": 1}


SCRIPT = textwrap.dedent(
    """
    import json, sys
    from langgraph_observe.store import LocalStore
    from langgraph_observe.cli import main
    try:
        print(json.dumps({"traces": len(LocalStore(sys.argv[1]).traces())}))
    except Exception as exc:
        print(json.dumps({"error": str(exc)}))
    sys.exit(main(["--store", sys.argv[1], "traces", "list"]))
    """
)


def read_as_another_user(path: Path) -> subprocess.CompletedProcess[str]:
    """Run the reader as a user that cannot write ``path``'s directory: ``nobody`` (via
    setpriv) when running as root, else this user with the directory made read-only."""
    command = [sys.executable, "-c", SCRIPT, str(path)]
    if os.getuid() == 0:
        require(shutil.which("setpriv") is not None, "setpriv (util-linux)")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {**os.environ, "HOME": str(path.parent), "LANGGRAPH_OBSERVE_PROMETHEUS": "0"}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def shared_dir(tmp_path):
    """A directory another user can reach (pytest's own is private to its user)."""
    if os.getuid() != 0:
        yield tmp_path
        return
    base = Path(tempfile.mkdtemp(prefix="lgo-readonly-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_store_in_a_directory_the_reader_cannot_write_is_read(shared_dir):
    tmp_path = shared_dir
    store_dir = tmp_path / "app"
    store_dir.mkdir()
    path = store_dir / "traces.db"
    handler = CallbackHandler(sinks=[LocalStoreSink(path)])
    run(handler, "acme", 2)
    handler.shutdown(5)  # the writer's last connection closed: no -wal left
    assert not Path(f"{path}-wal").exists()
    for p in (tmp_path, store_dir):
        p.chmod(0o555)
    path.chmod(0o444)
    try:
        done = read_as_another_user(path)
    finally:
        for p in (tmp_path, store_dir):
            p.chmod(0o755)
    assert done.returncode == 0, done.stderr
    first, *table = done.stdout.splitlines()
    assert first == '{"traces": 2}'
    assert sum(1 for line in table if "linear" in line or "LangGraph" in line) == 2, table
    assert sorted(os.listdir(store_dir)) == ["traces.db"]  # the reader created nothing
