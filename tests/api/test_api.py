"""The HTTP API against a real ``dockyard serve`` process and the real engine."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from dockyard.core.model import SessionKind
from dockyard.engine import loopdisk
from dockyard.engine.base import ExecSpec
from dockyard.engine.docker import DockerEngine
from dockyard.engine.loopdisk import LoopDisk
from dockyard.engine.process import run
from dockyard.store import Store
from tests.api.conftest import ADMIN, Server, start_server, stop_server
from tests.engine_fixtures import remove_installation
from tests.helpers import free_port, wait_until


def test_workspace_routes_end_to_end(server: Server) -> None:
    with server.client() as api:
        created = api.post("/api/v1/workspaces", json={"key": "w1", "owner": "alice"})
        assert created.status_code == 201, created.text
        assert created.json()["outcome"] == "created"
        reused = api.post("/api/v1/workspaces", json={"key": "w1"})
        assert (reused.status_code, reused.json()["outcome"]) == (200, "reused")

        listed = api.get("/api/v1/workspaces", params={"owner": "alice"}).json()
        assert [w["key"] for w in listed["workspaces"]] == ["w1"]
        assert api.get("/api/v1/workspaces/w1").json()["state"] == "running"
        assert api.post("/api/v1/workspaces/w1/touch").status_code == 200
        before = api.get("/api/v1/workspaces/w1").json()["deadline"]
        extended = api.post("/api/v1/workspaces/w1/extend", json={"by": "30m"}).json()
        assert extended["deadline"] > before

        ran = api.post(
            "/api/v1/workspaces/w1/exec",
            json={"command": ["sh", "-c", "echo out; echo err >&2; exit 3"]},
        ).json()
        assert (ran["exit_code"], ran["stdout"], ran["stderr"]) == (3, "out\n", "err\n")
        timed = api.post(
            "/api/v1/workspaces/w1/exec", json={"command": ["sleep", "30"], "timeout": "1s"}
        ).json()
        assert timed["timed_out"] is True

        assert api.post("/api/v1/workspaces/w1/keep").json()["keep"] is True
        assert api.post("/api/v1/workspaces/w1/unkeep").json()["keep"] is False
        parked = api.post("/api/v1/workspaces/w1/park")
        assert parked.json()["state"] == "parked"
        restored = api.post("/api/v1/workspaces", json={"key": "w1"})
        assert (restored.status_code, restored.json()["outcome"]) == (200, "restored")
        assert len(api.get("/api/v1/workspaces/w1/checkpoints").json()["checkpoints"]) == 1

        deleted = api.delete("/api/v1/workspaces/w1", params={"purge": True})
        assert deleted.json()["purged"] is True
        missing = api.get("/api/v1/workspaces/w1")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"


def test_a_key_with_slashes_is_addressed_by_every_route(server: Server) -> None:
    """The README's own ``myapp@feature/auth``, as it is and percent-encoded."""
    key = "myapp@feature/auth"
    with server.client() as api:
        assert api.post("/api/v1/workspaces", json={"key": key}).status_code == 201
        for path in (f"/api/v1/workspaces/{key}", "/api/v1/workspaces/myapp%40feature%2Fauth"):
            assert api.get(path).json()["key"] == key
            assert api.post(f"{path}/touch").json()["key"] == key
            assert api.post(f"{path}/extend", json={"by": "1m"}).json()["key"] == key
            assert api.post(f"{path}/keep").json()["keep"] is True
            assert api.post(f"{path}/unkeep").json()["keep"] is False
            ran = api.post(f"{path}/exec", json={"command": ["echo", "hi"]}).json()
            assert ran["stdout"] == "hi\n"
            assert api.get(f"{path}/resources").status_code == 200
            opened = api.post(f"{path}/sessions", json={}).json()
            assert opened["workspace"] == key
            assert [s["id"] for s in api.get(f"{path}/sessions").json()["sessions"]] != []
            api.delete(f"/api/v1/sessions/{opened['id']}")
        assert api.post(f"/api/v1/workspaces/{key}/park").json()["state"] == "parked"
        assert len(api.get(f"/api/v1/workspaces/{key}/checkpoints").json()["checkpoints"]) == 1
        assert api.delete(f"/api/v1/workspaces/{key}", params={"purge": True}).status_code == 200
        assert api.get(f"/api/v1/workspaces/{key}").status_code == 404
        for unaddressable in ("a/..", "a//b", "/a", "a/touch", "a/./b"):
            refused = api.post("/api/v1/workspaces", json={"key": unaddressable})
            assert refused.status_code == 400, unaddressable
            assert refused.json()["error"]["code"] == "invalid_key"


