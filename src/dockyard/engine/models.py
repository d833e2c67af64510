"""Typed views of what the engine says, parsed once at the boundary.

Engine JSON (dockerd and Podman's compatible API) becomes these frozen dataclasses in
the ``from_api`` constructors and nowhere else; the rest of dockyard never sees a raw
payload. Parsing is tolerant of the documented differences between engines (Podman's
``Id`` vs ``id``, missing optional keys, zero timestamps meaning "never").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dockyard.core.errors import EngineError

_ISO = re.compile(
    r"(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?(?P<tz>Z|[+-]\d\d:?\d\d)?"
)


def parse_timestamp(value: object) -> datetime | None:
    """Parse an engine timestamp (RFC 3339 with nanoseconds, or epoch seconds).

    Returns ``None`` for the zero time (``0001-01-01T00:00:00Z``), which the engine uses
    for "never" (a container never started, or never finished).
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC) if value > 0 else None
    if not isinstance(value, str):
        raise EngineError(f"unexpected timestamp from the engine: {value!r}")
    match = _ISO.match(value)
    if match is None:
        raise EngineError(f"unexpected timestamp from the engine: {value!r}")
    if match["base"].startswith("0001-"):
        return None
    frac = (match["frac"] or "0")[:6].ljust(6, "0")
    tz = match["tz"] or "Z"
    text = f"{match['base']}.{frac}{'+00:00' if tz == 'Z' else tz}"
    return datetime.fromisoformat(text).astimezone(UTC)


