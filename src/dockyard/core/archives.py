"""Files in and out of a workspace, decided without I/O: which paths a request may name,
which members of an archive a client may write to its disk, and what a directory
listing made inside the container says.

A workspace's files are data that its user (or an agent, or whoever got into the
container) controls. An archive out of it may name ``/etc/passwd``, ``../../.bashrc``,
or a link that points out of the target and a file written through it; extracting it
with the wrong tool writes outside the directory the user asked for. ``member_problem``
is the one rule the extraction helpers apply to every member before writing anything.
"""

from __future__ import annotations

import base64
import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dockyard.core.errors import EngineError, InvalidValue, NotFound

#: The longest path accepted in a request (Linux's PATH_MAX).
PATH_MAX = 4096


class EntryKind(StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    LINK = "link"
    OTHER = "other"  # a fifo, socket or device


def check_path(path: str, *, what: str = "path") -> str:
    """``path`` normalized, if it may name something inside a container: absolute, no
    NUL, at most ``PATH_MAX``. ``..`` is resolved lexically (``/a/../b`` is ``/b``): the
    engine resolves the rest inside the container, never on the host."""
    if not path:
        raise InvalidValue(f"{what}: empty; give an absolute path inside the workspace")
    if "\0" in path:
        raise InvalidValue(f"{what}: contains a NUL character")
    if len(path.encode("utf-8", errors="surrogateescape")) > PATH_MAX:
        raise InvalidValue(f"{what}: longer than {PATH_MAX} bytes")
    if not path.startswith("/"):
        raise InvalidValue(f"{what}: {path[:200]!r} is not absolute (start it with /)")
    return posixpath.normpath(path).replace("//", "/")


def split_path(path: str) -> tuple[str, str]:
    """``(directory, name)`` of a checked path naming a file (not ``/`` itself)."""
    directory, name = posixpath.split(path)
    if not name:
        raise InvalidValue(f"path {path!r} names no file")
    return directory or "/", name


def member_problem(name: str, *, kind: EntryKind, link: str = "", hard: bool = False) -> str | None:
    """Why an archive member may not be extracted under a target directory, or None.

    Refused: absolute names; names whose ``..`` climb out of the target; links (symbolic
    or hard) whose target is absolute or lies outside the target directory, since a
    later member written through one would land outside; devices, fifos and sockets.
    A symbolic link's target is read relative to the link's own directory, a hard link's
    relative to the archive's root (as tar writes them).
    """
    if not name or "\0" in name:
        return "an empty name or one with a NUL"
    if name.startswith("/"):
        return "an absolute path"
    if _climbs_out(name):
        return "a path that climbs out of the target with '..'"
    if ".." in name.split("/"):  # d/../x goes through d, which may be a link on the disk
        return "a path with '..' in it"
    if kind is EntryKind.OTHER:
        return "a device, fifo or socket"
    return _link_problem(name, link, hard=hard) if kind is EntryKind.LINK else None


def _link_problem(name: str, link: str, *, hard: bool) -> str | None:
    if not link or link.startswith("/"):
        return f"a link to an absolute path ({link!r})"
    base = "" if hard else posixpath.dirname(name)
    if _climbs_out(posixpath.join(base, link)):
        return f"a link pointing out of the target ({link!r})"
    return None


@dataclass(frozen=True, slots=True)
class Member:
    """What the rules need of an archive member."""

    name: str
    kind: EntryKind
    link: str = ""
    hard: bool = False


def archive_problem(members: Sequence[Member]) -> tuple[str, str] | None:
    """The first member that may not be extracted, and why; None when all may.

    Beyond each member's own rule (``member_problem``), links are judged with the
    archive's other links in view, since a link's target is resolved through them on
    the disk: no member may lie under a symbolic link of the archive (it would be
    written wherever the link points), and no link's target may pass through one
    (``a -> b/..`` with ``b -> ..`` climbs out, though ``b/..`` reads as inside).
    """
    links = {_normal(m.name) for m in members if m.kind is EntryKind.LINK and not m.hard}
    for member in members:
        problem = member_problem(member.name, kind=member.kind, link=member.link, hard=member.hard)
        if problem is None:
            problem = _through_links(member, links)
        if problem is not None:
            return member.name, problem
    return None


def _through_links(member: Member, links: set[str]) -> str | None:
    parts = _normal(member.name).split("/")
    if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
        return "a path under a link of the archive"
    if member.kind is not EntryKind.LINK:
        return None
    start = "" if member.hard else posixpath.dirname(_normal(member.name))
    walked = [p for p in start.split("/") if p]
    steps = [step for step in member.link.split("/") if step not in ("", ".")]
    for index, step in enumerate(steps):
        if step == "..":
            if walked:
                walked.pop()
            continue
        walked.append(step)
        # a link at the end is fine (libx.so -> libx.so.1 -> ...: each is judged itself);
        # one that more steps go through is resolved first, wherever it points
        if index < len(steps) - 1 and "/".join(walked) in links:
            return f"a link whose target passes through another link ({member.link!r})"
    return None


def _normal(name: str) -> str:
    return posixpath.normpath(name).lstrip("/")


def _climbs_out(relative: str) -> bool:
    normal = posixpath.normpath(relative)
    return normal == ".." or normal.startswith("../")


#: Go's ``os.FileMode`` type bits, as the engine reports a path's mode.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_OTHER = (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)  # devices, pipes, sockets


@dataclass(frozen=True, slots=True)
class PathStat:
    """A path inside a container, as the archive API's ``X-Docker-Container-Path-Stat``
    header describes it (a link is described as the link, with its target)."""

    name: str
    kind: EntryKind
    size: int
    mode: int  # the permission bits
    link_target: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "size": self.size,
            "mode": f"{self.mode:04o}",
            "link_target": self.link_target,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PathStat:
        return cls(
            name=data["name"],
            kind=EntryKind(data["kind"]),
            size=int(data["size"]),
            mode=int(data["mode"], 8),
            link_target=data.get("link_target", ""),
        )

    @classmethod
    def from_header(cls, header: str) -> PathStat:
        try:
            data = json.loads(base64.b64decode(header))
            mode = int(data.get("mode") or 0)
            kind = EntryKind.FILE
            if mode & _GO_DIR:
                kind = EntryKind.DIRECTORY
            elif mode & _GO_SYMLINK:
                kind = EntryKind.LINK
            elif mode & _GO_OTHER:
                kind = EntryKind.OTHER
            return cls(
                name=str(data.get("name") or ""),
                kind=kind,
                size=int(data.get("size") or 0),
                mode=mode & 0o777,
                link_target=str(data.get("linkTarget") or ""),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise EngineError(f"the engine's description of a path did not parse: {exc}") from None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of ``dockyard cp``: a path in the workspace ``key``, or on this machine
    (``key`` None; ``-`` is a tar stream on standard input or output)."""

    path: str
    key: str | None = None


def parse_endpoint(text: str) -> Endpoint:
    """``KEY:/path`` names a path in a workspace; anything else is local. As with
    ``docker cp``, a local path with a colon in it is written ``./a:b`` or absolute. The
    key is what comes before the first ``:/`` (keys such as ``user:42`` hold colons)."""
    if text.startswith(("/", ".")) or text == "-":
        return Endpoint(text)
    key, colon, path = text.partition(":/")
    if not colon:
        return Endpoint(text)
    if not key:
        raise InvalidValue(f"{text!r}: no workspace key before ':'")
    normal = check_path("/" + path)
    # a trailing / says "a directory" (docker cp's rule): kept for place_copy
    return Endpoint(normal + "/" if path.endswith("/") and normal != "/" else normal, key)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a copy lands: extracted into ``directory``, its top entry named ``name``."""

    directory: str
    name: str


def place_copy(
    source_name: str,
    *,
    source_is_dir: bool,
    dest: str,
    dest_kind: EntryKind | None,
    parent_is_dir: bool,
) -> Placement:
    """``docker cp``'s rules for where a file or directory named ``source_name`` goes
    when copied to ``dest`` (``dest_kind``: what is there now, None for nothing;
    ``parent_is_dir``: whether ``dest``'s directory exists):

    - ``dest`` is a directory: the copy goes inside it, under its own name;
    - ``dest`` is a file: a file replaces it; a directory cannot;
    - nothing is at ``dest``: the copy is made there under ``dest``'s name, if its
      directory exists (and ``dest`` does not end in ``/``, which asks for a directory).
    """
    trimmed = dest.rstrip("/") or "/"
    directory, name = posixpath.split(trimmed)
    if dest_kind is EntryKind.DIRECTORY:
        return Placement(trimmed, source_name)
    if dest_kind is not None:
        if source_is_dir:
            raise InvalidValue(f"cannot copy a directory onto the file {dest}")
        return Placement(directory or "/", name)
    if dest.endswith("/") and dest != "/":
        raise InvalidValue(f"no directory {dest}")
    if not parent_is_dir:
        raise NotFound(f"no directory {directory or '/'} to copy {name!r} into")
    return Placement(directory or "/", name)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One entry of a directory listing."""

    name: str
    kind: EntryKind
    size: int
    mode: int  # the permission bits, e.g. 0o644
    modified: int  # seconds since the epoch

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "size": self.size,
            "mode": f"{self.mode:04o}",
            "modified": self.modified,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileEntry:
        return cls(
            name=data["name"],
            kind=EntryKind(data["kind"]),
            size=int(data["size"]),
            mode=int(data["mode"], 8),
            modified=int(data["modified"]),
        )


@dataclass(frozen=True, slots=True)
class Listing:
    """A directory's entries, sorted by name."""

    path: str
    entries: list[FileEntry]
    truncated: bool  # the directory has more entries than a listing holds

    def to_json(self) -> dict[str, Any]:
        entries = [e.to_json() for e in self.entries]
        return {"path": self.path, "entries": entries, "truncated": self.truncated}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Listing:
        entries = [FileEntry.from_json(e) for e in data["entries"]]
        return cls(data["path"], entries, bool(data["truncated"]))


@dataclass(frozen=True, slots=True)
class Uploaded:
    """What an upload or a file write put into a workspace."""

    path: str  # the directory the archive went into, or the file written
    entries: int
    size: int  # bytes received

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "entries": self.entries, "size": self.size}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Uploaded:
        return cls(data["path"], int(data["entries"]), int(data["size"]))


#: Lists the directory ``$1`` inside a container with nothing but POSIX sh and ``stat``
#: (GNU coreutils and BusyBox both have ``stat -c``). One record per entry: the raw mode
#: in hex, size, mtime and name, then a NUL (names may hold newlines, never a NUL).
#: Exit codes: 2 no such path, 3 not a directory, 4 not readable.
LIST_SCRIPT = r"""
[ -e "$1" ] || [ -L "$1" ] || exit 2
[ -d "$1" ] || exit 3
cd -- "$1" 2>/dev/null || exit 4
for f in * .[!.]* ..?*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  stat -c '%f %s %Y %n' -- "$f" && printf '\0'
done
exit 0
"""
LIST_NO_SUCH_PATH = 2
LIST_NOT_A_DIRECTORY = 3
LIST_NOT_READABLE = 4

_S_IFMT = 0o170000
_KINDS = {0o100000: EntryKind.FILE, 0o040000: EntryKind.DIRECTORY, 0o120000: EntryKind.LINK}


def parse_listing(output: bytes) -> list[FileEntry]:
    """The entries ``LIST_SCRIPT`` printed, sorted by name. A record that does not parse
    (a ``stat`` that printed something else) is skipped, never guessed at."""
    entries = []
    for record in output.split(b"\0"):
        fields = record.removesuffix(b"\n").split(b" ", 3)
        if len(fields) != 4:
            continue
        raw_mode, size, modified, name = fields
        try:
            mode = int(raw_mode, 16)
            entry = FileEntry(
                name=name.decode(errors="replace"),
                kind=_KINDS.get(mode & _S_IFMT, EntryKind.OTHER),
                size=int(size),
                mode=mode & 0o7777,
                modified=int(modified),
            )
        except ValueError:
            continue
        entries.append(entry)
    return sorted(entries, key=lambda e: e.name)
