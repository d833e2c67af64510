"""Disk caps and the disk warning, decided without I/O (``core.disks``)."""

from __future__ import annotations

import pytest

from dockyard.core.disks import Crossing, capped_link, check_disk, disk_crossing, volume_options
from dockyard.core.errors import InvalidValue

MIB = 1024**2


@pytest.mark.parametrize(
    ("used", "limit", "warned", "expected"),
    [
        (89 * MIB, 100 * MIB, False, Crossing(warn=False, warned=False)),  # below
        (90 * MIB, 100 * MIB, False, Crossing(warn=True, warned=True)),  # the crossing
        (95 * MIB, 100 * MIB, True, Crossing(warn=False, warned=True)),  # still past: once
        (50 * MIB, 100 * MIB, True, Crossing(warn=False, warned=False)),  # back: re-armed
        (None, 100 * MIB, True, Crossing(warn=False, warned=True)),  # not measured: as is
        (99 * MIB, None, False, Crossing(warn=False, warned=False)),  # no cap: no warning
        (99 * MIB, 0, False, Crossing(warn=False, warned=False)),
    ],
)
def test_the_warning_comes_once_per_crossing(
    used: int | None, limit: int | None, warned: bool, expected: Crossing
) -> None:
    assert disk_crossing(used=used, limit=limit, threshold=0.9, warned=warned) == expected


def test_a_zero_threshold_turns_the_warning_off() -> None:
    assert disk_crossing(used=MIB, limit=MIB, threshold=0, warned=False).warn is False


@pytest.mark.parametrize("size", [MIB, 15 * MIB, 65 * 1024**4])
def test_caps_out_of_bounds_are_refused_saying_the_bounds(size: int) -> None:
    with pytest.raises(InvalidValue, match=r"must be between 16\.0MiB and 64\.0TiB"):
        check_disk(size)


def test_no_cap_and_a_makeable_one_pass() -> None:
    assert check_disk(None) is None
    assert check_disk(64 * MIB) == 64 * MIB


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (volume_options("/data/disks/v.dev"), "/data/disks/v.dev"),
        (volume_options("/other/replica/disks/v.dev"), "/other/replica/disks/v.dev"),
        ({"type": "ext4", "device": "/dev/loop3"}, None),  # a device, not our link
        ({"type": "ext4", "device": "/data/../etc/v.dev"}, None),
        ({"type": "ext4", "device": "relative/v.dev"}, None),
        ({"type": "ext4", "device": "/data/disks/.dev"}, None),
        ({"type": "xfs", "device": "/data/disks/v.dev"}, None),
        ({"type": "ext4", "device": "/data/disks/v.img"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_only_the_options_of_a_capped_volume_name_a_link(
    options: dict[str, str] | None, expected: str | None
) -> None:
    assert capped_link(options) == expected
