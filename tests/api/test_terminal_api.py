"""A shell session's terminal over a WebSocket, against a real ``serve`` and engine: the
token in the first message, a working shell, the same shell with its screen replayed
after the client drops, and after ``serve`` is killed and started again: the session is
``detached``, attaching starts a new shell in the same workspace, its files intact."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import websocket

from dockyard.engine.docker import DockerEngine
from tests.api.conftest import ADMIN, Server, start_server, stop_server
from tests.engine_fixtures import remove_installation


class Terminal:
    """A WebSocket client of a session's terminal, reading until what it waits for."""

    def __init__(self, server: Server, session_id: str, token: str = ADMIN) -> None:
        url = server.url.replace("http://", "ws://") + f"/api/v1/sessions/{session_id}/terminal"
        self.socket = websocket.create_connection(url, timeout=30)
        self.socket.send(json.dumps({"token": token, "rows": 30, "cols": 100}))
        self.hello = json.loads(self.socket.recv())
        self.screen = b""

    def type(self, keys: str) -> None:
        self.socket.send_binary(keys.encode())

    def wait_for(self, pattern: str) -> re.Match[str]:
        """Read until ``pattern`` (a regular expression) matches the screen so far."""
        deadline = time.monotonic() + 30
        while (found := re.search(pattern, self.screen.decode(errors="replace"))) is None:
            assert time.monotonic() < deadline, f"no {pattern!r} on the screen: {self.screen!r}"
            frame = self.socket.recv()
            self.screen += frame if isinstance(frame, bytes) else frame.encode()
        return found

    def until_text(self) -> object:
        """The next JSON message, past the terminal's output."""
        while isinstance(frame := self.socket.recv(), bytes):
            self.screen += frame
        return json.loads(frame)

    def close(self) -> None:
        self.socket.close()


def shell_session(server: Server, key: str) -> str:
    with server.client() as api:
        assert api.post("/api/v1/workspaces", json={"key": key}).is_success
        opened = api.post(f"/api/v1/workspaces/{key}/sessions", json={"kind": "shell"})
        assert opened.status_code == 201
        return str(opened.json()["id"])


def test_a_terminal_reattaches_to_the_same_shell_with_its_screen(server: Server) -> None:
    sid = shell_session(server, "term")
    first = Terminal(server, sid)
    assert first.hello == {"attached": {"session": sid, "started": True}}
    first.type("echo $((6*7)); echo pid=$$.\n")
    pid = first.wait_for(r"pid=(\d+)\.").group(1)
    first.socket.send(json.dumps({"resize": [40, 120]}))
    first.close()

    again = Terminal(server, sid)
    assert again.hello["attached"]["started"] is False
    again.wait_for(r"\r\n42\r\n")  # the recent screen, replayed
    again.type("echo same=$$.\n")
    assert again.wait_for(r"same=(\d+)\.").group(1) == pid
    again.type("exit\n")
    assert again.until_text() == {"ended": {"reason": "ended"}}
    again.close()
    with server.client() as api:
        closed = api.get(f"/api/v1/sessions/{sid}").json()
    assert (closed["status"], closed["closed_reason"]) == ("dead", "ended")


def test_tokens_and_kinds_are_checked_before_anything_runs(server: Server) -> None:
    sid = shell_session(server, "term2")
    with server.client() as api:
        command = api.post("/api/v1/workspaces/term2/sessions", json={"kind": "command"}).json()
    refused = Terminal(server, sid, token="not-a-token")
    hidden = Terminal(server, sid, token=server.token("mallory"))
    wrong = Terminal(server, command["id"])
    for terminal in (refused, hidden, wrong):
        terminal.close()
    assert refused.hello["error"]["code"] == "unauthorized"
    assert hidden.hello["error"]["code"] == "not_found"  # not theirs: it does not exist
    assert "not a shell" in wrong.hello["error"]["message"]


def test_after_serve_is_killed_the_session_is_detached_and_reattaching_starts_a_shell(
    tmp_path: Path, docker: DockerEngine
) -> None:
    server = start_server(tmp_path)
    try:
        sid = shell_session(server, "kept")
        before = Terminal(server, sid)
        before.type("echo work > /workspace/notes.txt; echo writ''ten\n")
        before.wait_for(r"\r\nwritten\r\n")
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        before.close()
        server = start_server(tmp_path)
        with server.client() as api:
            assert api.get(f"/api/v1/sessions/{sid}").json()["status"] == "detached"
        after = Terminal(server, sid)
        assert after.hello["attached"]["started"] is True
        after.type("cat /workspace/notes.txt; echo do''ne\n")
        after.wait_for(r"\r\nwork\r\ndone\r\n")
        with server.client() as api:
            assert api.get(f"/api/v1/sessions/{sid}").json()["status"] == "active"
        after.close()
    finally:
        installation = server.installation
        stop_server(server)
        remove_installation(docker, installation)