def test_exec_refuses_what_the_kernel_would_and_says_when_output_is_cut(server: Server) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "x"})
        path = "/api/v1/workspaces/x/exec"
        huge = api.post(path, json={"command": ["echo", *["a" * 60_000] * 25]})  # 1.5 MB
        assert huge.status_code == 422 and "at most 1.0MiB" in huge.text
        long_arg = api.post(path, json={"command": ["echo", "é" * 65_536]})  # 128 KiB + NUL
        assert long_arg.status_code == 422 and "command[1]:" in long_arg.text
        bad_env = api.post(path, json={"command": ["env"], "env": {"A=B": "c"}})
        assert bad_env.status_code == 422 and "no variable name" in bad_env.text
        over_the_body_cap = api.post(path, json={"command": ["echo", *["a" * 60_000] * 170]})
        assert over_the_body_cap.status_code == 413  # 10 MB: refused unread
        cut = api.post(path, json={"command": ["head", "-c", "1200000", "/dev/zero"]}).json()
        assert (cut["exit_code"], cut["truncated"]) == (0, True)
        assert (cut["stdout_bytes"], len(cut["stdout"])) == (1_200_000, 1024 * 1024)
        whole = api.post(path, json={"command": ["echo", "hi"]}).json()
        assert (whole["truncated"], whole["stdout_bytes"], whole["stderr_bytes"]) == (False, 3, 0)


def test_sessions_limit_and_use(server: Server) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "s1", "owner": "alice"})
        first = api.post("/api/v1/workspaces/s1/sessions", json={"kind": "agent"})
        assert first.status_code == 201
        session = first.json()
        api.post("/api/v1/workspaces/s1/sessions", json={})
        third = api.post("/api/v1/workspaces/s1/sessions", json={})
        assert third.status_code == 429
        assert third.json()["error"]["code"] == "quota_exceeded"

        used = api.post(f"/api/v1/sessions/{session['id']}/use").json()
        assert used["last_used"] >= session["last_used"]
        ran = api.post(
            "/api/v1/workspaces/s1/exec", json={"command": ["true"], "session": session["id"]}
        )
        assert ran.status_code == 200
        assert api.get(f"/api/v1/sessions/{session['id']}").json()["status"] == "active"
        closed = api.delete(f"/api/v1/sessions/{session['id']}").json()
        assert closed["status"] == "dead"
        listed = api.get("/api/v1/workspaces/s1/sessions").json()["sessions"]
        assert sorted(s["status"] for s in listed) == ["active", "dead"]


def test_sessions_of_a_dead_holder_are_reaped_before_a_429(server: Server) -> None:
    """The limit counts live holders only: the route used to refuse without looking."""
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "s2", "owner": "alice"})
        dead = f"{socket.gethostname()}:{2**22 + 4321}"  # above pid_max: no such process
        store = Store.open(f"sqlite:///{server.data / 'dockyard.db'}")
        try:
            for _ in range(2):
                store.sessions.open(
                    workspace_key="s2", kind=SessionKind.AGENT, holder=dead, at=datetime.now(UTC)
                )
        finally:
            store.close()
        opened = api.post("/api/v1/workspaces/s2/sessions", json={})
        assert opened.status_code == 201, opened.text
        listed = api.get("/api/v1/workspaces/s2/sessions").json()["sessions"]
        assert sorted(s["status"] for s in listed) == ["active", "detached", "detached"]


