"""Typed, validated, frozen settings: defaults < TOML file < ``DOCKYARD_*`` env < flags.

Every layer is a plain nested mapping; they are deep-merged in that order and validated
once by pydantic. An invalid value fails with its key path *and* where it came from:

    policy.rules[1].idle_timeout: expected a duration like 90s, 45m, 1h30m or 7d,
    got 'soon' (from /etc/dockyard.toml)

Environment variables map to key paths with ``__`` between levels:
``DOCKYARD_POLICY__IDLE_TIMEOUT=2h`` sets ``policy.idle_timeout``; a value starting
with ``[`` or ``{`` is read as JSON (``DOCKYARD_POLICY__RULES='[{"owner": "bot-*"}]'``).
``DOCKYARD_CONFIG`` names the TOML file (else ``~/.config/dockyard/config.toml`` if it
exists). Unknown keys are errors, so a typo never silently does nothing.

We merge the layers ourselves instead of using pydantic-settings because the merge is
a dozen lines and knowing each value's source is what makes the error message useful.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import platformdirs
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
)

from dockyard.core.errors import SettingsError
from dockyard.core.model import PolicyOverrides, Resources, SaveStrategy
from dockyard.core.policy import Policy, Rule
from dockyard.core.units import format_duration, parse_duration, parse_size

ENV_PREFIX = "DOCKYARD_"
ENV_CONFIG = "DOCKYARD_CONFIG"
DEFAULT_IMAGE = "dockyard/workspace:latest"

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
Size = Annotated[int, BeforeValidator(parse_size)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkspaceSettings(_Section):
    """Defaults for new workspaces; each can be overridden per workspace by flags."""

    image: str = Field(DEFAULT_IMAGE, min_length=1, description="image of new workspaces")
    memory: Size = Field(2 * 1024**3, description="memory limit in bytes (2g)")
    cpus: float = Field(1.0, gt=0, le=1024, description="CPU limit, in CPUs")
    pids: int = Field(512, ge=16, le=4_194_304, description="process limit")
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
        description="network of workspace containers: none, host or a network's name "
        "(default: the engine's bridge)",
    )

    def resources(
        self, *, memory: int | None = None, cpus: float | None = None, pids: int | None = None
    ) -> Resources:
        return Resources(
            memory_bytes=memory if memory is not None else self.memory,
            nano_cpus=round((cpus if cpus is not None else self.cpus) * 1e9),
            pids=pids if pids is not None else self.pids,
        )


class RuleSettings(_Section):
    """Overrides for workspaces whose owner and repo match the globs."""

    owner: str | None = None
    repo: str | None = None
    idle_timeout: Duration | None = None
    warn_before: Duration | None = None
    max_lifetime: Duration | None = None
    stopped_retention: Duration | None = None
    checkpoint_retention: Duration | None = None
    strategy: SaveStrategy | None = Field(
        None, description="save strategy of new workspaces matching the rule"
    )

    def to_rule(self) -> Rule:
        return Rule(
            owner=self.owner,
            repo=self.repo,
            strategy=self.strategy,
            overrides=PolicyOverrides(
                idle_timeout=self.idle_timeout,
                warn_before=self.warn_before,
                max_lifetime=self.max_lifetime,
                stopped_retention=self.stopped_retention,
                checkpoint_retention=self.checkpoint_retention,
            ),
        )


class PolicySettings(_Section):
    """Lifecycle timeouts and limits (DESIGN.md section 4)."""

    idle_timeout: Duration = timedelta(minutes=45)
    warn_before: Duration = timedelta(minutes=5)
    max_lifetime: Duration = timedelta(hours=24)
    stopped_retention: Duration = timedelta(hours=1)
    orphan_grace: Duration = timedelta(minutes=10)
    checkpoint_retention: Duration = timedelta(days=7)
    max_workspaces_per_owner: int = Field(5, ge=1)
    max_sessions_per_workspace: int = Field(5, ge=1)
    quota_idle_after: Duration = Field(
        timedelta(minutes=5),
        description="unused this long before the quota may park a workspace for another",
    )
    leftover_grace: Duration = Field(
        timedelta(minutes=1), description="before a never-started container is removed"
    )
    interrupted_after: Duration = Field(
        timedelta(minutes=2), description="before a stuck create/restore/park is recovered"
    )
    busy_cpu_percent: float = Field(
        5.0, ge=0, description="CPU use (percent of one CPU) that counts as activity"
    )
    busy_processes: tuple[str, ...] = Field(
        (), description="process names whose presence counts as activity (e.g. make, npm)"
    )
    save_retry_min: Duration = Field(
        timedelta(minutes=1), description="first retry of a failed save; doubles per failure"
    )
    save_retry_max: Duration = Field(
        timedelta(hours=1), description="longest wait between retries of a failed save"
    )
    rules: tuple[RuleSettings, ...] = ()

    def to_policy(self) -> Policy:
        return Policy(
            idle_timeout=self.idle_timeout,
            warn_before=self.warn_before,
            max_lifetime=self.max_lifetime,
            stopped_retention=self.stopped_retention,
            orphan_grace=self.orphan_grace,
            checkpoint_retention=self.checkpoint_retention,
            max_workspaces_per_owner=self.max_workspaces_per_owner,
            max_sessions_per_workspace=self.max_sessions_per_workspace,
            quota_idle_after=self.quota_idle_after,
            leftover_grace=self.leftover_grace,
            interrupted_after=self.interrupted_after,
            busy_cpu_percent=self.busy_cpu_percent,
            busy_processes=self.busy_processes,
            save_retry_min=self.save_retry_min,
            save_retry_max=self.save_retry_max,
            rules=tuple(rule.to_rule() for rule in self.rules),
        )


class ReconcilerSettings(_Section):
    """The loop that applies the policy (``dockyard reconcile``, ``serve``, ``clean``)."""

    max_interval: Duration = Field(
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


class GcSettings(_Section):
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


class WebhookSettings(_Section):
    """A receiver of every event (or of ``events`` only), as signed JSON POSTs."""

    url: str = Field(pattern=r"^https?://\S+$", description="where events are POSTed")
    secret: SecretStr = Field(
        description="HMAC-SHA256 key; the signature is in X-Dockyard-Signature"
    )
    events: tuple[str, ...] = Field((), description="event types to send; empty = all")


class ApiSettings(_Section):
    """``dockyard serve``: the HTTP API, the dashboard and the reconciler in one process."""

    host: str = Field("127.0.0.1", min_length=1, description="address to bind")
    port: int = Field(8420, ge=0, le=65535, description="port to bind (0: any free port)")
    admin_token: SecretStr | None = Field(
        None, description="admin bearer token; default: one generated on first serve"
    )
    exec_timeout: Duration = Field(
        timedelta(minutes=10), description="longest exec over the API unless asked for less"
    )
    webhooks: tuple[WebhookSettings, ...] = ()


class Settings(_Section):
    data_dir: Path = Field(
        default_factory=lambda: platformdirs.user_data_path("dockyard"),
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
    lock_timeout: Duration = Field(
        timedelta(minutes=5), description="how long to wait for a workspace another call holds"
    )
    workspace: WorkspaceSettings = WorkspaceSettings()
    policy: PolicySettings = PolicySettings()
    reconciler: ReconcilerSettings = ReconcilerSettings()
    gc: GcSettings = GcSettings()
    api: ApiSettings = ApiSettings()

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint_dir or self.data_dir / "checkpoints"

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'dockyard.db'}"


def default_config_file() -> Path:
    return platformdirs.user_config_path("dockyard") / "config.toml"


def load_settings(
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers and validate; raises ``SettingsError`` naming key path and source."""
    environ = os.environ if env is None else env
    sources: dict[tuple[str, ...], str] = {}
    merged: dict[str, Any] = {}

    path = config_file or _config_from_env(environ)
    if path is not None:
        _merge(merged, _read_toml(path), sources, origin=str(path))
    _merge(merged, _env_layer(environ, sources), sources, origin=None)
    if flags:
        _merge(merged, _nest(flags), sources, origin="command-line flag")
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, sources)) from None


