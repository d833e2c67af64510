"""Checkpoint files on the host: atomic writes, nothing left on failure, tar round trips."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.archives import count_members, single_file, tar_file
from dockyard.core.errors import OperationFailed, SaveFailed
from dockyard.service.snapshots.vault import Vault


def test_write_is_atomic_and_checksummed(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "ck")
    path = vault.path_for(workspace_name="dy-a", checkpoint_id="c1", suffix="bundle")
    stored = vault.write(path, [b"abc", b"def"])
    assert path.read_bytes() == b"abcdef"
    assert stored.size == 6
    assert stored.sha256 == hashlib.sha256(b"abcdef").hexdigest() == vault.digest(path)
    assert vault.contains(path)
    assert not vault.contains(tmp_path / "elsewhere")
    vault.delete(path)
    assert not path.parent.exists()  # its directory went with its last file


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "ck")
    path = vault.path_for(workspace_name="dy-a", checkpoint_id="c1", suffix="tar")

    def broken() -> Iterator[bytes]:
        yield b"half"
        raise OSError(28, "No space left on device")

    with pytest.raises(SaveFailed, match="No space left"):
        vault.write(path, broken())
    assert list(path.parent.iterdir()) == []


def test_a_file_goes_into_a_tar_and_comes_back_out(tmp_path: Path) -> None:
    source = tmp_path / "x.bundle"
    source.write_bytes(bytes(range(256)) * 5)  # not a multiple of the tar block size
    archive = b"".join(tar_file(source, arcname="dockyard-c1.bundle"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames() == ["dockyard-c1.bundle"]
    chunks = [archive[i : i + 100] for i in range(0, len(archive), 100)]
    assert b"".join(single_file(chunks)) == source.read_bytes()
    assert count_members(chunks) == 1


def test_garbage_is_not_a_tar() -> None:
    with pytest.raises(OperationFailed, match="not a readable tar"):
        count_members([b"garbage" * 100])
