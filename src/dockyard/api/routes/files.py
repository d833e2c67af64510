"""Files of a running workspace: describe a path, list a directory, download or upload a
tar archive (as the engine's own archive API, and ``docker cp``, do), read or write one
file whole. Paths are absolute paths inside the container; the query's ``path`` names
them (a key may hold ``/``, so a path cannot follow it in the URL).

Upload bodies have caps of their own (``files.max_size`` for an archive,
``files.single_max`` for one file), enforced by the guard before a byte is read when the
request declares its length.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from dockyard.api import responses as out
from dockyard.api.routes.deps import Rt, Who
from dockyard.core.errors import NoSuchPath, TooLarge
from dockyard.core.units import format_size
from dockyard.settings import Settings

router = APIRouter(tags=["files"])

TAR = "application/x-tar"
BYTES = "application/octet-stream"
PathQuery = Annotated[str, Query(description="an absolute path inside the container")]


def body_limit(settings: Settings) -> Any:
    """The guard's cap of a request body: uploads have the files section's caps."""
    archive = (settings.files.max_size, "files.max_size")
    single = (settings.files.single_max, "files.single_max")
    default = (settings.api.max_body, "api.max_body")

    def limit(method: str, path: str) -> tuple[int, str]:
        if method == "PUT" and path.startswith("/api/v1/workspaces/"):
            if path.endswith("/archive"):
                return archive
            if path.endswith("/file"):
                return single
        return default

    return limit


@router.get("/workspaces/{key:path}/stat", response_model=out.PathStatOut)
def stat(key: str, path: PathQuery, rt: Rt, who: Who, follow: bool = False) -> dict[str, Any]:
    """What ``path`` is: file, directory, link or other (with ``follow``, what its links
    lead to); 404 ``no_such_path`` if nothing."""
    found = rt.dy.stat_path(key, path, follow=follow, owner=who.owner)
    if found is None:
        raise NoSuchPath(f"no {path} in workspace {key!r}")
    return found.to_json()


@router.get("/workspaces/{key:path}/files", response_model=out.ListingOut)
def list_dir(key: str, path: PathQuery, rt: Rt, who: Who) -> dict[str, Any]:
    """The entries of a directory, sorted by name; ``truncated`` when there were more."""
    return rt.dy.list_dir(key, path, owner=who.owner).to_json()


@router.get(
    "/workspaces/{key:path}/archive",
    response_class=StreamingResponse,
    responses={200: {"content": {TAR: {}}, "description": "a tar archive of the path"}},
)
def download(key: str, path: PathQuery, rt: Rt, who: Who) -> StreamingResponse:
    """A tar archive of a file or a directory (with everything under it), named by the
    path's last component inside, streamed. Past ``files.max_size`` the stream is cut
    (the archive is then incomplete: a client's extraction fails)."""
    stack = ExitStack()
    chunks = stack.enter_context(rt.dy.download(key, path, owner=who.owner))

    def body() -> Iterator[bytes]:
        with stack:
            yield from chunks

    return StreamingResponse(body(), media_type=TAR)


def _body(what: str, *media_types: str) -> dict[str, Any]:
    """A raw request body in the OpenAPI description (the route reads it as a stream;
    its ``Content-Type`` is not looked at)."""
    schema = {"type": "string", "format": "binary"}
    content = {media_type: {"schema": schema} for media_type in (*media_types, BYTES)}
    return {"requestBody": {"required": True, "description": what, "content": content}}


@router.put(
    "/workspaces/{key:path}/archive",
    response_model=out.UploadedOut,
    openapi_extra=_body("a tar archive, extracted into the directory", TAR),
)
async def upload(key: str, path: PathQuery, request: Request, rt: Rt, who: Who) -> Any:
    """Extract a tar archive (the body) into the existing directory ``path``. Nothing is
    written unless the whole archive arrived, within ``files.max_size``, and reads as a
    tar archive. Counts as activity."""
    stream = request.stream()
    uploaded = await run_in_threadpool(rt.dy.upload, key, path, _from_loop(stream), owner=who.owner)
    return uploaded.to_json()


def _from_loop(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request's body, read by a worker thread from the event loop chunk by chunk."""

    async def next_chunk() -> bytes | None:
        return await anext(stream, None)

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


@router.get(
    "/workspaces/{key:path}/file",
    response_class=Response,
    responses={200: {"content": {BYTES: {}}, "description": "the file's bytes"}},
)
def read_file(key: str, path: PathQuery, rt: Rt, who: Who) -> Response:
    """One regular file's bytes (links followed), at most ``files.single_max``; a larger
    one is a 413: download it as an archive."""
    return Response(rt.dy.read_file(key, path, owner=who.owner), media_type=BYTES)


@router.put(
    "/workspaces/{key:path}/file",
    response_model=out.UploadedOut,
    openapi_extra=_body("the file's new content"),
)
async def write_file(
    key: str,
    *,
    path: PathQuery,
    request: Request,
    rt: Rt,
    who: Who,
    mode: Annotated[str, Query(pattern=r"^[0-7]{3,4}$", description="octal, e.g. 0644")] = "0644",
    parents: Annotated[bool, Query(description="make missing directories (mkdir -p)")] = False,
) -> Any:
    """Write the body as the file ``path`` (replacing a file there). Counts as activity."""
    data = await request.body()
    limit = rt.dy.settings.files.single_max
    if len(data) > limit:
        raise TooLarge(f"the file is larger than files.single_max ({format_size(limit)})")
    written = await run_in_threadpool(
        rt.dy.write_file, key, path, data, mode=int(mode, 8), parents=parents, owner=who.owner
    )
    return written.to_json()
