"""The sections of the settings, and ``Settings``, which holds them all."""

from __future__ import annotations

from datetime import timedelta
from ipaddress import IPv4Network
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from dockyard.core.fleet import DEFAULT_ENGINE, ENGINE_NAME
from dockyard.core.model import Resources, SaveStrategy
from dockyard.core.naming import validate_image
from dockyard.settings.layers import default_data_dir
from dockyard.settings.policy import PolicySettings
from dockyard.settings.types import Duration, NonZeroDuration, Section, Size, disk_field

DEFAULT_IMAGE = "dockyard/workspace:latest"


class WorkspaceSettings(Section):
    """Defaults for new workspaces; each can be overridden per workspace by flags."""

    image: str = Field(DEFAULT_IMAGE, min_length=1, description="image of new workspaces")
    memory: Size = Field(2 * 1024**3, description="memory limit in bytes (2g)")
    cpus: float = Field(1.0, gt=0, le=1024, description="CPU limit, in CPUs")
    pids: int = Field(512, ge=16, le=4_194_304, description="process limit")
    disk: Size | None = Field(
        None,
        description="size of each new workspace volume's own file system (a sparse file "
        "attached as a loop device; needs root, loop devices and a local engine: see "
        "dockyard doctor); none: volumes share the engine's disk",
    )
    workdir: str = Field("/workspace", pattern=r"^/\S*$", description="where the work lives")
    strategy: SaveStrategy = Field(SaveStrategy.VOLUME, description="how parked work is saved")
    command: tuple[str, ...] = Field(
        ("sleep", "infinity"),
        min_length=1,
        description="keeps the container alive; runs under an init process",
    )
    stop_timeout: Duration = Field(
        timedelta(seconds=5), description="grace between TERM and KILL on stop"
    )
    network: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$",
        description="network of workspace containers: none, host, bridge (the engine's "
        "shared one) or a network's name; default: a bridge network per owner, so that "
        "owners' workspaces cannot reach each other",
    )
    network_pool: IPv4Network = Field(
        IPv4Network("10.213.0.0/16"), description="where owners' networks get their subnets"
    )
    network_prefix: int = Field(
        24, ge=8, le=29, description="size of an owner's subnet (24: 253 workspaces)"
    )

    @field_validator("disk")
    @classmethod
    def _disk_is_makeable(cls, disk: int | None) -> int | None:
        return disk_field(disk)

    @model_validator(mode="after")
    def _prefix_fits_the_pool(self) -> WorkspaceSettings:
        if self.network_prefix < self.network_pool.prefixlen:
            raise ValueError(
                f"network_prefix /{self.network_prefix} is larger than network_pool "
                f"{self.network_pool}"
            )
        return self

    def resources(
        self,
        *,
        memory: int | None = None,
        cpus: float | None = None,
        pids: int | None = None,
        disk: int | None = None,
    ) -> Resources:
        return Resources(
            memory_bytes=memory if memory is not None else self.memory,
            nano_cpus=round((cpus if cpus is not None else self.cpus) * 1e9),
            pids=pids if pids is not None else self.pids,
            disk_bytes=disk if disk is not None else self.disk,
        )


class ReconcilerSettings(Section):
    """The loop that applies the policy (``dockyard reconcile``, ``serve``, ``clean``)."""

    max_interval: NonZeroDuration = Field(
        timedelta(seconds=60), description="longest sleep between passes"
    )
    workers: int = Field(
        8, ge=1, le=64, description="actions executed in parallel (they mostly wait on the engine)"
    )
    busy_sample: Duration = Field(
        timedelta(milliseconds=250), description="CPU sampling window for the busy check"
    )
    background_interval: Duration = Field(
        timedelta(hours=1),
        description="common CLI commands start a cleanup pass at most this often; 0 = never",
    )


class GcSettings(Section):
    """Garbage collection (``dockyard gc``) and its optional schedule in the reconciler."""

    interval: Duration = Field(
        timedelta(0), description="the reconciler runs gc this often; 0 = only on request"
    )
    age: Duration = Field(timedelta(days=7), description="unused this long before gc removes it")
    images: bool = Field(False, description="scheduled gc removes unused images too")
    volumes: bool = Field(True, description="scheduled gc removes orphan volumes too")
    keep_storage: Size | None = Field(
        None, description="images: remove least recently used until their total is this"
    )
    image_prefixes: tuple[str, ...] = Field(
        (), description="image names (prefixes) gc may remove besides dockyard's own"
    )


class FilesSettings(Section):
    """Files copied into and out of workspaces (``dockyard cp``, the files routes)."""

    max_size: Size = Field(
        256 * 1024**2,
        description="largest upload or download (an archive's bytes, or one file's); "
        "a larger one is refused before anything is written",
    )
    single_max: Size = Field(
        16 * 1024**2,
        description="largest file read or written in one piece (the file routes, an agent's "
        "read and write); larger ones go as archives",
    )


