"""The dependencies every use case needs, bundled once: settings, store, engines, clock.

``Context.open`` is the composition root: it reads nothing global except what the
settings say, writes nothing, and every part can be replaced (a fake engine, a fixed
clock) by constructing ``Context`` directly, which is how the orchestration tests run.

A context talks to one engine (``engine``, named ``engine_name``) of its ``fleet``;
``on(name)`` is the same context on another engine of the fleet: what an operation on
a workspace uses once it knows the workspace's engine.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dockyard.core.errors import EngineUnavailable
from dockyard.core.events import Event, EventType
from dockyard.core.fleet import DEFAULT_ENGINE
from dockyard.core.model import Workspace
from dockyard.core.policy import Policy
from dockyard.engine.base import Engine
from dockyard.events import EventBus, log_sink, store_sink
from dockyard.service.runtime import overrides
from dockyard.service.runtime.fleet import TRUST_S, Fleet, open_engine
from dockyard.service.runtime.identity import process_identity
from dockyard.service.runtime.locking import Lease, abandoned, ensure_held, lease
from dockyard.settings import Settings
from dockyard.store import Store

Clock = Callable[[], datetime]
Progress = Callable[[str], None]


def system_clock() -> datetime:
    return datetime.now(UTC)


def no_progress(_message: str) -> None:
    """A progress sink that shows nothing."""


@contextmanager
def engine_of(ws: Workspace) -> Iterator[None]:
    """``EngineUnavailable`` raised inside names the workspace and its engine."""
    try:
        yield
    except EngineUnavailable as exc:
        raise type(exc)(f"workspace {ws.key!r} is on engine {ws.engine!r}: {exc}") from exc


@dataclass
class Context:
    settings: Settings
    store: Store
    engine: Engine
    clock: Clock = system_clock
    bus: EventBus = field(default_factory=EventBus)
    holder: str = field(default_factory=process_identity)
    #: every engine of this manager (default: ``engine`` alone, as ``engine_name``)
    fleet: Fleet | None = None
    engine_name: str = DEFAULT_ENGINE
    engines: Fleet = field(init=False)  # ``fleet``, made if not given (``replace`` keeps it)
    policy: Policy = field(init=False)
    #: The settings as configured (file, environment, flags), before run-time changes.
    configured: Settings = field(init=False)

    def __post_init__(self) -> None:
        self.policy = self.settings.policy.to_policy()
        self.configured = self.settings
        self.engines = self.fleet = self.fleet or Fleet({self.engine_name: self.engine})

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock = system_clock) -> Context:
        # a migration that converts settings stored by older releases compares them
        # with the settings file (only computed if a migration runs)
        store = Store.open(
            settings.store_url,
            upgrade_context={
                "configured_sections": lambda: overrides.configured_sections(settings)
            },
        )
        specs = settings.fleet
        fleet = Fleet(
            {s.name: open_engine(s, teardowns=settings.engine_teardowns) for s in specs},
            specs=specs,
        )
        bus = EventBus([store_sink(store), log_sink])
        in_force = overrides.in_force(store, settings)  # set over the API: for every front
        first = specs[0].name
        ctx = cls(
            settings=in_force,
            store=store,
            engine=fleet.engine(first),
            clock=clock,
            bus=bus,
            fleet=fleet,
            engine_name=first,
        )
        ctx.configured = settings
        return ctx

    def close(self) -> None:
        self.store.close()
        self.engines.close()

    def on(self, engine_name: str) -> Context:
        """This context on the engine ``engine_name`` (``EngineUnavailable`` if this
        manager has no such engine)."""
        if engine_name == self.engine_name:
            return self
        bound = copy.copy(self)
        bound.engine = self.engines.engine(engine_name)
        bound.engine_name = engine_name
        return bound

    def at(self, ws: Workspace, *, verify: bool = False) -> Context:
        """This context on ``ws``'s engine; with ``verify``, only if that engine's daemon
        is the one on record. The error names the workspace and its engine."""
        with engine_of(ws):
            bound = self.on(ws.engine)
            if verify:
                bound.verify_engine()
        return bound

    def verify_engine(self, *, max_age_s: float = TRUST_S) -> None:
        """``EngineRefused`` unless the daemon of this context's engine is the one on
        record; ``EngineUnavailable`` if it does not answer."""
        self.engines.verify(self.engine_name, self.store, at=self.now(), max_age_s=max_age_s)

    def change_settings(
        self,
        *,
        policy: Mapping[str, Any] | None = None,
        reconciler: Mapping[str, Any] | None = None,
    ) -> None:
        """Validate, store and put in force partial changes of the policy and of the
        reconciler's settings (all or nothing)."""
        overrides.change(
            self.store, self.configured, policy=policy, reconciler=reconciler, apply=self._use
        )

    def reset_settings(self) -> None:
        """Forget the fields set at run time: the configured settings are in force."""
        overrides.reset(self.store, apply=lambda: self._use(self.configured))

    def _use(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = settings.policy.to_policy()

    @property
    def installation(self) -> str:
        return self.store.installation_id

    def policy_for(self, ws: Workspace) -> Policy:
        return self.policy.for_workspace(owner=ws.owner, repo=ws.repo, overrides=ws.overrides)

    def now(self) -> datetime:
        return self.clock()

    def _lease(
        self, name: str, *, what: str, wait: timedelta | None = None
    ) -> AbstractContextManager[Lease]:
        """The lease ``name``, waited for up to ``wait`` (default ``lock_timeout``)."""
        timeout = self.settings.lock_timeout if wait is None else wait
        return lease(self.store, name, what=what, holder=self.holder, wait=timeout)

    def lock(self, key: str, *, wait: timedelta | None = None) -> AbstractContextManager[Lease]:
        """The workspace's lease; waits up to ``wait`` (default ``lock_timeout``) for it."""
        return self._lease(f"workspace:{key}", what=f"workspace {key!r}", wait=wait)

    def abandoned(self, key: str) -> bool:
        """Nobody live holds the workspace's lease (its operation, if any, was cut off)."""
        return abandoned(self.store, f"workspace:{key}")

    def ensure_locked(self, key: str) -> None:
        """``LeaseLost`` if the lease this thread holds on ``key`` was lost meanwhile:
        called before each destructive step of an operation under it."""
        ensure_held(f"workspace:{key}")

    def owner_lock(self, owner: str) -> AbstractContextManager[Lease]:
        """The owner's lease: held while counting the owner's live workspaces and
        reserving a place (the intent write), so the quota holds under concurrency."""
        return self._lease(f"owner:{owner}", what=f"owner {owner!r}")

    def engine_lock(self, name: str) -> AbstractContextManager[Lease]:
        """An engine's lease: held while its load is counted and a place reserved on it
        (an engine with a capacity), so concurrent creates never pass the capacity."""
        return self._lease(f"engine:{name}", what=f"engine {name!r}")

    def networks_lock(self) -> AbstractContextManager[Lease]:
        """Held while an owner's network is made: one subnet picked at a time in this
        installation, by every replica."""
        return self._lease("networks", what="the owners' networks")

    def pool_lock(self, *, wait: timedelta) -> AbstractContextManager[Lease]:
        """Held while the warm pool of this context's engine is refilled: by one replica
        at a time, so that two never make the same missing member."""
        return self._lease(f"pool:{self.engine_name}", what="the warm pool", wait=wait)

    def emit(self, type_: EventType, ws: Workspace, **data: Any) -> None:
        self.bus.publish(
            Event(type=type_, at=self.now(), workspace_key=ws.key, owner=ws.owner, data=data)
        )

    def publish(self, type_: EventType, *, key: str | None = None, **data: Any) -> None:
        """An event about something that is not (or no longer) a workspace record."""
        self.bus.publish(Event(type=type_, at=self.now(), workspace_key=key, data=data))
