"""The engines this manager talks to, by name, and whether each may be used now.

An engine may be used once the daemon answering at its address is the one on record
(``core.fleet.judge_identity``). The check asks the daemon for its identity; a success
is trusted for ``TRUST_S`` by the calls that create or restore (a pass checks afresh),
so a busy API does not ask the engine who it is on every acquire.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime

from dockyard.core.errors import EngineRefused, EngineUnavailable
from dockyard.core.fleet import Verdict, judge_identity
from dockyard.engine.base import Engine
from dockyard.settings.sections import EngineSettings
from dockyard.store import Store

TRUST_S = 30.0


class Fleet:
    def __init__(self, engines: Mapping[str, Engine], *, specs: Sequence[EngineSettings] = ()):
        self.engines = dict(engines)
        self.specs = {spec.name: spec for spec in specs}
        self._trusted_until: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.engines)

    def engine(self, name: str) -> Engine:
        found = self.engines.get(name)
        if found is None:
            known = ", ".join(self.engines)
            raise EngineUnavailable(
                f"engine {name!r} is not configured on this manager (it has: {known})"
            )
        return found

    def labels(self, name: str) -> Mapping[str, str]:
        spec = self.specs.get(name)
        return spec.labels if spec else {}

    def capacity(self, name: str) -> int | None:
        spec = self.specs.get(name)
        return spec.capacity if spec else None

    def verify(self, name: str, store: Store, *, at: datetime, fresh: bool = False) -> None:
        """``EngineRefused`` if the daemon at ``name`` is not the one on record (the
        first one seen is recorded); ``EngineUnavailable`` if none answers."""
        with self._lock:
            if not fresh and self._trusted_until.get(name, 0.0) > time.monotonic():
                return
        seen = self.engine(name).identity()
        record = store.engines.get(name) or store.engines.record(name, daemon_id=seen, at=at)
        if judge_identity(record.daemon_id, seen) is Verdict.CHANGED:
            with self._lock:
                self._trusted_until.pop(name, None)
            if record.seen_id != seen:
                store.engines.saw(name, seen_id=seen)
            raise EngineRefused(
                f"engine {name!r} at {self.engine(name).url} is another daemon ({seen}) than "
                f"the one on record ({record.daemon_id}): its workspaces are not there. "
                f"If it really replaces it, run: dockyard engine confirm {name}"
            )
        if record.seen_id is not None:
            store.engines.saw(name, seen_id=None)
        with self._lock:
            self._trusted_until[name] = time.monotonic() + TRUST_S

    def distrust(self, name: str) -> None:
        """Check ``name`` again on its next use (it failed to answer)."""
        with self._lock:
            self._trusted_until.pop(name, None)

    def close(self) -> None:
        for engine in self.engines.values():
            close = getattr(engine, "close", None)
            if close is not None:
                close()
