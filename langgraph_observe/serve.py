"""``langgraph-observe serve``: the metrics and the store analytics over HTTP.

>>> from langgraph_observe.serve import start_server
>>> server = start_server(port=0)              # doctest: +SKIP
>>> server.url                                 # doctest: +SKIP
'http://127.0.0.1:40213'
>>> server.shutdown()                          # doctest: +SKIP

Endpoints (all ``GET``): ``/metrics`` (Prometheus text, see
:func:`langgraph_observe.exposition.metrics_registry`), the JSON analytics of
:mod:`langgraph_observe.analytics` under ``/api/...``, ``/healthz`` and ``/openapi.json``
(OpenAPI 3.1). A stdlib WSGI server, bound to ``127.0.0.1`` unless told otherwise; it only
reads the store.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from . import _guard, analytics
from .store import LocalStore

__all__ = ["ROUTES", "Route", "Server", "make_app", "openapi_spec", "start_server"]

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    """One JSON endpoint: the analytics function it serves and its integer query parameters."""

    path: str
    summary: str
    handler: Callable[..., Any]
    params: tuple[tuple[str, int, str], ...] = ()  #: (name, default, description)
    returns_list: bool = False


ROUTES: tuple[Route, ...] = (
    Route("/api/summary", "Realtime summary: recent runs, success and error rate, p50/p95 "
          "duration, runs in progress, tokens and cost today.", analytics.realtime_summary,
          (("window_s", 3600, "Look-back window in seconds for the run statistics."),)),
    Route("/api/tenants", "Per tenant this month: runs, success rate, cost today and this "
          "month, tokens, gate pass rate, mean score.", analytics.tenant_summary,
          returns_list=True),
    Route("/api/nodes", "Per workflow and node: executions, success rate, latency "
          "percentiles, model calls, tokens, cost.", analytics.node_summary,
          (("days", 30, "Look-back window in days."),), returns_list=True),
    Route("/api/personas", "Per workflow and persona (agent): executions, success rate, "
          "latency percentiles, model calls, tokens, cost.", analytics.persona_summary,
          (("days", 30, "Look-back window in days."),), returns_list=True),
    Route("/api/cost/daily", "Cost, tokens and model calls per UTC day.", analytics.cost_daily,
          (("days", 30, "Number of days, today included."),), returns_list=True),
    Route("/api/cost/monthly", "Cost, tokens and model calls per UTC month.",
          analytics.cost_monthly, (("months", 12, "Number of months, this one included."),),
          returns_list=True),
    Route("/api/cost/forecast", "Month-to-date cost and the month-end forecast.",
          analytics.cost_forecast),
    Route("/api/quality", "Gate pass rates and mean scores per score name.",
          analytics.quality_summary, (("days", 30, "Look-back window in days."),)),
)  # fmt: skip
"""The JSON endpoints, in the order ``/openapi.json`` lists them."""

#: the largest value each parameter takes: a century of days or months (a window must
#: start after 1677, the earliest time nanoseconds since 1970 fit in 64 bits)
MAX_PARAMS = {"window_s": 100_000, "days": 36_500, "months": 1_200}


def openapi_spec(version: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the server."""
    if version is None:
        from . import __version__ as version
    paths: dict[str, Any] = {}
    for route in ROUTES:
        body = {"type": "array", "items": {"type": "object"}} if route.returns_list else {
            "type": "object"}  # fmt: skip
        paths[route.path] = {
            "get": {
                "summary": route.summary,
                "operationId": route.handler.__name__,
                "parameters": [
                    {
                        "name": name,
                        "in": "query",
                        "required": False,
                        "description": text,
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PARAMS[name],
                            "default": default,
                        },
                    }
                    for name, default, text in route.params
                ],
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": body}}},
                    "400": {
                        "description": "Invalid query parameter",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                },
            }
        }
    paths["/metrics"] = {"get": {
        "summary": "Prometheus metrics (text exposition format).", "operationId": "metrics",
        "responses": {"200": {"description": "OK", "content": {"text/plain": {
            "schema": {"type": "string"}}}}}}}  # fmt: skip
    paths["/healthz"] = {"get": {
        "summary": "Liveness, and where the store is.", "operationId": "healthz",
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"type": "object"}}}}}}}  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "langgraph-observe", "version": version,
                 "description": "Metrics and analytics of the langgraph-observe local store."},
        "paths": paths,
        "components": {"schemas": {"Error": {
            "type": "object", "properties": {"error": {"type": "string"}},
            "required": ["error"]}}},
    }  # fmt: skip


