"""Workspace volumes, with or without a disk cap: made, prepared before each start, and
removed with whatever backs them.

A workspace whose ``resources.disk_bytes`` is set gets a volume of its own file system
(``core.disks``, ``engine.loopdisk``): a sparse file in ``<data_dir>/disks``, attached as
a loop device, named by the volume through a link in that directory. Every start of its
container (a new one, a stopped one, one after a host restart) attaches the file first
and points the link at the device it got: the kernel forgets loop attachments at a
reboot, and the device number can differ. A missing file is an error that names it; the
workspace never starts on an empty volume in place of its work. A parked (or removed,
volume kept) workspace's device is detached: kept work holds no loop device. Removing the
volume (purge, an undone creation, gc of an orphan) detaches the device and deletes the
file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dockyard.core.disks import capped_link, volume_options
from dockyard.core.errors import DiskError, DockyardError, NotFound
from dockyard.core.model import Workspace
from dockyard.core.naming import LABEL_INSTALLATION
from dockyard.engine import loopdisk
from dockyard.engine.loopdisk import LoopDisk
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.objects import labels_for

DISKS = "disks"

log = logging.getLogger("dockyard.disks")


def disks_dir(ctx: Context) -> Path:
    return ctx.settings.data_dir / DISKS


def disks_unavailable(ctx: Context) -> str | None:
    """Why a disk cap cannot be made for a workspace on ``ctx``'s engine, or None."""
    if not ctx.engine.is_local():
        return f"the engine at {ctx.engine.url} is not on this machine"
    return loopdisk.unavailable()


def make_volume(ctx: Context, ws: Workspace) -> None:
    """Create the workspace's volume: a plain one, or one of its own capped file system.
    A capped one's disk file is made here and deleted again if the volume cannot be."""
    labels = labels_for(ctx, ws, role="volume")
    size = ws.resources.disk_bytes
    if size is None:
        ctx.engine.create_volume(name=ws.volume, labels=labels)
        return
    why = disks_unavailable(ctx)
    if why is not None:
        raise DiskError(f"cannot cap the disk of workspace {ws.key!r}: {why}")
    disk = LoopDisk.of(disks_dir(ctx), ws.volume)
    made = not disk.image.exists()  # a file left by an interrupted removal holds work: kept
    if made:
        loopdisk.create(disk, size=size)
    try:
        loopdisk.attach(disk)
        ctx.engine.create_volume(
            name=ws.volume, labels=labels, options=volume_options(str(disk.link))
        )
    except BaseException:
        if made:
            loopdisk.delete(disk)
        raise


def prepare_volume(ctx: Context, ws: Workspace) -> None:
    """Right before a container of ``ws`` starts: its capped volume's file is attached
    and the link points at its device (``DiskError`` naming the file if it is missing)."""
    if ws.resources.disk_bytes is None:
        return
    link = _capped_link(ctx, ws.volume)
    if link is None:
        return  # no capped volume (image strategy, or a volume made without a cap)
    loopdisk.attach(LoopDisk.at_link(link))


def release_volume(ctx: Context, ws: Workspace) -> None:
    """Once ``ws``'s container is gone (parked, removed with its volume kept): detach its
    capped volume's device, so that kept work holds no loop device (the next start
    attaches it again). Best effort: the work is safe in its file either way."""
    if ws.resources.disk_bytes is None:
        return
    try:
        link = _capped_link(ctx, ws.volume)
        if link is not None:
            loopdisk.detach(LoopDisk.at_link(link))
    except DockyardError as exc:
        log.warning("the disk of workspace %r stays attached: %s", ws.key, exc)


def drop_volume(ctx: Context, name: str) -> None:
    """Remove the volume (gone already: done); then, if it was a capped one, detach its
    device and delete its file and link. A volume still in use raises (``Conflict``)
    before anything of its disk is touched."""
    link = _capped_link(ctx, name)
    ctx.engine.remove_volume(name=name)
    disk = LoopDisk.at_link(link) if link else LoopDisk.of(disks_dir(ctx), name)
    if disk.image.exists() or disk.link.is_symlink():
        loopdisk.delete(disk)


def _capped_link(ctx: Context, name: str) -> str | None:
    """The device link of the capped volume ``name`` if it is this installation's (by
    its label: a volume anyone else made is never attached, detached or deleted)."""
    try:
        info = ctx.engine.inspect_volume(name=name)
    except NotFound:
        return None
    if info.labels.get(LABEL_INSTALLATION) != ctx.installation:
        return None
    return capped_link(info.options)
