"""The Engine protocol: everything dockyard asks of a container engine.

Every method is keyword-only and speaks the typed models of ``engine.models``. Failures
are dockyard errors (``core.errors``), never foreign exceptions:

- ``NotFound`` when the named object does not exist (except where noted),
- ``Conflict`` when the engine refuses because of the object's state,
- ``EngineUnavailable`` when the engine cannot be reached at all,
- ``EngineError`` for any other refusal.

Removal is idempotent: removing something already gone (404) or already being removed
(409) is success, as every controller in this field learned the hard way.

Implementations: ``DockerEngine`` (dockerd and Podman's Docker-compatible API) and
``FakeEngine`` (in memory, for orchestration unit tests).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # (core.archives loads only where a path is asked about)
    from dockyard.core.archives import PathStat
from dockyard.engine.models import (
    ContainerInfo,
    ContainerSpec,
    ContainerSummary,
    DiskUse,
    EngineEvent,
    EngineInfo,
    ExecInfo,
    ImageInfo,
    NetworkInfo,
    VolumeInfo,
)

STDOUT = 1
STDERR = 2


@dataclass(frozen=True, slots=True)
class ExecSpec:
    """A process to run inside a running container."""

    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    user: str | None = None
    tty: bool = False
    stdin: bool = False


class ExecStream(Protocol):
    """The attached input and output of a started exec."""

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """Output as ``(STDOUT|STDERR, data)`` until the process closes it."""
        ...

    def send(self, data: bytes) -> None:
        """Write to the process's standard input."""
        ...

    def close_input(self) -> None:
        """Signal end of input."""
        ...

    def close(self) -> None: ...


LabelFilter = Mapping[str, str | None]
"""Label constraints: ``{"dockyard.managed": "true", "dockyard.workspace": None}`` means
the first label has that value and the second is present with any value."""


