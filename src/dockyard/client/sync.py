"""``Client``: dockyard over HTTP, with the library's verbs and errors, waiting in the
caller's thread. ``AsyncClient`` (``client.asynchronous``) is the same for asyncio."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from dockyard.client import calls
from dockyard.client.config import Connection, guarded, reaching, retry_after
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
from dockyard.core.model import SessionKind, State

if TYPE_CHECKING:
    from dockyard.client.terminal import TerminalLink

T = TypeVar("T")


class Client:
    """A dockyard server's API. ``url`` defaults to ``$DOCKYARD_URL`` (else
    ``http://127.0.0.1:8420``), ``token`` to ``$DOCKYARD_TOKEN``. Idempotent verbs are
    retried after a 503 with ``Retry-After`` or a lost connection, at most ``retries``
    times; every verb is retried when the connection could not be made at all.

        with Client() as dy:
            dy.acquire("user:42", owner="42")
            print(dy.exec("user:42", ["git", "status"]).stdout)
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connection = Connection.of(url, token=token, retries=retries)
        self._sleep = sleep
        self._waiting = httpx.Timeout(None, connect=min(timeout, 10.0))
        self._http = httpx.Client(
            base_url=self.connection.url,
            headers=self.connection.headers(),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    @property
    def url(self) -> str:
        return self.connection.url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def send(self, call: calls.Call[T]) -> T:
        """Send one call (with the retries it allows) and read its answer."""
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    json=call.json,
                    content=call.content,
                    timeout=self._waiting if call.waits else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                wait: float | None = self.connection.after_transport_error(call, exc, attempt)
            else:
                wait = retry_after(response, call, attempt, self.connection.retries)
            if wait is None:
                return calls.read(call, response)
            self._sleep(wait)
            attempt += 1

    # -- workspaces ---------------------------------------------------------------------

    def acquire(self, key: str, **fields: Any) -> Acquired:
        """Create the workspace ``key``, or reuse, start or restore it. ``fields``:
        owner, repo, branch, image, memory, cpus, pids, disk, labels, keep, engine."""
        return self.send(calls.acquire(key, **fields))

    def get(self, key: str) -> WorkspaceInfo:
        return self.send(calls.get(key))

    def list(
        self, *, owner: str | None = None, state: State | None = None
    ) -> builtins.list[WorkspaceInfo]:
        return self.send(calls.list_workspaces(owner=owner, state=state))

    def touch(self, key: str) -> Touched:
        return self.send(calls.touch(key))

    def extend(self, key: str, by: timedelta | float) -> Changed:
        return self.send(calls.extend(key, by))

    def park(self, key: str, *, force: bool = False) -> Changed:
        return self.send(calls.park(key, force=force))

    def keep(self, key: str, *, keep: bool = True) -> Changed:
        return self.send(calls.keep(key, keep=keep))

    def remove(self, key: str, *, purge: bool = False, force: bool = False) -> Removed:
        return self.send(calls.remove(key, purge=purge, force=force))

    def exec(
        self,
        key: str,
        command: Sequence[str],
        *,
        timeout: timedelta | float | None = None,
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
        session: str | None = None,
    ) -> ExecResult:
        """Run ``command`` to its end; its output (up to the server's cap) and exit code."""
        options = {"timeout": timeout, "env": env, "workdir": workdir, "session": session}
        return self.send(calls.exec_(key, command, **options))

    def exec_stream(
        self,
        key: str,
        command: Sequence[str],
        *,
        timeout: timedelta | float | None = None,
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
    ) -> Iterator[Output | ExecResult]:
        """Run ``command``, yielding its output as it comes, then its ``ExecResult``
        (``stdout``/``stderr`` empty there: the output was yielded)."""
        body = calls.exec_body(command, timeout=timeout, env=env, workdir=workdir, session=None)
        for record in self._stream(calls.ws(key, "/exec"), body):
            yield record if isinstance(record, Output) else ExecResult.from_json(record)

    # -- sessions -----------------------------------------------------------------------

    def open_session(
        self, key: str, *, kind: SessionKind = SessionKind.COMMAND, description: str = ""
    ) -> SessionInfo:
        return self.send(calls.open_session(key, kind=kind, description=description))

    def sessions(self, key: str) -> builtins.list[SessionInfo]:
        return self.send(calls.sessions(key))

    def session(self, session_id: str) -> SessionInfo:
        return self.send(calls.session(session_id))

    def close_session(self, session_id: str) -> SessionInfo:
        return self.send(calls.close_session(session_id))

    def run_command(
        self, session_id: str, command: str, *, timeout: timedelta | float | None = None
    ) -> CommandResult:
        """Run ``command`` in the command session's shell (state kept between commands)."""
        return self.send(calls.run_command(session_id, command, timeout=timeout))

    def command_stream(
        self, session_id: str, command: str, *, timeout: timedelta | float | None = None
    ) -> Iterator[Output | CommandResult]:
        """``run_command``, yielding the output as it comes, then the result."""
        body = calls.command_body(command, timeout)
        for record in self._stream(calls.command_path(session_id), body):
            yield record if isinstance(record, Output) else CommandResult.from_json(record)

    def terminal(self, session_id: str, *, rows: int = 24, cols: int = 80) -> TerminalLink:
        """The terminal of the ``shell`` session (a context manager): keys in, output
        out, resizes; the same shell again after a dropped link, with its recent screen."""
        from dockyard.client.terminal import TerminalLink  # noqa: PLC0415 - websockets, here only

        return TerminalLink(self.connection, session_id, rows=rows, cols=cols)

    def _stream(self, path: str, body: Mapping[str, Any]) -> Iterator[Output | dict[str, Any]]:
        headers = {"Accept": calls.NDJSON}
        with (
            reaching(self.url),
            self._http.stream("POST", path, json=body, headers=headers, timeout=None) as answer,
        ):
            if answer.status_code >= 400:
                answer.read()
                calls.raise_for(answer)
            for line in answer.iter_lines():
                record = calls.streamed_record(line)
                if record is not None:
                    yield record

    # -- files --------------------------------------------------------------------------

    def stat_path(self, key: str, path: str, *, follow: bool = False) -> PathStat | None:
        """What ``path`` is in the workspace, or None when nothing is there."""
        return self.send(calls.stat_path(key, path, follow=follow))

    def list_dir(self, key: str, path: str) -> Listing:
        return self.send(calls.list_dir(key, path))

    def read_file(self, key: str, path: str) -> bytes:
        return self.send(calls.read_file(key, path))

    def write_file(
        self, key: str, path: str, data: bytes, *, mode: int = 0o644, parents: bool = False
    ) -> Uploaded:
        return self.send(calls.write_file(key, path, data, mode=mode, parents=parents))

    def upload(self, key: str, directory: str, chunks: bytes | Iterable[bytes]) -> Uploaded:
        """Extract a tar archive (bytes, or chunks of it) into an existing directory of
        the workspace."""
        with reaching(self.url):
            answer = self._http.put(
                calls.ws(key, "/archive"),
                params={"path": directory},
                content=chunks if isinstance(chunks, bytes) else iter(chunks),
                headers={"Content-Type": calls.TAR},
                timeout=None,
            )
        calls.raise_for(answer)
        return Uploaded.from_json(answer.json())

    @contextmanager
    def download(self, key: str, path: str) -> Iterator[Iterator[bytes]]:
        """A tar archive of ``path`` (a file, or a directory with everything under it),
        streamed; extract it with ``dockyard.archives.extract``."""
        route = calls.ws(key, "/archive")
        with (
            reaching(self.url),
            self._http.stream("GET", route, params={"path": path}, timeout=None) as answer,
        ):
            if answer.status_code >= 400:
                answer.read()
                calls.raise_for(answer)
            yield guarded(answer.iter_bytes(), self.url)

    # -- the rest -----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return self.send(calls.stats())

    def whoami(self) -> dict[str, Any]:
        return self.send(calls.whoami())

    def events(
        self, *, after: int | None = None, limit: int = 100, workspace: str | None = None
    ) -> builtins.list[EventInfo]:
        """Events from the event table, oldest first after ``after``."""
        return self.send(calls.events(after=after, limit=limit, workspace=workspace))

    def follow_events(
        self, *, after: int | None = None, workspace: str | None = None
    ) -> Iterator[EventInfo]:
        """New events as they happen (server-sent events), for as long as you iterate."""
        params = {
            k: v for k, v in {"after": after, "workspace": workspace}.items() if v is not None
        }
        headers = {"Accept": calls.SSE}
        with (
            reaching(self.url),
            self._http.stream(
                "GET", "/api/v1/events", params=params, headers=headers, timeout=None
            ) as answer,
        ):
            if answer.status_code >= 400:
                answer.read()
                calls.raise_for(answer)
            yield from calls.events_of(answer.iter_lines())
