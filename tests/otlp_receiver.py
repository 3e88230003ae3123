"""A loopback OTLP/HTTP receiver for the tests (and Langfuse's OTLP + score endpoints).

Accepts protobuf POSTs on ``/v1/traces``, ``/v1/metrics`` and Langfuse's
``/api/public/otel/v1/traces`` (gzip or plain), and JSON score batches on
``/api/public/scores``; decodes everything into plain dicts with ``opentelemetry-proto``.
``stall = True`` makes it hold every request without answering (an unreachable backend);
``fail_next`` lists status codes to answer the next trace requests with.
"""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["OTLPReceiver", "otlp_receiver", "require"]


def require(module: str) -> Any:
    """Import ``module`` for a test; skip when it is missing, but fail under ``CI=true``."""
    if os.environ.get("CI", "").lower() == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} is not installed")


otlp_trace = require("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
otlp_metrics = require("opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")

TRACE_PATHS = ("/v1/traces", "/api/public/otel/v1/traces")


def any_value(v: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which)


def attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _decode_spans(body: bytes, path: str, auth: str | None) -> list[dict[str, Any]]:
    req = otlp_trace.ExportTraceServiceRequest()
    req.ParseFromString(body)
    out = []
    for rs in req.resource_spans:
        resource = attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    {
                        "name": s.name,
                        "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex() or None,
                        "kind": s.kind,
                        "start_ns": s.start_time_unix_nano,
                        "end_ns": s.end_time_unix_nano,
                        "attributes": attrs(s.attributes),
                        "status": {"code": s.status.code, "message": s.status.message},
                        "events": [
                            {
                                "name": e.name,
                                "time_ns": e.time_unix_nano,
                                "attributes": attrs(e.attributes),
                            }
                            for e in s.events
                        ],
                        "resource": resource,
                        "scope": ss.scope.name,
                        "path": path,
                        "auth": auth,
                    }
                )
    return out


def _decode_metrics(body: bytes) -> list[dict[str, Any]]:
    req = otlp_metrics.ExportMetricsServiceRequest()
    req.ParseFromString(body)
    out = []
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                which = m.WhichOneof("data")
                points = []
                for p in getattr(m, which).data_points:
                    point: dict[str, Any] = {"attributes": attrs(p.attributes)}
                    if which == "histogram":
                        point.update(count=p.count, sum=p.sum)
                    else:
                        point["value"] = p.as_double if p.HasField("as_double") else p.as_int
                    points.append(point)
                out.append({"name": m.name, "unit": m.unit, "type": which, "points": points})
    return out


class OTLPReceiver:
    """The server and what it received. ``url`` is the base URL (no trailing slash)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.scores: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []  #: (method, path) of every request
        self.stall = False
        #: status codes to answer the next trace POSTs with (one each), then 200 again
        self.fail_next: list[int] = []
        self.trace_headers: list[dict[str, str]] = []  #: headers of every trace POST
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                with receiver._lock:
                    receiver.requests.append(("GET", self.path))
                self._reply(404, b"{}", "application/json")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append(("POST", self.path))
                if receiver.stall:
                    receiver._released.wait(30)
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                auth = self.headers.get("Authorization")
                if auth and auth.startswith("Basic "):
                    auth = base64.b64decode(auth[6:]).decode()
                path = self.path.split("?")[0]
                if path in TRACE_PATHS:
                    with receiver._lock:
                        receiver.trace_headers.append(dict(self.headers.items()))
                        code = receiver.fail_next.pop(0) if receiver.fail_next else 0
                    if code:
                        self._reply(code, b"{}", "application/json")
                        return
                    spans = _decode_spans(body, path, auth)
                    with receiver._lock:
                        receiver.spans.extend(spans)
                    resp = otlp_trace.ExportTraceServiceResponse().SerializeToString()
                    self._reply(200, resp, "application/x-protobuf")
                elif path == "/v1/metrics":
                    metrics = _decode_metrics(body)
                    with receiver._lock:
                        receiver.metrics.extend(metrics)
                    resp = otlp_metrics.ExportMetricsServiceResponse().SerializeToString()
                    self._reply(200, resp, "application/x-protobuf")
                elif path == "/api/public/scores":
                    items = json.loads(body)
                    with receiver._lock:
                        receiver.scores.extend({**s, "auth": auth} for s in items)
                    self._reply(202, b'{"message":"Accepted"}', "application/json")
                else:
                    self._reply(404, b"{}", "application/json")

        return Handler

    def start(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def spans_at(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self.spans if s["path"] == path]

    def wait_for(self, ready: Callable[[OTLPReceiver], bool], timeout: float = 10.0) -> bool:
        """Poll until ``ready(self)`` or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready(self):
                return True
            time.sleep(0.02)
        return ready(self)


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    """A started receiver on a free loopback port; stopped after the test."""
    receiver = OTLPReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
