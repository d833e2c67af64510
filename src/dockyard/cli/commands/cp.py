"""``dockyard cp``: copy files between this machine and a workspace, as ``docker cp`` does,
and ``dockyard files``: list a directory of a workspace."""

from __future__ import annotations

import posixpath
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from dockyard.archives import extract, tar_tree
from dockyard.cli.app import App, pass_app
from dockyard.cli.params import json_option
from dockyard.core.archives import EntryKind, parse_endpoint, place_copy
from dockyard.core.errors import InvalidValue, NoSuchPath, NotFound
from dockyard.core.units import format_size

_CHUNK = 256 * 1024


@click.command(name="cp")
@click.argument("source")
@click.argument("dest")
@json_option
@pass_app
def cp(app: App, *, source: str, dest: str, as_json: bool) -> None:
    """Copy SOURCE to DEST; one of them is KEY:/path in a running workspace.

    \b
    dockyard cp ./src KEY:/workspace     the directory src goes into /workspace
    dockyard cp KEY:/workspace/out.txt .  the file comes here
    dockyard cp - KEY:/workspace         a tar archive on standard input, extracted there
    dockyard cp KEY:/workspace -          a tar archive of it on standard output

    As with docker cp: a copy onto a directory goes inside it under its own name, onto a
    file replaces it, onto nothing is made there (its directory must exist). An archive
    out of a workspace is refused whole, before anything is written, if any of its
    entries would land outside DEST (absolute paths, '..', links pointing out). Sizes
    are capped by files.max_size. A copy into a workspace counts as activity.
    """
    src, dst = parse_endpoint(source), parse_endpoint(dest)
    if (src.key is None) == (dst.key is None):
        raise click.UsageError("one of SOURCE and DEST must be KEY:/path, the other local")
    if dst.key is not None:
        size = _copy_in(app, src.path, dst.key, dst.path)
        done: dict[str, object] = {"copied": source, "to": dest, "bytes": size}
        what = format_size(size)
    else:
        assert src.key is not None  # noqa: S101 - exactly one side has a key (checked above)
        entries = _copy_out(app, src.key, src.path, dst.path)
        done = {"copied": source, "to": dest, "entries": entries}
        what = f"{entries} entries"
    if dst.path == "-":
        return  # standard output holds the archive
    if as_json:
        app.term.json(done)
    else:
        app.term.note(f"copied {source} to {dest} ({what})")


def _copy_in(app: App, local: str, key: str, dest: str) -> int:
    dy = app.remote() or app.dockyard()
    if local == "-":  # an archive as it is, into a directory
        return dy.upload(key, dest, _stdin_chunks()).size
    path = Path(local)
    if not path.exists() and not path.is_symlink():
        raise NotFound(f"no {local} on this machine")
    name = path.name if path.name not in {"", ".", ".."} else path.resolve().name
    if not name:
        raise InvalidValue("cannot copy the root directory; copy what is in it")
    there = dy.stat_path(key, dest, follow=True)  # onto a link to a directory: into it
    parent = None
    if there is None:
        parent = dy.stat_path(key, posixpath.dirname(dest.rstrip("/")) or "/", follow=True)
    placement = place_copy(
        name,
        source_is_dir=path.is_dir() and not path.is_symlink(),
        dest=dest,
        dest_kind=None if there is None else there.kind,
        parent_is_dir=parent is not None and parent.kind is EntryKind.DIRECTORY,
    )
    chunks = tar_tree(path, arcname=placement.name)
    return dy.upload(key, placement.directory, chunks).size


def _copy_out(app: App, key: str, source: str, local: str) -> int:
    dy = app.remote() or app.dockyard()
    if local == "-":
        with dy.download(key, source) as chunks:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        return 0
    there = Path(local)
    kind = _local_kind(there)
    found = dy.stat_path(key, source)
    if found is None:
        raise NoSuchPath(f"no {source} in workspace {key!r}")
    placement = place_copy(
        found.name,
        source_is_dir=found.kind is EntryKind.DIRECTORY,
        dest=local,
        dest_kind=kind,
        parent_is_dir=there.absolute().parent.is_dir(),
    )
    with dy.download(key, source) as chunks:
        return extract(chunks, Path(placement.directory), rename_root=placement.name)


def _local_kind(path: Path) -> EntryKind | None:
    if path.is_dir():
        return EntryKind.DIRECTORY
    if path.exists():
        if not path.is_file():
            raise InvalidValue(f"{path} is neither a file nor a directory")
        return EntryKind.FILE
    return None


def _stdin_chunks() -> Iterator[bytes]:
    while chunk := sys.stdin.buffer.read(_CHUNK):
        yield chunk


@click.command(name="files")
@click.argument("key")
@click.argument("path", required=False)
@json_option
@pass_app
def files(app: App, *, key: str, path: str | None, as_json: bool) -> None:
    """List the directory PATH of the running workspace KEY (default: its work dir)."""
    client = app.remote()
    if client is not None:
        if path is None:
            raise click.UsageError("through --url, name the PATH to list")
        listing = client.list_dir(key, path)
    else:
        dy = app.dockyard()
        listing = dy.list_dir(key, path or dy.settings.workspace.workdir)
    if as_json:
        app.term.json(listing.to_json())
        return
    rows = [
        [
            f"{e.mode:04o}",
            e.kind.value,
            format_size(e.size) if e.kind is EntryKind.FILE else "-",
            e.name + ("/" if e.kind is EntryKind.DIRECTORY else ""),
        ]
        for e in listing.entries
    ]
    if not rows:
        app.term.note(f"{listing.path} is empty")
        return
    app.term.table(["MODE", "KIND", "SIZE", "NAME"], rows)
    if listing.truncated:
        app.term.warn("more entries than a listing holds; the rest are left out")
