"""Every verb of the API once, as a ``Call``: the request to send and how to read its
answer. The sync and the async client send the same calls; only how they wait differs.

Errors are read here too, in one place: an answer of 400 and up becomes the library's
own error class for its ``code`` (``core.errors.error_for``), so a caller catches
``NotFound`` or ``QuotaExceeded`` whether it runs dockyard in-process or over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from dockyard.client.models import (
    Acquired,
    Changed,
    CommandResult,
    EventInfo,
    ExecResult,
    Output,
    Removed,
    SessionInfo,
    Touched,
    WorkspaceInfo,
)
from dockyard.core.archives import Listing, PathStat, Uploaded
from dockyard.core.errors import NoSuchPath, OperationFailed, error_for
from dockyard.core.model import SessionKind, State

T = TypeVar("T")

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
TAR = "application/x-tar"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and the reading of its answer. ``idempotent``: sending it twice does
    what sending it once does, so it may be retried after a 503 or a lost answer."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    idempotent: bool = False
    missing_is_none: bool = False  # a NoSuchPath answer reads as None
    #: The answer comes when the work is done (a clone, a save, a command): no read
    #: timeout of the client's own; the server bounds these itself.
    waits: bool = False


def raise_for(response: httpx.Response) -> None:
    """The library's error for an error answer (its JSON ``code``, else its status)."""
    if response.status_code < 400:
        return
    try:
        body = response.json()["error"]
        code, message = str(body["code"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 503: "unavailable"}.get(
            response.status_code, "failed"
        )
        message = f"HTTP {response.status_code} from {response.request.url.path}"
    raise error_for(code, message)


def read(call: Call[T], response: httpx.Response) -> T:
    try:
        raise_for(response)
    except NoSuchPath:
        if call.missing_is_none:
            return None  # type: ignore[return-value]  # the call's T includes None
        raise
    try:
        return call.read(response)
    except (ValueError, KeyError, TypeError) as exc:
        raise OperationFailed(f"the server's answer did not read: {exc!r}") from None


def ws(key: str, suffix: str = "") -> str:
    return f"/api/v1/workspaces/{quote(key, safe='/')}{suffix}"


def _seconds(value: timedelta | float | None) -> str | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return f"{seconds:g}s"


def _json(response: httpx.Response) -> Any:
    return response.json()


def _dropped(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# -- workspaces -----------------------------------------------------------------------


def acquire(
    key: str,
    *,
    owner: str | None = None,
    repo: str | None = None,
    branch: str | None = None,
    image: str | None = None,
    memory: str | int | None = None,
    cpus: float | None = None,
    disk: str | int | None = None,
    pids: int | None = None,
    labels: Mapping[str, str] | None = None,
    keep: bool | None = None,
    strategy: str | None = None,
    idle_timeout: timedelta | float | None = None,
    engine: str | None = None,
    engine_labels: Mapping[str, str] | None = None,
    from_checkpoint: str | None = None,
) -> Call[Acquired]:
    body = _dropped(
        {
            "key": key,
            "owner": owner,
            "repo": repo,
            "branch": branch,
            "image": image,
            "keep": keep,
            "strategy": strategy,
            "engine": engine,
            "from_checkpoint": from_checkpoint,
            "labels": dict(labels) if labels else None,
            "engine_labels": dict(engine_labels) if engine_labels else None,
            "resources": _dropped({"memory": memory, "cpus": cpus, "pids": pids, "disk": disk})
            or None,
            "policy": _dropped({"idle_timeout": _seconds(idle_timeout)}) or None,
        }
    )
    # the same key twice is the same workspace: an acquire is safe to send again
    return Call(
        "POST",
        "/api/v1/workspaces",
        lambda r: Acquired.from_json(r.json()),
        json=body,
        idempotent=True,
        waits=True,
    )


def get(key: str) -> Call[WorkspaceInfo]:
    return Call("GET", ws(key), lambda r: WorkspaceInfo.from_json(r.json()), idempotent=True)


def list_workspaces(
    *, owner: str | None = None, state: State | None = None
) -> Call[list[WorkspaceInfo]]:
    params = _dropped({"owner": owner, "state": state.value if state else None})
    return Call(
        "GET",
        "/api/v1/workspaces",
        lambda r: [WorkspaceInfo.from_json(w) for w in r.json()["workspaces"]],
        params=params,
        idempotent=True,
    )


def touch(key: str) -> Call[Touched]:
    return Call("POST", ws(key, "/touch"), lambda r: Touched.from_json(r.json()), idempotent=True)


def extend(key: str, by: timedelta | float) -> Call[Changed]:
    # not idempotent: each extension pushes the deadline further
    return Call(
        "POST", ws(key, "/extend"), lambda r: Changed.from_json(r.json()), json={"by": _seconds(by)}
    )


def park(key: str, *, force: bool = False) -> Call[Changed]:
    return Call(
        "POST",
        ws(key, "/park"),
        lambda r: Changed.from_json(r.json()),
        params={"force": force},
        idempotent=True,
        waits=True,
    )


def keep(key: str, *, keep: bool = True) -> Call[Changed]:
    path = ws(key, "/keep" if keep else "/unkeep")
    return Call("POST", path, lambda r: Changed.from_json(r.json()), idempotent=True)


def remove(key: str, *, purge: bool = False, force: bool = False) -> Call[Removed]:
    return Call(
        "DELETE",
        ws(key),
        lambda r: Removed.from_json(r.json()),
        params={"purge": purge, "force": force},
        idempotent=True,
        waits=True,
    )


def exec_body(
    command: Sequence[str],
    *,
    timeout: timedelta | float | None,
    env: Mapping[str, str] | None,
    workdir: str | None,
    session: str | None,
) -> dict[str, Any]:
    return _dropped(
        {
            "command": list(command),
            "timeout": _seconds(timeout),
            "env": dict(env) if env else None,
            "workdir": workdir,
            "session": session,
        }
    )


def exec_(key: str, command: Sequence[str], **options: Any) -> Call[ExecResult]:
    return Call(
        "POST",
        ws(key, "/exec"),
        lambda r: ExecResult.from_json(r.json()),
        json=exec_body(command, **options),
        waits=True,
    )


# -- sessions -------------------------------------------------------------------------


def open_session(
    key: str, *, kind: SessionKind = SessionKind.COMMAND, description: str = ""
) -> Call[SessionInfo]:
    body = {"kind": kind.value, "description": description}
    return Call("POST", ws(key, "/sessions"), lambda r: SessionInfo.from_json(r.json()), json=body)


def sessions(key: str) -> Call[list[SessionInfo]]:
    return Call(
        "GET",
        ws(key, "/sessions"),
        lambda r: [SessionInfo.from_json(s) for s in r.json()["sessions"]],
        idempotent=True,
    )


def session(session_id: str) -> Call[SessionInfo]:
    path = f"/api/v1/sessions/{quote(session_id, safe='')}"
    return Call("GET", path, lambda r: SessionInfo.from_json(r.json()), idempotent=True)


def close_session(session_id: str) -> Call[SessionInfo]:
    path = f"/api/v1/sessions/{quote(session_id, safe='')}"
    return Call("DELETE", path, lambda r: SessionInfo.from_json(r.json()), idempotent=True)


def command_path(session_id: str) -> str:
    return f"/api/v1/sessions/{quote(session_id, safe='')}/commands"


def command_body(command: str, timeout: timedelta | float | None) -> dict[str, Any]:
    return _dropped({"command": command, "timeout": _seconds(timeout)})


def run_command(
    session_id: str, command: str, *, timeout: timedelta | float | None = None
) -> Call[CommandResult]:
    return Call(
        "POST",
        command_path(session_id),
        lambda r: CommandResult.from_json(r.json()),
        json=command_body(command, timeout),
        waits=True,
    )


# -- files ----------------------------------------------------------------------------


def stat_path(key: str, path: str, *, follow: bool = False) -> Call[PathStat | None]:
    return Call(
        "GET",
        ws(key, "/stat"),
        lambda r: PathStat.from_json(r.json()),
        params={"path": path, "follow": follow},
        idempotent=True,
        missing_is_none=True,
    )


def list_dir(key: str, path: str) -> Call[Listing]:
    return Call(
        "GET",
        ws(key, "/files"),
        lambda r: Listing.from_json(r.json()),
        params={"path": path},
        idempotent=True,
    )


def read_file(key: str, path: str) -> Call[bytes]:
    return Call(
        "GET", ws(key, "/file"), lambda r: r.content, params={"path": path}, idempotent=True
    )


def write_file(
    key: str, path: str, data: bytes, *, mode: int = 0o644, parents: bool = False
) -> Call[Uploaded]:
    return Call(
        "PUT",
        ws(key, "/file"),
        lambda r: Uploaded.from_json(r.json()),
        params={"path": path, "mode": f"{mode:04o}", "parents": parents},
        content=data,
        idempotent=True,  # the same bytes written twice are the same file
    )


# -- the rest -------------------------------------------------------------------------


def stats() -> Call[dict[str, Any]]:
    return Call("GET", "/api/v1/stats", _json, idempotent=True)


def whoami() -> Call[dict[str, Any]]:
    return Call("GET", "/api/v1/whoami", _json, idempotent=True)


def events(
    *, after: int | None = None, limit: int = 100, workspace: str | None = None
) -> Call[list[EventInfo]]:
    params = _dropped({"after": after, "limit": limit, "workspace": workspace})
    return Call(
        "GET",
        "/api/v1/events",
        lambda r: [EventInfo.from_json(e) for e in r.json()["events"]],
        params=params,
        idempotent=True,
    )


# -- streams: read line by line, the same for both clients -----------------------------


def streamed_record(line: str) -> Output | dict[str, Any] | None:
    """One NDJSON record of a streamed exec or command: its output, or its end (the
    result's JSON); an error record raises it. None for a blank line."""
    if not line.strip():
        return None
    record = json.loads(line)
    if "error" in record:
        raise error_for(str(record["error"]["code"]), str(record["error"]["message"]))
    if "end" in record:
        end: dict[str, Any] = record["end"]
        return end
    return Output(text=record.get("output", ""), stream=record.get("stream", "stdout"))


class SSEReader:
    """Server-sent events, fed line by line: yields ``(id, event, data)`` per event."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._event = "message"
        self._data: list[str] = []

    def feed(self, line: str) -> tuple[str | None, str, str] | None:
        if line == "":
            if not self._data:
                return None
            done = (self._id, self._event, "\n".join(self._data))
            self._event, self._data = "message", []
            return done
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None


def event_of(sse: tuple[str | None, str, str]) -> EventInfo:
    return EventInfo.from_json(json.loads(sse[2]))


def events_of(lines: Iterable[str]) -> Iterator[EventInfo]:
    reader = SSEReader()
    for line in lines:
        got = reader.feed(line)
        if got is not None:
            yield event_of(got)
