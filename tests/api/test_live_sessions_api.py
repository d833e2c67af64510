"""Command sessions over HTTP, against a real ``serve`` and the real engine: state kept
between commands, output streamed before the command ends (NDJSON and SSE), one-shot
execs streamed too, owners kept apart, and the session figures in the stats."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.api.conftest import Server
from tests.helpers import wait_until

NDJSON = {"Accept": "application/x-ndjson"}


def test_commands_keep_state_and_stream_as_they_run(server: Server) -> None:
    with server.client() as api:
        assert api.post("/api/v1/workspaces", json={"key": "live"}).status_code in (200, 201)
        opened = api.post("/api/v1/workspaces/live/sessions", json={"kind": "command"})
        assert opened.status_code == 201
        sid = opened.json()["id"]
        commands = f"/api/v1/sessions/{sid}/commands"
        first = api.post(commands, json={"command": "cd /tmp && export A=1"}).json()
        assert (first["exit_code"], first["cwd"]) == (0, "/tmp")
        second = api.post(commands, json={"command": "pwd; echo $A"}).json()
        assert second["output"] == "/tmp\n1\n"

        records: list[dict[str, Any]] = []
        waits = "echo one; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo two"
        with api.stream("POST", commands, json={"command": waits}, headers=NDJSON) as response:
            assert response.headers["content-type"].startswith("application/x-ndjson")
            for line in response.iter_lines():
                records.append(json.loads(line))
                if records[0] == {"output": "one"}:  # it runs on only once we saw this
                    with server.client() as other:
                        touch = {"command": ["touch", "/tmp/go"]}
                        assert other.post("/api/v1/workspaces/live/exec", json=touch).is_success
        assert "".join(r.get("output", "") for r in records) == "one\ntwo\n"
        assert records[-1]["end"]["exit_code"] == 0

        with api.stream(
            "POST",
            commands,
            json={"command": "sleep 30", "timeout": "1s"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            events = [line for line in response.iter_lines() if line.startswith("event: ")]
        assert events[-1] == "event: end"
        assert api.post(commands, json={"command": "echo ok"}).json()["output"] == "ok\n"

        exec_lines = []
        with api.stream(
            "POST",
            "/api/v1/workspaces/live/exec",
            json={"command": ["sh", "-c", "echo out; echo err >&2; exit 3"]},
            headers=NDJSON,
        ) as response:
            exec_lines = [json.loads(line) for line in response.iter_lines()]
        assert {"stream": "stdout", "output": "out\n"} in exec_lines
        assert {"stream": "stderr", "output": "err\n"} in exec_lines
        assert exec_lines[-1]["end"]["exit_code"] == 3

        stats = api.get("/api/v1/stats").json()["sessions"]
        assert stats["total"] == 1 and stats["workspaces_with_sessions"] == 1
        pending = stats["sessions_pending_cleanup"]
        assert [p["id"] for p in pending] == [sid] and pending[0]["will_cleanup"] is False
        assert pending[0]["session_timeout_s"] == 3600

        closed = api.delete(f"/api/v1/sessions/{sid}").json()
        assert (closed["status"], closed["closed_reason"]) == ("dead", "closed")
        gone = api.post(commands, json={"command": "true"})
        assert gone.status_code == 404
        metrics = api.get("/metrics").text
        assert 'dockyard_sessions_closed_total{reason="closed"} 1.0' in metrics


def test_bad_commands_and_other_kinds_are_refused(server: Server) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "live2"})
        sid = api.post("/api/v1/workspaces/live2/sessions", json={"kind": "agent"}).json()["id"]
        wrong = api.post(f"/api/v1/sessions/{sid}/commands", json={"command": "true"})
        assert wrong.status_code == 400 and "not a command" in wrong.json()["error"]["message"]
        empty = api.post(f"/api/v1/sessions/{sid}/commands", json={"command": ""})
        assert empty.status_code == 422
        unknown = api.post("/api/v1/sessions/0123456789abcdef/commands", json={"command": "true"})
        assert unknown.status_code == 404
        mine = api.post("/api/v1/workspaces/live2/sessions", json={"kind": "command"}).json()
    with server.client(server.token("mallory")) as other:
        theirs = other.post(f"/api/v1/sessions/{mine['id']}/commands", json={"command": "id"})
        assert theirs.status_code == 404  # another owner's session does not exist for them
        assert other.get(f"/api/v1/sessions/{mine['id']}").status_code == 404


def test_the_session_limit_holds_under_concurrent_opens(server: Server) -> None:
    """The server's limit is 2: of 8 opens at once, 2 get a session and 6 a clear 429;
    a one-shot exec still runs."""
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "crowd"})
    barrier = threading.Barrier(8)

    def open_one(_: int) -> httpx.Response:
        with server.client() as api:
            barrier.wait()
            return api.post("/api/v1/workspaces/crowd/sessions", json={"kind": "command"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(open_one, range(8)))
    assert sorted(a.status_code for a in answers) == [201] * 2 + [429] * 6
    refused = next(a for a in answers if a.status_code == 429).json()["error"]
    assert refused["code"] == "quota_exceeded" and "limit of 2 live sessions" in refused["message"]
    with server.client() as api:
        ran = api.post("/api/v1/workspaces/crowd/exec", json={"command": ["true"]})
        assert ran.json()["exit_code"] == 0
        listed = api.get("/api/v1/workspaces/crowd/sessions").json()["sessions"]
    assert sum(s["kind"] == "command" and s["status"] == "active" for s in listed) == 2


def test_a_client_that_drops_a_streamed_command_interrupts_it(server: Server) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "drop"})
        sid = api.post("/api/v1/workspaces/drop/sessions", json={"kind": "command"}).json()["id"]
        slow = {"command": "echo start; sleep 300; echo never"}
        with api.stream(
            "POST", f"/api/v1/sessions/{sid}/commands", json=slow, headers=NDJSON
        ) as response:
            first = next(response.iter_lines())
        assert json.loads(first) == {"output": "start"}
        wait_until(
            lambda: api.get(f"/api/v1/sessions/{sid}").json()["running_since"] is None,
            within_s=20,
            what="the dropped command to be interrupted",
        )
        after = api.post(f"/api/v1/sessions/{sid}/commands", json={"command": "echo ok"}).json()
        assert after["output"] == "ok\n"
        ran = api.post("/api/v1/workspaces/drop/exec", json={"command": ["sh", "-c", "ps"]})
        assert "sleep 300" not in ran.json()["stdout"]
