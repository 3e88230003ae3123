"""The OTLP poster: one kept-alive connection, a connection the server dropped replaced
at once, the same request headers as ``urllib`` sends, ``urllib`` when a proxy applies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from langgraph_observe.sinks._otlp_http import OTLPPoster, PostFailed

pytestmark = pytest.mark.unit


class Server:
    """Counts connections and requests; ``drop`` closes each connection after answering
    without telling the client (as a server timing out idle connections does)."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[dict[str, str]] = []
        self.bodies: list[bytes] = []
        self.drop = False
        self.status = [200]
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(dict(self.headers.items()))
                code = server.status.pop(0) if len(server.status) > 1 else server.status[0]
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.close_connection = server.drop

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/v1/traces"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


def test_requests_share_one_connection(server: Server) -> None:
    poster = OTLPPoster(server.url, {"Authorization": "Basic x"}, 5, gzip=False)
    for i in range(3):
        poster.post(b"body %d" % i)
    poster.close()
    assert server.bodies == [b"body 0", b"body 1", b"body 2"]
    assert server.connections == 1


def test_a_dropped_connection_is_replaced_without_waiting(server: Server) -> None:
    server.drop = True
    poster = OTLPPoster(server.url, {}, 5, gzip=False)
    started = time.monotonic()
    for i in range(3):
        poster.post(b"%d" % i)
    assert time.monotonic() - started < 0.2  # no retry delay
    assert server.bodies == [b"0", b"1", b"2"] and server.connections == 3
    poster.close()


def test_statuses_are_retried_or_refused(server: Server) -> None:
    poster = OTLPPoster(server.url, {}, 5, gzip=False)
    server.status = [503, 204]
    poster.post(b"x")
    assert len(server.bodies) == 2
    server.status = [401]
    with pytest.raises(PostFailed) as failed:
        poster.post(b"y")
    assert not failed.value.retryable and "401" in str(failed.value)
    poster.close()


def test_same_headers_as_urllib_sends(server: Server) -> None:
    poster = OTLPPoster(server.url, {"Authorization": "Basic x", "x-extra": "1"}, 5)
    poster.post(b"kept alive")
    poster._once_urllib(b"through urllib", 5)
    poster.close()
    direct, via_urllib = ({k.lower(): v for k, v in h.items()} for h in server.requests)
    assert via_urllib.pop("connection") == "close"
    direct.pop("content-length"), via_urllib.pop("content-length")
    assert direct == via_urllib
    assert direct["content-encoding"] == "gzip" and direct["x-extra"] == "1"


def test_a_proxy_sends_through_urllib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert OTLPPoster("http://example.invalid/v1/traces", {}, 1)._parts is None
    monkeypatch.setenv("no_proxy", "example.invalid")
    assert OTLPPoster("http://example.invalid/v1/traces", {}, 1)._parts is not None
