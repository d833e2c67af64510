"""Checkpoint storage on the host: files written atomically and durably, or not at all.

Layout: ``<checkpoint_dir>/<container name>/<checkpoint id>.<bundle|tar>``. A file is
written as ``*.partial``, fsynced, renamed into place and its directory fsynced, so a
crash leaves either the whole file or a ``.partial`` that the next save of the same
workspace deletes. The files are data: nothing here runs git on them or extracts them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.errors import SaveFailed

_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class Stored:
    path: Path
    size: int
    sha256: str


class Vault:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, *, workspace_name: str, checkpoint_id: str, suffix: str) -> Path:
        return self.root / workspace_name / f"{checkpoint_id}.{suffix}"

    def write(self, path: Path, chunks: Iterable[bytes]) -> Stored:
        """Write ``chunks`` to ``path`` atomically; ``SaveFailed`` (nothing left) on error."""
        partial = path.with_name(path.name + ".partial")
        digest = hashlib.sha256()
        size = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with partial.open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(path)
            _fsync_dir(path.parent)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise SaveFailed(f"cannot write checkpoint {path}: {exc.strerror or exc}") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return Stored(path, size, digest.hexdigest())

    def read(self, path: Path) -> Iterator[bytes]:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    def head(self, path: Path, size: int) -> bytes:
        with path.open("rb") as handle:
            return handle.read(size)

    def digest(self, path: Path) -> str:
        digest = hashlib.sha256()
        for chunk in self.read(path):
            digest.update(chunk)
        return digest.hexdigest()

    def delete(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".partial").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only if it is now empty

    def contains(self, path: Path) -> bool:
        """True if ``path`` is inside this vault (a stored location is never trusted blindly)."""
        try:
            path.resolve().relative_to(self.root.resolve())
        except ValueError:
            return False
        return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
