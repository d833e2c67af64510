"""Tar streams for the engine's archive API, made and read lazily, never held in memory.

The engine copies files in and out of containers as tar streams. Making them: a host
directory (``tar_stream``, for provisioning) or one host file under a given name
(``tar_file``, for putting a checkpoint into a container). Reading them: the single
file inside an archive the engine sends (``single_file``). Nothing here extracts an
archive on the host: a workspace's files are data to us, never paths to write to.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from dockyard.core.errors import OperationFailed
from dockyard.core.units import format_size
from dockyard.service.runtime.context import Progress

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
