"""Size-capped workspace volumes and the warning before they are full: the decisions,
without I/O.

A capped volume is a file system of its own: a sparse file under the data dir, formatted
ext4 and attached as a loop device, which the engine's local volume driver mounts
(``type=ext4``, ``device=...``). The device number a loop attachment gets is not stable
(a host restart loses every attachment, and the next one may get another number), but a
volume's options are fixed when it is created. So the volume names a path dockyard
controls, a symbolic link next to the file, which every attachment points at the device
it got (the kernel's mount follows the link). Measured: ``--opt o=loop`` fails with
``loop: invalid argument`` on this engine; the device form caps for real.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.core.errors import InvalidValue
from dockyard.core.units import format_size

#: Smallest cap: ext4's own metadata and journal take about 4 MiB of a small file system.
MIN_DISK = 16 * 1024**2
#: Largest cap (a sparse file of this size costs nothing until written).
MAX_DISK = 64 * 1024**4

#: File system of a capped volume.
FS_TYPE = "ext4"
#: Suffixes of a capped volume's two paths in the disks directory.
IMAGE_SUFFIX = ".img"
LINK_SUFFIX = ".dev"


def check_disk(size: int | None, *, what: str = "disk") -> int | None:
    """``size`` if it is a cap dockyard can make (None: no cap), else ``InvalidValue``."""
    if size is None:
        return None
    if size < MIN_DISK or size > MAX_DISK:
        raise InvalidValue(
            f"{what} must be between {format_size(MIN_DISK)} and {format_size(MAX_DISK)}, "
            f"not {format_size(size)}"
        )
    return size


def volume_options(link: str) -> dict[str, str]:
    """The local driver's options of a capped volume whose device is at ``link``."""
    return {"type": FS_TYPE, "device": link}


def capped_link(options: Mapping[str, str] | None) -> str | None:
    """The link a volume's options name, if they are those of a capped volume (an ext4
    device at an absolute ``.dev`` path). Whose volume it is, the caller decides by its
    labels: the path is the one its maker used, which may be another replica's data dir
    on this host."""
    if not options or options.get("type") != FS_TYPE:
        return None
    device = options.get("device", "")
    parts = device.split("/")
    if not device.startswith("/") or not device.endswith(LINK_SUFFIX) or ".." in parts:
        return None
    return device if parts[-1] != LINK_SUFFIX else None


@dataclass(frozen=True, slots=True)
class Crossing:
    """What one disk measurement means for the warning: whether to warn now, and the
    state to record (``warned``: seen past the threshold)."""

    warn: bool
    warned: bool


def disk_crossing(
    *, used: int | None, limit: int | None, threshold: float, warned: bool
) -> Crossing:
    """Warn once per crossing of ``threshold`` (a fraction of ``limit``): the first
    measurement at or past it warns; later ones past it do not; one back below re-arms.
    Without a cap, a measurement or a threshold (0 turns warnings off), nothing changes."""
    if used is None or limit is None or limit <= 0 or threshold <= 0:
        return Crossing(warn=False, warned=warned)
    above = used >= threshold * limit
    return Crossing(warn=above and not warned, warned=above)
