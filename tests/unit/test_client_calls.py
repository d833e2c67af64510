"""The client's rules without a server (an ``httpx.MockTransport``, an injected sleep):
which calls are tried again and after how long, how error answers become the library's
errors, and how streamed records and server-sent events are read."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from dockyard.client import Client, Output
from dockyard.client.calls import SSEReader, streamed_record
from dockyard.client.config import MAX_WAIT_S
from dockyard.core.errors import (
    Busy,
    Conflict,
    DockyardError,
    InvalidValue,
    NoSuchPath,
    NotFound,
    QuotaExceeded,
    TooLarge,
    Unavailable,
    error_for,
)

WORKSPACES = {"workspaces": [], "engine_ok": True, "max_workspaces_per_owner": 5}


def client(
    answers: list[httpx.Response | Exception], sleeps: list[float]
) -> tuple[Client, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    made = Client(
        "http://dockyard.test",
        token="dy_t",
        transport=httpx.MockTransport(handle),
        sleep=sleeps.append,
    )
    return made, sent


def busy(after: str = "2") -> httpx.Response:
    body = {"error": {"code": "unavailable", "message": "the store is busy"}}
    return httpx.Response(503, json=body, headers={"Retry-After": after})


def test_an_idempotent_call_waits_as_told_and_tries_again() -> None:
    sleeps: list[float] = []
    dy, sent = client([busy(), busy("1.5"), httpx.Response(200, json=WORKSPACES)], sleeps)
    assert dy.list() == []
    assert sleeps == [2.0, 1.5] and len(sent) == 3
    assert sent[0].headers["authorization"] == "Bearer dy_t"


def test_a_call_that_is_not_idempotent_is_never_sent_twice_after_an_answer() -> None:
    sleeps: list[float] = []
    dy, sent = client([busy()], sleeps)
    with pytest.raises(Unavailable, match="the store is busy"):
        dy.exec("k", ["true"])
    assert sleeps == [] and len(sent) == 1


def test_a_connection_never_made_is_tried_again_for_any_call() -> None:
    sleeps: list[float] = []
    ok = {"exit_code": 0, "timed_out": False, "duration_s": 0.1}
    dy, sent = client([httpx.ConnectError("refused"), httpx.Response(200, json=ok)], sleeps)
    assert dy.exec("k", ["true"]).exit_code == 0
    assert sleeps == [0.2] and len(sent) == 2


def test_a_connection_lost_mid_call_is_tried_again_only_when_safe() -> None:
    sleeps: list[float] = []
    dy, _ = client([httpx.ReadError("reset")], sleeps)
    with pytest.raises(Unavailable, match=r"cannot reach dockyard at http://dockyard\.test"):
        dy.exec("k", ["true"])
    dy, sent = client([httpx.ReadError("reset"), httpx.Response(200, json=WORKSPACES)], sleeps)
    assert dy.list() == [] and len(sent) == 2


def test_retries_are_bounded() -> None:
    sleeps: list[float] = []
    dy, sent = client([busy(), busy(), busy(), busy()], sleeps)
    with pytest.raises(Unavailable):
        dy.list()
    assert len(sent) == 4 and len(sleeps) == 3  # retries=3 by default
    dy, sent = client([busy(str(MAX_WAIT_S + 1))], [])
    with pytest.raises(Unavailable):
        dy.list()  # a wait longer than the cap is not waited out
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("not_found", NotFound),
        ("no_such_path", NoSuchPath),
        ("quota_exceeded", QuotaExceeded),
        ("busy", Busy),
        ("invalid_value", InvalidValue),
        ("body_too_large", TooLarge),
        ("too_large", TooLarge),
        ("something_new", DockyardError),
    ],
)
def test_codes_become_the_librarys_errors(code: str, kind: type[DockyardError]) -> None:
    error = error_for(code, "what happened")
    assert type(error) is kind and error.message == "what happened"


def test_an_answer_that_is_no_json_error_still_says_what_failed() -> None:
    dy, _ = client([httpx.Response(502, text="<html>bad gateway</html>")], [])
    with pytest.raises(DockyardError, match="HTTP 502"):
        dy.list()


def test_a_missing_path_reads_as_none_and_a_missing_workspace_raises() -> None:
    missing = {"error": {"code": "no_such_path", "message": "no /x in workspace 'k'"}}
    gone = {"error": {"code": "not_found", "message": "no workspace 'k'"}}
    dy, _ = client([httpx.Response(404, json=missing), httpx.Response(404, json=gone)], [])
    assert dy.stat_path("k", "/x") is None
    with pytest.raises(NotFound, match="no workspace"):
        dy.stat_path("k", "/x")


def test_keys_are_quoted_in_the_path() -> None:
    answer = {"key": "a@b/c", "state": "running", "last_activity_at": "2026-01-01T00:00:00+00:00"}
    answer["deadline"] = answer["last_activity_at"]
    dy, sent = client([httpx.Response(200, json=answer)], [])
    dy.touch("a@b/c d")
    assert sent[0].url.raw_path == b"/api/v1/workspaces/a%40b/c%20d/touch"


def test_streamed_records() -> None:
    assert streamed_record('{"output":"hi","stream":"stderr"}') == Output("hi", "stderr")
    assert streamed_record('{"end":{"exit_code":0}}') == {"exit_code": 0}
    assert streamed_record("  ") is None
    with pytest.raises(Conflict, match="not running"):
        streamed_record('{"error":{"code":"conflict","message":"not running"}}')


def test_server_sent_events_are_read_as_the_spec_says() -> None:
    reader = SSEReader()
    feed: Callable[[str], object] = reader.feed
    lines = ["retry: 1000", "", ": keepalive", "", "id: 7", "event: a", "data: {", "data: }", ""]
    got = [e for e in map(feed, lines) if e is not None]
    assert got == [("7", "a", "{\n}")]


def test_calls_that_wait_for_work_have_no_read_timeout_of_the_clients() -> None:
    ok = {"exit_code": 0, "timed_out": False, "duration_s": 300.0}
    dy, sent = client([httpx.Response(200, json=ok), httpx.Response(200, json=WORKSPACES)], [])
    dy.exec("k", ["make"])  # a long build answers when it ends; the server bounds it
    dy.list()
    assert sent[0].extensions["timeout"]["read"] is None
    assert sent[1].extensions["timeout"]["read"] == 60.0


def test_streamed_verbs_say_the_server_cannot_be_reached() -> None:
    refused = httpx.ConnectError("refused")
    for verb in (
        lambda dy: list(dy.exec_stream("k", ["true"])),
        lambda dy: dy.upload("k", "/tmp", b"tar"),
        lambda dy: dy.download("k", "/tmp").__enter__(),
        lambda dy: next(iter(dy.follow_events())),
    ):
        dy, _ = client([refused], [])
        with pytest.raises(Unavailable, match="cannot reach dockyard"):
            verb(dy)


def test_an_upload_takes_bytes_or_chunks() -> None:
    done = {"path": "/tmp", "entries": 1, "size": 3}
    dy, sent = client([httpx.Response(200, json=done), httpx.Response(200, json=done)], [])
    assert dy.upload("k", "/tmp", b"tar").size == 3
    assert dy.upload("k", "/tmp", iter([b"t", b"ar"])).entries == 1
    assert [r.read() for r in sent] == [b"tar", b"tar"]
