"""Reading a local container's CPU time straight from its cgroup: microseconds, not a second.

The engine's stats endpoint waits for the daemon's sampling tick (about a second per
call); the kernel's counters are right there when the engine runs on this machine.
Knows the layouts of cgroup v1 (dockerd's cgroupfs and systemd drivers) and v2, for
Docker and Podman; anything else returns None and the caller asks the engine.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path("/sys/fs/cgroup")

_V1 = (
    "cpuacct/docker/{id}/cpuacct.usage",
    "cpu,cpuacct/docker/{id}/cpuacct.usage",
    "cpuacct/system.slice/docker-{id}.scope/cpuacct.usage",
    "cpuacct/machine.slice/libpod-{id}.scope/cpuacct.usage",
)
_V2 = (
    "system.slice/docker-{id}.scope/cpu.stat",
    "docker/{id}/cpu.stat",
    "machine.slice/libpod-{id}.scope/cpu.stat",
    "machine.slice/libpod-{id}.scope/container/cpu.stat",
)


def cpu_usage_ns(container_id: str, *, root: Path = ROOT) -> int | None:
    """Cumulative CPU time of the container in nanoseconds, or None if not found here."""
    for pattern in _V1:
        path = root / pattern.format(id=container_id)
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            continue
    for pattern in _V2:
        path = root / pattern.format(id=container_id)
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "usage_usec" and value.strip().isdigit():
                return int(value) * 1000
    return None


_MEMORY = (
    "memory/docker/{id}/memory.usage_in_bytes",
    "memory/system.slice/docker-{id}.scope/memory.usage_in_bytes",
    "memory/machine.slice/libpod-{id}.scope/memory.usage_in_bytes",
    "system.slice/docker-{id}.scope/memory.current",
    "docker/{id}/memory.current",
    "machine.slice/libpod-{id}.scope/memory.current",
    "machine.slice/libpod-{id}.scope/container/memory.current",
)


def memory_bytes(container_id: str, *, root: Path = ROOT) -> int | None:
    """Memory the container uses now, in bytes, or None if not found here."""
    for pattern in _MEMORY:
        try:
            return int((root / pattern.format(id=container_id)).read_text().strip())
        except (OSError, ValueError):
            continue
    return None
