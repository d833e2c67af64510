"""What one ``serve`` process runs besides request handlers: the reconciler, webhooks,
metrics; and the admin token it accepts."""

from __future__ import annotations

import logging
import threading

from dockyard.api.metrics import Metrics
from dockyard.core.units import format_duration
from dockyard.service import Dockyard, PassReport, Reconciler, hash_token

log = logging.getLogger("dockyard.serve")


class Runtime:
    def __init__(self, dy: Dockyard, *, admin_token: str | None) -> None:
        self.dy = dy
        self.admin_hash = hash_token(admin_token) if admin_token else None
        self.metrics = Metrics(dy)
        self._unsubscribe = dy.subscribe(self.metrics.on_event)
        self.webhooks = dy.webhooks()
        self._lock = threading.Lock()
        self.reconciler: Reconciler | None = None
        self._thread: threading.Thread | None = None

    # -- the reconciler ---------------------------------------------------------------

    def start_reconciler(self) -> bool:
        """Start the loop; False if it was running already."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self.reconciler = self.dy.reconciler(on_pass=self._on_pass)
            self._thread = threading.Thread(
                target=self.reconciler.run, name="reconciler", daemon=True
            )
            self._thread.start()
            return True

    def stop_reconciler(self) -> bool:
        """Stop the loop after the pass in progress; False if it was not running."""
        with self._lock:
            thread, reconciler = self._thread, self.reconciler
            self._thread = None
        if thread is None or reconciler is None:
            return False
        reconciler.stop()
        thread.join()
        return True

    @property
    def reconciler_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Something changed: wake this server's loop now, and the other replicas'."""
        if self.reconciler is not None:
            self.reconciler.wake()
        self.dy.wake_reconcilers()

    def _on_pass(self, report: PassReport) -> None:
        self.metrics.on_pass(report)
        if report.results:
            log.info(
                "reconcile pass: %d actions in %s",
                len(report.results),
                format_duration(report.duration_s),
            )

    # -- lifetime -----------------------------------------------------------------------

    def start(self, *, reconciler: bool) -> None:
        if reconciler:
            self.start_reconciler()
        self.webhooks.start()

    def close(self) -> None:
        self.stop_reconciler()
        self.webhooks.stop()
        self._unsubscribe()
