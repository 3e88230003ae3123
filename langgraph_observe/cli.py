"""The ``langgraph-observe`` command (also ``python -m langgraph_observe``).

::

    langgraph-observe demo                       run the example workflow, print its trace
    langgraph-observe traces list [--limit N]    recent traces in the local store
    langgraph-observe traces show TRACE_ID       one trace as a tree (an id prefix is enough)
    langgraph-observe serve [--port 9465]        /metrics and the analytics as JSON over HTTP

Every command takes ``--store PATH`` (default: env ``LANGGRAPH_OBSERVE_STORE``, else
``./.langgraph_observe/traces.db``).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .config import DEFAULT_STORE_PATH
from .config_file import configured_settings

__all__ = ["main"]


def _store_path(args: argparse.Namespace) -> Path:
    return configured_settings(store_path=getattr(args, "store", None)).store_path


def _ascii_only(out: TextIO) -> bool:
    try:
        "├─│└✗".encode(getattr(out, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return True
    return False


def _store_flag(path: Path) -> str:
    """`` --store PATH`` when ``path`` is not what the commands would pick by themselves."""
    return "" if path == configured_settings().store_path else f" --store {path}"


def _cmd_traces_list(args: argparse.Namespace, out: TextIO) -> int:
    from .store import LocalStore
    from .store.text import trace_table

    if args.limit < 1:
        print(f"langgraph-observe: --limit must be 1 or more, not {args.limit}", file=sys.stderr)
        return 2
    path = _store_path(args)
    with LocalStore(path) as store:
        rows = store.traces(limit=args.limit, workflow=args.workflow)
    if not rows:
        print(f"no traces in {path}", file=out)
        print("run `langgraph-observe demo` or attach langgraph_observe.CallbackHandler() "
              "to a graph", file=out)  # fmt: skip
        return 0
    print(trace_table(rows), file=out)
    return 0


def _cmd_traces_show(args: argparse.Namespace, out: TextIO) -> int:
    from .store import LocalStore, TraceNotFound
    from .store.text import trace_tree

    path = _store_path(args)
    with LocalStore(path) as store:
        try:
            trace_id = store.resolve_trace_id(args.trace_id)
        except TraceNotFound as exc:
            print(f"langgraph-observe: {exc}", file=sys.stderr)
            return 1
        trace = store.trace(trace_id)
        spans = store.spans(trace_id=trace_id)
    print(trace_tree(trace, spans, ascii_only=args.ascii or _ascii_only(out)), file=out)
    return 0


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from .demo import PERSONAS, WORKFLOW, run_demo
    from .store import LocalStore
    from .store.text import trace_tree

    path = _store_path(args)
    result = run_demo(path)
    personas = " -> ".join(PERSONAS.values())
    print(f"Ran the demo workflow {WORKFLOW!r}: {personas}; fake chat models that report "
          "usage, a retriever and two tools (no keys, no network).\n", file=out)  # fmt: skip
    print("sinks:", file=out)
    for name, reason in result.sinks:
        print(f"  {name:<11} {reason}", file=out)
    print(f"\ntraces: {result.store_path.resolve()}", file=out)
    if result.trace_id is None:
        local = dict(result.sinks).get("local", "off")
        why = (
            f"the local sink is {local}"
            if not local.startswith("on")
            else ("the flush timed out" if not result.flushed else "its root span is missing")
        )
        print(f"langgraph-observe: the run's trace is not in the store: {why}", file=sys.stderr)
        return 1
    with LocalStore(result.store_path) as store:
        tree = trace_tree(store.trace(result.trace_id), store.spans(trace_id=result.trace_id),
                          ascii_only=_ascii_only(out))  # fmt: skip
    print(f"\n{tree}\n", file=out)
    flag = _store_flag(path)
    cli = _cli_command()
    print("look further:", file=out)
    print(f"  {cli} traces list{flag}", file=out)
    print(f"  {cli} traces show {result.trace_id}{flag}", file=out)
    print(f"  {cli} serve{flag}   # /metrics and JSON analytics on 127.0.0.1:9465", file=out)
    print(
        f"  {Path(sys.executable)} -c 'from langgraph_observe import explore; "
        "print(explore.traces())'   # pandas: pip install 'langgraph-observe[explore]'",
        file=out,
    )
    if any(name == "prometheus" and reason.startswith("on") for name, reason in result.sinks):
        metrics = _write_metrics_snapshot(result.store_path.parent / "metrics.prom")
        print(
            f"\nmetrics: {metrics} (this run's Prometheus metrics, text format); in an "
            "application, serve them with langgraph_observe.exposition.start_metrics_server"
            "(9464)",
            file=out,
        )
    return 0


def _cli_command() -> str:
    """How to call this CLI from the user's shell (a venv's script is not on PATH)."""
    found = shutil.which("langgraph-observe")
    beside = Path(sys.executable).parent / "langgraph-observe"
    if found and Path(found).resolve() == beside.resolve():
        return "langgraph-observe"
    if beside.exists():
        return str(beside)
    return f"{Path(sys.executable)} -m langgraph_observe"


def _write_metrics_snapshot(path: Path) -> Path:
    """Write prometheus_client's default registry to ``path`` (text exposition format)."""
    from prometheus_client import REGISTRY, write_to_textfile

    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), REGISTRY)
    return path.resolve()


def _cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    from .serve import start_server

    server = start_server(args.port, args.host, _store_path(args))
    print(
        f"serving {server.url}/metrics and {server.url}/api/... "
        f"(described at {server.url}/openapi.json); Ctrl-C stops",
        file=out,
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--store", metavar="PATH", default=argparse.SUPPRESS,
        help=f"SQLite store (default: $LANGGRAPH_OBSERVE_STORE or {DEFAULT_STORE_PATH})",
    )  # fmt: skip
    parser = argparse.ArgumentParser(
        prog="langgraph-observe", parents=[store],
        description="Observability for LangGraph: run the demo, read the local trace store.",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo", parents=[store], help="run an example multi-persona workflow and show its trace"
    )
    demo.set_defaults(func=_cmd_demo)

    traces = commands.add_parser("traces", parents=[store], help="list or show stored traces")
    actions = traces.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[store], help="recent traces, newest first")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.add_argument("--workflow", help="only this workflow")
    listing.set_defaults(func=_cmd_traces_list)
    show = actions.add_parser("show", parents=[store], help="one trace as a tree")
    show.add_argument("trace_id", help="trace id or a unique prefix of it")
    show.add_argument("--ascii", action="store_true", help="draw the tree with ASCII only")
    show.set_defaults(func=_cmd_traces_show)

    serve = commands.add_parser(
        "serve", parents=[store], help="serve /metrics and the store analytics as JSON over HTTP"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=9465, help="port (default 9465; 0: any free)")
    serve.set_defaults(func=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if out is None:
        out = sys.stdout
        # names and messages from the store may not fit the terminal's encoding (ASCII
        # on some consoles): escape what does not, instead of failing on it
        reconfigure = getattr(out, "reconfigure", None)
        if callable(reconfigure):
            reconfigure(errors="backslashreplace")
    try:
        code: int = args.func(args, out)
    except sqlite3.DatabaseError as exc:  # a file that is not a store, or a damaged one
        print(f"langgraph-observe: cannot read the store: {exc}", file=sys.stderr)
        return 1
    return code
