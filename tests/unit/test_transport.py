"""The engine transport's error paths, against a stub engine on a unix socket.

A healthy dockerd shows these on cue rarely or never: an exec start refused with a body
of its own length on a connection it keeps open, a request that is never answered, a
kept-alive connection closed while idle, an address that never accepts.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from dockyard.core.errors import Conflict, EngineUnavailable, InvalidInput, NotFound
from dockyard.engine.docker import DockerEngine, Timeouts
from dockyard.engine.http import EngineTransport
from dockyard.engine.models import ContainerSpec
from tests.stub_engine import Answer, Request, json_answer, stub_engine

VERSION = {"Version": "20.10.24", "ApiVersion": "1.41", "Os": "linux"}
#: Long enough that a test failing this way fails by its error's type, not by hanging.
PATIENT = Timeouts(quick_s=5.0, start_s=5.0)


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (409, "container 1234 is not running", Conflict),
        (404, "No such exec instance: x", NotFound),
    ],
)
def test_a_refused_exec_start_raises_the_engines_error_at_once(
    tmp_path: Path, status: int, message: str, error: type[Exception], *, chunked: bool
) -> None:
    """dockerd keeps the connection open after such an answer: reading "until close"
    waited for the whole timeout and then said the engine was unreachable."""

    def script(_request: Request) -> Answer:
        return json_answer(status, {"message": message}, chunked=chunked), False  # kept open

    with stub_engine(tmp_path, script) as stub:
        engine = DockerEngine(stub.url, timeouts=PATIENT)
        with pytest.raises(error, match=message):
            engine.exec_start(exec_id="x", tty=False)
        engine.close()


def test_a_timed_out_request_is_never_sent_again(tmp_path: Path) -> None:
    """The engine may be creating that container still: a second POST made two."""

    def script(request: Request) -> Answer:
        if request.path == "/version":
            return json_answer(200, VERSION), False
        return None, False  # never answered

    with stub_engine(tmp_path, script) as stub:
        engine = DockerEngine(stub.url, timeouts=Timeouts(quick_s=0.3, start_s=0.3))
        engine.ping()  # the connection is kept alive: the next request reuses it
        with pytest.raises(EngineUnavailable, match="timed out"):
            engine.create_container(spec=_spec())
        assert stub.paths("POST") == ["/containers/create"]
        engine.close()


def test_a_connection_closed_while_idle_is_reopened_once(tmp_path: Path) -> None:
    def script(request: Request) -> Answer:
        if request.path == "/version":
            return json_answer(200, VERSION), True  # closes it, without saying so first
        return json_answer(201, {"Id": "abc"}), False

    with stub_engine(tmp_path, script) as stub:
        engine = DockerEngine(stub.url, timeouts=PATIENT)
        engine.ping()
        assert engine.create_container(spec=_spec()) == "abc"
        assert stub.paths("POST") == ["/containers/create"]
        engine.close()


def test_an_engine_that_never_accepts_fails_within_the_connect_timeout() -> None:
    """A blackholed TCP engine: the connection never completes."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):  # the kernel's accept queue, full: later SYNs are dropped
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            transport = EngineTransport(f"tcp://127.0.0.1:{port}", connect_timeout_s=0.3)
            with pytest.raises(EngineUnavailable, match="timed out"):
                transport.request("GET", "/version")
        finally:
            for filler in fillers:
                filler.close()


def _spec() -> ContainerSpec:
    return ContainerSpec(name="x", image="i", command=["true"], labels={})


def test_endpoint_teardowns_are_limited_per_engine(tmp_path: Path) -> None:
    """Many networked containers torn down at once deadlock dockerd 20.10 (moby#46661):
    at most ``teardowns`` stops and removals of such containers are in flight at once;
    containers without an endpoint are not held back."""
    in_flight, peak, lock = 0, {"DELETE": 0}, threading.Lock()
    released = threading.Event()
    ids = iter(range(1000))

    def script(request: Request) -> Answer:
        nonlocal in_flight
        if request.method == "POST" and request.path == "/containers/create":
            return json_answer(201, {"Id": f"isolated{next(ids)}"}), False
        with lock:
            in_flight += 1
            peak["DELETE"] = max(peak["DELETE"], in_flight)
        released.wait(0.2)  # (overlap: the next ones arrive meanwhile, or are held back)
        with lock:
            in_flight -= 1
        return b"HTTP/1.1 204 No Content\r\n\r\n", False

    def remove_all(engine: DockerEngine, refs: list[str]) -> int:
        peak["DELETE"] = 0
        workers = [
            threading.Thread(target=engine.remove_container, kwargs={"ref": ref}) for ref in refs
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return peak["DELETE"]

    with stub_engine(tmp_path, script) as stub:
        engine = DockerEngine(stub.url, timeouts=PATIENT, teardowns=2)
        assert remove_all(engine, [f"networked{i}" for i in range(6)]) == 2
        isolated = [
            engine.create_container(spec=replace(_spec(), name=f"n{i}", network="none"))
            for i in range(6)
        ]
        assert remove_all(engine, isolated) > 2
        engine.close()


def test_names_in_a_path_are_percent_encoded_never_a_bad_request_line() -> None:
    transport = EngineTransport("unix:///nonexistent.sock")
    assert transport.path("/images/Ó x/json").endswith("/images/%C3%93%20x/json")
    assert transport.path("/images/a/b:c@sha256:1/json").endswith("/images/a/b:c@sha256:1/json")
    assert transport.path("/containers/a?b#c/json").endswith("/containers/a%3Fb%23c/json")
    with pytest.raises(InvalidInput, match="not valid Unicode"):
        transport.path("/images/\udaff/json")
