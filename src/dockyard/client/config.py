"""Where a client connects and when it tries again, the same for both clients.

The URL comes from the argument or ``$DOCKYARD_URL``, the token from the argument or
``$DOCKYARD_TOKEN`` (it is sent, never logged or shown). Retries are only where they are
safe: an idempotent call after a 503 that says ``Retry-After``, or after a connection
lost mid-call; any call after a connection that could not be made (nothing was sent).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from dockyard.client.calls import Call
from dockyard.core.errors import InvalidValue, Unavailable

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8420"
#: The longest wait a ``Retry-After`` is followed for; a longer one is not waited out.
MAX_WAIT_S = 30.0
#: Waits after a connection failure: 0.2 s, 0.4 s, 0.8 s, ...
BACKOFF_S = 0.2


@dataclass(frozen=True, slots=True)
class Connection:
    url: str
    token: str | None
    retries: int

    @classmethod
    def of(cls, url: str | None, *, token: str | None, retries: int) -> Connection:
        url = (url or os.environ.get("DOCKYARD_URL") or DEFAULT_URL).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidValue(f"dockyard URL {url!r}: give http(s)://host:port")
        if retries < 0:
            raise InvalidValue(f"retries must be 0 or more, got {retries}")
        return cls(url, token or os.environ.get("DOCKYARD_TOKEN") or None, retries)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"Connection(url={self.url!r}, token={'***' if self.token else None})"

    def after_transport_error(
        self, call: Call[Any], exc: httpx.TransportError, attempt: int
    ) -> float:
        """How long to wait before sending ``call`` again, or raise ``Unavailable``."""
        unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        if attempt < self.retries and (unsent or call.idempotent):
            return float(BACKOFF_S * 2**attempt)
        raise Unavailable(f"cannot reach dockyard at {self.url}: {exc or type(exc).__name__}")


@contextmanager
def reaching(url: str) -> Iterator[None]:
    """A lost or refused connection inside, as ``Unavailable`` (the streamed verbs)."""
    try:
        yield
    except httpx.TransportError as exc:
        raise Unavailable(f"cannot reach dockyard at {url}: {exc or type(exc).__name__}") from None


def guarded(chunks: Iterator[T], url: str) -> Iterator[T]:
    """``chunks``, a lost connection while reading them raised as ``Unavailable``."""
    with reaching(url):
        yield from chunks


def retry_after(
    response: httpx.Response, call: Call[Any], attempt: int, retries: int
) -> float | None:
    """The wait before sending an idempotent ``call`` again after a 503 that asks for
    one, or None to read the answer as it is."""
    if response.status_code != 503 or not call.idempotent or attempt >= retries:
        return None
    header = response.headers.get("retry-after", "")
    try:
        wait = float(header)
    except ValueError:
        return None
    return wait if 0 <= wait <= MAX_WAIT_S else None