class Engine(Protocol):
    @property
    def url(self) -> str: ...

    def is_local(self) -> bool:
        """Whether the engine runs on this machine (its host paths are this host's)."""
        ...

    def ping(self) -> EngineInfo: ...

    def identity(self) -> str:
        """The daemon's own identity (dockerd's ``/info`` ID): the same across restarts
        of that daemon, different for another daemon at the same address."""
        ...

    # -- images -------------------------------------------------------------------------
    def inspect_image(self, *, ref: str) -> ImageInfo: ...

    def list_images(self, *, labels: LabelFilter) -> list[ImageInfo]:
        """Images carrying the labels (all tags of one image are one entry)."""
        ...

    def remove_image(self, *, ref: str) -> None:
        """Remove the image (or untag ``ref``); ``Conflict`` if a container uses it."""
        ...

    # -- volumes ------------------------------------------------------------------------
    def create_volume(
        self, *, name: str, labels: Mapping[str, str], options: Mapping[str, str] | None = None
    ) -> VolumeInfo:
        """Create the volume (the local driver, with ``options``), or return the existing
        one of that name."""
        ...

    def inspect_volume(self, *, name: str) -> VolumeInfo: ...

    def list_volumes(self, *, labels: LabelFilter) -> list[VolumeInfo]: ...

    def remove_volume(self, *, name: str) -> None: ...

    def volume_sizes(self) -> dict[str, int]:
        """Bytes used by each volume, as far as the engine knows (may be slow: a disk scan)."""
        ...

    # -- networks -----------------------------------------------------------------------
    def create_network(
        self, *, name: str, labels: Mapping[str, str], subnet: str | None
    ) -> NetworkInfo:
        """Create a bridge network (on ``subnet``, else one the engine picks).
        ``Conflict`` if the name is taken or the subnet overlaps another network's."""
        ...

    def inspect_network(self, *, name: str) -> NetworkInfo: ...

    def list_networks(self, *, labels: LabelFilter) -> list[NetworkInfo]: ...

    def remove_network(self, *, name: str) -> None:
        """Remove the network; ``Conflict`` while a running container is attached to it
        (a created or stopped one does not hold it, and cannot start once it is gone)."""
        ...

    def connect_network(self, *, name: str, container: str) -> None:
        """Attach the (stopped or running) container to the network."""
        ...

    def disconnect_network(self, *, name: str, container: str) -> None:
        """Detach the container from a network it is attached to."""
        ...

    # -- containers ---------------------------------------------------------------------
    def create_container(self, *, spec: ContainerSpec) -> str:
        """Create (not start) a container; returns its id. ``Conflict`` if the name is taken."""
        ...

    def start_container(self, *, ref: str) -> None:
        """Start it; starting a running container is a no-op."""
        ...

    def rename_container(self, *, ref: str, name: str) -> None:
        """Give it a new name (running or not); ``Conflict`` if the name is taken."""
        ...

    def stop_container(self, *, ref: str, timeout_s: float) -> None:
        """Stop it (TERM, then KILL after ``timeout_s``); stopping a stopped one is a no-op."""
        ...

    def remove_container(self, *, ref: str) -> None:
        """Remove it, running or not; its named volumes are kept."""
        ...

    def inspect_container(self, *, ref: str) -> ContainerInfo: ...

    def list_containers(
        self, *, labels: LabelFilter, ids: Collection[str] = ()
    ) -> list[ContainerSummary]:
        """All containers (running or not) carrying the labels (and, given ``ids``, with
        one of those ids), in one call."""
        ...

    def logs(self, *, ref: str, tail: int) -> str:
        """The last ``tail`` lines the container's main process wrote (stdout and stderr)."""
        ...

    def cpu_usage_ns(self, *, container_id: str) -> int | None:
        """Cumulative CPU time of a running container in ns; None if not measurable."""
        ...

    def memory_bytes(self, *, container_id: str) -> int | None:
        """Memory a running container uses now, in bytes; None if not measurable."""
        ...

    def disk_use(self, *, container_id: str, volume: str | None, budget_s: float) -> DiskUse:
        """Disk the container's writable layer and its volume ``volume`` use, measured in
        about ``budget_s`` at most (a measurement cut short is marked incomplete). Runs
        nothing in the container: looking is not activity."""
        ...

    def processes(self, *, ref: str) -> list[str]:
        """Command lines of the processes running in a container."""
        ...

    # -- processes and files ------------------------------------------------------------
    def exec_create(self, *, ref: str, spec: ExecSpec) -> str: ...

    def exec_start(self, *, exec_id: str, tty: bool) -> ExecStream: ...

    def exec_inspect(self, *, exec_id: str) -> ExecInfo: ...

    def exec_resize(self, *, exec_id: str, rows: int, cols: int) -> None:
        """Set the terminal size of a started tty exec."""
        ...

    def put_archive(self, *, ref: str, path: str, data: Iterable[bytes]) -> None:
        """Extract a tar stream into the container at ``path`` (which must exist)."""
        ...

    def get_archive(self, *, ref: str, path: str) -> AbstractContextManager[Iterator[bytes]]:
        """A tar stream of ``path`` inside the container."""
        ...

    def stat_path(self, *, ref: str, path: str) -> PathStat | None:
        """What ``path`` is in the container (a link is described as the link), or None
        when nothing is there; without running anything in it."""
        ...

    def path_exists(self, *, ref: str, path: str) -> bool:
        """Whether ``path`` exists in the container (or it is gone), without running
        anything in it: a stat, far cheaper than an exec."""
        ...

    def commit(self, *, ref: str, repo: str, tag: str, labels: Mapping[str, str]) -> str:
        """Snapshot the container's filesystem as an image; returns the image id."""
        ...

    # -- events -------------------------------------------------------------------------
    def events(
        self, *, since: datetime | None, until: datetime | None, labels: LabelFilter
    ) -> AbstractContextManager[Iterator[EngineEvent]]:
        """Container events; without ``until`` the stream stays open until closed."""
        ...
