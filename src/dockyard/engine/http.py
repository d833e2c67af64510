"""A small HTTP/1.1 client for the Docker Engine API over a unix socket or TCP.

Why not the docker SDK: measured on this machine, one ``inspect`` costs 270 us through
``http.client`` on a kept-alive unix socket, 738 us through the docker SDK, 690 us
through httpx and 446 us through aiodocker. Workspace reuse is a handful of such calls,
and the benchmark holds it to 3x the raw floor, so the cheap calls go straight to the
socket. The API surface dockyard needs is small and stable (API 1.41, which dockerd 20.10
and Podman 4 both speak).

This module is the only place where socket and HTTP exceptions exist: everything is
translated here into ``EngineUnavailable`` (cannot talk to the engine at all),
``NotFound`` (404), ``Conflict`` (409), ``InvalidInput`` (400) or ``EngineError``
(anything else). Messages carry the engine's own one-line ``message`` field and never
the request body, which may hold environment values.

Connections: one kept-alive connection per thread for ordinary calls; a fresh connection
for every stream (events, exec, archives), closed when the stream ends.

Nothing waits forever. Connecting gives up after ``connect_timeout_s`` (a blackholed
engine fails a CLI command in seconds, not minutes); every request has a finite timeout
(the engine methods choose one per call: a commit may take minutes, an inspect should
not). A request is sent again only when it cannot have reached the engine: a kept-alive
connection that the engine had closed while idle (the send fails, or the connection
closes before a single byte of an answer). A request that timed out is never sent again:
the engine may be working on it.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import urllib.parse
import weakref
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from dockyard.core.errors import (
    Conflict,
    DockyardError,
    EngineError,
    EngineUnavailable,
    InvalidInput,
    NotFound,
)

API_VERSION = "1.41"
_CONNECT_ERRORS = (OSError, http.client.HTTPException)
#: What a kept-alive connection closed by the engine while idle fails with, before any
#: byte of an answer: the request never reached the engine, so sending it again is safe.
_STALE_CONNECTION = (
    http.client.RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)
#: Default limits, in seconds.
CONNECT_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 60.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float, *, connect_timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path
        self._connect_timeout = connect_timeout

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._connect_timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        sock.settimeout(self.timeout)
        self.sock = sock


class _TcpConnection(http.client.HTTPConnection):
    """Connects within ``connect_timeout`` (TLS handshake included, with ``tls``), then
    waits up to ``timeout`` per operation."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float,
        *,
        connect_timeout: float,
        tls: ssl.SSLContext | None,
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._connect_timeout = connect_timeout
        self._tls = tls

    def connect(self) -> None:
        sock = _tcp_connect(self.host, self.port, self._connect_timeout, self._tls)
        sock.settimeout(self.timeout)
        self.sock = sock


def _tcp_connect(
    host: str, port: int, connect_timeout: float, tls: ssl.SSLContext | None
) -> socket.socket:
    sock = socket.create_connection((host, port), connect_timeout)
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname=host)  # the handshake, in the timeout
    except BaseException:
        sock.close()
        raise