def _config_from_env(environ: Mapping[str, str]) -> Path | None:
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG]).expanduser()
    default = default_config_file()
    return default if default.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


def _env_layer(environ: Mapping[str, str], sources: dict[tuple[str, ...], str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG:
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        value: Any = raw
        if raw.strip().startswith(("[", "{")):
            try:
                value = json.loads(raw)
            except ValueError:
                raise SettingsError(
                    f"{name}: value starts like JSON but is not valid JSON"
                ) from None
        _set_path(layer, path, value)
        sources[path] = name
    return layer


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"workspace.image": "x"}`` -> ``{"workspace": {"image": "x"}}``; None is skipped."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is not None:
            _set_path(nested, tuple(dotted.split(".")), value)
    return nested


def _set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = target
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _merge(
    target: dict[str, Any],
    layer: Mapping[str, Any],
    sources: dict[tuple[str, ...], str],
    *,
    origin: str | None,
    prefix: tuple[str, ...] = (),
) -> None:
    for key, value in layer.items():
        path = (*prefix, key)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, sources, origin=origin, prefix=path)
            continue
        target[key] = value
        if origin is not None:
            sources[path] = origin


def _describe(exc: ValidationError, sources: Mapping[tuple[str, ...], str]) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        where = _format_loc(loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        origin = _origin(loc, sources)
        lines.append(f"{where}: {message}" + (f" (from {origin})" if origin else ""))
    return "; ".join(lines)


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part).startswith(("function-", "json-or-python")):
            text += ("." if text else "") + str(part)
    return text or "settings"


def _origin(loc: tuple[Any, ...], sources: Mapping[tuple[str, ...], str]) -> str | None:
    names = tuple(str(p) for p in loc if not isinstance(p, int))
    for length in range(len(names), 0, -1):
        if names[:length] in sources:
            return sources[names[:length]]
    # An unknown section set by a deeper key: DOCKYARD_POLCY__X makes "polcy" unknown.
    deeper = [origin for path, origin in sources.items() if path[: len(names)] == names]
    return deeper[0] if deeper else None
