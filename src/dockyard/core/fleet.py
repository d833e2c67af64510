"""Engines of a fleet: their health, and where a new workspace goes. Pure.

An engine is known by the name the settings give it; the *daemon* behind that name is
known by the identity it reports (``runtime.fleet`` checks it: a different daemon at a
name is refused until an operator confirms it, or every record on it would look
vanished and be recreated empty while the real containers run elsewhere).

Placement picks, among the engines that are ready and not draining and that carry
every label the request requires, the least loaded one relative to its capacity (live
workspaces / capacity; no capacity counts as very large), ties broken by name so that
every replica makes the same choice. An engine at its capacity takes no more. When
none can take it: ``EngineUnavailable`` if every matching engine is down (try again
later), else ``NoEngine`` (full, draining, or no engine has the labels).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from dockyard.core.errors import EngineUnavailable, QuotaExceeded

DEFAULT_ENGINE = "default"
ENGINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
#: The load of an engine without a capacity is measured against this many workspaces.
UNBOUNDED = 1_000_000


class Health(StrEnum):
    READY = "ready"
    UNREACHABLE = "unreachable"  # did not answer (now)
    REFUSED = "refused"  # answers as another daemon than the one on record
    UNKNOWN = "unknown"  # not asked yet in this process


@dataclass(frozen=True, slots=True)
class Candidate:
    """An engine as placement sees it."""

    name: str
    health: Health
    load: int  # live workspaces on it
    capacity: int | None = None
    draining: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)

    def takes(self, require: Mapping[str, str]) -> bool:
        return all(self.labels.get(k) == v for k, v in require.items())

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.load >= self.capacity

    @property
    def fill(self) -> float:
        return self.load / (self.capacity or UNBOUNDED)


class NoEngine(QuotaExceeded):
    """No engine can take a new workspace now (all full, draining, down or unmatched)."""

    code = "no_engine"


def place(engines: Sequence[Candidate], *, require: Mapping[str, str] | None = None) -> str:
    """The engine a new workspace goes to; ``NoEngine`` saying why none can take it."""
    wanted = dict(require or {})
    matching = [e for e in engines if e.takes(wanted)]
    usable = [e for e in matching if e.health is Health.READY and not e.draining and not e.full]
    if usable:
        return min(usable, key=lambda e: (e.fill, e.load, e.name)).name
    if not matching:
        constraint = ", ".join(f"{k}={v}" for k, v in sorted(wanted.items()))
        raise NoEngine(f"no engine has the labels {constraint}")
    why = "; ".join(f"{e.name}: {_why_not(e)}" for e in sorted(matching, key=lambda e: e.name))
    if all(e.health is not Health.READY for e in matching):
        raise EngineUnavailable(f"no engine can take a new workspace ({why})")
    raise NoEngine(f"no engine can take a new workspace ({why})")


def _why_not(engine: Candidate) -> str:
    if engine.health is not Health.READY:
        return engine.health.value
    if engine.draining:
        return "draining"
    return f"full ({engine.load}/{engine.capacity})"
