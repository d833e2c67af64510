"""A size-capped volume's file system on this host: a sparse file, formatted ext4, attached
as a loop device, reached through a link dockyard controls (see ``core.disks``).

Only where the engine runs on this machine (the engine mounts the device by its path on
its own host), as root, with ``/dev/loop-control``, ``losetup`` and ``mkfs.ext4``;
``unavailable()`` says what is missing. Attaching and detaching hold an exclusive lock
on the disks directory, so two processes never attach one file twice (two mounts of one
ext4 would corrupt it). Which device backs a file is read from sysfs, never from
``losetup``'s output.

Failures are ``DiskError``; a backing file that is missing is one that names it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.disks import IMAGE_SUFFIX, LINK_SUFFIX
from dockyard.core.errors import DiskError

SYS_BLOCK = Path("/sys/block")
LOOP_CONTROL = Path("/dev/loop-control")
#: Seconds a host command may take (mkfs of a large sparse file is the slow one).
COMMAND_TIMEOUT_S = 120.0
_LOCK = ".lock"


@dataclass(frozen=True, slots=True)
class LoopDisk:
    """The two paths of one capped volume in the disks directory."""

    image: Path  # the backing file: where the work lives
    link: Path  # the device path the volume names: a link to the loop device

    @classmethod
    def of(cls, disks_dir: Path, volume: str) -> LoopDisk:
        return cls(disks_dir / f"{volume}{IMAGE_SUFFIX}", disks_dir / f"{volume}{LINK_SUFFIX}")

    @classmethod
    def at_link(cls, link: str) -> LoopDisk:
        path = Path(link)
        return cls(path.with_suffix(IMAGE_SUFFIX), path)


def unavailable() -> str | None:
    """Why capped volumes cannot be made on this host, or None when they can."""
    if os.geteuid() != 0:
        return "loop devices need root (dockyard runs as a user)"
    if not LOOP_CONTROL.exists():
        return f"no {LOOP_CONTROL} (no loop device support in this kernel or container)"
    for tool in ("losetup", "mkfs.ext4"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: util-linux, e2fsprogs)"
    return None


def create(disk: LoopDisk, *, size: int) -> None:
    """A new sparse file of ``size`` bytes, formatted ext4 (no blocks reserved for root:
    the cap is the workspace's). An existing file is never overwritten."""
    disk.image.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with disk.image.open("xb") as handle:
            handle.truncate(size)
    except FileExistsError:
        raise DiskError(f"disk file {disk.image} exists already; not formatted again") from None
    except OSError as exc:
        raise DiskError(f"cannot make disk file {disk.image}: {exc.strerror}") from None
    try:
        _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", "dockyard", str(disk.image)])
    except BaseException:
        disk.image.unlink(missing_ok=True)
        raise


def attach(disk: LoopDisk) -> str:
    """Attach the file (unless it is already) and point the link at its device; returns
    the device. ``DiskError`` naming the file when it is missing: a workspace never
    starts on an empty file system in place of its work."""
    if not disk.image.is_file():
        raise DiskError(f"the disk file of volume {disk.link.stem} is missing: {disk.image}")
    with _locked(disk.image.parent):
        found = devices_of(disk.image)
        device = found[0] if found else _run(["losetup", "-f", "--show", str(disk.image)])
        _point(disk.link, device)
    return device


def detach(disk: LoopDisk) -> None:
    """Detach every loop device backed by the file (none: nothing to do)."""
    if not disk.image.parent.is_dir():
        return
    with _locked(disk.image.parent):
        for device in devices_of(disk.image):
            _run(["losetup", "-d", device])


def delete(disk: LoopDisk) -> None:
    """Detach the file's devices, then delete the file and the link."""
    detach(disk)
    disk.link.unlink(missing_ok=True)
    disk.image.unlink(missing_ok=True)


def devices_of(image: Path) -> list[str]:
    """The loop devices backed by ``image`` now (sysfs: the kernel's own record)."""
    try:
        wanted = image.resolve()
        loops = sorted(SYS_BLOCK.glob("loop*"))
    except OSError:
        return []
    found = []
    for loop in loops:
        try:
            backing = (loop / "loop" / "backing_file").read_text().strip()
        except OSError:
            continue  # not attached
        if Path(backing) == wanted:
            found.append(f"/dev/{loop.name}")
    return found


def _point(link: Path, device: str) -> None:
    """Make ``link`` point at ``device``, atomically (a rename over the old link)."""
    try:
        if str(link.readlink()) == device:
            return
    except OSError:
        pass
    fresh = link.with_name(f".{link.name}.{os.getpid()}")
    fresh.unlink(missing_ok=True)
    try:
        fresh.symlink_to(device)
        fresh.replace(link)
    except OSError as exc:
        fresh.unlink(missing_ok=True)
        raise DiskError(f"cannot point {link} at {device}: {exc.strerror}") from None


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (directory / _LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DiskError(f"{argv[0]} failed: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise DiskError(f"{argv[0]} failed: {last}")
    return done.stdout.strip()
