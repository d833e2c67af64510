"""``AsyncClient``: ``Client``'s verbs for asyncio; each is a coroutine, each stream an
async iterator. Same calls, same errors, same retries."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

import httpx

from dockyard.client import calls
from dockyard.client.config import Connection, reaching, retry_after
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

T = TypeVar("T")


class AsyncClient:
    """``Client`` for asyncio::

    async with AsyncClient() as dy:
        await dy.acquire("user:42", owner="42")
        async for piece in dy.exec_stream("user:42", ["make"]):
            ...
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.connection = Connection.of(url, token=token, retries=retries)
        self._sleep = sleep
        self._waiting = httpx.Timeout(None, connect=min(timeout, 10.0))
        self._http = httpx.AsyncClient(
            base_url=self.connection.url,
            headers=self.connection.headers(),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    @property
    def url(self) -> str:
        return self.connection.url

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(self, call: calls.Call[T]) -> T:
        """Send one call (with the retries it allows) and read its answer."""
        attempt = 0
        while True:
            try:
                response = await self._http.request(
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
            await self._sleep(wait)
            attempt += 1

    # -- workspaces ---------------------------------------------------------------------

    async def acquire(self, key: str, **fields: Any) -> Acquired:
        """Create the workspace ``key``, or reuse, start or restore it. ``fields``:
        owner, repo, branch, image, memory, cpus, pids, disk, labels, keep, engine."""
        return await self.send(calls.acquire(key, **fields))

    async def get(self, key: str) -> WorkspaceInfo:
        return await self.send(calls.get(key))

    async def list(
        self, *, owner: str | None = None, state: State | None = None
    ) -> builtins.list[WorkspaceInfo]:
        return await self.send(calls.list_workspaces(owner=owner, state=state))

    async def touch(self, key: str) -> Touched:
        return await self.send(calls.touch(key))

    async def extend(self, key: str, by: timedelta | float) -> Changed:
        return await self.send(calls.extend(key, by))

    async def park(self, key: str, *, force: bool = False) -> Changed:
        return await self.send(calls.park(key, force=force))

    async def keep(self, key: str, *, keep: bool = True) -> Changed:
        return await self.send(calls.keep(key, keep=keep))

    async def remove(self, key: str, *, purge: bool = False, force: bool = False) -> Removed:
        return await self.send(calls.remove(key, purge=purge, force=force))

    async def exec(
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
        return await self.send(calls.exec_(key, command, **options))

    async def exec_stream(
        self,
        key: str,
        command: Sequence[str],
        *,
        timeout: timedelta | float | None = None,
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
    ) -> AsyncIterator[Output | ExecResult]:
        """Run ``command``, yielding its output as it comes, then its ``ExecResult``
        (``stdout``/``stderr`` empty there: the output was yielded)."""
        body = calls.exec_body(command, timeout=timeout, env=env, workdir=workdir, session=None)
        async for record in self._stream(calls.ws(key, "/exec"), body):
            yield record if isinstance(record, Output) else ExecResult.from_json(record)

    # -- sessions -----------------------------------------------------------------------

    async def open_session(
        self, key: str, *, kind: SessionKind = SessionKind.COMMAND, description: str = ""
    ) -> SessionInfo:
        return await self.send(calls.open_session(key, kind=kind, description=description))

    async def sessions(self, key: str) -> builtins.list[SessionInfo]:
        return await self.send(calls.sessions(key))

    async def session(self, session_id: str) -> SessionInfo:
        return await self.send(calls.session(session_id))

    async def close_session(self, session_id: str) -> SessionInfo:
        return await self.send(calls.close_session(session_id))

    async def run_command(
        self, session_id: str, command: str, *, timeout: timedelta | float | None = None
    ) -> CommandResult:
        """Run ``command`` in the command session's shell (state kept between commands)."""
        return await self.send(calls.run_command(session_id, command, timeout=timeout))

    async def command_stream(
        self, session_id: str, command: str, *, timeout: timedelta | float | None = None
    ) -> AsyncIterator[Output | CommandResult]:
        """``run_command``, yielding the output as it comes, then the result."""
        body = calls.command_body(command, timeout)
        async for record in self._stream(calls.command_path(session_id), body):
            yield record if isinstance(record, Output) else CommandResult.from_json(record)

    async def _stream(
        self, path: str, body: Mapping[str, Any]
    ) -> AsyncIterator[Output | dict[str, Any]]:
        headers = {"Accept": calls.NDJSON}
        stream = self._http.stream("POST", path, json=body, headers=headers, timeout=None)
        with reaching(self.url):
            async with stream as answer:
                if answer.status_code >= 400:
                    await answer.aread()
                    calls.raise_for(answer)
                async for line in answer.aiter_lines():
                    record = calls.streamed_record(line)
                    if record is not None:
                        yield record

    # -- files --------------------------------------------------------------------------

    async def stat_path(self, key: str, path: str, *, follow: bool = False) -> PathStat | None:
        """What ``path`` is in the workspace, or None when nothing is there."""
        return await self.send(calls.stat_path(key, path, follow=follow))

    async def list_dir(self, key: str, path: str) -> Listing:
        return await self.send(calls.list_dir(key, path))

    async def read_file(self, key: str, path: str) -> bytes:
        return await self.send(calls.read_file(key, path))

    async def write_file(
        self, key: str, path: str, data: bytes, *, mode: int = 0o644, parents: bool = False
    ) -> Uploaded:
        return await self.send(calls.write_file(key, path, data, mode=mode, parents=parents))

    async def upload(
        self, key: str, directory: str, chunks: bytes | AsyncIterable[bytes]
    ) -> Uploaded:
        """Extract a tar archive (bytes, or chunks of it) into an existing directory of
        the workspace."""
        with reaching(self.url):
            answer = await self._http.put(
                calls.ws(key, "/archive"),
                params={"path": directory},
                content=chunks,
                headers={"Content-Type": calls.TAR},
                timeout=None,
            )
        calls.raise_for(answer)
        return Uploaded.from_json(answer.json())

    @asynccontextmanager
    async def download(self, key: str, path: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """A tar archive of ``path`` (a file, or a directory with everything under it),
        streamed as it comes (``extract`` takes it once written to a file, or joined)."""
        route = calls.ws(key, "/archive")
        stream = self._http.stream("GET", route, params={"path": path}, timeout=None)
        with reaching(self.url):
            async with stream as answer:
                if answer.status_code >= 400:
                    await answer.aread()
                    calls.raise_for(answer)
                yield answer.aiter_bytes()

    # -- the rest -----------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        return await self.send(calls.stats())

    async def whoami(self) -> dict[str, Any]:
        return await self.send(calls.whoami())

    async def events(
        self, *, after: int | None = None, limit: int = 100, workspace: str | None = None
    ) -> builtins.list[EventInfo]:
        """Events from the event table, oldest first after ``after``."""
        return await self.send(calls.events(after=after, limit=limit, workspace=workspace))

    async def follow_events(
        self, *, after: int | None = None, workspace: str | None = None
    ) -> AsyncIterator[EventInfo]:
        """New events as they happen (server-sent events), for as long as you iterate."""
        params = {
            k: v for k, v in {"after": after, "workspace": workspace}.items() if v is not None
        }
        headers = {"Accept": calls.SSE}
        stream = self._http.stream(
            "GET", "/api/v1/events", params=params, headers=headers, timeout=None
        )
        with reaching(self.url):
            async with stream as answer:
                if answer.status_code >= 400:
                    await answer.aread()
                    calls.raise_for(answer)
                reader = calls.SSEReader()
                async for line in answer.aiter_lines():
                    got = reader.feed(line)
                    if got is not None:
                        yield calls.event_of(got)
