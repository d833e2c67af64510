"""An in-memory Engine for orchestration tests: fast, deterministic, with failure hooks.

It follows the protocol's contract (idempotent removal, ``Conflict`` on a taken name,
``NotFound`` for unknown objects, a failed start leaves the container ``created``) so
that tests written against it mean something. It is never the only proof of a
container behaviour: the same behaviours are tested against the real engine.

Failure hooks are plain attributes: set ``start_error`` to make the next starts fail,
``down`` to make every call raise ``EngineUnavailable``, ``exec_handler`` to decide what
a process prints and returns.
"""

from __future__ import annotations

import io
import ipaddress
import itertools
import posixpath
import tarfile
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from dockyard.core.archives import EntryKind, PathStat
from dockyard.core.errors import (
    Conflict,
    DockyardError,
    EngineError,
    EngineUnavailable,
    NotFound,
)
from dockyard.engine.base import STDERR, STDOUT, ExecSpec, LabelFilter
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

ExecHandler = Callable[["FakeContainer", ExecSpec, bytes], tuple[int, bytes, bytes]]


#: The networks every engine has.
BUILTIN_NETWORKS = ("bridge", "host", "none")


def _ok_handler(
    container: FakeContainer, spec: ExecSpec, _stdin: bytes
) -> tuple[int, bytes, bytes]:
    """Every process succeeds at once, except ``sleep N``, which runs for N seconds or
    until its container stops (then it is killed: 137), as it would in a container."""
    if len(spec.argv) == 2 and spec.argv[0] == "sleep":
        return (137 if container.ended.wait(float(spec.argv[1])) else 0), b"", b""
    return 0, b"", b""


@dataclass
class FakeContainer:
    id: str
    spec: ContainerSpec
    status: str = "created"
    exit_code: int = 0
    oom_killed: bool = False
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # engine sets it
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exec_ids: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    archives: list[tuple[str, bytes]] = field(default_factory=list)
    #: Set when it stops running (its processes end with it).
    ended: threading.Event = field(default_factory=threading.Event)

    def info(self) -> ContainerInfo:
        return ContainerInfo(
            id=self.id,
            name=self.spec.name,
            image=self.spec.image,
            image_id=f"sha256:{self.spec.image}",
            labels=dict(self.spec.labels),
            status=self.status,
            running=self.status == "running",
            exit_code=self.exit_code,
            oom_killed=self.oom_killed,
            error="",
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            exec_ids=list(self.exec_ids),
            volumes=[m.volume for m in self.spec.mounts],
            memory_bytes=self.spec.memory_bytes or 0,
            nano_cpus=self.spec.nano_cpus or 0,
            pids_limit=self.spec.pids_limit or 0,
            network_endpoint=self.spec.network != "none",
            networks=tuple(self.networks),
        )


@dataclass
class _FakeExec:
    id: str
    container: FakeContainer
    spec: ExecSpec
    running: bool = False
    exit_code: int | None = None
    size: tuple[int, int] | None = None  # (rows, cols) once resized


class FakeExecStream:
    def __init__(self, run: Callable[[bytes], list[tuple[int, bytes]]]) -> None:
        self._run = run
        self._input: list[bytes] = []

    def frames(self) -> Iterator[tuple[int, bytes]]:
        yield from self._run(b"".join(self._input))

    def send(self, data: bytes) -> None:
        self._input.append(data)

    def close_input(self) -> None:
        """Input is complete once sent; nothing to signal in memory."""

    def close(self) -> None:
        """Nothing to release."""


