"""Files in and out of a workspace on the real engine: stat, listing, archives both ways,
one file whole, and the errors a user meets (missing, not a directory, too large, not
running), with nothing half-written after a refused upload."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from dockyard.archives import extract, tar_bytes, tar_tree
from dockyard.core.archives import EntryKind
from dockyard.core.errors import Conflict, InvalidValue, NotFound, TooLarge
from dockyard.service import AcquireRequest, Dockyard
from dockyard.service.workspaces import files as file_ops
from dockyard.settings import Settings
from tests.helpers import FakeClock


def names(dy: Dockyard, key: str, path: str) -> list[str]:
    return [e.name for e in dy.list_dir(key, path).entries]


def test_a_directory_goes_in_and_comes_back_out_as_it_was(dy: Dockyard, tmp_path: Path) -> None:
    dy.acquire(AcquireRequest(key="fs"))
    source = tmp_path / "src"
    (source / "deep" / "er").mkdir(parents=True)
    (source / "a.txt").write_text("alpha\n")
    (source / "deep" / "er" / "b.bin").write_bytes(bytes(range(256)) * 100)
    (source / "link").symlink_to("a.txt")
    (source / "deep" / "run.sh").write_text("#!/bin/sh\n")
    (source / "deep" / "run.sh").chmod(0o755)
    uploaded = dy.upload("fs", "/tmp", tar_tree(source, arcname="src"))
    assert (uploaded.path, uploaded.entries) == ("/tmp", 7)

    listing = dy.list_dir("fs", "/tmp/src")
    kinds = {e.name: e.kind for e in listing.entries}
    assert kinds == {"a.txt": EntryKind.FILE, "deep": EntryKind.DIRECTORY, "link": EntryKind.LINK}
    assert not listing.truncated
    assert dy.read_file("fs", "/tmp/src/link") == b"alpha\n"  # a link is followed
    script = dy.stat_path("fs", "/tmp/src/deep/run.sh")
    assert script is not None and (script.kind, script.mode) == (EntryKind.FILE, 0o755)

    out = tmp_path / "out"
    out.mkdir()
    with dy.download("fs", "/tmp/src") as chunks:
        assert extract(chunks, out) == 7
    assert (out / "src" / "deep" / "er" / "b.bin").read_bytes() == bytes(range(256)) * 100
    assert (out / "src" / "link").readlink() == Path("a.txt")
    assert (out / "src" / "deep" / "run.sh").stat().st_mode & 0o777 == 0o755


def test_one_file_written_and_read_whole(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="f1"))
    with pytest.raises(NotFound, match="no directory /tmp/new/dir"):
        dy.write_file("f1", "/tmp/new/dir/x.txt", b"x")
    written = dy.write_file("f1", "/tmp/new/dir/x.txt", b"hello\n", parents=True, mode=0o600)
    assert (written.path, written.size) == ("/tmp/new/dir/x.txt", 6)
    assert dy.read_file("f1", "/tmp/new/dir/x.txt") == b"hello\n"
    found = dy.stat_path("f1", "/tmp/new/dir/x.txt")
    assert found is not None and found.mode == 0o600
    dy.write_file("f1", "/tmp/new/dir/x.txt", b"replaced")
    assert dy.read_file("f1", "/tmp/new/dir/x.txt") == b"replaced"
    assert dy.exec("f1", ["grep", "-q", "replaced", "/tmp/new/dir/x.txt"]) == 0


def test_names_nobody_would_choose_are_listed_as_they_are(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="fn"))
    odd = ["with space", "new\nline", ".hidden", "..dots", "-dash", "*"]
    script = 'mkdir /tmp/odd && cd /tmp/odd && for n in "$@"; do : > "$n"; done'
    assert dy.exec("fn", ["sh", "-c", script, "sh", *odd]) == 0
    assert names(dy, "fn", "/tmp/odd") == sorted(odd)
    assert names(dy, "fn", "/tmp/odd/../odd") == sorted(odd)  # resolved lexically
    dy.exec("fn", ["mkdir", "/tmp/empty"])
    assert names(dy, "fn", "/tmp/empty") == []


def test_what_a_user_gets_wrong_is_said_in_one_line(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="fe"))
    dy.write_file("fe", "/tmp/plain", b"x")
    with pytest.raises(NotFound, match="no /nope in workspace 'fe'"):
        dy.list_dir("fe", "/nope")
    with pytest.raises(InvalidValue, match="not a directory"):
        dy.list_dir("fe", "/tmp/plain")
    with pytest.raises(InvalidValue, match="is not absolute"):
        dy.list_dir("fe", "tmp")
    with pytest.raises(NotFound, match="no directory /nope"):
        dy.upload("fe", "/nope", [tar_bytes("a", b"a")])
    with pytest.raises(InvalidValue, match=r"/tmp/plain .* is not a directory"):
        dy.upload("fe", "/tmp/plain", [tar_bytes("a", b"a")])
    with pytest.raises(InvalidValue, match="is a directory"):
        dy.read_file("fe", "/tmp")
    with pytest.raises(NotFound, match="no /tmp/none"):
        dy.read_file("fe", "/tmp/none")
    with pytest.raises(NotFound):
        dy.download("fe", "/tmp/none").__enter__()
    with pytest.raises(InvalidValue, match="not a tar archive"):
        dy.upload("fe", "/tmp", [b"this is no archive" * 100])
    with pytest.raises(NotFound, match="no workspace 'ghost'"):
        dy.list_dir("ghost", "/")
    dy.park("fe")
    with pytest.raises(Conflict, match="is parked; run `dockyard up fe` first"):
        dy.read_file("fe", "/tmp/plain")


def test_a_refused_upload_writes_nothing(
    engine_settings: Settings, installed: list[str], tmp_path: Path
) -> None:
    capped = engine_settings.model_copy(
        update={
            "files": engine_settings.files.model_copy(
                update={"max_size": 64 * 1024, "single_max": 1024}
            )
        }
    )
    with Dockyard.open(capped) as dy:
        installed.append(dy.ctx.installation)
        dy.acquire(AcquireRequest(key="fc"))
        big = tmp_path / "big"
        big.mkdir()
        (big / "first").write_bytes(b"1" * 10)
        (big / "second").write_bytes(b"2" * 200 * 1024)
        with pytest.raises(TooLarge, match=r"files\.max_size \(64\.0KiB\)"):
            dy.upload("fc", "/tmp", tar_tree(big, arcname="big"))
        assert dy.stat_path("fc", "/tmp/big") is None  # not even the first file
        with pytest.raises(TooLarge, match=r"files\.single_max"):
            dy.write_file("fc", "/tmp/w", b"w" * 2000)
        dy.exec("fc", ["sh", "-c", "head -c 100000 /dev/zero > /tmp/large"])
        with pytest.raises(TooLarge, match="download it instead"):
            dy.read_file("fc", "/tmp/large")
        with (
            pytest.raises(TooLarge, match=r"files\.max_size"),
            dy.download("fc", "/tmp/large") as chunks,
        ):
            for _ in chunks:
                pass


def test_copying_files_in_counts_as_activity(timed: Dockyard, clock: FakeClock) -> None:
    timed.acquire(AcquireRequest(key="fa"))
    before = timed.get("fa").last_activity_at
    clock.advance(seconds=60)
    timed.upload("fa", "/tmp", [tar_bytes("a", b"a")])
    assert timed.get("fa").last_activity_at == clock.now > before


def test_a_hostile_archive_made_in_the_workspace_is_refused_on_the_way_out(
    dy: Dockyard, tmp_path: Path
) -> None:
    """Whoever is inside makes a link that points out and a file behind it; the helper
    refuses the archive before writing anything."""
    dy.acquire(AcquireRequest(key="fh"))
    script = "mkdir -p /tmp/evil && ln -s /etc /tmp/evil/escape && ln -s ../../x /tmp/evil/up"
    assert dy.exec("fh", ["sh", "-c", script]) == 0
    target = tmp_path / "target"
    target.mkdir()
    with dy.download("fh", "/tmp/evil") as chunks, pytest.raises(InvalidValue, match="link"):
        extract(chunks, target)
    assert list(target.iterdir()) == []


def test_a_member_read_as_a_tar_member(dy: Dockyard) -> None:
    """The archive of one file holds it under its own name (as docker cp makes it)."""
    dy.acquire(AcquireRequest(key="fm"))
    dy.write_file("fm", "/tmp/one.txt", b"one")
    with dy.download("fm", "/tmp/one.txt") as chunks:
        data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        assert archive.getnames() == ["one.txt"]


def test_a_listing_too_long_is_cut_at_whole_entries(
    dy: Dockyard, monkeypatch: pytest.MonkeyPatch
) -> None:
    dy.acquire(AcquireRequest(key="fl"))
    assert (
        dy.exec("fl", ["sh", "-c", "mkdir /tmp/many && cd /tmp/many && touch $(seq 100 130)"]) == 0
    )
    monkeypatch.setattr(file_ops, "LISTING_MAX_BYTES", 200)  # about five entries
    listing = dy.list_dir("fl", "/tmp/many")
    assert listing.truncated and 0 < len(listing.entries) < 31
    assert all(e.kind is EntryKind.FILE and e.name.isdigit() for e in listing.entries)


def test_an_upload_never_replaces_a_directory_with_a_file(dy: Dockyard) -> None:
    """docker cp's rule: the engine would otherwise remove the directory, all in it."""
    dy.acquire(AcquireRequest(key="fo"))
    dy.write_file("fo", "/tmp/proj/build/output.o", b"precious", parents=True)
    with pytest.raises(Conflict, match="directory"):
        dy.upload("fo", "/tmp/proj", [tar_bytes("build", b"a file named like the directory")])
    assert dy.read_file("fo", "/tmp/proj/build/output.o") == b"precious"


def test_links_to_directories_are_followed_as_docker_cp_does(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="fk"))
    assert dy.exec("fk", ["sh", "-c", "mkdir /tmp/real && ln -s /tmp/real /tmp/via"]) == 0
    dy.upload("fk", "/tmp/via", [tar_bytes("in.txt", b"in")])
    assert dy.read_file("fk", "/tmp/real/in.txt") == b"in"
    via = dy.stat_path("fk", "/tmp/via", follow=True)
    assert via is not None and via.kind is EntryKind.DIRECTORY
    link = dy.stat_path("fk", "/tmp/via")
    assert link is not None and (link.kind, link.link_target) == (EntryKind.LINK, "/tmp/real")
    assert dy.exec("fk", ["ln", "-s", "/tmp/real/in.txt", "/tmp/file-link"]) == 0
    dy.write_file("fk", "/tmp/file-link", b"through")  # the link's target is written
    assert dy.read_file("fk", "/tmp/real/in.txt") == b"through"
    assert dy.stat_path("fk", "/tmp/file-link").kind is EntryKind.LINK  # type: ignore[union-attr]