def test_bad_input_gets_json_errors_never_a_500(server: Server) -> None:
    with server.client() as api:
        cases = [
            api.post("/api/v1/workspaces", json={"key": "ok", "bogus": 1}),
            api.post("/api/v1/workspaces", json={"key": "bad\x01key"}),
            api.post("/api/v1/workspaces", json={"key": "k", "image": "no/such:image"}),
            api.post(
                "/api/v1/workspaces",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            api.post("/api/v1/workspaces/none/extend", json={"by": "forever"}),
            api.put("/api/v1/policy", json={"idle_timeout": "soon"}),
        ]
        assert [r.status_code for r in cases] == [422, 400, 404, 422, 422, 422]
        assert all("code" in r.json()["error"] for r in cases)


def test_values_out_of_their_bounds_are_refused_before_anything_happens(server: Server) -> None:
    """Overflowing durations and sizes, zero where zero means nothing: a 422 naming the
    field, never a 500 from the date arithmetic or a loop that spins."""
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "b"})
        cases = {
            "warn_before": api.put("/api/v1/policy", json={"warn_before": "999999999999d"}),
            "idle_timeout": api.put("/api/v1/policy", json={"idle_timeout": "0s"}),
            "max_workspaces_per_owner": api.put(
                "/api/v1/policy", json={"max_workspaces_per_owner": 10**12}
            ),
            "max_interval": api.put("/api/v1/policy", json={"reconciler": {"max_interval": "0s"}}),
            "idle_timeout ": api.post(
                "/api/v1/workspaces",
                json={"key": "huge", "policy": {"idle_timeout": "99999999999999d"}},
            ),
            "memory": api.post(
                "/api/v1/workspaces",
                json={"key": "huge", "resources": {"memory": 99999999999999999999999999}},
            ),
            "memory ": api.post(
                "/api/v1/workspaces", json={"key": "huge", "resources": {"memory": 1e26}}
            ),
            "by": api.post("/api/v1/workspaces/b/extend", json={"by": "99999999999d"}),
        }
        for field, response in cases.items():
            assert response.status_code == 422, (field, response.text)
            message = response.json()["error"]["message"]
            assert field.strip() in message and "extra" not in message.lower(), response.text
        assert api.get("/api/v1/policy").json()["overridden"] == []
        assert api.get("/api/v1/workspaces/huge").status_code == 404
    with server.client(token=None) as anonymous:
        assert anonymous.get("/api/v1/workspaces").status_code == 401
    with server.client(token="dy_wrong") as wrong:
        assert wrong.get("/api/v1/workspaces").status_code == 401


def test_owner_tokens_see_and_touch_only_their_own(server: Server) -> None:
    alice, bob = server.token("alice"), server.token("bob")
    with server.client(bob) as api_b:
        assert api_b.post("/api/v1/workspaces", json={"key": "bobs"}).status_code == 201
        session = api_b.post("/api/v1/workspaces/bobs/sessions", json={}).json()["id"]
    with server.client(alice) as api:
        refused = {
            "get": api.get("/api/v1/workspaces/bobs"),
            "delete": api.delete("/api/v1/workspaces/bobs"),
            "touch": api.post("/api/v1/workspaces/bobs/touch"),
            "extend": api.post("/api/v1/workspaces/bobs/extend", json={"by": "1m"}),
            "park": api.post("/api/v1/workspaces/bobs/park"),
            "keep": api.post("/api/v1/workspaces/bobs/keep"),
            "unkeep": api.post("/api/v1/workspaces/bobs/unkeep"),
            "exec": api.post("/api/v1/workspaces/bobs/exec", json={"command": ["true"]}),
            "checkpoints": api.get("/api/v1/workspaces/bobs/checkpoints"),
            "sessions": api.get("/api/v1/workspaces/bobs/sessions"),
            "open session": api.post("/api/v1/workspaces/bobs/sessions", json={}),
            "session": api.get(f"/api/v1/sessions/{session}"),
            "use session": api.post(f"/api/v1/sessions/{session}/use"),
            "close session": api.delete(f"/api/v1/sessions/{session}"),
            "acquire": api.post("/api/v1/workspaces", json={"key": "bobs"}),
            "events": api.get("/api/v1/events", params={"owner": "bob"}),
        }
        assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 404)
        admin_only = {
            "policy": api.get("/api/v1/policy"),
            "put policy": api.put("/api/v1/policy", json={}),
            "start": api.post("/api/v1/reconciler/start"),
            "stop": api.post("/api/v1/reconciler/stop"),
            "run": api.post("/api/v1/reconciler/run"),
            "stats": api.get("/api/v1/stats"),
            "as bob": api.post("/api/v1/workspaces", json={"key": "x", "owner": "bob"}),
        }
        assert {n: r.status_code for n, r in admin_only.items()} == dict.fromkeys(admin_only, 403)
        assert api.get("/api/v1/workspaces").json()["workspaces"] == []
        assert api.get("/api/v1/workspaces", params={"owner": "bob"}).json()["workspaces"] == []
        assert api.get("/api/v1/events").json()["events"] == []
    with server.client() as admin:
        assert admin.get("/api/v1/workspaces/bobs").json()["state"] == "running"  # untouched


