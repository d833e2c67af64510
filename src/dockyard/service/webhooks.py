"""Webhooks: every event, POSTed as signed JSON to each configured receiver, from an outbox.

Events are copied into the outbox (one row per receiver) from the event table, past a
cursor kept in the store; each row is delivered until a receiver answers 2xx, retried
with doubling delays (1 s .. 10 min). The outbox and the cursor live in the store, so
deliveries survive restarts; one manager replica at a time delivers (a lease).

Signature: ``X-Dockyard-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` with the
receiver's secret; ``X-Dockyard-Event`` and ``X-Dockyard-Delivery`` name the event and
the delivery (the same id on a redelivery, so receivers can deduplicate).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx

from dockyard.core.errors import Busy, DockyardError
from dockyard.core.events import event_json
from dockyard.service.runtime.context import Context
from dockyard.service.runtime.locking import lease
from dockyard.settings import WebhookSettings

log = logging.getLogger("dockyard.webhooks")

CURSOR = "webhook_cursor"
MAX_DELAY = timedelta(minutes=10)
TIMEOUT_S = 5.0


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_delay(attempts: int) -> timedelta:
    return min(timedelta(seconds=1 << min(attempts - 1, 20)), MAX_DELAY)


class WebhookDeliverer:
    def __init__(self, ctx: Context, hooks: Sequence[WebhookSettings]) -> None:
        self.ctx = ctx
        self.hooks = {hook.url: hook for hook in hooks}
        self._http = httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.hooks:
            return
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S + 1)
        self._http.close()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                with lease(
                    self.ctx.store,
                    "webhooks",
                    what="webhook delivery",
                    holder=self.ctx.holder,
                    wait=timedelta(0),
                ):
                    self.step()
            except Busy:
                continue  # another replica delivers
            except DockyardError as exc:
                log.warning("webhook delivery paused: %s", exc)

    def step(self) -> int:
        """Queue new events, deliver what is due; returns deliveries made."""
        self.enqueue_new()
        delivered = 0
        for row in self.ctx.store.outbox.due(now=self.ctx.now()):
            delivered += self._deliver(row)
        return delivered

    def enqueue_new(self) -> None:
        store = self.ctx.store
        cursor = store.meta.get(CURSOR)
        if cursor is None:  # first start: from now on, not the whole history
            store.meta.set(CURSOR, str(store.events.latest_id()))
            return
        events = store.events.list(after_id=int(cursor), limit=500)
        rows = [
            (event["id"], url)
            for event in events
            for url, hook in self.hooks.items()
            if not hook.events or event["type"] in hook.events
        ]
        store.outbox.enqueue(rows, at=self.ctx.now())
        if events:
            store.meta.set(CURSOR, str(events[-1]["id"]))

    def _deliver(self, row: Mapping[str, Any]) -> int:
        hook = self.hooks.get(row["url"])
        if hook is None:  # a receiver removed from the settings: drop its backlog
            self.ctx.store.outbox.done(row["id"], at=self.ctx.now())
            return 0
        body = json.dumps(event_json(row), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "dockyard-webhooks",
            "X-Dockyard-Event": row["type"],
            "X-Dockyard-Delivery": str(row["id"]),
            "X-Dockyard-Signature": sign(hook.secret.get_secret_value(), body),
        }
        try:
            # a redirect is not followed: a POST turned into a body-less GET elsewhere
            # delivers nothing, so a 3xx is a failed delivery like any other non-2xx
            response = self._http.post(hook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return self._failed(row, f"{type(exc).__name__}: {exc}")
        status = response.status_code
        if 200 <= status < 300:
            self.ctx.store.outbox.done(row["id"], at=self.ctx.now())
            return 1
        return self._failed(row, f"HTTP {status}")

    def _failed(self, row: Mapping[str, Any], error: str) -> int:
        attempts = row["attempts"] + 1
        retry_at = self.ctx.now() + retry_delay(attempts)
        self.ctx.store.outbox.failed(row["id"], attempts=attempts, retry_at=retry_at, error=error)
        log.info(
            "webhook %s: delivery %s failed (%s); retry %d", row["url"], row["id"], error, attempts
        )
        return 0
