"""The ``langgraph-observe`` command (also ``python -m langgraph_observe``).

::

    langgraph-observe demo                       run the example workflow, print its trace
    langgraph-observe traces list [--limit N]    recent traces in the local store
    langgraph-observe traces show TRACE_ID       one trace as a tree (an id prefix is enough)
    langgraph-observe traces prune --older-than 30d [--keep N] [--vacuum] [--dry-run]
                                                 remove old traces from the local store
    langgraph-observe serve [--port 9465]        /metrics and the analytics as JSON over HTTP

Every command takes ``--store PATH`` (default: env ``LANGGRAPH_OBSERVE_STORE``, else the
``store`` of the config file ``LANGGRAPH_OBSERVE_CONFIG`` names, else
``./.langgraph_observe/traces.db``). Exit status: 0 on success, 1 when a trace or the store
cannot be read, 2 on a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import sqlite3
import sys
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .config import DEFAULT_STORE_PATH, ConfigError
from .config_file import configured_store_path

if TYPE_CHECKING:
    from .store import PruneResult

__all__ = ["main"]


class _NotAStoreFile(Exception):
    """The store path names something that cannot be a store file (exit status 1)."""


def _store_path(args: argparse.Namespace) -> Path:
    """The store the command reads or writes; a directory is refused. With ``--store``,
    the config file (``LANGGRAPH_OBSERVE_CONFIG``) is not read."""
    store = getattr(args, "store", None)
    if store is not None and not store.strip():
        raise ConfigError(f"--store: expected a file path, got {store!r}")
    path = configured_store_path(store)
    if path.is_dir():
        inside = path / DEFAULT_STORE_PATH.name
        hint = f" (did you mean {inside}?)" if inside.is_file() else ""
        raise _NotAStoreFile(f"{path} is a directory, not a store file{hint}")
    return path


def _ascii_only(out: TextIO) -> bool:
    try:
        "├─│└✗".encode(getattr(out, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return True
    return False


def _store_flag(path: Path) -> str:
    """`` --store PATH`` when ``path`` is not what the commands would pick by themselves."""
    try:
        default = configured_store_path()
    except ConfigError:  # they would pick nothing: the config file is broken
        return f" --store {path}"
    return "" if path == default else f" --store {path}"


def _explore_hint(flag: str, path: Path) -> str:
    """The shell command that prints the store's traces with ``explore``."""
    store = json.dumps(str(path)) if flag else ""
    code = f"from langgraph_observe import explore; print(explore.traces({store}))"
    return f"{shlex.quote(str(Path(sys.executable)))} -c {shlex.quote(code)}"


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


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _age(text: str) -> timedelta:
    """``--older-than``: a number and a unit, ``90m``, ``12h``, ``30d``, ``2w`` (``s`` too)."""
    # units in lowercase only: on a command that deletes, "6M" must not pass as 6 minutes
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw])", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a number and a lowercase unit (s, m, h, d, w), like 30d or 12h, not {text!r}"
        )
    try:
        age = timedelta(seconds=float(match[1]) * _AGE_UNITS[match[2]])
    except OverflowError:
        raise argparse.ArgumentTypeError(f"too long: {text!r}") from None
    if age <= timedelta(0):  # after rounding to microseconds
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text!r}")
    return age


