"""Tar streams for the engine's archive API, made and read lazily, never held in memory.

The engine copies files in and out of containers as tar streams. Making them: a host
directory's contents (``tar_stream``, for provisioning), a host file or directory under
a name of its own (``tar_tree``, for ``dockyard cp``), one host file (``tar_file``, a
checkpoint put into a container) or bytes (``tar_bytes``). Reading them: the single
file inside an archive the engine sends (``single_file``). The service never extracts an
archive on the host: a workspace's files are data to it, never paths to write to.
``extract`` is for clients (the CLI's ``cp``, the Python client) that do want the files
on their disk: it refuses the whole archive if any member could write outside the
target (``core.archives.member_problem``), before writing anything.

This module imports only ``core``: the service, the CLI and the client all use it.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from dockyard.core.archives import EntryKind, Member, archive_problem
from dockyard.core.errors import InvalidValue, OperationFailed
from dockyard.core.units import format_size

#: Told how a long copy goes, one line at a time.
Progress = Callable[[str], None]

_CHUNK = 256 * 1024
_BLOCK = 512


class _Buffer:
    """The file object tarfile writes to; the generator drains it chunk by chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def tar_stream(root: Path, progress: Progress) -> Iterator[bytes]:
    """A tar archive of ``root``'s contents, produced lazily, owned by root:root.

    Regular files, directories and symlinks are included; sockets, fifos and devices
    are skipped. Progress is reported every 1,000 files.
    """
    buffer = _Buffer()
    files = 0
    with tarfile.open(fileobj=buffer, mode="w|", format=tarfile.PAX_FORMAT) as archive:  # type: ignore[call-overload]
        for path in _walk(root):
            info = archive.gettarinfo(str(path), arcname=str(path.relative_to(root)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if info.isreg():
                with path.open("rb") as handle:
                    archive.addfile(info, handle)
                files += 1
                if files % 1000 == 0:
                    progress(f"copied {files} files ({format_size(buffer.size)})")
            else:
                archive.addfile(info)
            if sum(len(p) for p in buffer.parts) >= _CHUNK:
                yield buffer.drain()
    yield buffer.drain()
    progress(f"copied {files} files ({format_size(buffer.size)})")


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        dirnames.sort()
        # A symlink to a directory is listed here and archived as the link itself.
        yield from (base / name for name in dirnames)
        for name in sorted(filenames):
            path = base / name
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
                yield path


def tar_file(path: Path, *, arcname: str) -> Iterator[bytes]:
    """A tar archive holding the one file ``path`` as ``arcname`` (mode 0600, root)."""
    size = path.stat().st_size
    info = tarfile.TarInfo(arcname)
    info.size = size
    info.mode = 0o600
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk
    if size % _BLOCK:
        yield b"\0" * (_BLOCK - size % _BLOCK)
    yield b"\0" * (2 * _BLOCK)


class _ChunkReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def single_file(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The contents of the one regular file in a tar stream (the engine's copy of a file)."""
    reader = io.BufferedReader(_ChunkReader(chunks), buffer_size=_CHUNK)
    with tarfile.open(fileobj=reader, mode="r|") as archive:
        for member in archive:
            if not member.isreg():
                continue
            handle = archive.extractfile(member)
            if handle is None:
                break
            while chunk := handle.read(_CHUNK):
                yield chunk
            return
    raise OperationFailed("the engine's archive held no regular file")


def count_members(chunks: Iterable[bytes]) -> int:
    """Read a whole tar stream through; returns its entries. Raises if it is not one."""
    reader = io.BufferedReader(_ChunkReader(chunks), buffer_size=_CHUNK)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            return sum(1 for _ in archive)
    except tarfile.TarError as exc:
        raise OperationFailed(f"not a readable tar archive: {exc}") from exc


def tar_tree(path: Path, *, arcname: str) -> Iterator[bytes]:
    """A tar archive of the host file or directory ``path``, named ``arcname`` inside
    (a directory with everything under it; links are archived as links)."""
    buffer = _Buffer()
    with tarfile.open(fileobj=buffer, mode="w|", format=tarfile.PAX_FORMAT) as archive:  # type: ignore[call-overload]
        archive.add(str(path), arcname=arcname, recursive=False, filter=_plain)
        if path.is_dir() and not path.is_symlink():
            for inside in _walk(path):
                name = f"{arcname}/{inside.relative_to(path).as_posix()}"
                archive.add(str(inside), arcname=name, recursive=False, filter=_plain)
                if sum(len(p) for p in buffer.parts) >= _CHUNK:
                    yield buffer.drain()
    yield buffer.drain()


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """An entry without the host's owner names (the container's root owns it)."""
    if not (info.isreg() or info.isdir() or info.issym()):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def tar_bytes(name: str, data: bytes, *, mode: int = 0o644) -> bytes:
    """A tar archive holding ``data`` as the one file ``name``."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def extract(chunks: Iterable[bytes], target: Path, *, rename_root: str | None = None) -> int:
    """Write the archive ``chunks`` under the existing directory ``target``; returns how
    many entries it held. ``rename_root``: the archive's first path component becomes
    this name (``dockyard cp KEY:/src/dir ./other`` lands as ``./other``).

    The archive is spooled first and its members checked together before anything is
    written (``core.archives.archive_problem``): one that is absolute, climbs out with
    ``..``, lies under a link of the archive, or is a link pointing out (directly or
    through another link), or a device, refuses the whole archive (``InvalidValue``
    naming it). A member whose way on the disk runs through an existing link out of
    ``target`` is refused too. Writing then goes through tarfile's ``data`` filter as
    well; an error while writing (a full disk) is an ``OperationFailed``.
    """
    root = target.resolve()
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        try:
            with tarfile.open(fileobj=spool, mode="r:") as archive:
                members = archive.getmembers()
                for member in members:
                    _rename(member, rename_root)
                found = archive_problem([_as_member(m) for m in members])
                if found is not None:
                    raise InvalidValue(f"refused the archive: {found[0][:200]!r} is {found[1]}")
                for member in members:
                    _check_on_disk(root, member.name)
                archive.extractall(root, members=members, filter="data")
        except tarfile.TarError as exc:
            raise InvalidValue(f"refused the archive: {exc}") from exc
        except OSError as exc:
            raise OperationFailed(f"could not write the archive under {target}: {exc}") from exc
    return len(members)


def _as_member(member: tarfile.TarInfo) -> Member:
    return Member(member.name, _kind(member), member.linkname, hard=member.islnk())


def _check_on_disk(root: Path, name: str) -> None:
    """The member's place, as the disk has it now (links there followed), lies inside
    ``root``: neither its directory nor what it would replace is a link out."""
    for place in ((root / name).parent, root / name):
        if not place.resolve().is_relative_to(root):
            raise InvalidValue(f"refused the archive: {name[:200]!r} would go through a link out")


def _rename(member: tarfile.TarInfo, root: str | None) -> None:
    if root is None:
        return
    for attribute in ("name", "linkname") if member.islnk() else ("name",):
        first, slash, rest = posixpath.normpath(getattr(member, attribute)).partition("/")
        if first not in ("", ".", ".."):
            setattr(member, attribute, root + slash + rest)


def _kind(member: tarfile.TarInfo) -> EntryKind:
    if member.isreg() or member.isdir():
        return EntryKind.FILE if member.isreg() else EntryKind.DIRECTORY
    if member.issym() or member.islnk():
        return EntryKind.LINK
    return EntryKind.OTHER