class FakeEngine:
    def __init__(
        self,
        *,
        images: Iterable[str] = ("dockyard/workspace:latest",),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        url: str = "fake://engine",
    ) -> None:
        self.clock = clock
        self._url = url
        #: what ``identity`` answers: change it to play another daemon at the same address
        self.daemon_id = f"fake-{id(self):x}"
        self.images = set(images)
        self.containers: dict[str, FakeContainer] = {}
        self.volumes: dict[str, VolumeInfo] = {}
        self.networks: dict[str, NetworkInfo] = {}
        self.execs: dict[str, _FakeExec] = {}
        self.events_log: list[EngineEvent] = []
        self.exec_handler: ExecHandler = _ok_handler
        self.start_error: DockyardError | None = None
        self.down = False
        #: container id -> cumulative CPU ns
        self.cpu_ns: dict[str, int] = {}
        #: containers that burn CPU (their counter grows by a second on every read)
        self.busy_cpu: set[str] = set()
        #: volume name -> bytes it uses (what ``disk_use`` answers; 0 if not set)
        self.volume_bytes: dict[str, int] = {}
        #: container id -> extra process command lines
        self.process_names: dict[str, list[str]] = {}
        #: paths ``path_exists`` denies (any other path exists, so that ``exec_handler``
        #: alone decides what scripts find)
        self.missing_paths: set[str] = set()
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        return self._url

    def is_local(self) -> bool:
        return False  # its "host" is memory: nothing of it is on this machine

    # -- helpers ------------------------------------------------------------------------

    def _check(self) -> None:
        if self.down:
            raise EngineUnavailable(f"cannot reach the container engine at {self._url}")

    def _find(self, ref: str) -> FakeContainer:
        self._check()
        for container in self.containers.values():
            if ref in (container.id, container.spec.name):
                return container
        raise NotFound(f"No such container: {ref}")

    def _event(self, action: str, container: FakeContainer) -> None:
        self.events_log.append(
            EngineEvent(
                type="container",
                action=action,
                actor_id=container.id,
                attributes=dict(container.spec.labels),
                time=self.clock(),
            )
        )

    def crash(self, ref: str, *, exit_code: int = 137, oom: bool = False) -> None:
        """Make a running container die, as a crash or the OOM killer would."""
        container = self._find(ref)
        container.status, container.exit_code, container.oom_killed = "exited", exit_code, oom
        container.finished_at = self.clock()
        self._end(container)
        self._event("die", container)

    def _end(self, container: FakeContainer) -> None:
        """It stopped: its processes end, and the engine forgets their execs."""
        container.ended.set()
        for exec_id in container.exec_ids:
            self.execs.pop(exec_id, None)
        container.exec_ids.clear()

    def vanish(self, ref: str) -> None:
        """Remove a container behind dockyard's back."""
        del self.containers[self._find(ref).id]

    # -- protocol -----------------------------------------------------------------------

    def ping(self) -> EngineInfo:
        self._check()
        return EngineInfo(url=self.url, version="fake", api_version="1.41", os="linux", kind="fake")

    def identity(self) -> str:
        self._check()
        return self.daemon_id

    def inspect_image(self, *, ref: str) -> ImageInfo:
        self._check()
        if ref not in self.images:
            raise NotFound(f"No such image: {ref}")
        return ImageInfo(id=f"sha256:{ref}", tags=[ref], size=1, created_at=None, labels={})

    def list_images(self, *, labels: LabelFilter) -> list[ImageInfo]:
        self._check()
        found = [self.inspect_image(ref=ref) for ref in sorted(self.images)]
        return [image for image in found if _matches(image.labels, labels)]

    def remove_image(self, *, ref: str) -> None:
        self._check()
        name = ref.removeprefix("sha256:")
        if any(c.spec.image in (ref, name) for c in self.containers.values()):
            raise Conflict(f"image {ref} is being used by a container")
        self.images.discard(name)
        self.images.discard(ref)

    def create_volume(
        self, *, name: str, labels: Mapping[str, str], options: Mapping[str, str] | None = None
    ) -> VolumeInfo:
        self._check()
        if name not in self.volumes:
            self.volumes[name] = VolumeInfo(
                name=name,
                labels=dict(labels),
                created_at=self.clock(),
                mountpoint="",
                options=dict(options or {}),
            )
        return self.volumes[name]

    def inspect_volume(self, *, name: str) -> VolumeInfo:
        self._check()
        if name not in self.volumes:
            raise NotFound(f"get {name}: no such volume")
        return self.volumes[name]

    def list_volumes(self, *, labels: LabelFilter) -> list[VolumeInfo]:
        self._check()
        return [v for v in self.volumes.values() if _matches(v.labels, labels)]

    def volume_sizes(self) -> dict[str, int]:
        self._check()
        return dict.fromkeys(self.volumes, 0)

    def remove_volume(self, *, name: str) -> None:
        self._check()
        for container in self.containers.values():
            if any(m.volume == name for m in container.spec.mounts):
                raise Conflict(f"remove {name}: volume is in use")
        self.volumes.pop(name, None)

    def create_network(
        self, *, name: str, labels: Mapping[str, str], subnet: str | None
    ) -> NetworkInfo:
        self._check()
        if name in self.networks or name in BUILTIN_NETWORKS:
            raise Conflict(f"network with name {name} already exists")
        if subnet is not None:
            wanted = ipaddress.ip_network(subnet)
            for other in self.networks.values():
                if any(wanted.overlaps(ipaddress.ip_network(s)) for s in other.subnets):
                    raise Conflict("Pool overlaps with other one on this address space")
        network = NetworkInfo(
            id=f"{next(self._ids):064x}",
            name=name,
            labels=dict(labels),
            created_at=self.clock(),
            subnets=(subnet,) if subnet else (),
        )
        self.networks[name] = network
        return network

    def inspect_network(self, *, name: str) -> NetworkInfo:
        self._check()
        if name in BUILTIN_NETWORKS:
            return NetworkInfo(id=name, name=name, labels={}, created_at=None, subnets=())
        if name not in self.networks:
            raise NotFound(f"network {name} not found")
        return self.networks[name]

    def list_networks(self, *, labels: LabelFilter) -> list[NetworkInfo]:
        self._check()
        return [n for n in self.networks.values() if _matches(n.labels, labels)]

    def remove_network(self, *, name: str) -> None:
        self._check()
        # as dockerd: only a running container's endpoint holds it; a created or stopped
        # one attached to it cannot start again once it is gone
        if any(name in c.networks and c.status == "running" for c in self.containers.values()):
            raise Conflict(f"error while removing network: network {name} has active endpoints")
        self.networks.pop(name, None)

    def connect_network(self, *, name: str, container: str) -> None:
        found = self._find(container)
        self.inspect_network(name=name)
        if name in found.networks:
            raise Conflict(f"endpoint with name {found.spec.name} already exists in network {name}")
        found.networks.append(name)

    def disconnect_network(self, *, name: str, container: str) -> None:
        found = self._find(container)
        self.inspect_network(name=name)
        if name not in found.networks:
            raise EngineError(f"container {found.id} is not connected to the network {name}")
        found.networks.remove(name)

    def create_container(self, *, spec: ContainerSpec) -> str:
        self._check()
        if spec.image not in self.images:
            raise NotFound(f"No such image: {spec.image}")
        if any(c.spec.name == spec.name for c in self.containers.values()):
            raise Conflict(f'The container name "/{spec.name}" is already in use')
        for mount in spec.mounts:
            self.create_volume(name=mount.volume, labels={})
        container = FakeContainer(
            id=f"{next(self._ids):064x}",
            spec=spec,
            created_at=self.clock(),
            networks=[spec.network or "bridge"],
        )
        self.containers[container.id] = container
        self._event("create", container)
        return container.id

    def start_container(self, *, ref: str) -> None:
        container = self._find(ref)
        if self.start_error is not None:
            raise self.start_error
        for network in container.networks:  # dockerd: at start, not create
            if network not in BUILTIN_NETWORKS and network not in self.networks:
                raise NotFound(f"network {network} not found")
        if container.status != "running":
            container.status, container.started_at = "running", self.clock()
            container.ended = threading.Event()
            self._event("start", container)

    def stop_container(self, *, ref: str, timeout_s: float) -> None:  # noqa: ARG002
        """As dockerd stops a container under an init: TERM is passed on, the command
        dies of it (143), and the log says kill, die, stop."""
        container = self._find(ref)
        if container.status == "running":
            self._event("kill", container)
            container.status, container.exit_code = "exited", 143
            container.finished_at = self.clock()
            self._end(container)
            self._event("die", container)
            self._event("stop", container)

    def rename_container(self, *, ref: str, name: str) -> None:
        container = self._find(ref)
        if any(c.spec.name == name for c in self.containers.values() if c is not container):
            raise Conflict(f'The container name "/{name}" is already in use')
        container.spec = replace(container.spec, name=name)

    def remove_container(self, *, ref: str) -> None:
        try:
            container = self._find(ref)
        except NotFound:
            return
        del self.containers[container.id]
        container.ended.set()  # its processes die with it; their execs stay inspectable
        self._event("destroy", container)

    def inspect_container(self, *, ref: str) -> ContainerInfo:
        return self._find(ref).info()

    def list_containers(
        self, *, labels: LabelFilter, ids: Collection[str] = ()
    ) -> list[ContainerSummary]:
        self._check()
        return [
            ContainerSummary(
                id=c.id,
                name=c.spec.name,
                image=c.spec.image,
                image_id=f"sha256:{c.spec.image}",
                labels=dict(c.spec.labels),
                status=c.status,
                created_at=c.created_at,
                volumes=tuple(m.volume for m in c.spec.mounts),
                networks=tuple(c.networks),
            )
            for c in self.containers.values()
            if _matches(c.spec.labels, labels) and (not ids or c.id in ids)
        ]

    def cpu_usage_ns(self, *, container_id: str) -> int | None:
        container = self._find(container_id)
        if container.status != "running":
            return None
        if container.id in self.busy_cpu:  # a whole CPU-second per look: always busy
            self.cpu_ns[container.id] = self.cpu_ns.get(container.id, 0) + 10**9
        return self.cpu_ns.get(container.id, 0)

    def memory_bytes(self, *, container_id: str) -> int | None:
        return 1024**2 if self._find(container_id).status == "running" else None

    def disk_use(self, *, container_id: str, volume: str | None, budget_s: float) -> DiskUse:  # noqa: ARG002
        container = self._find(container_id)
        if container.status != "running":
            return DiskUse(None, None)
        used = None if volume is None else self.volume_bytes.get(volume, 0)
        return DiskUse(used, 4096)

    def processes(self, *, ref: str) -> list[str]:
        container = self._find(ref)
        return ["sleep infinity", *self.process_names.get(container.id, [])]

    def logs(self, *, ref: str, tail: int) -> str:  # noqa: ARG002
        self._find(ref)
        return ""

    def exec_create(self, *, ref: str, spec: ExecSpec) -> str:
        container = self._find(ref)
        if container.status != "running":
            raise Conflict(f"Container {container.id} is not running")
        exec_id = f"exec{next(self._ids)}"
        self.execs[exec_id] = _FakeExec(exec_id, container, spec)
        container.exec_ids.append(exec_id)
        return exec_id

    def exec_start(self, *, exec_id: str, tty: bool) -> FakeExecStream:  # noqa: ARG002
        self._check()
        if exec_id not in self.execs:
            raise NotFound(f"No such exec instance: {exec_id}")
        record = self.execs[exec_id]

        def run(stdin: bytes) -> list[tuple[int, bytes]]:
            record.running = True
            code, out, err = self.exec_handler(record.container, record.spec, stdin)
            record.running, record.exit_code = False, code
            return [(STDOUT, out)] * bool(out) + [(STDERR, err)] * bool(err)

        return FakeExecStream(run)

    def exec_inspect(self, *, exec_id: str) -> ExecInfo:
        self._check()
        if exec_id not in self.execs:
            raise NotFound(f"No such exec instance: {exec_id}")
        record = self.execs[exec_id]
        return ExecInfo(
            id=exec_id,
            running=record.running,
            exit_code=record.exit_code,
            pid=1,
            argv=tuple(record.spec.argv),
        )

    def exec_resize(self, *, exec_id: str, rows: int, cols: int) -> None:
        self._check()
        if exec_id not in self.execs:
            raise NotFound(f"No such exec instance: {exec_id}")
        self.execs[exec_id].size = (rows, cols)

    def put_archive(self, *, ref: str, path: str, data: Iterable[bytes]) -> None:
        container = self._find(ref)
        container.archives.append((path, b"".join(data)))

    @contextmanager
    def get_archive(self, *, ref: str, path: str) -> Iterator[Iterator[bytes]]:
        """What went in at ``path``, or the file ``path`` of an archive that went into its
        directory, as a tar stream (as the engine sends one)."""
        container = self._find(ref)
        found = [data for target, data in container.archives if target == path]
        if not found:
            found = [_member(data, path, target) for target, data in container.archives]
        yield iter([data for data in found if data])

    def stat_path(self, *, ref: str, path: str) -> PathStat | None:
        """A path put as an archive's member is a file; a missing path (``missing_paths``)
        is nothing; any other is a directory (the fake has no file system)."""
        container = self._find(ref)
        if path in self.missing_paths:
            return None
        name = posixpath.basename(path) or "/"
        if any(_member(data, path, target) for target, data in container.archives):
            return PathStat(name=name, kind=EntryKind.FILE, size=0, mode=0o644)
        return PathStat(name=name, kind=EntryKind.DIRECTORY, size=0, mode=0o755)

    def path_exists(self, *, ref: str, path: str) -> bool:
        try:
            self._find(ref)
        except NotFound:
            return False
        return path not in self.missing_paths

    def commit(self, *, ref: str, repo: str, tag: str, labels: Mapping[str, str]) -> str:  # noqa: ARG002
        self._find(ref)
        image = f"{repo}:{tag}"
        self.images.update({image, f"sha256:{image}"})
        return f"sha256:{image}"

    @contextmanager
    def events(
        self, *, since: datetime | None, until: datetime | None, labels: LabelFilter
    ) -> Iterator[Iterator[EngineEvent]]:
        self._check()
        yield iter(
            [
                e
                for e in list(self.events_log)
                if _matches(e.attributes, labels)
                and (since is None or (e.time is not None and e.time >= since))
                and (until is None or (e.time is not None and e.time <= until))
            ]
        )


def _member(archive: bytes, path: str, directory: str) -> bytes:
    """A tar holding the one file ``path`` of ``archive`` (extracted at ``directory``)."""
    name = posixpath.relpath(path, directory)
    if name.startswith(".."):
        return b""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as source:
            member = source.getmember(name)
            content = source.extractfile(member)
            if content is None:
                return b""
            out = io.BytesIO()
            with tarfile.open(fileobj=out, mode="w") as single:
                member.name = posixpath.basename(path)
                single.addfile(member, content)
            return out.getvalue()
    except (KeyError, tarfile.TarError):
        return b""


def _matches(labels: Mapping[str, str], wanted: LabelFilter) -> bool:
    return all(
        key in labels and (value is None or labels[key] == value) for key, value in wanted.items()
    )
