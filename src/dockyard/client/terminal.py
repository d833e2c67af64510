"""A ``shell`` session's terminal over the server's WebSocket
(``/api/v1/sessions/{id}/terminal``; its protocol is in ``dockyard.api.terminal``).

``TerminalLink`` sends keys and sizes and yields what the terminal prints; the token
goes in the first message, never in the URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from dockyard.client.config import Connection
from dockyard.core.errors import DockyardError, Unavailable, error_for


class TerminalLink:
    """A live terminal of session ``session_id``, as a context manager."""

    def __init__(self, connection: Connection, session_id: str, *, rows: int, cols: int) -> None:
        parts = urlsplit(connection.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path}/api/v1/sessions/{quote(session_id, safe='')}/terminal"
        self._url = urlunsplit((scheme, parts.netloc, path, "", ""))
        self._hello = {"token": connection.token or "", "rows": rows, "cols": cols}
        self._socket: ClientConnection | None = None
        self.started = False  # a new shell was started (not the one left running)

    def __enter__(self) -> TerminalLink:
        try:
            self._socket = connect(self._url, open_timeout=10, max_size=None)
            self._socket.send(json.dumps(self._hello))
            first = self._socket.recv(timeout=60)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            self.close()
            raise Unavailable(f"cannot reach the terminal at {self._url}: {exc}") from None
        except ConnectionClosed as exc:
            self.close()
            raise Unavailable(f"the server closed the terminal: {exc}") from None
        answer = _json(first)
        if "error" in answer:
            self.close()
            raise error_for(str(answer["error"]["code"]), str(answer["error"]["message"]))
        self.started = bool(answer.get("attached", {}).get("started"))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()

    def send(self, keys: bytes) -> None:
        self._send(keys)

    def resize(self, rows: int, cols: int) -> None:
        self._send(json.dumps({"resize": [rows, cols]}))

    def _send(self, message: str | bytes) -> None:
        try:
            self._live().send(message)
        except ConnectionClosed:
            raise Unavailable("the terminal's link closed") from None

    def output(self) -> Iterator[bytes]:
        """What the terminal prints, until its shell ends or the link drops."""
        socket = self._live()
        try:
            for message in socket:
                if isinstance(message, bytes):
                    yield message
                    continue
                said = _json(message)
                if "ended" in said:
                    return
                if "error" in said:  # a refused resize: nothing to stop for
                    continue
        except ConnectionClosed:
            return

    def _live(self) -> ClientConnection:
        if self._socket is None:
            raise DockyardError("the terminal is not open")
        return self._socket


def _json(message: str | bytes) -> dict[str, Any]:
    try:
        found = json.loads(message)
    except ValueError:
        found = None
    return found if isinstance(found, dict) else {}