def test_policy_reconciler_and_stats(server: Server) -> None:
    with server.client() as api:
        policy = api.put("/api/v1/policy", json={"idle_timeout": "2h"}).json()
        assert policy["idle_timeout"] == "2h00m"
        assert api.get("/api/v1/policy").json()["idle_timeout"] == "2h00m"
        api.post("/api/v1/workspaces", json={"key": "st", "owner": "carol"})
        assert api.get("/api/v1/workspaces/st").json()["time_left_s"] > 3600
        switched = api.put(
            "/api/v1/policy", json={"reconciler": {"enabled": False, "max_interval": "30s"}}
        ).json()
        assert switched["reconciler"]["enabled"] is False
        assert switched["reconciler"]["max_interval"] == "30s"
        assert switched["overridden"] == ["idle_timeout", "reconciler.max_interval"]
        assert api.put("/api/v1/policy", json={"reconciler": {"bogus": 1}}).status_code == 422
        assert api.post("/api/v1/reconciler/start").json()["running"] is True
        plan = api.post("/api/v1/reconciler/run", params={"dry_run": True}).json()
        assert plan["dry_run"] is True
        stopped = api.post("/api/v1/reconciler/stop").json()
        assert (stopped["changed"], stopped["running"]) == (True, False)
        started = api.post("/api/v1/reconciler/start").json()
        assert (started["changed"], started["running"]) == (True, True)
        stats = api.get("/api/v1/stats").json()
        assert stats["workspaces_by_state"] == {"running": 1}
        assert stats["workspaces_by_owner"] == {"carol": 1}
        assert stats["configuration"]["policy"]["idle_timeout"] == "2h00m"
        assert stats["reconciler"]["running"] is True
        disk = stats["disk"]["workspaces"]["st"]
        assert disk["disk_volume_bytes"] >= 0 and disk["disk_layer_bytes"] >= 0
        assert stats["disk"]["total_bytes"] == disk["disk_bytes"]
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'dockyard_workspace_disk_bytes{part="volume",workspace="st"}' in metrics
        assert 'dockyard_workspaces{state="running"} 1.0' in metrics
        assert "dockyard_acquire_seconds_count" in metrics
        assert 'dockyard_engine_workspaces{engine="default"} 1.0' in metrics
        assert 'dockyard_engine_up{engine="default"} 1.0' in metrics  # checked by the acquire
        [engine] = api.get("/api/v1/engines").json()["engines"]
        assert (engine["name"], engine["health"], engine["load"]) == ("default", "ready", 1)
        round_trip = api.get("/api/v1/policy").json()  # GET -> PUT: nothing changes ...
        for derived in ("reconciler", "overridden"):
            round_trip.pop(derived)
        echoed = api.put("/api/v1/policy", json=round_trip).json()
        assert echoed["overridden"] == ["idle_timeout", "reconciler.max_interval"]  # ... or is lost
        assert echoed["before"]["idle_timeout"] == echoed["idle_timeout"] == "2h00m"
        reset = api.delete("/api/v1/policy").json()  # the settings file again
        assert (reset["idle_timeout"], reset["reconciler"]["max_interval"]) == ("45m", "1m")
        assert (reset["overridden"], reset["reconciler"]["enabled"]) == ([], True)
        assert api.get("/api/v1/stats").json()["configuration"]["policy"]["idle_timeout"] == "45m"


def test_the_reconcilers_off_switch_outlives_a_restart(
    tmp_path: Path, docker: DockerEngine
) -> None:
    """POST /reconciler/stop was forgotten on restart: the loop silently resumed."""
    server = start_server(tmp_path)
    try:
        with server.client() as api:
            assert api.post("/api/v1/reconciler/stop").json()["running"] is False
        stop_server(server)
        server = start_server(tmp_path)
        with server.client() as api:
            assert api.get("/api/v1/stats").json()["reconciler"]["running"] is False
            assert api.post("/api/v1/reconciler/start").json()["running"] is True
    finally:
        stop_server(server)
        remove_installation(docker, server.installation)