def _labels(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _network_names(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The networks a container (inspected or listed) is attached to, by name."""
    return tuple(str(n) for n in (data.get("NetworkSettings") or {}).get("Networks") or {})


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """A named volume mounted into a container."""

    volume: str
    target: str
    read_only: bool = False


#: ``ContainerSpec.network`` for loopback only.
NO_NETWORK = "none"


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """Everything dockyard asks of a new container."""

    name: str
    image: str
    command: Sequence[str]
    labels: Mapping[str, str]
    mounts: Sequence[VolumeMount] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    memory_bytes: int | None = None
    nano_cpus: int | None = None
    pids_limit: int | None = None
    init: bool = True
    hostname: str | None = None
    network: str | None = None  # NO_NETWORK, or the engine's network mode; None: its default
    #: With NO_NETWORK: on the engine's "none" network instead of with networking
    #: disabled, so that it can leave it and join a network later (the warm pool's).
    attachable: bool = False

    def to_api(self) -> dict[str, Any]:
        host_config: dict[str, Any] = {
            "Init": self.init,
            "Mounts": [
                {"Type": "volume", "Source": m.volume, "Target": m.target, "ReadOnly": m.read_only}
                for m in self.mounts
            ],
        }
        if self.memory_bytes is not None:
            host_config["Memory"] = self.memory_bytes
        if self.nano_cpus is not None:
            host_config["NanoCpus"] = self.nano_cpus
        if self.pids_limit is not None:
            host_config["PidsLimit"] = self.pids_limit
        if self.network is not None and (self.network != NO_NETWORK or self.attachable):
            host_config["NetworkMode"] = self.network
        body: dict[str, Any] = {
            "Image": self.image,
            "Cmd": list(self.command),
            "Labels": dict(self.labels),
            "Env": [f"{k}={v}" for k, v in self.env.items()],
            "HostConfig": host_config,
        }
        if self.network == NO_NETWORK and not self.attachable:
            # Loopback only, and no network endpoint at all: dockerd 20.10 can deadlock
            # releasing the endpoints of many containers exiting at once (moby#46661),
            # its "none" network included.
            body["NetworkDisabled"] = True
        if self.workdir:
            body["WorkingDir"] = self.workdir
        if self.hostname:
            body["Hostname"] = self.hostname
        return body


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """The result of inspecting one container."""

    id: str
    name: str
    image: str
    image_id: str
    labels: Mapping[str, str]
    status: str
    running: bool
    exit_code: int
    oom_killed: bool
    error: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    exec_ids: Sequence[str]
    volumes: Sequence[str]
    memory_bytes: int
    nano_cpus: int
    pids_limit: int
    #: It has a network endpoint to tear down when it stops (all but NetworkDisabled:
    #: libnetwork's "none" and "host" networks have endpoints too).
    network_endpoint: bool = True
    networks: tuple[str, ...] = ()  # names of the networks it is attached to
    #: the writable layer's directory on the engine's host (overlay2's UpperDir), if any
    upper_dir: str = ""
    #: bytes in the writable layer, when asked for (``inspect?size=true``)
    size_rw: int | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ContainerInfo:
        state = data.get("State") or {}
        config = data.get("Config") or {}
        host = data.get("HostConfig") or {}
        mounts = data.get("Mounts") or []
        return cls(
            id=str(data.get("Id") or data.get("ID") or ""),
            name=str(data.get("Name") or "").lstrip("/"),
            image=str(config.get("Image") or ""),
            image_id=str(data.get("Image") or ""),
            labels=_labels(config.get("Labels")),
            status=str(state.get("Status") or "unknown"),
            running=bool(state.get("Running")),
            exit_code=int(state.get("ExitCode") or 0),
            oom_killed=bool(state.get("OOMKilled")),
            error=str(state.get("Error") or ""),
            created_at=parse_timestamp(data.get("Created")),
            started_at=parse_timestamp(state.get("StartedAt")),
            finished_at=parse_timestamp(state.get("FinishedAt")),
            exec_ids=[str(x) for x in data.get("ExecIDs") or []],
            volumes=[str(m.get("Name")) for m in mounts if m.get("Type") == "volume"],
            memory_bytes=int(host.get("Memory") or 0),
            nano_cpus=int(host.get("NanoCpus") or 0),
            pids_limit=int(host.get("PidsLimit") or 0),
            network_endpoint=not config.get("NetworkDisabled"),
            networks=_network_names(data),
            upper_dir=str(
                ((data.get("GraphDriver") or {}).get("Data") or {}).get("UpperDir") or ""
            ),
            size_rw=int(data["SizeRw"]) if isinstance(data.get("SizeRw"), int) else None,
        )


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    """One entry of a container listing: cheap, no inspect per container."""

    id: str
    name: str
    image: str
    image_id: str
    labels: Mapping[str, str]
    status: str
    created_at: datetime | None
    volumes: tuple[str, ...] = ()  # names of the named volumes it mounts
    networks: tuple[str, ...] = ()  # names of the networks it is attached to

    @property
    def running(self) -> bool:
        return self.status == "running"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ContainerSummary:
        names = data.get("Names") or []
        mounts = data.get("Mounts") or []
        return cls(
            id=str(data.get("Id") or data.get("ID") or ""),
            name=str(names[0]).lstrip("/") if names else "",
            image=str(data.get("Image") or ""),
            image_id=str(data.get("ImageID") or ""),
            labels=_labels(data.get("Labels")),
            status=str(data.get("State") or "unknown"),
            created_at=parse_timestamp(data.get("Created")),
            volumes=tuple(
                str(m["Name"]) for m in mounts if m.get("Type") == "volume" and m.get("Name")
            ),
            networks=_network_names(data),
        )


@dataclass(frozen=True, slots=True)
class ImageInfo:
    id: str
    tags: Sequence[str]
    size: int
    created_at: datetime | None
    labels: Mapping[str, str]
    parent_id: str = ""  # the local image it was committed from or built on, if any

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ImageInfo:
        config = data.get("Config") or {}
        return cls(
            id=str(data.get("Id") or ""),
            tags=[str(t) for t in data.get("RepoTags") or []],
            size=int(data.get("Size") or 0),
            created_at=parse_timestamp(data.get("Created")),
            labels=_labels(config.get("Labels") if config else data.get("Labels")),
            parent_id=str(data.get("ParentId") or data.get("Parent") or ""),
        )


@dataclass(frozen=True, slots=True)
class DiskUse:
    """Disk a container uses: its named volume and its own writable layer, in bytes
    (None where the engine cannot tell). ``complete`` is False when a measurement ran out
    of its time budget: the figures are then lower bounds."""

    volume_bytes: int | None
    layer_bytes: int | None
    complete: bool = True
    #: a volume that is a file system of its own (a capped one): all it can hold
    volume_capacity: int | None = None

    @property
    def total_bytes(self) -> int | None:
        parts = [b for b in (self.volume_bytes, self.layer_bytes) if b is not None]
        return sum(parts) if parts else None


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    name: str
    labels: Mapping[str, str]
    created_at: datetime | None
    mountpoint: str
    #: the driver's options (a capped volume's ``type`` and ``device``)
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> VolumeInfo:
        return cls(
            name=str(data.get("Name") or ""),
            labels=_labels(data.get("Labels")),
            created_at=parse_timestamp(data.get("CreatedAt")),
            mountpoint=str(data.get("Mountpoint") or ""),
            options=_labels(data.get("Options")),
        )


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    id: str
    name: str
    labels: Mapping[str, str]
    created_at: datetime | None
    subnets: tuple[str, ...]  # IPv4 and IPv6 subnets, CIDR notation

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> NetworkInfo:
        configs = (data.get("IPAM") or {}).get("Config") or []
        return cls(
            id=str(data.get("Id") or data.get("ID") or ""),
            name=str(data.get("Name") or ""),
            labels=_labels(data.get("Labels")),
            created_at=parse_timestamp(data.get("Created")),
            subnets=tuple(str(c["Subnet"]) for c in configs if c.get("Subnet")),
        )


@dataclass(frozen=True, slots=True)
class ExecInfo:
    id: str
    running: bool
    exit_code: int | None
    pid: int
    argv: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ExecInfo:
        code = data.get("ExitCode")
        process = data.get("ProcessConfig") or {}
        argv = [process.get("entrypoint") or "", *(process.get("arguments") or [])]
        return cls(
            id=str(data.get("ID") or data.get("Id") or ""),
            running=bool(data.get("Running")),
            exit_code=None if code is None else int(code),
            pid=int(data.get("Pid") or 0),
            argv=tuple(str(a) for a in argv if a is not None),
        )


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What ``ping`` learns about the engine: enough for ``doctor`` and logs."""

    url: str
    version: str
    api_version: str
    os: str
    kind: str  # "docker" or "podman"

    @classmethod
    def from_api(cls, url: str, data: Mapping[str, Any]) -> EngineInfo:
        components = data.get("Components") or []
        names = " ".join(str(c.get("Name", "")) for c in components).lower()
        return cls(
            url=url,
            version=str(data.get("Version") or "unknown"),
            api_version=str(data.get("ApiVersion") or "unknown"),
            os=str(data.get("Os") or "unknown"),
            kind="podman" if "podman" in names else "docker",
        )


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """One entry of the engine's event stream."""

    type: str
    action: str
    actor_id: str
    attributes: Mapping[str, str]
    time: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> EngineEvent:
        actor = data.get("Actor") or {}
        nanos = data.get("timeNano")
        when = (
            datetime.fromtimestamp(int(nanos) / 1e9, UTC)
            if nanos
            else parse_timestamp(data.get("time"))
        )
        return cls(
            type=str(data.get("Type") or ""),
            action=str(data.get("Action") or data.get("status") or ""),
            actor_id=str(actor.get("ID") or data.get("id") or ""),
            attributes=_labels(actor.get("Attributes")),
            time=when,
        )
