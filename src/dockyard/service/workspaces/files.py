"""Files in and out of a running workspace: describe a path, list a directory, download
a file or a directory (a tar stream), read one file whole, upload an archive into a
directory, write one file.

Paths are resolved by the engine inside the container, never on the host; the engine's
archive API copies, and a listing runs ``sh`` and ``stat`` in the container. Every
operation counts as activity. Sizes are capped by ``files.max_size`` (``files.single_max``
for a file read whole): an upload is spooled and checked whole (its size, that it is a
tar archive) before the engine is given a byte, so a refused or broken upload leaves
nothing half-written in the workspace.
"""

from __future__ import annotations

import posixpath
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from dockyard.archives import single_file, tar_bytes
from dockyard.core.archives import (
    LIST_NO_SUCH_PATH,
    LIST_NOT_A_DIRECTORY,
    LIST_NOT_READABLE,
    LIST_SCRIPT,
    EntryKind,
    Listing,
    PathStat,
    Uploaded,
    check_path,
    parse_listing,
    split_path,
)
from dockyard.core.errors import (
    Conflict,
    EngineError,
    InvalidInput,
    InvalidValue,
    NoSuchPath,
    NotFound,
    OperationFailed,
    TooLarge,
)
from dockyard.core.model import Workspace
from dockyard.core.units import format_size
from dockyard.engine.base import STDERR, STDOUT, ExecSpec
from dockyard.engine.process import run
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.records import not_running, require_running
from dockyard.service.workspaces.activity import touch

#: Uploads up to this stay in memory while they are checked; larger ones go to a file.
SPOOL_IN_MEMORY = 8 * 1024**2
_CHUNK = 256 * 1024
SINGLE = "files.single_max"
#: A listing's output (about 40 bytes an entry) is read up to this; the rest is cut.
LISTING_MAX_BYTES = 4 * 1024**2


@dataclass(frozen=True, slots=True)
class _Target:
    ws: Workspace
    ref: str


def _running(ctx: Context, key: str, owner: str | None) -> tuple[Context, _Target]:
    ws = require_running(ctx, key, owner=owner)
    return ctx.at(ws), _Target(ws, ws.container_id or ws.name)


def _touched(ctx: Context, target: _Target) -> None:
    touch(ctx, target.ws.key)


def stat(
    ctx: Context, key: str, path: str, *, follow: bool = False, owner: str | None = None
) -> PathStat | None:
    """What ``path`` is in the workspace (with ``follow``, what its links lead to), or
    None if nothing is there."""
    path = check_path(path)
    ctx, target = _running(ctx, key, owner)
    found = _followed(ctx, target, path)[1] if follow else _stat(ctx, target, path)
    _touched(ctx, target)
    return found


def _stat(ctx: Context, target: _Target, path: str) -> PathStat | None:
    try:
        return ctx.engine.stat_path(ref=target.ref, path=path)
    except NotFound:  # the container went away under the record
        raise not_running(target.ws) from None


def list_dir(ctx: Context, key: str, path: str, *, owner: str | None = None) -> Listing:
    """The entries of the directory ``path``, sorted by name (``..`` and ``.`` left out)."""
    path = check_path(path)
    ctx, target = _running(ctx, key, owner)
    kept = {STDOUT: bytearray(), STDERR: bytearray()}

    def keep(stream: int, data: bytes) -> None:  # never more than the cap in memory
        room = LISTING_MAX_BYTES + 1 - len(kept[stream])
        if room > 0:
            kept[stream] += data[:room]

    try:
        result = run(
            ctx.engine,
            ref=target.ref,
            spec=ExecSpec(argv=["sh", "-c", LIST_SCRIPT, "dockyard-ls", path], workdir="/"),
            on_output=lambda stream, data: keep(STDERR if stream == STDERR else STDOUT, data),
        )
    except Conflict as exc:
        raise Conflict(f"workspace {key!r}: its container is not running ({exc})") from None
    _touched(ctx, target)
    if result.exit_code == LIST_NO_SUCH_PATH:
        raise NoSuchPath(f"no {path} in workspace {key!r}")
    if result.exit_code == LIST_NOT_A_DIRECTORY:
        raise InvalidValue(f"{path} in workspace {key!r} is not a directory")
    if result.exit_code == LIST_NOT_READABLE:
        raise Conflict(f"{path} in workspace {key!r} cannot be read by the container's user")
    if result.exit_code != 0:
        why = bytes(kept[STDERR]).decode(errors="replace").strip().splitlines()[-1:]
        raise OperationFailed(f"listing {path} in {key!r} failed: {''.join(why) or 'no reason'}")
    output = bytes(kept[STDOUT])
    truncated = len(output) > LISTING_MAX_BYTES
    if truncated:  # the last record may be cut: keep the whole ones
        output = output[: output.rfind(b"\0", 0, LISTING_MAX_BYTES) + 1]
    return Listing(path=path, entries=parse_listing(output), truncated=truncated)


