"""The engines this manager talks to, by name, and whether each may be used now.

An engine may be used once the daemon answering at its address is the one on record:
the first identity seen under a name is recorded; another one later means the name now
reaches another daemon (a new host, a reinstall, a wrong URL). The check asks the
daemon for its identity (``/info``, about 13 ms on dockerd here, ten times an empty
listing); a success is trusted for ``TRUST_S``, so neither a busy API nor a no-op pass
asks on every call. What acts on the engine's answers asks again when its trust is
older than ``ACTING_S``: each action a pass carries out (a daemon swapped in since makes
every record look vanished, which must never be acted on), gc, drain, confirm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from dockyard.core.errors import EngineRefused, EngineUnavailable, InvalidInput
from dockyard.core.fleet import Health
from dockyard.engine import tls
from dockyard.engine.base import Engine
from dockyard.engine.docker import DockerEngine, default_engine_url
from dockyard.settings.sections import EngineSettings
from dockyard.store import Store

TRUST_S = 30.0
ACTING_S = 1.0


def open_engine(spec: EngineSettings, *, teardowns: int) -> DockerEngine:
    """The engine ``spec`` names; over TLS if it says so, or if it leaves that to the
    environment and ``DOCKER_TLS_VERIFY`` is set for a tcp:// engine (the docker CLI's
    rule). ``InvalidInput`` naming the engine if its certificates cannot be used."""
    url = spec.url or default_engine_url()
    try:
        wants = tls.wanted(url, spec.tls_verify)
        context = tls.client_context(spec.cert_path or tls.default_cert_path()) if wants else None
        return DockerEngine(url, teardowns=teardowns, tls=context)
    except InvalidInput as exc:
        raise InvalidInput(f"engine {spec.name!r}: {exc}") from exc


class Fleet:
    def __init__(
        self,
        engines: Mapping[str, Engine],
        *,
        specs: Sequence[EngineSettings] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engines = dict(engines)
        self._monotonic = monotonic
        self.specs = {spec.name: spec for spec in specs}
        self._verified_at: dict[str, float] = {}
        self._last: dict[str, Health] = {}  # what the last check found
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

    def verify(self, name: str, store: Store, *, at: datetime, max_age_s: float = TRUST_S) -> None:
        """``EngineRefused`` if the daemon at ``name`` is not the one on record (the
        first one seen is recorded); ``EngineUnavailable`` if none answers. A success
        younger than ``max_age_s`` is taken as it is."""
        with self._lock:
            verified = self._verified_at.get(name)
            if verified is not None and self._monotonic() - verified < max_age_s:
                return
        try:
            self._check(name, store, at=at)
        except EngineUnavailable as exc:
            refused = isinstance(exc, EngineRefused)
            self._last[name] = Health.REFUSED if refused else Health.UNREACHABLE
            raise
        with self._lock:
            self._verified_at[name] = self._monotonic()
            self._last[name] = Health.READY

    def known_health(self, name: str) -> Health:
        """What the last check of ``name`` found (a success only while it is trusted),
        without asking the engine."""
        with self._lock:
            verified = self._verified_at.get(name)
            if verified is not None and self._monotonic() - verified < TRUST_S:
                return Health.READY
            last = self._last.get(name, Health.UNKNOWN)
        return Health.UNKNOWN if last is Health.READY else last

    def _check(self, name: str, store: Store, *, at: datetime) -> None:
        seen = self.engine(name).identity()
        record = store.engines.get(name) or store.engines.record(name, daemon_id=seen, at=at)
        if record.daemon_id != seen:
            self.distrust(name)
            if record.seen_id != seen:
                store.engines.saw(name, seen_id=seen)
            raise EngineRefused(
                f"engine {name!r} at {self.engine(name).url} is another daemon ({seen}) than "
                f"the one on record ({record.daemon_id}): its workspaces are not there. "
                f"If it really replaces it, run: dockyard engine confirm {name}"
            )
        if record.seen_id is not None:
            store.engines.saw(name, seen_id=None)

    def distrust(self, name: str) -> None:
        """Check ``name`` again on its next use (it failed to answer)."""
        with self._lock:
            self._verified_at.pop(name, None)

    def close(self) -> None:
        for engine in self.engines.values():
            close = getattr(engine, "close", None)
            if close is not None:
                close()