def test_server_sent_events_replay_from_after(server: Server) -> None:
    """?after=0 replayed nothing (the JSON list did): 0 was taken for "from now"."""
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "replay", "owner": "dave"})
        headers = {"Accept": "text/event-stream"}
        with api.stream(
            "GET", "/api/v1/events", params={"workspace": "replay", "after": 0}, headers=headers
        ) as stream:
            first = next(line for line in stream.iter_lines() if line.startswith("data: "))
    assert json.loads(first[6:])["type"] == "workspace.created"


def test_server_sent_events_bring_what_happens_next(server: Server) -> None:
    """How soon is a benchmark's question; this one's is whether it comes, and which."""
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "sse", "owner": "dave"})
        received: list[dict[str, Any]] = []
        opened = threading.Event()

        def listen() -> None:
            headers = {"Accept": "text/event-stream"}
            with api.stream(
                "GET", "/api/v1/events", params={"workspace": "sse"}, headers=headers
            ) as stream:
                for line in stream.iter_lines():
                    opened.set()  # its first line ("retry:") says the stream is open
                    if line.startswith("data: "):
                        received.append(json.loads(line[6:]))
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(timeout=10), "the stream never opened"
        api.post("/api/v1/workspaces/sse/extend", json={"by": "10m"})
        listener.join(timeout=10)
        assert received, "no event arrived"
        event = received[0]
        assert event["type"] == "workspace.extended"
        assert event["workspace"] == "sse"


class _Receiver(BaseHTTPRequestHandler):
    deliveries: ClassVar[list[tuple[dict[str, str], bytes, int]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 500 if not self.deliveries else 200  # the first delivery fails
        self.deliveries.append((dict(self.headers), body, status))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes, int]]]]:
    _Receiver.deliveries = []
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/hook", _Receiver.deliveries
    httpd.shutdown()
    httpd.server_close()


def test_webhooks_are_signed_and_redelivered_after_a_500(
    tmp_path: Path, docker: DockerEngine, receiver: tuple[str, list[Any]]
) -> None:
    url, deliveries = receiver
    secret = "s3cret-for-the-test"
    config = (
        f'[[api.webhooks]]\nurl = "{url}"\nsecret = "{secret}"\nevents = ["workspace.created"]\n'
    )
    server = start_server(tmp_path, extra_config=config)
    try:
        with server.client() as api:
            api.post("/api/v1/workspaces", json={"key": "hooked", "owner": "erin"})
        deadline = time.monotonic() + 10
        while len(deliveries) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop_server(server)
        remove_installation(docker, server.installation)
    assert [status for _h, _b, status in deliveries] == [500, 200]
    (first_headers, first_body, _), (headers, body, _) = deliveries
    assert body == first_body
    assert headers["X-Dockyard-Delivery"] == first_headers["X-Dockyard-Delivery"]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Dockyard-Signature"], expected)
    event = json.loads(body)
    assert (event["type"], event["workspace"]) == ("workspace.created", "hooked")
    assert secret not in server.log.read_text()


def test_sigterm_lets_requests_in_flight_finish(server: Server) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "slow", "owner": "frank"})
        result: dict[str, Any] = {}

        def slow() -> None:
            response = api.post(
                "/api/v1/workspaces/slow/exec", json={"command": ["sh", "-c", "sleep 2; echo done"]}
            )
            result.update(status=response.status_code, body=response.json())

        worker = threading.Thread(target=slow)
        worker.start()

        def in_flight() -> bool:
            listed = api.get("/api/v1/workspaces/slow/sessions").json()["sessions"]
            return any(s["kind"] == "exec" and s["status"] == "active" for s in listed)

        wait_until(in_flight, what="the exec running")
        server.process.send_signal(signal.SIGTERM)
        worker.join(timeout=30)
    assert result["status"] == 200
    assert result["body"]["stdout"] == "done\n"
    # uvicorn re-raises the signal once it has shut down gracefully: "ended by SIGTERM"
    assert server.process.wait(timeout=30) in {0, -signal.SIGTERM}
    assert "Traceback" not in server.log.read_text()


#: Nothing answers 5xx, and every answer is one the schema documents, in its shape.
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def test_schemathesis_finds_no_server_error_and_answers_as_documented(server: Server) -> None:
    """Fuzz every operation of the OpenAPI schema: no input may produce a 5xx, and every
    answer is one the schema documents (status, content type, shape)."""
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{server.url}/api/v1/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: Bearer {ADMIN}",
            "--max-examples",
            "20",
            "--request-timeout",
            "60",
            "--generation-deterministic",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert "✅ Examples" in run.stdout  # the schema's out-of-bounds examples were sent
    assert "Traceback" not in server.log.read_text()