def _trace_count(text: str) -> int:
    """``--keep``: a whole number, 0 or more."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, not {text!r}")
    return n


def _cmd_traces_prune(args: argparse.Namespace, out: TextIO) -> int:
    from .store import StoreSchemaError, prune

    if args.older_than is None and args.keep is None:
        print("langgraph-observe: traces prune needs --older-than AGE, --keep N or both",
              file=sys.stderr)  # fmt: skip
        return 2
    path = _store_path(args)
    if not path.exists():
        print(f"no store at {path}: nothing to prune", file=out)
        return 0
    try:
        result = prune(path, older_than=args.older_than, keep_traces=args.keep,
                       vacuum=args.vacuum and not args.dry_run, dry_run=args.dry_run)  # fmt: skip
    except (sqlite3.Error, StoreSchemaError) as exc:
        print(f"langgraph-observe: cannot prune {path}: {exc}", file=sys.stderr)
        return 1
    print(_prune_report(result, path, args), file=out)
    return 0


def _prune_report(result: PruneResult, path: Path, args: argparse.Namespace) -> str:
    """What ``traces prune`` removed (or would), and the store's size."""
    which = []
    if args.older_than is not None:
        which.append(f"started more than {_age_text(args.older_than)} ago")
    if args.keep is not None:
        which.append(f"finished beyond the newest {args.keep}")
    criteria = " or ".join(which)
    if not result.removed_anything:
        lines = [f"nothing to remove from {path}: no trace {criteria}"]
    else:
        others = ", ".join(
            _count(n, name)
            for n, name in (
                (result.scores, "score"),
                (result.persona_switches, "persona switch"),
                (result.budget_counters, "budget counter"),
            )
            if n
        )
        verb = "would remove" if result.dry_run else "removed"
        lines = [
            f"{verb} {_count(result.traces, 'trace')} ({criteria}) from {path}:",
            f"  {_count(result.spans, 'span')}, {_count(result.other_rows, 'other row')}"
            + (f" ({others})" if others else ""),
        ]
    size = f"size: {_size(result.bytes_before)}"
    if result.dry_run:
        lines.append("dry run: nothing was removed")
    elif result.vacuumed:
        lines.append(f"{size} -> {_size(result.bytes_after)} (vacuumed)")
    elif result.removed_anything:
        lines.append(f"{size}; the freed pages are reused by new traces "
                     "(--vacuum gives them back to the disk)")  # fmt: skip
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("ch") else "s")
    return f"{n} {noun if n == 1 else plural}"


def _age_text(age: timedelta) -> str:
    """An age as ``--older-than`` takes it, in the largest unit that says it exactly."""
    seconds = age.total_seconds()
    for unit in "dhm":
        if seconds % _AGE_UNITS[unit] == 0:
            return f"{seconds / _AGE_UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    size = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            break
        size /= 1024
    return f"{size:.1f} {unit}"


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
    print(f"  {cli} serve{flag}   # JSON analytics of the store on 127.0.0.1:9465", file=out)
    print(f"  {_explore_hint(flag, path)}   # pandas: pip install 'langgraph-observe[explore]'",
          file=out)  # fmt: skip
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

    traces = commands.add_parser(
        "traces", parents=[store], help="list, show or prune stored traces"
    )
    actions = traces.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[store], help="recent traces, newest first")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.add_argument("--workflow", help="only this workflow")
    listing.set_defaults(func=_cmd_traces_list)
    show = actions.add_parser("show", parents=[store], help="one trace as a tree")
    show.add_argument("trace_id", help="trace id or a unique prefix of it")
    show.add_argument("--ascii", action="store_true", help="draw the tree with ASCII only")
    show.set_defaults(func=_cmd_traces_show)
    pruning = actions.add_parser(
        "prune", parents=[store], help="remove old traces (whole: spans, scores, ...)"
    )
    pruning.add_argument(
        "--older-than", metavar="AGE", type=_age,
        help="remove traces started more than AGE ago: 30d, 12h, 90m, 2w",
    )  # fmt: skip
    pruning.add_argument(
        "--keep", metavar="N", type=_trace_count,
        help="remove finished traces beyond the newest N",
    )  # fmt: skip
    pruning.add_argument(
        "--vacuum", action="store_true",
        help="then give the freed space back to the disk (holds the write lock meanwhile)",
    )  # fmt: skip
    pruning.add_argument(
        "--dry-run", action="store_true", help="print what would be removed, remove nothing"
    )
    pruning.set_defaults(func=_cmd_traces_prune)

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
    except _NotAStoreFile as exc:
        print(f"langgraph-observe: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:  # LANGGRAPH_OBSERVE_CONFIG's file or a LANGGRAPH_OBSERVE_* var
        print(f"langgraph-observe: configuration error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # a file that is not a store, or a damaged one
        print(f"langgraph-observe: cannot read the store: {exc}", file=sys.stderr)
        return 1
    return code
