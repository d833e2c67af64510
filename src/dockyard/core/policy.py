"""The lifecycle policy, defined once: every knob with its default, bounds and meaning.

``Policy`` is the one definition. Each field is a knob (``knob(...)``): its default, its
bounds, a line for people, and whether a rule or a workspace may override it. The
settings file's ``[policy]`` section, the rules (``[[policy.rules]]``), a workspace's
own overrides and the API's schemas are all derived from these fields, so a new knob
is one edit here (a parity test proves the derived forms cover every field).

Pure: the clock is always an argument. The effective policy of a workspace is the base
policy, then every matching rule in order (later rules win), then the workspace's own
overrides. Rules match ``owner`` and ``repo`` with shell-style globs (``*@example.com``).
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields, replace
from datetime import timedelta
from typing import Any, ClassVar

KnobValue = timedelta | int | float | tuple[str, ...]


class SaveStrategy(enum.StrEnum):
    """How a workspace's work is saved before its container goes."""

    VOLUME = "volume"
    GIT = "git"
    IMAGE = "image"


@dataclass(frozen=True, slots=True)
class Knob:
    """How one policy field is bounded, explained and overridden."""

    doc: str
    minimum: KnobValue | None = None
    maximum: KnobValue | None = None
    #: A rule (``[[policy.rules]]``) may set it for matching workspaces.
    per_workspace: bool = False
    #: Whoever acquires a workspace may set it for that workspace (``up --idle-timeout``,
    #: the API's acquire: an owner's token, so nothing that could hoard the host).
    on_acquire: bool = False


def knob(
    default: KnobValue,
    doc: str,
    *,
    minimum: KnobValue | None = None,
    maximum: KnobValue | None = None,
    per_workspace: bool = False,
    on_acquire: bool = False,
) -> Any:
    """A policy field: ``default`` and its ``Knob`` (typed ``Any`` like ``field``)."""
    meta = Knob(
        doc,
        minimum=minimum,
        maximum=maximum,
        per_workspace=per_workspace or on_acquire,
        on_acquire=on_acquire,
    )
    return field(default=default, metadata={"knob": meta})


S = timedelta(seconds=1)
M = timedelta(minutes=1)
#: Counts beyond this are typing errors.
COUNT_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Policy:
    """Timeouts and limits in force. Defaults are DESIGN.md section 4."""

    idle_timeout: timedelta = knob(
        45 * M,
        "no activity this long and a running workspace is parked",
        minimum=S,
        on_acquire=True,
    )
    warn_before: timedelta = knob(
        5 * M,
        "the idle_warning event comes this long before the deadline (at most halfway)",
        per_workspace=True,
    )
    max_lifetime: timedelta = knob(
        24 * 60 * M,
        "caps how far `extend` can push a deadline past the start",
        minimum=S,
        per_workspace=True,
    )
    stopped_retention: timedelta = knob(
        60 * M, "a stopped workspace is parked after this long", per_workspace=True
    )
    orphan_grace: timedelta = knob(10 * M, "before a container with no record is removed")
    checkpoint_retention: timedelta = knob(
        7 * 24 * 60 * M,
        "how long a checkpoint of parked work is kept (0 would drop it as it is made)",
        minimum=M,
        per_workspace=True,
    )
    max_workspaces_per_owner: int = knob(
        5, "live workspaces an owner may have", minimum=1, maximum=COUNT_MAX
    )
    max_sessions_per_workspace: int = knob(
        5,
        "live sessions (shells, command sessions, agents) a workspace may have; "
        "one-shot execs do not count",
        minimum=1,
        maximum=COUNT_MAX,
    )
    session_timeout: timedelta = knob(
        60 * M,
        "a session unused this long is closed (its process ended); the workspace stays",
        minimum=S,
        per_workspace=True,
    )
    quota_idle_after: timedelta = knob(
        5 * M, "unused this long before the quota may park a workspace for another"
    )
    leftover_grace: timedelta = knob(1 * M, "before a never-started container is removed")
    interrupted_after: timedelta = knob(
        2 * M, "before a stuck create, restore or park is recovered", minimum=10 * S
    )
    busy_cpu_percent: float = knob(
        5.0,
        "CPU use (percent of one CPU) that counts as activity; 0 = never",
        minimum=0.0,
        maximum=100.0 * 1024,
    )
    disk_warning_percent: float = knob(
        90.0,
        "a workspace.disk_warning event when a capped volume is this full (percent), once "
        "per crossing; 0 = never",
        minimum=0.0,
        maximum=100.0,
    )
    busy_processes: tuple[str, ...] = knob(
        (), "process names whose presence counts as activity (e.g. make, npm)"
    )
    save_retry_min: timedelta = knob(
        1 * M, "first retry of a failed save; doubles per failure", minimum=S
    )
    save_retry_max: timedelta = knob(
        60 * M, "longest wait between retries of a failed save", minimum=S
    )
    rules: Sequence[Rule] = ()

    def apply(self, overrides: PolicyOverrides) -> Policy:
        changes: dict[str, Any] = dict(overrides.items())
        return replace(self, **changes) if changes else self

    def for_workspace(self, *, owner: str, repo: str | None, overrides: PolicyOverrides) -> Policy:
        """The policy in force for one workspace: base, matching rules, then its overrides."""
        effective = self
        for rule in self.rules:
            if rule.matches(owner=owner, repo=repo):
                effective = effective.apply(rule.overrides)
        return effective.apply(overrides)

    def disk_for(self, *, owner: str, repo: str | None) -> int | None:
        """The disk cap the last matching rule names, if any."""
        chosen = None
        for rule in self.rules:
            if rule.disk is not None and rule.matches(owner=owner, repo=repo):
                chosen = rule.disk
        return chosen

    def strategy_for(self, *, owner: str, repo: str | None) -> SaveStrategy | None:
        """The save strategy the last matching rule names, if any."""
        chosen = None
        for rule in self.rules:
            if rule.strategy is not None and rule.matches(owner=owner, repo=repo):
                chosen = rule.strategy
        return chosen


