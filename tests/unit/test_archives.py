"""The rules for files in and out of workspaces, without an engine: which archive members a
client may write, where ``dockyard cp`` puts a copy, what a listing says, and the
extraction helper refusing hostile archives before writing anything."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.archives import extract, tar_bytes, tar_tree
from dockyard.core.archives import (
    Endpoint,
    EntryKind,
    Placement,
    check_path,
    member_problem,
    parse_endpoint,
    parse_listing,
    place_copy,
)
from dockyard.core.errors import InvalidValue, NotFound, OperationFailed

FILE, DIR, LINK, OTHER = EntryKind.FILE, EntryKind.DIRECTORY, EntryKind.LINK, EntryKind.OTHER


@pytest.mark.parametrize(
    ("name", "kind", "link", "hard", "problem"),
    [
        ("a.txt", FILE, "", False, None),
        ("dir/sub/a.txt", FILE, "", False, None),
        ("dir/../a.txt", FILE, "", False, "'..' in it"),  # through dir, maybe a link
        ("./a", FILE, "", False, None),
        ("/etc/passwd", FILE, "", False, "an absolute path"),
        ("../a", FILE, "", False, "climbs out"),
        ("dir/../../a", FILE, "", False, "climbs out"),
        ("..", DIR, "", False, "climbs out"),
        ("d/../x", FILE, "", False, "'..' in it"),
        ("dir/link", LINK, "../a.txt", False, None),  # to a sibling of dir: inside
        ("dir/link", LINK, "../../a", False, "pointing out"),
        ("link", LINK, "/etc", False, "absolute"),
        ("link", LINK, "", False, "absolute"),
        ("dir/hard", LINK, "dir/a", True, None),  # a hard link's target is from the root
        ("dir/hard", LINK, "../a", True, "pointing out"),
        ("dev", OTHER, "", False, "device"),
        ("", FILE, "", False, "empty"),
    ],
)
def test_which_members_may_be_written(
    name: str, kind: EntryKind, link: str, hard: bool, problem: str | None
) -> None:
    found = member_problem(name, kind=kind, link=link, hard=hard)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@given(st.lists(st.sampled_from(["a", "..", ".", "b"]), min_size=1, max_size=6))
def test_an_allowed_name_never_leaves_the_target(parts: list[str]) -> None:
    name = "/".join(parts)
    if member_problem(name, kind=FILE) is None:
        target = Path("/target")
        assert (target / name).resolve().is_relative_to(target)


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("ws:/tmp/x", Endpoint("/tmp/x", "ws")),
        ("user:42:/tmp/x", Endpoint("/tmp/x", "user:42")),  # keys hold colons
        ("a@b/c:/w//d/", Endpoint("/w/d/", "a@b/c")),  # a trailing / asks for a directory
        ("./a:/b", Endpoint("./a:/b")),  # written as local
        ("/abs:/b", Endpoint("/abs:/b")),
        ("plain", Endpoint("plain")),
        ("-", Endpoint("-")),
    ],
)
def test_cp_endpoints(text: str, endpoint: Endpoint) -> None:
    assert parse_endpoint(text) == endpoint


def test_a_cp_endpoint_without_a_key_is_refused() -> None:
    with pytest.raises(InvalidValue, match="no workspace key"):
        parse_endpoint(":/tmp")


@pytest.mark.parametrize(
    ("source_is_dir", "dest", "kind", "parent", "placement"),
    [
        (False, "/w", DIR, True, Placement("/w", "src")),  # into a directory
        (True, "/w/", DIR, True, Placement("/w", "src")),
        (False, "/w/f", FILE, True, Placement("/w", "f")),  # replaces a file
        (False, "/w/new", None, True, Placement("/w", "new")),  # made under dest's name
        (True, "/w/new", None, True, Placement("/w", "new")),
        (False, "/", DIR, True, Placement("/", "src")),
        (False, "new", None, True, Placement("/", "new")),
    ],
)
def test_where_a_copy_goes(
    source_is_dir: bool, dest: str, kind: EntryKind | None, parent: bool, placement: Placement
) -> None:
    got = place_copy(
        "src", source_is_dir=source_is_dir, dest=dest, dest_kind=kind, parent_is_dir=parent
    )
    if dest == "new":  # a relative local destination: its directory is ""
        assert got.name == placement.name
    else:
        assert got == placement


def test_copies_that_cannot_be_made() -> None:
    with pytest.raises(InvalidValue, match="cannot copy a directory onto the file"):
        place_copy("d", source_is_dir=True, dest="/w/f", dest_kind=FILE, parent_is_dir=True)
    with pytest.raises(InvalidValue, match="no directory /w/new/"):
        place_copy("f", source_is_dir=False, dest="/w/new/", dest_kind=None, parent_is_dir=True)
    with pytest.raises(NotFound, match="no directory /w/no"):
        place_copy("f", source_is_dir=False, dest="/w/no/f", dest_kind=None, parent_is_dir=False)


@pytest.mark.parametrize(
    ("path", "normal"),
    [("/", "/"), ("/a/../b", "/b"), ("//a", "/a"), ("/a/./b/", "/a/b"), ("/../..", "/")],
)
def test_paths_are_normalized(path: str, normal: str) -> None:
    assert check_path(path) == normal


@pytest.mark.parametrize(
    ("path", "why"),
    [("", "empty"), ("a/b", "not absolute"), ("/a\0b", "NUL"), ("/" * 5000, "longer")],
)
def test_paths_that_are_refused(path: str, why: str) -> None:
    with pytest.raises(InvalidValue, match=why):
        check_path(path)


def test_a_listing_parsed() -> None:
    output = (
        b"81a4 3 1700000000 b.txt\n\0"
        b"41ed 4096 1700000001 dir\n\0"
        b"a1ff 5 1700000002 link\n\0"
        b"81ed 10 1700000003 with space\nand newline\n\0"
        b"garbage\n\0"
        b"11a4 0 1 fifo\n\0"
    )
    entries = {e.name: e for e in parse_listing(output)}
    assert sorted(entries) == ["b.txt", "dir", "fifo", "link", "with space\nand newline"]
    assert (entries["b.txt"].kind, entries["b.txt"].size, entries["b.txt"].mode) == (FILE, 3, 0o644)
    assert entries["dir"].kind is DIR and entries["link"].kind is LINK
    assert entries["fifo"].kind is OTHER
    assert entries["with space\nand newline"].to_json()["mode"] == "0755"


def archive(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def member(name: str, *, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    "hostile",
    [
        [(member("/tmp/abs"), b"x")],
        [(member("ok"), b"fine"), (member("../up"), b"x")],  # the good member is not written
        [(member("escape", kind=tarfile.SYMTYPE, link="/etc"), b"")],
        [
            (member("dir", kind=tarfile.DIRTYPE), b""),
            (member("dir/out", kind=tarfile.SYMTYPE, link="../.."), b""),
            (member("dir/out/file"), b"x"),
        ],
        [(member("hard", kind=tarfile.LNKTYPE, link="../../etc/passwd"), b"")],
        [(member("dev", kind=tarfile.CHRTYPE), b"")],
        # d/../x reads as x, but the disk goes through d first, a link to the target itself
        [(member("d", kind=tarfile.SYMTYPE, link="."), b""), (member("d/../x"), b"x")],
    ],
)
def test_extract_refuses_a_hostile_archive_before_writing(
    tmp_path: Path, hostile: list[tuple[tarfile.TarInfo, bytes]]
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    before = set(tmp_path.iterdir())
    with pytest.raises(InvalidValue, match="refused the archive"):
        extract([archive(*hostile)], target)
    assert list(target.iterdir()) == []
    assert set(tmp_path.iterdir()) == before


def test_extract_refuses_to_write_through_a_link_already_on_the_disk(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "outside").mkdir()
    (target / "there").symlink_to(tmp_path / "outside")
    with pytest.raises(InvalidValue, match="refused the archive"):
        extract([archive((member("there/file"), b"x"))], target)
    assert list((tmp_path / "outside").iterdir()) == []


def test_a_tree_packed_and_extracted_under_another_name(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "f").write_bytes(b"data")
    (source / "l").symlink_to("sub/f")
    chunks = list(tar_tree(source, arcname="src"))
    target = tmp_path / "target"
    target.mkdir()
    assert extract(chunks, target, rename_root="renamed") == 4
    assert (target / "renamed" / "sub" / "f").read_bytes() == b"data"
    assert (target / "renamed" / "l").read_bytes() == b"data"
    assert not (target / "src").exists()


def test_a_single_file_archive(tmp_path: Path) -> None:
    extract([tar_bytes("one", b"1", mode=0o600)], tmp_path, rename_root="two")
    assert (tmp_path / "two").read_bytes() == b"1"
    assert (tmp_path / "two").stat().st_mode & 0o777 == 0o600


def test_garbage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="refused the archive"):
        extract([b"no tar at all" * 100], tmp_path)


@pytest.mark.parametrize(
    "hostile",
    [
        # a link that reads as inside (d/e/..) but resolves through another link (d/e -> ..)
        [
            (member("s", kind=tarfile.SYMTYPE, link="d/e/.."), b""),
            (member("d", kind=tarfile.DIRTYPE), b""),
            (member("d/e", kind=tarfile.SYMTYPE, link=".."), b""),
        ],
        # a member under a link of the archive lands wherever the link points
        [(member("l", kind=tarfile.SYMTYPE, link="sub"), b""), (member("l/f"), b"x")],
        # the long-path trick's shape: the escape goes through a link the archive made
        [
            (member("a", kind=tarfile.DIRTYPE), b""),
            (member("a/p", kind=tarfile.SYMTYPE, link="."), b""),
            (member("e", kind=tarfile.SYMTYPE, link="a/p/../.."), b""),
        ],
    ],
)
def test_links_are_judged_with_the_archives_other_links(
    tmp_path: Path, hostile: list[tuple[tarfile.TarInfo, bytes]]
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(InvalidValue, match="link"):
        extract([archive(*hostile)], target)
    assert list(target.iterdir()) == []


def test_a_chain_of_library_links_is_fine(tmp_path: Path) -> None:
    chain = archive(
        (member("lib", kind=tarfile.DIRTYPE), b""),
        (member("lib/libx.so", kind=tarfile.SYMTYPE, link="libx.so.1"), b""),
        (member("lib/libx.so.1", kind=tarfile.SYMTYPE, link="libx.so.1.2"), b""),
        (member("lib/libx.so.1.2"), b"elf"),
    )
    assert extract([chain], tmp_path) == 4
    assert (tmp_path / "lib" / "libx.so").read_bytes() == b"elf"


def test_a_file_is_not_written_through_a_link_on_the_disk(tmp_path: Path) -> None:
    target, outside = tmp_path / "target", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (outside / "victim").write_text("kept")
    (target / "x").symlink_to(outside / "victim")
    with pytest.raises(InvalidValue, match="link out"):
        extract([archive((member("ok"), b"fine"), (member("x"), b"overwritten"))], target)
    assert (outside / "victim").read_text() == "kept"
    assert not (target / "ok").exists()


def test_what_the_disk_refuses_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    with pytest.raises(OperationFailed, match="could not write the archive"):
        extract([archive((member("busy"), b"a file where a directory is"))], tmp_path)


def test_a_root_named_with_a_dot_is_renamed_too(tmp_path: Path) -> None:
    extract([archive((member("./x"), b"x"))], tmp_path, rename_root="other")
    assert (tmp_path / "other").read_bytes() == b"x"