class _Held:
    """A thread's kept-alive connection, held in its thread-local storage."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class EngineTransport:
    """HTTP requests to one engine endpoint (``unix:///path`` or ``tcp://host:port``,
    over TLS with ``tls``: the engine's default port is 2376 then)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = REQUEST_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        self._tls = tls
        if parsed.scheme == "unix":
            if not parsed.path:
                raise InvalidInput(f"engine URL {url!r} has no socket path")
            if tls is not None:
                raise InvalidInput(f"engine URL {url!r}: TLS is for tcp:// engines")
            self._unix_path: str | None = parsed.path
            self._host, self._port = "localhost", 0
        elif parsed.scheme in {"tcp", "http"}:
            if not parsed.hostname:
                raise InvalidInput(f"engine URL {url!r} has no host")
            self._unix_path = None
            self._host, self._port = parsed.hostname, parsed.port or (2376 if tls else 2375)
        else:
            raise InvalidInput(
                f"engine URL {url!r}: expected unix:///path/to/docker.sock or tcp://host:port"
            )
        self.url = url
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._local = threading.local()
        # Every kept-alive connection, whichever thread opened it, so close() reaches all;
        # weakly, so that a finished thread's connection goes (and closes) with it.
        self._all: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._all_lock = threading.Lock()

    # -- connections --------------------------------------------------------------------

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._unix_path is not None:
            return _UnixConnection(self._unix_path, timeout, connect_timeout=self.connect_timeout_s)
        return _TcpConnection(
            self._host, self._port, timeout, connect_timeout=self.connect_timeout_s, tls=self._tls
        )

    def _connected(self, timeout: float) -> socket.socket:
        """A raw socket to the engine, connected within the connect timeout."""
        if self._unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout_s)
            try:
                sock.connect(self._unix_path)
            except OSError:
                sock.close()
                raise
        else:
            sock = _tcp_connect(self._host, self._port, self.connect_timeout_s, self._tls)
        sock.settimeout(timeout)
        return sock

    def _pooled(self) -> tuple[http.client.HTTPConnection, bool]:
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None:
            return held.conn, True
        conn = self._new_connection(self.timeout_s)
        held = _Held(conn)
        # the thread's storage goes when the thread ends, and the connection is closed then
        weakref.finalize(held, conn.close)
        self._local.held = held
        with self._all_lock:
            self._all.add(conn)
        return conn, False

    def _drop_pooled(self) -> None:
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None:
            held.conn.close()
            self._local.held = None
            with self._all_lock:
                self._all.discard(held.conn)

    def close(self) -> None:
        """Close every kept-alive connection (of all threads); later calls reconnect."""
        with self._all_lock:
            connections, self._all = list(self._all), weakref.WeakSet()
        for conn in connections:
            conn.close()

    @property
    def is_local(self) -> bool:
        """Is the engine on this machine (a unix socket), so its cgroups are readable here?"""
        return self._unix_path is not None

    def _unavailable(self, exc: BaseException) -> EngineUnavailable:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = "timed out"
        elif isinstance(exc, ssl.SSLCertVerificationError):
            reason = f"TLS: the engine's certificate is not trusted ({exc.verify_message})"
        elif isinstance(exc, ssl.SSLError):
            reason = f"TLS: {exc.reason or exc}"
        return EngineUnavailable(f"cannot reach the container engine at {self.url}: {reason}")

    # -- requests -----------------------------------------------------------------------

    def path(self, endpoint: str, query: Mapping[str, object] | None = None) -> str:
        """The versioned request path for ``endpoint`` with ``query`` encoded."""
        try:  # a name is never a way to reach another endpoint, nor an invalid request line
            target = f"/v{API_VERSION}{urllib.parse.quote(endpoint, safe='/:@')}"
        except UnicodeEncodeError:
            raise InvalidInput(f"{endpoint[:80]!r} is not valid Unicode") from None
        if query:
            items = {k: _query_value(v) for k, v in query.items() if v is not None}
            target += "?" + urllib.parse.urlencode(items)
        return target

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        query: Mapping[str, object] | None = None,
        body: Any = None,
        data: bytes | Iterable[bytes] | None = None,
        content_type: str = "application/json",
        timeout_s: float | None = None,
        conflicts: Collection[int] = (409,),
    ) -> Response:
        """Send one request on this thread's kept-alive connection and read the answer.

        ``body`` is sent as JSON; ``data`` as raw bytes (an iterable is sent chunked).
        ``timeout_s`` bounds each wait for the engine (default: the transport's). A
        kept-alive connection the engine closed while idle is reopened once; nothing
        is sent again after a timeout. ``conflicts``: the statuses that mean ``Conflict``
        here (dockerd answers 403 for a network in use or a subnet taken).
        """
        target = self.path(endpoint, query)
        payload: bytes | Iterable[bytes] | None = data
        if body is not None:
            payload = json.dumps(body).encode()
        headers = {"Content-Type": content_type} if payload is not None else {}
        chunked = payload is not None and not isinstance(payload, bytes)
        for attempt in (0, 1):
            conn, reused = self._pooled()
            conn.timeout = timeout_s if timeout_s is not None else self.timeout_s
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            answered = False
            try:
                conn.request(method, target, body=payload, headers=headers, encode_chunked=chunked)
                raw = conn.getresponse()
                answered = True
                content = raw.read()
            except _CONNECT_ERRORS as exc:
                self._drop_pooled()
                # A kept-alive connection the engine closed while idle (it restarted, or
                # timed the connection out): the request never reached it. Send it again
                # once on a fresh connection, unless its body was a stream (spent).
                stale = isinstance(exc, _STALE_CONNECTION) and not answered
                if reused and stale and attempt == 0 and not chunked:
                    continue
                raise self._unavailable(exc) from exc
            response = Response(raw.status, content, {k.lower(): v for k, v in raw.getheaders()})
            if raw.will_close:
                self._drop_pooled()
            raise_for_status(response, what=f"{method} {endpoint}", conflicts=conflicts)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def stream(
        self,
        method: str,
        endpoint: str,
        *,
        query: Mapping[str, object] | None = None,
        body: Any = None,
        timeout_s: float | None = None,
    ) -> Iterator[http.client.HTTPResponse]:
        """A request whose answer is read incrementally, on its own connection."""
        conn = self._new_connection(timeout_s if timeout_s is not None else self.timeout_s)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            try:
                conn.request(method, self.path(endpoint, query), body=payload, headers=headers)
                raw = conn.getresponse()
            except _CONNECT_ERRORS as exc:
                raise self._unavailable(exc) from exc
            if raw.status >= 400:
                raise_for_status(Response(raw.status, raw.read()), what=f"{method} {endpoint}")
            yield raw
        finally:
            conn.close()

    def hijack(self, endpoint: str, *, body: Any, timeout_s: float | None = None) -> RawStream:
        """POST ``body`` and take over the connection as a raw bidirectional stream.

        This is how the engine attaches to an exec: after the ``101 UPGRADED`` (or a
        ``200`` from older engines) the socket carries the process's input and output.
        Any other status is an error answer with a body of its own length: it is read as
        such and raised (a 409 when the container is not running, a 404 for an unknown
        exec) before the connection is taken, never by waiting for the engine to close
        it (it keeps the connection open). ``timeout_s`` bounds waits on the stream
        afterwards (None: none; a process may be silent for hours).
        """
        payload = json.dumps(body).encode()
        head = (
            f"POST {self.path(endpoint)} HTTP/1.1\r\n"
            f"Host: docker\r\n"
            f"Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            f"Connection: Upgrade\r\n"
            f"Upgrade: tcp\r\n\r\n"
        ).encode()
        try:
            sock = self._connected(self.timeout_s)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        try:
            sock.sendall(head + payload)
            status, headers, leftover = _read_response_head(sock)
            if status not in (101, 200):
                body = _read_body(sock, headers, leftover)
                raise_for_status(Response(status, body), what=f"POST {endpoint}")
                raise EngineError(f"POST {endpoint}: unexpected status {status}")
            sock.settimeout(timeout_s)
            return RawStream(sock, leftover)
        except OSError as exc:
            sock.close()
            raise self._unavailable(exc) from exc
        except DockyardError:
            sock.close()
            raise


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def raise_for_status(response: Response, *, what: str, conflicts: Collection[int] = (409,)) -> None:
    """Translate an engine error answer into dockyard's error tree."""
    if response.status < 400:
        return
    message = _engine_message(response.body) or f"HTTP {response.status}"
    if response.status == 404:
        raise NotFound(message)
    if response.status in conflicts or (
        response.status == 500 and any(p in message for p in _PODMAN_CONFLICTS)
    ):
        raise Conflict(message)
    if response.status == 400:
        raise InvalidInput(message)
    raise EngineError(f"{what} failed: {message}")


