"""Webhook delivery against a receiver on loopback: only a 2xx delivers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from pydantic import SecretStr

from dockyard.core.events import EventType
from dockyard.service import Dockyard
from dockyard.service.webhooks import WebhookDeliverer
from dockyard.settings import WebhookSettings


class _Moved(BaseHTTPRequestHandler):
    """Answers every POST with a redirect; counts what arrives where."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(("POST", self.path))
        self.send_response(301)
        self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""


@pytest.fixture
def moved() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Moved)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Moved.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_a_redirect_is_a_failed_delivery_not_a_done_one(fake_dy: Dockyard, moved: str) -> None:
    """urllib followed a 301 as a body-less GET, got a 200 and marked the event sent."""
    hook = WebhookSettings(url=moved, secret=SecretStr("s"))
    deliverer = WebhookDeliverer(fake_dy.ctx, [hook])
    deliverer.enqueue_new()  # the cursor starts at the latest event
    fake_dy.ctx.publish(EventType.ORPHAN_REMOVED, container="c")
    try:
        assert deliverer.step() == 0
    finally:
        deliverer.stop()
    assert _Moved.seen == [("POST", "/hook")]  # not followed
    [delivery] = fake_dy.ctx.store.outbox.list()
    assert delivery["delivered_at"] is None
    assert (delivery["attempts"], delivery["last_error"]) == (1, "HTTP 301")
