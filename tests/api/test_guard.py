"""The API's door on a real ``dockyard serve``: no token, no body read; no body beyond
``api.max_body``. Raw sockets, so a request can declare a body it never sends."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dockyard.engine.docker import DockerEngine
from tests.api.conftest import ADMIN, Server, start_server, stop_server
from tests.engine_fixtures import remove_installation

MIB = 1024**2


def _connect(server: Server) -> socket.socket:
    url = urlsplit(server.url)
    return socket.create_connection((url.hostname, url.port), timeout=10)


def _status(sock: socket.socket) -> tuple[int, bytes]:
    """The status code and the whole answer (the server closes after these refusals)."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def _head(path: str, *, length: int | None, token: str | None, chunked: bool = False) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: dockyard", "Content-Type: application/json"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.fixture
def small(tmp_path: Path, docker: DockerEngine) -> Iterator[Server]:
    """A server that takes request bodies of at most 64 KiB."""
    running = start_server(tmp_path, extra_config='max_body = "64k"\n')
    yield running
    stop_server(running)
    remove_installation(docker, running.installation)


def test_no_token_is_refused_before_the_body_is_read(small: Server) -> None:
    for token in (None, "dy_wrong"):
        with _connect(small) as sock:  # 100 MB declared, not a byte sent
            sock.sendall(_head("/api/v1/workspaces", length=100 * MIB, token=token))
            status, answer = _status(sock)
        assert status == 401 and b"connection: close" in answer.lower()


def test_a_body_larger_than_the_cap_is_refused(small: Server) -> None:
    with _connect(small) as sock:  # declared: refused unread
        sock.sendall(_head("/api/v1/workspaces", length=65 * 1024, token=ADMIN))
        status, answer = _status(sock)
    assert status == 413 and b'"body_too_large"' in answer and b"(64.0KiB)" in answer
    with _connect(small) as sock:  # chunked, no length: refused once past the cap
        sock.sendall(_head("/api/v1/workspaces", length=None, token=ADMIN, chunked=True))
        chunk = b'{"key": "' + b"a" * 16 * 1024
        sock.sendall(5 * (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"))  # no end
        status, answer = _status(sock)
    assert status == 413 and b'"body_too_large"' in answer
    with small.client() as api:  # within the cap all is as before
        assert api.post("/api/v1/workspaces", json={"key": "fits"}).status_code == 201
        assert api.post("/api/v1/workspaces/fits/touch").status_code == 200


def _rss(server: Server) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def _flood(server: Server, token: str | None) -> int:
    """Push a 100 MB body at the server until it stops taking it; its answer."""
    with _connect(server) as sock:
        sock.sendall(_head("/api/v1/workspaces", length=100 * MIB, token=token))
        block = b"x" * MIB
        try:
            for _ in range(100):
                sock.sendall(block)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            return _status(sock)[0]
        except ConnectionResetError:
            return 0  # reset before the answer came back: refused all the same


def test_eight_large_unauthenticated_posts_do_not_grow_the_server(small: Server) -> None:
    before = _rss(small)
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda t=token: answers.append(_flood(small, t)))
        for token in [None] * 6 + [ADMIN] * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(answers) <= {401, 413, 0} and len(answers) == 8
    assert _rss(small) - before < 32 * MIB
    with small.client() as api:
        assert api.get("/api/v1/whoami").status_code == 200


def test_the_description_and_docs_need_no_token(small: Server) -> None:
    with small.client(token=None) as anonymous:
        assert anonymous.get("/api/v1/openapi.json").status_code == 200
        assert anonymous.get("/api/v1/docs").status_code == 200
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/api/v1/nowhere").status_code == 401
        schema = anonymous.get("/api/v1/openapi.json").json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_a_trailing_slash_reaches_the_same_route(small: Server) -> None:
    """Clients add it (and before keys could hold "/", a redirect took it away)."""
    with small.client() as api:
        assert api.post("/api/v1/workspaces/", json={"key": "s"}).status_code == 201
        assert [w["key"] for w in api.get("/api/v1/workspaces/").json()["workspaces"]] == ["s"]
        assert api.get("/api/v1/workspaces/s/").json()["key"] == "s"
        assert api.post("/api/v1/workspaces/s/touch/").json()["key"] == "s"
    with small.client(token=None) as anonymous:
        assert anonymous.get("/api/v1/workspaces/").status_code == 401