class PoolSettings(Section):
    """The warm pool: containers started ahead of requests, so that a new key's first
    request takes one instead of waiting for a create and a start. Off by default: every
    member is an idle container holding memory, which is what dockyard exists to avoid;
    turn it on where new workspaces are frequent and their start is felt."""

    size: int = Field(
        0,
        ge=0,
        le=64,
        description="ready containers of the default image and limits, per engine; 0 = off",
    )
    images: dict[str, int] = Field(
        default_factory=dict,
        description="ready containers of other images (default limits), per engine: {image = size}",
    )

    @model_validator(mode="after")
    def _sizes_in_range(self) -> PoolSettings:
        for image, size in self.images.items():
            validate_image(image)
            if not 0 <= size <= 64:
                raise ValueError(f"pool size of {image!r} must be between 0 and 64")
        return self

    def sizes(self, default_image: str) -> dict[str, int]:
        """Image -> members wanted of it."""
        wanted = dict(self.images)
        if self.size:
            wanted[default_image] = self.size
        return {image: size for image, size in wanted.items() if size > 0}


class WebhookSettings(Section):
    """A receiver of every event (or of ``events`` only), as signed JSON POSTs."""

    url: str = Field(pattern=r"^https?://\S+$", description="where events are POSTed")
    secret: SecretStr = Field(
        description="HMAC-SHA256 key; the signature is in X-Dockyard-Signature"
    )
    events: tuple[str, ...] = Field((), description="event types to send; empty = all")


class EngineSettings(Section):
    """One engine of the fleet (``[[engines]]``): where it is, what it offers, how much."""

    name: str = Field(
        pattern=f"^{ENGINE_NAME.pattern}$", description="how records and the CLI name it"
    )
    url: str | None = Field(
        None, description="unix:///path or tcp://host:port; default $DOCKER_HOST or the socket"
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="what it offers; a request can require labels"
    )
    capacity: int | None = Field(
        None, ge=1, le=100_000, description="live workspaces it takes at most; none: no limit"
    )
    tls_verify: bool | None = Field(
        None,
        description="TLS to a tcp:// engine: verify it against ca.pem, present cert.pem and "
        "key.pem (dockerd --tlsverify); default: $DOCKER_TLS_VERIFY",
    )
    cert_path: Path | None = Field(
        None,
        description="where ca.pem, cert.pem, key.pem are; default $DOCKER_CERT_PATH, ~/.docker",
    )


class ApiSettings(Section):
    """``dockyard serve``: the HTTP API, the dashboard and the reconciler in one process."""

    host: str = Field("127.0.0.1", min_length=1, description="address to bind")
    port: int = Field(8420, ge=0, le=65535, description="port to bind (0: any free port)")
    admin_token: SecretStr | None = Field(
        None, description="admin bearer token; default: one generated on first serve"
    )
    exec_timeout: NonZeroDuration = Field(
        timedelta(minutes=10), description="longest exec over the API unless asked for less"
    )
    max_body: Size = Field(
        2 * 1024**2, description="largest request body; a larger one is refused (413) unread"
    )
    webhooks: tuple[WebhookSettings, ...] = ()


class Settings(Section):
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="database, markers and checkpoints live here",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite at <data_dir>/dockyard.db"
    )
    engine_url: str | None = Field(
        None, description="engine endpoint; default $DOCKER_HOST or the local Docker socket"
    )
    checkpoint_dir: Path | None = Field(
        None,
        description="where git bundles and archives of parked work are kept; "
        "default <data_dir>/checkpoints (share it between replicas)",
    )
    engines: tuple[EngineSettings, ...] = Field(
        (), description="several engines ([[engines]]); default: one, 'default', at engine_url"
    )
    engine_teardowns: int = Field(
        2,
        ge=1,
        le=64,
        description="containers with a network endpoint stopped or removed at once per "
        "manager (dockerd 20.10 before .27 deadlocks on many at once, moby/moby#46661)",
    )
    lock_timeout: Duration = Field(
        timedelta(minutes=5), description="how long to wait for a workspace another call holds"
    )
    workspace: WorkspaceSettings = WorkspaceSettings()
    policy: PolicySettings = PolicySettings()
    reconciler: ReconcilerSettings = ReconcilerSettings()
    gc: GcSettings = GcSettings()
    files: FilesSettings = FilesSettings()
    pool: PoolSettings = PoolSettings()
    api: ApiSettings = ApiSettings()

    @model_validator(mode="after")
    def _one_way_to_name_engines(self) -> Settings:
        if self.engines and self.engine_url:
            raise ValueError("set engine_url or [[engines]], not both")
        names = [engine.name for engine in self.engines]
        if len(set(names)) != len(names):
            raise ValueError(f"engine names must be unique: {', '.join(names)}")
        return self

    @property
    def fleet(self) -> tuple[EngineSettings, ...]:
        """The engines: those listed, else one named ``default`` at ``engine_url``."""
        return self.engines or (EngineSettings(name=DEFAULT_ENGINE, url=self.engine_url),)

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint_dir or self.data_dir / "checkpoints"

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'dockyard.db'}"
