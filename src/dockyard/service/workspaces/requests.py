"""What a caller asks of ``acquire``, and what it gets back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.core.model import Checkpoint, Outcome, PolicyOverrides, SaveStrategy, Workspace
from dockyard.engine.models import ContainerInfo


@dataclass(frozen=True, slots=True)
class AcquireRequest:
    """What a caller knows and wants. ``None`` means "the default" or "as recorded"."""

    key: str
    owner: str | None = None
    default_owner: str = "default"
    repo: str | None = None
    branch: str | None = None
    image: str | None = None
    memory: int | None = None
    cpus: float | None = None
    pids: int | None = None
    disk: int | None = None  # the volume's own file system of this size (new workspaces)
    labels: Mapping[str, str] = field(default_factory=dict)
    keep: bool | None = None
    strategy: SaveStrategy | None = None
    overrides: PolicyOverrides = field(default_factory=PolicyOverrides)
    from_checkpoint: str | None = None  # restore this checkpoint (of a parked workspace)
    #: a new workspace goes to this engine (by name), or to one carrying these labels
    engine: str | None = None
    engine_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AcquireResult:
    outcome: Outcome
    workspace: Workspace
    note: str | None = None
    checkpoint: Checkpoint | None = None  # what a restore brought back
    #: The container as a warm reuse just saw it running (its view needs no new look).
    container: ContainerInfo | None = None
