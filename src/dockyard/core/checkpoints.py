"""Pure helpers of checkpoints: how people and scripts see one, commit messages, script
output, git bundle headers.

A git bundle starts with a text header (RFC-like, see gitformat-bundle(5)):

    # v2 git bundle
    -<sha> <comment>          (prerequisites; none in a full bundle)
    <sha> <refname>           (one line per ref, HEAD included)
    <empty line>
    <pack data>

Reading the header on the host is safe (it is data, not a repository: no hooks, no
config); it proves the exported file is a bundle that contains the commit we saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.core.errors import SaveFailed
from dockyard.core.model import Checkpoint, CheckpointKind
from dockyard.core.units import format_size, plural

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
#: A bundle header is small; a "header" longer than this is not one.
MAX_BUNDLE_HEADER = 1024 * 1024


def commit_message(key: str, *, at: datetime, files_changed: int) -> str:
    """The message of a checkpoint commit: names the workspace, the UTC time and the count."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    files = "1 file" if files_changed == 1 else f"{files_changed} files"
    return (
        f"dockyard checkpoint of workspace {key} at {stamp} ({files} changed)\n\n"
        "Saved automatically before the workspace's container was removed."
    )


def parse_fields(output: str) -> dict[str, str]:
    """``key=value`` lines printed by a save script, as a dict (later lines win)."""
    result: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            result[key] = value.strip()
    return result


def is_sha(value: str) -> bool:
    return bool(_SHA.match(value))


@dataclass(frozen=True, slots=True)
class BundleHeader:
    version: int
    refs: Mapping[str, str]  # refname -> sha
    prerequisites: tuple[str, ...]


def parse_bundle_header(data: bytes) -> BundleHeader:
    """Parse the header at the start of ``data``; ``SaveFailed`` if it is not a bundle."""
    end = data.find(b"\n\n")
    if end < 0:
        raise SaveFailed("the exported file is not a git bundle (no header end)")
    lines = data[:end].decode("utf-8", errors="replace").split("\n")
    match = re.fullmatch(r"# v(\d) git bundle", lines[0])
    if not match:
        raise SaveFailed(f"the exported file is not a git bundle (starts with {lines[0][:40]!r})")
    refs: dict[str, str] = {}
    prerequisites: list[str] = []
    for line in lines[1:]:
        if line.startswith("@"):  # v3 capabilities
            continue
        if line.startswith("-"):
            prerequisites.append(line[1:].split(" ", 1)[0])
            continue
        sha, _, name = line.partition(" ")
        if not is_sha(sha) or not name:
            raise SaveFailed(f"the git bundle's header has a malformed line: {line[:80]!r}")
        refs[name] = sha
    return BundleHeader(int(match.group(1)), refs, tuple(prerequisites))


def check_bundle(header: BundleHeader, *, commit: str) -> None:
    """The bundle must be complete (no prerequisites) and contain ``commit`` as a ref."""
    if header.prerequisites:
        raise SaveFailed("the git bundle is incomplete: it needs commits it does not contain")
    if commit not in header.refs.values():
        raise SaveFailed(f"the git bundle does not contain the saved commit {commit[:12]}")


def describe(checkpoint: Checkpoint) -> str:
    """One line for people: ``checkpoint 3f2a9c01d4e2 (git bundle at a1b2c3d4e5f6, ...)``."""
    what = {
        CheckpointKind.VOLUME: f"volume {checkpoint.ref}",
        CheckpointKind.BUNDLE: "git bundle",
        CheckpointKind.ARCHIVE: "tar archive",
        CheckpointKind.IMAGE: f"image {checkpoint.location}",
        CheckpointKind.EMPTY: "empty workspace",
    }[checkpoint.kind]
    if checkpoint.commit:
        what += f" at commit {checkpoint.commit[:12]}"
    if checkpoint.files_changed:
        what += f", {plural(checkpoint.files_changed, 'file')} changed"
    if checkpoint.size_bytes is not None and checkpoint.kind is not CheckpointKind.VOLUME:
        what += f", {format_size(checkpoint.size_bytes)}"
    if checkpoint.detail:
        what += f"; {checkpoint.detail}"
    return f"checkpoint {checkpoint.id} ({what})"


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "id": checkpoint.id,
        "workspace": checkpoint.workspace_key,
        "strategy": checkpoint.strategy.value,
        "kind": checkpoint.kind.value,
        "ref": checkpoint.ref,
        "location": checkpoint.location,
        "commit": checkpoint.commit,
        "branch": checkpoint.branch,
        "files_changed": checkpoint.files_changed,
        "size_bytes": checkpoint.size_bytes,
        "verified": checkpoint.verified,
        "created_at": checkpoint.created_at.isoformat(),
        "expires_at": checkpoint.expires_at.isoformat(),
        "detail": checkpoint.detail,
    }