@contextmanager
def download(
    ctx: Context, key: str, path: str, *, owner: str | None = None
) -> Iterator[Iterator[bytes]]:
    """A tar stream of ``path`` (a file, or a directory with everything under it), named
    by its last component inside, as ``docker cp`` makes it. ``TooLarge`` is raised
    from the stream once it passes ``files.max_size``: the archive is then incomplete."""
    path = check_path(path)
    ctx, target = _running(ctx, key, owner)
    found = _stat(ctx, target, path)
    if found is None:
        raise NoSuchPath(f"no {path} in workspace {key!r}")
    limit = ctx.settings.files.max_size
    if found.kind is EntryKind.FILE and found.size > limit:  # said before a byte is sent
        raise TooLarge(f"{path} in {key!r} is larger than files.max_size ({format_size(limit)})")
    _touched(ctx, target)
    with ctx.engine.get_archive(ref=target.ref, path=path) as chunks:
        yield _capped(chunks, limit, what=f"{path} in {key!r}", setting="files.max_size")


def _capped(chunks: Iterable[bytes], limit: int, *, what: str, setting: str) -> Iterator[bytes]:
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise TooLarge(f"{what} is larger than {setting} ({format_size(limit)})")
        yield chunk


#: Links followed to the file a path names, at most (the kernel's own limit is 40).
LINK_HOPS = 16


def _followed(ctx: Context, target: _Target, path: str) -> tuple[str, PathStat | None]:
    """The path a chain of links at ``path`` ends at, and what is there. The engine
    resolves links in the directories of a path; the last component is ours to follow."""
    for _ in range(LINK_HOPS):
        found = _stat(ctx, target, path)
        if found is None or found.kind is not EntryKind.LINK:
            return path, found
        path = check_path(posixpath.join(posixpath.dirname(path), found.link_target))
    raise InvalidValue(f"{path} in workspace {target.ws.key!r}: too many levels of links")


def read_file(ctx: Context, key: str, path: str, *, owner: str | None = None) -> bytes:
    """The whole content of the regular file ``path`` (links followed), at most
    ``files.single_max`` bytes."""
    path = check_path(path)
    ctx, target = _running(ctx, key, owner)
    path, found = _followed(ctx, target, path)
    if found is None:
        raise NoSuchPath(f"no {path} in workspace {key!r}")
    if found.kind is EntryKind.DIRECTORY:
        raise InvalidValue(f"{path} in workspace {key!r} is a directory; list it instead")
    if found.kind is EntryKind.OTHER:
        raise InvalidValue(f"{path} in workspace {key!r} is not a regular file")
    limit = ctx.settings.files.single_max
    if found.kind is EntryKind.FILE and found.size > limit:
        raise TooLarge(
            f"{path} in {key!r} is {format_size(found.size)}, more than files.single_max "
            f"({format_size(limit)}); download it instead"
        )
    _touched(ctx, target)
    with ctx.engine.get_archive(ref=target.ref, path=path) as chunks:
        try:
            content = b"".join(
                _capped(single_file(chunks), limit, what=f"{path} in {key!r}", setting=SINGLE)
            )
        except OperationFailed:  # it changed into something else since the stat
            raise InvalidValue(f"{path} in workspace {key!r} is not a regular file") from None
    return content