def test_a_touch_from_memory_is_the_routes_answer(server: Server) -> None:
    """Within a second of the last touch, api.hot answers before FastAPI: the same bytes,
    the same headers; another owner's token still gets nothing."""
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "hot", "owner": "ann"})
        first = api.post("/api/v1/workspaces/hot/touch")  # writes: the route answers
        second = api.post("/api/v1/workspaces/hot/touch")  # from memory: api.hot answers
        assert (first.status_code, second.status_code) == (200, 200)
        assert second.content == first.content
        for header in ("content-type", "content-length"):
            assert second.headers[header] == first.headers[header]
        assert api.post("/api/v1/workspaces/hot/touch", json={"x": 1}).status_code == 200
    with server.client(server.token("bob")) as bob:
        assert bob.post("/api/v1/workspaces/hot/touch").status_code == 404


def test_slow_execs_hold_no_thread_a_touch_needs(server: Server, docker: DockerEngine) -> None:
    """More execs waiting on the engine than the thread pool has threads (anyio's 40):
    a touch that must write, and a listing, still answer while every exec still runs."""
    blocked = 45
    wait_for_go = "while [ ! -f /tmp/go ]; do sleep 0.1; done; echo released"
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "slow", "owner": "ann"})
        api.post("/api/v1/workspaces", json={"key": "other", "owner": "ann"})
        name = api.get("/api/v1/workspaces/slow").json()["name"]
    limits = httpx.Limits(max_connections=blocked + 5)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with (
        httpx.Client(base_url=server.url, headers=headers, limits=limits, timeout=120) as c,
        ThreadPoolExecutor(blocked) as pool,
    ):
        runs = [
            pool.submit(
                c.post,
                "/api/v1/workspaces/slow/exec",
                json={"command": ["sh", "-c", wait_for_go], "timeout": "2m"},
            )
            for _ in range(blocked)
        ]
        with server.client() as api:

            def sessions() -> int:
                return len(api.get("/api/v1/workspaces/slow/sessions").json()["sessions"])

            wait_until(lambda: sessions() == blocked, what="every exec running", within_s=60)
            touched = api.post("/api/v1/workspaces/other/touch")
            listed = api.get("/api/v1/workspaces")
            assert not any(run.done() for run in runs)  # answered while every exec waits
        assert touched.status_code == 200 and listed.status_code == 200
        assert run(docker, ref=name, spec=ExecSpec(argv=["touch", "/tmp/go"])).ok
        answers = [run.result() for run in runs]
    assert [(a.status_code, a.json()["stdout"]) for a in answers] == [(200, "released\n")] * blocked


def test_a_disk_cap_over_the_api_and_its_use_in_resources(server: Server) -> None:
    disks = server.data / "disks"
    try:
        with server.client() as api:
            made = api.post("/api/v1/workspaces", json={"key": "cap", "resources": {"disk": "32m"}})
            assert made.status_code == 201, made.text
            assert made.json()["workspace"]["resources"]["disk_bytes"] == 32 * 1024**2
            use = api.get("/api/v1/workspaces/cap/resources").json()
            assert use["disk_limit_bytes"] == 32 * 1024**2 and use["disk_volume_percent"] < 10
            metrics = httpx.get(f"{server.url}/metrics").text
            disks_seen = [
                m for m in metrics.splitlines() if m.startswith("dockyard_workspace_disk")
            ]
            assert (
                'dockyard_workspace_disk_limit_bytes{workspace="cap"} 3.3554432e+07' in disks_seen
            )
            tiny = api.post("/api/v1/workspaces", json={"key": "t", "resources": {"disk": "1m"}})
            assert tiny.status_code == 422 and "between 16.0MiB" in tiny.text
            assert api.delete("/api/v1/workspaces/cap", params={"purge": True}).status_code == 200
        assert list(disks.glob("*.img")) == []
    finally:  # whatever failed: no loop device or disk file of this test stays behind
        for image in disks.glob("*.img"):
            with server.client() as api:
                api.delete("/api/v1/workspaces/cap", params={"purge": True, "force": True})
            loopdisk.delete(LoopDisk.at_link(str(image.with_suffix(".dev"))))
