"""Serve or push the metrics: an HTTP server, WSGI/ASGI apps, a Pushgateway push.

>>> from langgraph_observe.exposition import start_metrics_server
>>> server = start_metrics_server(9464)          # doctest: +SKIP
>>> server.shutdown()                            # doctest: +SKIP

Every helper takes ``registry=None``: then the metrics of prometheus_client's default
``REGISTRY`` are served, or, in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set), those of
every process, merged by a ``MultiProcessCollector`` reading that directory.
The server listens on ``127.0.0.1`` unless told otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, make_asgi_app, make_wsgi_app
from prometheus_client import multiprocess as _multiprocess
from prometheus_client import push_to_gateway as _push_to_gateway
from prometheus_client import start_http_server as _start_http_server

from .sinks._prometheus_metrics import multiprocess_enabled

__all__ = [
    "MetricsServer",
    "metrics_asgi_app",
    "metrics_registry",
    "metrics_wsgi_app",
    "push_metrics",
    "start_metrics_server",
]


def metrics_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """The registry to expose: ``registry`` if given; else a fresh one collecting every
    process's metric files in multiprocess mode; else prometheus_client's ``REGISTRY``."""
    if registry is not None:
        return registry
    if multiprocess_enabled():
        merged = CollectorRegistry()
        _multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged
    return REGISTRY


class MetricsServer:
    """A running metrics HTTP server (a daemon thread). Stop it with :meth:`shutdown`."""

    def __init__(self, httpd: Any, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread

    @property
    def port(self) -> int:
        """The port it listens on (useful after ``port=0``)."""
        return int(self._httpd.server_address[1])

    @property
    def address(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def url(self) -> str:
        """``http://host:port/metrics``."""
        return f"http://{self.address}:{self.port}/metrics"

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def start_metrics_server(
    port: int, addr: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> MetricsServer:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread (``port=0``: any free port)."""
    httpd, thread = _start_http_server(port, addr=addr, registry=metrics_registry(registry))
    return MetricsServer(httpd, thread)


def metrics_wsgi_app(registry: CollectorRegistry | None = None) -> Callable[..., Any]:
    """A WSGI app serving the metrics (mount it at ``/metrics``)."""
    app: Callable[..., Any] = make_wsgi_app(metrics_registry(registry))
    return app


def metrics_asgi_app(registry: CollectorRegistry | None = None) -> Callable[..., Any]:
    """An ASGI app serving the metrics (mount it at ``/metrics``)."""
    app: Callable[..., Any] = make_asgi_app(metrics_registry(registry))
    return app


def push_metrics(
    gateway: str,
    job: str,
    registry: CollectorRegistry | None = None,
    grouping_key: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> None:
    """Push the metrics to a Pushgateway (for batch jobs), replacing the job's group.

    Flush the handler first (``handler.flush()``) so every record has been counted.
    ``gateway`` is ``host:port`` or a URL. Raises on HTTP errors: a batch job should know.
    """
    _push_to_gateway(
        gateway,
        job=job,
        registry=metrics_registry(registry),
        grouping_key=dict(grouping_key) if grouping_key else None,
        timeout=timeout,
    )
