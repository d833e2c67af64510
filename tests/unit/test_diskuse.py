"""Walking a directory for its disk use: what counts, and the deadline that bounds it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dockyard.engine.diskuse import used_bytes


def blocks(path: Path) -> int:
    return os.lstat(path).st_blocks * 512


def test_files_count_by_the_blocks_they_take_hard_links_once(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    big = tmp_path / "sub" / "big"
    big.write_bytes(b"x" * 100_000)
    os.link(big, tmp_path / "again")
    (tmp_path / "link").symlink_to("/etc")  # a link is the link, never what it points to
    walked = used_bytes(str(tmp_path), deadline=time.monotonic() + 10)
    assert walked is not None and walked.complete
    expected = blocks(tmp_path / "sub") + blocks(big) + blocks(tmp_path / "link")
    assert walked.bytes == expected


def test_a_walk_past_its_deadline_answers_a_lower_bound(tmp_path: Path) -> None:
    for i in range(600):
        (tmp_path / f"f{i}").write_bytes(b"x")
    walked = used_bytes(str(tmp_path), deadline=time.monotonic() - 1)
    assert walked is not None and not walked.complete
    assert walked.bytes < 600 * blocks(tmp_path / "f0")


def test_a_path_that_is_not_there_is_unknown(tmp_path: Path) -> None:
    assert used_bytes(str(tmp_path / "absent"), deadline=time.monotonic() + 1) is None
    assert used_bytes("", deadline=time.monotonic() + 1) is None
