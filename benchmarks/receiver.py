"""Loopback backends for the benchmark: an OTLP/HTTP receiver that counts spans, and a
server that accepts connections and never answers (a stalled backend).

The receiver runs in the runner's process, not in the measured one, so decoding costs
nothing to the variant being measured. It still decodes cheaply: it walks the protobuf
wire format of ``ExportTraceServiceRequest`` three levels deep and counts the ``Span``
fields without parsing them (no ``opentelemetry-proto`` needed). Bodies may be gzipped
(the Langfuse SDK's default). Counts are kept per path and served as JSON on
``GET /counts``, so the measured process can read them to verify its spans arrived.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

__all__ = ["OTLPCounter", "StallingServer", "count_spans", "fetch_counts", "refused_url"]

#: OTLP trace paths: the OpenTelemetry collector's and Langfuse's.
TRACE_PATHS = ("/v1/traces", "/api/public/otel/v1/traces")


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, memoryview | None]]:
    """``(field number, payload)`` of each top-level field; payload only for length-
    delimited fields."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
            yield key >> 3, None
        elif wire == 1:
            pos += 8
            yield key >> 3, None
        elif wire == 2:
            size, pos = _varint(buf, pos)
            yield key >> 3, buf[pos : pos + size]
            pos += size
        elif wire == 5:
            pos += 4
            yield key >> 3, None
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def count_spans(body: bytes) -> int:
    """Spans in a serialized ``ExportTraceServiceRequest``: resource_spans (1) ->
    scope_spans (2) -> spans (2)."""
    n = 0
    for f1, resource_spans in _fields(memoryview(body)):
        if f1 != 1 or resource_spans is None:
            continue
        for f2, scope_spans in _fields(resource_spans):
            if f2 != 2 or scope_spans is None:
                continue
            n += sum(1 for f3, _ in _fields(scope_spans) if f3 == 2)
    return n


class OTLPCounter:
    """An OTLP/HTTP receiver on 127.0.0.1 that counts spans per path.

    Any other request is answered ``200 {}`` (metrics, Langfuse's API calls), and counted
    as a request. Use as a context manager, or ``start()``/``stop()``.
    """

    def __init__(self) -> None:
        from http.server import ThreadingHTTPServer  # not in the measured processes

        self.spans: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bench-otlp-receiver", daemon=True
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {"spans": dict(self.spans), "requests": dict(self.requests)}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        from http.server import BaseHTTPRequestHandler

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(self, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/counts":
                    self._reply(json.dumps(receiver.counts()).encode())
                    return
                with receiver._lock:
                    receiver.requests[path] = receiver.requests.get(path, 0) + 1
                self._reply(b"{}")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                spans = 0
                if path in TRACE_PATHS:
                    if self.headers.get("Content-Encoding") == "gzip":
                        import gzip

                        body = gzip.decompress(body)
                    spans = count_spans(body)
                with receiver._lock:
                    receiver.requests[path] = receiver.requests.get(path, 0) + 1
                    if spans:
                        receiver.spans[path] = receiver.spans.get(path, 0) + spans
                if path in TRACE_PATHS or path == "/v1/metrics":
                    self._reply(b"", "application/x-protobuf")
                else:
                    self._reply(b"{}")

        return Handler

    def start(self) -> OTLPCounter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> OTLPCounter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fetch_counts(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """The counts of the receiver at ``url`` (from another process)."""
    from urllib.request import urlopen

    with urlopen(f"{url}/counts", timeout=timeout) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


class StallingServer:
    """Accepts TCP connections on 127.0.0.1 and never reads or answers: a backend that
    hangs. Holds at most ``max_connections`` open (older ones are closed)."""

    def __init__(self, max_connections: int = 64) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.1)
        self._held: list[socket.socket] = []
        self._max = max_connections
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-stalling", daemon=True)
        self.accepted = 0
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self._held.append(conn)
            while len(self._held) > self._max:
                self._held.pop(0).close()

    def start(self) -> StallingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._held.clear()
        self._sock.close()

    def __enter__(self) -> StallingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def refused_url() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
