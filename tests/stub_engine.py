"""A stub container engine on a unix socket: it answers HTTP/1.1 the way a script says.

For the transport's error paths, which a healthy dockerd rarely shows on cue: an error
answer that keeps the connection open, a request that never gets an answer, a kept-alive
connection closed while idle. Every request it reads is recorded (method and path).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes


#: What the stub does with a request: an answer (bytes sent as they are), or None to
#: send nothing and keep the connection open; ``close`` after it closes the connection.
Answer = tuple[bytes | None, bool]
Script = Callable[[Request], Answer]


def json_answer(status: int, body: object, *, reason: str = "X", chunked: bool = False) -> bytes:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
    if chunked:
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + (
            f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n"
        )
    return (head + f"Content-Length: {len(data)}\r\n\r\n").encode() + data


@dataclass
class StubEngine:
    path: Path
    script: Script
    requests: list[Request] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def paths(self, method: str) -> list[str]:
        return [r.path for r in self.requests if r.method == method]

    def serve(self, server: socket.socket) -> None:
        server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buffer = b""
        with conn:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while (request := _parse(buffer)) is not None:
                    parsed, buffer = request
                    self.requests.append(parsed)
                    answer, close = self.script(parsed)
                    if answer is not None:
                        with suppress(OSError):
                            conn.sendall(answer)
                    if close:
                        return


def _parse(buffer: bytes) -> tuple[Request, bytes] | None:
    head, sep, rest = buffer.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if len(rest) < length:
        return None
    path = target.split("?", 1)[0]
    path = path.split("/", 2)[2] if path.startswith("/v1.") else path.lstrip("/")
    return Request(method, "/" + path, rest[:length]), rest[length:]


@contextmanager
def stub_engine(tmp_path: Path, script: Script) -> Iterator[StubEngine]:
    path = tmp_path / "stub.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    stub = StubEngine(path, script)
    thread = threading.Thread(target=stub.serve, args=(server,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub._stop.set()
        thread.join(timeout=5)
        server.close()
