"""POSTing encoded OTLP requests, with a time limit per request and retries within it.

Used from a sink's worker thread (never from the graph's path). A request that cannot be
delivered within ``timeout_s`` (refused, stalled, 429 or 5xx until the limit) is given
up and reported as failed to the caller, which counts what it lost.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping

__all__ = ["OTLPPoster", "PostFailed"]

#: HTTP statuses worth retrying (the OTLP/HTTP specification's list)
RETRYABLE = frozenset({429, 502, 503, 504})


class PostFailed(Exception):
    """A request was not accepted; ``retryable`` tells whether trying later may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _gzip(body: bytes) -> bytes:
    # level 1: most of the size gain for a fraction of the default level's CPU
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    return c.compress(body) + c.flush()


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

    def _once(self, data: bytes, timeout: float) -> None:
        request = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise PostFailed(f"{self.url} answered {exc.code}", exc.code in RETRYABLE) from None
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            raise PostFailed(f"{self.url}: {exc}", not isinstance(exc, ValueError)) from None
