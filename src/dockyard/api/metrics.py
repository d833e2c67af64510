"""Prometheus metrics of one ``serve`` process (``GET /metrics``)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dockyard.core.events import Event, EventType
from dockyard.core.fleet import Health
from dockyard.service import Dockyard, PassReport, Verdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Workspaces(Collector):
    """Workspaces by state, read from the store at scrape time."""

    def __init__(self, dy: Dockyard) -> None:
        self.dy = dy

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("dockyard_workspaces", "Workspaces by state", labels=["state"])
        for state, count in self.dy.count_by_state().items():
            family.add_metric([state.value], count)
        yield family
        sessions = GaugeMetricFamily(
            "dockyard_sessions", "Live sessions by kind and status", labels=["kind", "status"]
        )
        for (kind, status), count in sorted(self.dy.count_sessions().items()):
            sessions.add_metric([kind.value, status.value], count)
        yield sessions
        disk = GaugeMetricFamily(
            "dockyard_workspace_disk_bytes",
            "Disk a running workspace uses, by part (its volume, its container's writable"
            " layer), measured at scrape time within a bounded time",
            labels=["workspace", "part"],
        )
        limit = GaugeMetricFamily(
            "dockyard_workspace_disk_limit_bytes",
            "Size of a running capped workspace's volume (its own file system)",
            labels=["workspace"],
        )
        for key, use in sorted(self.dy.disk_sweep().items()):
            for part in ("volume", "layer"):
                value = use[f"disk_{part}_bytes"]
                if isinstance(value, int):
                    disk.add_metric([key, part], value)
            cap = use["disk_limit_bytes"]
            if isinstance(cap, int):
                limit.add_metric([key], cap)
        yield disk
        yield limit


class _Pool(Collector):
    """The warm pool's ready members by image, and how many are wanted (from the store)."""

    def __init__(self, dy: Dockyard) -> None:
        self.dy = dy

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.dy.pool()
        ready = GaugeMetricFamily(
            "dockyard_pool_ready", "Ready containers of the warm pool", labels=["image"]
        )
        wanted = GaugeMetricFamily(
            "dockyard_pool_wanted", "Containers the warm pool keeps ready", labels=["image"]
        )
        for image in sorted(set(pool["wanted"]) | set(pool["ready_by_image"])):
            ready.add_metric([image], pool["ready_by_image"].get(image, 0))
            wanted.add_metric([image], pool["wanted"].get(image, 0))
        yield from (ready, wanted)


class _Engines(Collector):
    """Each engine's last known health and its load (no engine is asked at scrape time)."""

    def __init__(self, dy: Dockyard) -> None:
        self.dy = dy

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "dockyard_engine_up",
            "1 if the engine last answered as the daemon on record",
            labels=["engine"],
        )
        load = GaugeMetricFamily(
            "dockyard_engine_workspaces", "Workspaces with a container there", labels=["engine"]
        )
        draining = GaugeMetricFamily(
            "dockyard_engine_draining", "1 while the engine drains", labels=["engine"]
        )
        for view in self.dy.engines(ask=False):
            up.add_metric([view.name], 1 if view.health is Health.READY else 0)
            load.add_metric([view.name], view.load)
            draining.add_metric([view.name], 1 if view.draining else 0)
        yield from (up, load, draining)


class Metrics:
    def __init__(self, dy: Dockyard) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Workspaces(dy))
        self.registry.register(_Engines(dy))
        self.registry.register(_Pool(dy))
        self.parks = Counter(
            "dockyard_parks", "Workspaces parked, by reason", ["reason"], registry=self.registry
        )
        self.sessions_closed = Counter(
            "dockyard_sessions_closed",
            "Sessions closed (not one-shot execs), by reason",
            ["reason"],
            registry=self.registry,
        )
        self.acquire_seconds = Histogram(
            "dockyard_acquire_seconds",
            "Acquire latency over the API",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.park_seconds = Histogram(
            "dockyard_park_seconds",
            "Park latency over the API",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.pass_seconds = Histogram(
            "dockyard_reconcile_pass_seconds",
            "Reconciler pass duration, from its plan to the end of its last action",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.engine_errors = Counter(
            "dockyard_engine_errors",
            "Engine errors seen by the API and the reconciler",
            registry=self.registry,
        )

    def on_event(self, event: Event) -> None:
        if event.type is EventType.WORKSPACE_PARKED:
            self.parks.labels(reason=str(event.data.get("reason", "unknown"))).inc()
        elif event.type is EventType.SESSION_CLOSED:
            self.sessions_closed.labels(reason=str(event.data.get("reason", "unknown"))).inc()

    def on_pass(self, report: PassReport) -> None:
        self.pass_seconds.observe(report.duration_s)
        failed = [r for r in report.results if r.outcome is Verdict.FAILED]
        if failed:
            self.engine_errors.inc(len(failed))

    def render(self) -> bytes:
        return generate_latest(self.registry)
