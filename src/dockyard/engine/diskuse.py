"""Disk a local container uses, read from the host's file system within a time budget.

The engine can tell a container's writable layer (``inspect?size=true``: dockerd walks
the layer itself, for as long as it takes) and every volume at once (``/system/df``: a
walk of every volume and image on the host, seconds to minutes on a big one). When the
engine runs on this machine the same directories are right here (the layer's
``UpperDir``, the volume's ``Mountpoint``), so dockyard walks only the one workspace's,
and stops at a deadline: a walk cut short answers what it counted so far, marked
incomplete (a lower bound), never a stall.

Sizes are what the files occupy on the disk (``st_blocks``, as ``du``), hard links
counted once, without crossing into other file systems. A path that is a mount point of
its own (a size-capped volume's ext4, see ``engine.loopdisk``) is answered by the file
system itself (``statvfs``): O(1), exact, whatever it holds.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass

#: Entries walked between two looks at the clock.
_CHECK_EVERY = 256


@dataclass(frozen=True, slots=True)
class Walked:
    """Bytes found under a path, and whether the walk saw all of it."""

    bytes: int
    complete: bool
    capacity: int | None = None  # a file system of its own: what it can hold in all


def used_bytes(path: str, *, deadline: float) -> Walked | None:
    """Disk used under ``path`` (a directory), by ``deadline`` (``time.monotonic()``);
    None when the path cannot be read at all (absent, or not ours to read)."""
    if not path:
        return None
    if os.path.ismount(path):
        mounted = filesystem_use(path)
        if mounted is not None:
            used, capacity = mounted
            return Walked(used, complete=True, capacity=capacity)
    try:
        top = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(top.st_mode):
        return None
    return _walk(path, device=top.st_dev, deadline=deadline)


def filesystem_use(path: str) -> tuple[int, int] | None:
    """Bytes in use on the file system mounted at ``path`` (its size less its free
    blocks, as ``df`` says Used) and its size (less its own metadata), or None."""
    try:
        fs = os.statvfs(path)
    except OSError:
        return None
    return (fs.f_blocks - fs.f_bfree) * fs.f_frsize, fs.f_blocks * fs.f_frsize


def _walk(root: str, *, device: int, deadline: float) -> Walked:
    total = 0
    seen: set[int] = set()  # inodes with several links, counted once
    pending = [root]
    complete = True
    count = 0
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    count += 1
                    if count % _CHECK_EVERY == 0 and time.monotonic() >= deadline:
                        return Walked(total, complete=False)
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        complete = False
                        continue
                    if info.st_dev != device:
                        continue  # another file system mounted inside: not this one's
                    if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                        if info.st_ino in seen:
                            continue
                        seen.add(info.st_ino)
                    total += info.st_blocks * 512
                    if stat.S_ISDIR(info.st_mode):
                        pending.append(entry.path)
        except OSError:
            complete = False  # a directory that vanished or cannot be read
    return Walked(total, complete=complete)