def knobs() -> Iterator[tuple[Field[Any], Knob]]:
    """Every knob of the policy, in declaration order, with its field."""
    for f in fields(Policy):
        meta = f.metadata.get("knob")
        if isinstance(meta, Knob):
            yield f, meta


#: The knobs a rule or a workspace may override.
PER_WORKSPACE: tuple[str, ...] = tuple(f.name for f, k in knobs() if k.per_workspace)
#: The knobs whoever acquires a workspace may set for it.
ON_ACQUIRE: tuple[str, ...] = tuple(f.name for f, k in knobs() if k.on_acquire)


class PolicyOverrides:
    """Values of the per-workspace knobs that a rule or a workspace sets; the others
    (and any set to None) are inherited. Immutable."""

    __slots__ = ("_values",)
    FIELDS: ClassVar[tuple[str, ...]] = PER_WORKSPACE

    def __init__(self, **values: timedelta | None) -> None:
        unknown = set(values) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"not a per-workspace policy field: {', '.join(sorted(unknown))}")
        self._values: Mapping[str, timedelta] = {k: v for k, v in values.items() if v is not None}

    def items(self) -> Iterator[tuple[str, timedelta]]:
        return iter(self._values.items())

    def get(self, name: str) -> timedelta | None:
        return self._values.get(name)

    def is_empty(self) -> bool:
        return not self._values

    def as_seconds(self) -> dict[str, float]:
        """The set fields as seconds, for storage and JSON."""
        return {name: value.total_seconds() for name, value in self._values.items()}

    @classmethod
    def from_seconds(cls, data: Mapping[str, float]) -> PolicyOverrides:
        """The inverse of ``as_seconds``; names that are no knob (any more) are dropped."""
        known = set(cls.FIELDS)
        return cls(**{k: timedelta(seconds=v) for k, v in data.items() if k in known})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PolicyOverrides) and dict(self._values) == dict(other._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"PolicyOverrides({inner})"


@dataclass(frozen=True, slots=True)
class Rule:
    """Overrides applied to workspaces whose owner and repo match the globs."""

    overrides: PolicyOverrides
    owner: str | None = None
    repo: str | None = None
    strategy: SaveStrategy | None = None  # how new matching workspaces save their work
    disk: int | None = None  # the disk cap of new matching workspaces, bytes

    def matches(self, *, owner: str, repo: str | None) -> bool:
        if self.owner is not None and not fnmatch.fnmatchcase(owner, self.owner):
            return False
        return self.repo is None or (repo is not None and fnmatch.fnmatchcase(repo, self.repo))