#: Podman's compatible API (4.3) answers these conflicts with a 500 where dockerd says 409
#: (403 for networks): a container name in use, an exec in a container that is not
#: running, a network name in use, a subnet another network has.
_PODMAN_CONFLICTS = (
    "is already in use",
    "container state improper",
    "network already exists",
    "is already used on the host or by another config",
    "network is being used",
)


def _engine_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode(errors="replace").strip()
        return text.splitlines()[0][:300] if text else ""
    if isinstance(data, dict):
        return str(data.get("message") or data.get("cause") or "").strip()
    return ""


#: An error answer's body larger than this is not read whole (its first line is enough).
_MAX_ERROR_BODY = 1024 * 1024


def _read_response_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, the headers (lower-case names) and the bytes read past the head."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionResetError("the engine closed the connection")
        buffer += chunk
        if len(buffer) > 65536:
            raise EngineError("the engine sent an oversized response head")
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise EngineError(f"the engine sent a malformed status line: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, rest


def _read_body(sock: socket.socket, headers: Mapping[str, str], leftover: bytes) -> bytes:
    """An answer's body as its headers frame it (a length, or chunks); only a body with
    neither is read until the engine closes the connection."""
    reader = _Reader(sock, leftover)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while len(body) < _MAX_ERROR_BODY:
            size_line = reader.line()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                break
            body += reader.exactly(size)
            reader.line()  # the CRLF after each chunk
        return bytes(body)
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        return reader.exactly(min(int(length), _MAX_ERROR_BODY))
    return reader.rest(_MAX_ERROR_BODY)


class _Reader:
    """Bytes of a socket, after some already read."""

    def __init__(self, sock: socket.socket, buffered: bytes) -> None:
        self._sock = sock
        self._buffer = buffered

    def _fill(self) -> bool:
        chunk = self._sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def exactly(self, size: int) -> bytes:
        while len(self._buffer) < size and self._fill():
            pass
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def line(self) -> bytes:
        while b"\r\n" not in self._buffer and self._fill():
            pass
        data, _, self._buffer = self._buffer.partition(b"\r\n")
        return data

    def rest(self, limit: int) -> bytes:
        while len(self._buffer) < limit and self._fill():
            pass
        return self._buffer[:limit]


class RawStream:
    """A hijacked connection: bytes read past the response head come first."""

    def __init__(self, sock: socket.socket, prefix: bytes) -> None:
        self._sock = sock
        self._prefix = prefix

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` once the engine closed its side."""
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._sock.recv(size)

    def recv_exactly(self, size: int) -> bytes:
        """Exactly ``size`` bytes, or fewer only if the stream ended."""
        parts: list[bytes] = []
        remaining = size
        while remaining:
            chunk = self.recv(remaining)
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def close_write(self) -> None:
        """Signal end of input to the process (half-close). Over TLS too: the socket's
        own shutdown, not ``SSLSocket.shutdown``, which drops the TLS layer and with it
        the rest of the output; the engine reads the end of the stream as the end of
        input, as it does from the docker CLI."""
        with suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_WR)

    def close(self) -> None:
        """Close the connection; a thread blocked reading it wakes with its end (a plain
        close would leave it waiting, and the engine would not see the end)."""
        with suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
        self._sock.close()