def upload(
    ctx: Context, key: str, directory: str, chunks: Iterable[bytes], *, owner: str | None = None
) -> Uploaded:
    """Extract the tar archive ``chunks`` into the existing ``directory`` of the
    workspace. Nothing is written unless the whole archive arrived, is within
    ``files.max_size`` and reads as a tar archive."""
    directory = check_path(directory, what="directory")
    ctx, target = _running(ctx, key, owner)
    limit = ctx.settings.files.max_size
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the upload is larger than files.max_size ({format_size(limit)})")
            spool.write(chunk)
        entries = _count_members(spool)
        into = _require_directory(ctx, target, directory)
        _put(ctx, target, into, _read_back(spool))
    _touched(ctx, target)
    return Uploaded(path=directory, entries=entries, size=size)


def _put(ctx: Context, target: _Target, directory: str, data: Iterable[bytes]) -> None:
    try:
        ctx.engine.put_archive(ref=target.ref, path=directory, data=data)
    except (InvalidInput, EngineError) as exc:
        if "overwrite" not in str(exc):
            raise
        raise Conflict(
            f"in {directory} of {target.ws.key!r} the archive has a file where a directory "
            f"is, or a directory where a file is; neither was replaced ({exc})"
        ) from None


def _count_members(spool: IO[bytes]) -> int:
    spool.seek(0)
    try:
        with tarfile.open(fileobj=spool, mode="r:") as archive:
            return sum(1 for _ in archive)
    except tarfile.TarError as exc:
        raise InvalidValue(f"the upload is not a tar archive: {exc}") from None


def _read_back(spool: IO[bytes]) -> Iterator[bytes]:
    spool.seek(0)
    while chunk := spool.read(_CHUNK):
        yield chunk


def _require_directory(ctx: Context, target: _Target, directory: str) -> str:
    """The directory (links followed, as docker cp does) an archive goes into."""
    resolved, found = _followed(ctx, target, directory)
    if found is None:
        raise NoSuchPath(f"no directory {directory} in workspace {target.ws.key!r}")
    if found.kind is not EntryKind.DIRECTORY:
        raise InvalidValue(f"{directory} in workspace {target.ws.key!r} is not a directory")
    return resolved


def write_file(
    ctx: Context,
    key: str,
    path: str,
    data: bytes,
    *,
    mode: int = 0o644,
    parents: bool = False,
    owner: str | None = None,
) -> Uploaded:
    """Write ``data`` as the file ``path`` (replacing a file there). Its directory must
    exist, or with ``parents`` is made (``mkdir -p``, as the container's user)."""
    path = check_path(path)
    directory, name = split_path(path)
    if not 0 <= mode <= 0o7777:
        raise InvalidValue(f"mode {mode:o} is no file mode (0000..7777)")
    ctx, target = _running(ctx, key, owner)
    limit = ctx.settings.files.single_max
    if len(data) > limit:
        raise TooLarge(f"{path}: larger than files.single_max ({format_size(limit)})")
    resolved, existing = _followed(ctx, target, path)  # a link: its target is written
    if existing is not None and existing.kind is EntryKind.DIRECTORY:
        raise InvalidValue(f"{path} in workspace {key!r} is a directory")
    directory, name = split_path(resolved)
    if parents and _stat(ctx, target, directory) is None:
        made = run(ctx.engine, ref=target.ref, spec=ExecSpec(argv=["mkdir", "-p", "--", directory]))
        if not made.ok:
            why = made.last_error_line()
            raise OperationFailed(f"could not make {directory} in {key!r}: {why}")
    into = _require_directory(ctx, target, directory)
    _put(ctx, target, into, [tar_bytes(name, data, mode=mode)])
    _touched(ctx, target)
    return Uploaded(path=path, entries=1, size=len(data))