def _json(start_response: StartResponse, status: str, body: Any) -> list[bytes]:
    data = json.dumps(body, indent=None, separators=(",", ":")).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])  # fmt: skip
    return [data]


def _params(route: Route, query: str) -> dict[str, int]:
    given = parse_qs(query)
    unknown = set(given) - {name for name, _, _ in route.params}
    if unknown:
        raise ValueError(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    out: dict[str, int] = {}
    for name, _default, _text in route.params:
        if name in given:
            try:
                value = int(given[name][-1])
            except ValueError:
                raise ValueError(f"{name} must be an integer") from None
            most = MAX_PARAMS[name]
            if not 1 <= value <= most:
                raise ValueError(f"{name} must be between 1 and {most}")
            out[name] = value
    return out


def make_app(
    store: LocalStore | Path | str | None = None, registry: Any = None
) -> Callable[..., Any]:
    """The WSGI app: analytics over ``store`` (a :class:`LocalStore`, a path, or None for the
    default store) and the metrics of ``registry`` (see
    :func:`~langgraph_observe.exposition.metrics_registry`)."""
    from .exposition import metrics_wsgi_app

    reader = store if isinstance(store, LocalStore) else LocalStore(store)
    metrics = metrics_wsgi_app(registry)
    routes = {r.path: r for r in ROUTES}
    spec = openapi_spec()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _json(start_response, "405 Method Not Allowed", {"error": "GET only"})
        if path == "/metrics":
            result: Iterable[bytes] = metrics(environ, start_response)
            return result
        if path == "/openapi.json":
            return _json(start_response, "200 OK", spec)
        if path == "/healthz":
            return _json(
                start_response,
                "200 OK",
                {"status": "ok", "store": str(reader.path), "store_exists": reader.exists},
            )
        route = routes.get(path.rstrip("/"))
        if route is None:
            return _json(
                start_response,
                "404 Not Found",
                {"error": f"no such endpoint: {path}", "see": "/openapi.json"},
            )
        try:
            kwargs = _params(route, environ.get("QUERY_STRING", ""))
        except ValueError as exc:
            return _json(start_response, "400 Bad Request", {"error": str(exc)})
        try:
            body = route.handler(reader, **kwargs)
        except Exception as exc:  # a broken store or a bug: JSON, not a dropped connection
            _guard.report(f"serve {path}", exc)
            return _json(
                start_response, "500 Internal Server Error", {"error": f"{type(exc).__name__}"}
            )
        return _json(start_response, "200 OK", body)

    return app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server:
    """A running server (a daemon thread). Stop it with :meth:`shutdown`."""

    def __init__(self, httpd: WSGIServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def start_server(
    port: int = 9465,
    host: str = "127.0.0.1",
    store: LocalStore | Path | str | None = None,
    registry: Any = None,
) -> Server:
    """Serve :func:`make_app` on ``host:port`` from a daemon thread (``port=0``: any free one)."""
    httpd = make_server(host, port, make_app(store, registry), server_class=_ThreadingWSGIServer,
                        handler_class=_QuietHandler)  # fmt: skip
    thread = threading.Thread(target=httpd.serve_forever, name="langgraph-observe-serve",
                              daemon=True)  # fmt: skip
    thread.start()
    return Server(httpd, thread)
