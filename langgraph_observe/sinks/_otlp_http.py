"""POSTing encoded OTLP requests, with a time limit per request and retries within it.

Used from a sink's worker thread (never from the graph's path). A request that cannot be
delivered within ``timeout_s`` (refused, stalled, 429 or 5xx until the limit) is given
up and reported as failed to the caller, which counts what it lost.

Requests go over one kept-alive connection (a new connection per request costs both
ends more than encoding the spans it carries); through ``urllib`` when a proxy applies
or the server redirects, as before.
"""

from __future__ import annotations

import http.client
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Mapping

__all__ = ["OTLPPoster", "PostFailed"]

#: HTTP statuses worth retrying (the OTLP/HTTP specification's list)
RETRYABLE = frozenset({429, 502, 503, 504})
#: what ``urllib`` sends, kept so a request reads the same either way
USER_AGENT = "Python-urllib/%d.%d" % sys.version_info[:2]  # noqa: UP031
#: a kept-alive connection the server closed in the meantime fails with one of these
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class PostFailed(Exception):
    """A request was not accepted; ``retryable`` tells whether trying later may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _gzip(body: bytes) -> bytes:
    # level 1: most of the size gain for a fraction of the default level's CPU
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    return c.compress(body) + c.flush()


def _direct(url: urllib.parse.SplitResult) -> bool:
    """True when ``urllib`` would connect to the server itself (no proxy applies)."""
    if url.scheme not in ("http", "https") or not url.hostname:
        return False
    return url.scheme not in urllib.request.getproxies() or bool(
        urllib.request.proxy_bypass(url.hostname)
    )


class OTLPPoster:
    """Sends OTLP/protobuf bodies to ``url``.

    Args:
        url: the OTLP/HTTP traces endpoint.
        headers: extra request headers (authorisation and the like).
        timeout_s: time limit of one :meth:`post`, retries included.
        gzip: compress bodies (``Content-Encoding: gzip``).
    """

    def __init__(
        self, url: str, headers: Mapping[str, str], timeout_s: float, gzip: bool = True
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.gzip = gzip
        self.headers = {"Content-Type": "application/x-protobuf", **headers}
        if gzip:
            self.headers["Content-Encoding"] = "gzip"
        parts = urllib.parse.urlsplit(url)
        self._parts = parts if _direct(parts) else None
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def post(self, body: bytes) -> None:
        """Deliver ``body``; raises :class:`PostFailed` when it could not be done in time."""
        data = _gzip(body) if self.gzip else body
        deadline = time.monotonic() + self.timeout_s
        delay = 0.25
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PostFailed(f"no answer from {self.url} within {self.timeout_s:g}s", True)
            try:
                self._once(data, left)
                return
            except PostFailed as exc:
                if not exc.retryable or time.monotonic() + delay >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def after_fork(self) -> None:
        """In a forked child: let go of the parent's kept-alive connection (closing the
        child's copy of its socket leaves the parent's connection open, and sends nothing)
        and of a lock a parent's thread may have held. The next :meth:`post` connects."""
        self._lock = threading.Lock()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close the kept-alive connection (a later :meth:`post` opens a new one). Does
        not wait for a request in flight: that one fails."""
        conn = self._conn
        if conn is not None:
            conn.close()

    def _once(self, data: bytes, timeout: float) -> None:
        if self._parts is None:
            self._once_urllib(data, timeout)
            return
        with self._lock:
            status = self._exchange(data, timeout)
        if 300 <= status < 400:  # redirects are urllib's to follow
            self._once_urllib(data, timeout)
        elif not 200 <= status < 300:
            raise PostFailed(f"{self.url} answered {status}", status in RETRYABLE)

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        parts = self._parts
        assert parts is not None
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        return cls(parts.hostname or "", parts.port, timeout=timeout)

    def _exchange(self, data: bytes, timeout: float) -> int:
        """One request and its answer's status; a connection the server closed while idle
        is replaced once."""
        headers = {"User-Agent": USER_AGENT, **self.headers}
        for attempt in (0, 1):
            conn = self._conn
            reused = conn is not None and conn.sock is not None
            if conn is None:
                conn = self._conn = self._connect(timeout)
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request("POST", self._target, body=data, headers=headers)
                with conn.getresponse() as response:
                    response.read()
                    status = response.status
                    if response.will_close:
                        self._drop()
                return status
            except _STALE as exc:
                self._drop()
                if not reused or attempt:
                    raise PostFailed(f"{self.url}: {exc}", True) from None
            except (OSError, http.client.HTTPException) as exc:  # refused, timed out, garbled
                self._drop()
                raise PostFailed(f"{self.url}: {exc}", True) from None
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _once_urllib(self, data: bytes, timeout: float) -> None:
        request = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise PostFailed(f"{self.url} answered {exc.code}", exc.code in RETRYABLE) from None
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            raise PostFailed(f"{self.url}: {exc}", not isinstance(exc, ValueError)) from None
