"""Tokens, signatures and error statuses, without a server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

from dockyard.api.auth import token_digest
from dockyard.api.errors import status_of
from dockyard.api.guard import KNOWN_FOR_S, Guard
from dockyard.api.schemas import AcquireBody
from dockyard.core.errors import (
    Busy,
    EngineError,
    EngineUnavailable,
    InvalidKey,
    NotFound,
    ProvisionFailed,
    QuotaExceeded,
    SaveFailed,
    Unauthorized,
)
from dockyard.service.tokens import (
    Principal,
    admin_principal,
    create_token,
    hash_token,
    stored_principal,
)
from dockyard.service.webhooks import retry_delay, sign
from dockyard.store import Store
from tests.helpers import T0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    yield s
    s.close()


def authenticate(store: Store, authorization: str | None, *, admin_hash: str | None) -> Principal:
    """What the API does with a request's header (``Dockyard.principal``)."""
    digest = token_digest(authorization)
    return admin_principal(digest, admin_hash=admin_hash) or stored_principal(store, digest)


def test_tokens_are_stored_hashed_and_resolve_to_their_owner(store: Store) -> None:
    token_id, token = create_token(store, owner="alice", description="ci", at=T0)
    assert token.startswith("dy_") and len(token) > 40
    assert all(token not in str(row.values()) for row in store.tokens.list())
    who = authenticate(store, f"Bearer {token}", admin_hash=None)
    assert (who.token_id, who.owner, who.admin) == (token_id, "alice", False)
    admin = authenticate(store, "Bearer secret-admin", admin_hash=hash_token("secret-admin"))
    assert admin.admin
    for header in (None, "", "Basic abc", "Bearer ", f"Bearer {token}x"):
        with pytest.raises(Unauthorized):
            authenticate(store, header, admin_hash=None)
    store.tokens.delete(token_id)
    with pytest.raises(Unauthorized, match="revoked"):
        authenticate(store, f"Bearer {token}", admin_hash=None)


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"type":"workspace.created"}'
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign("k", body) == f"sha256={expected}"


def test_redelivery_delays_double_up_to_ten_minutes() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert retry_delay(50) == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidKey("k"), 400),
        (NotFound("x"), 404),
        (Busy("x"), 409),
        (QuotaExceeded("x"), 429),
        (EngineUnavailable("x"), 503),
        (ProvisionFailed("x"), 422),
        (EngineError("x"), 502),
        (SaveFailed("x"), 409),
    ],
)
def test_error_statuses(error: Exception, status: int) -> None:
    assert status_of(error) == status  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [
        {"key": "k\udaff"},
        {"key": "k", "labels": {"a": "\ud800"}},
        {"key": "k", "labels": {"\udc00": "v"}},
        {"key": "k", "policy": {"busy_processes": ["ok", "\udfff"]}},
    ],
)
def test_unpaired_surrogates_are_refused_at_the_door(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="not valid Unicode"):
        AcquireBody.model_validate(body)


def test_ordinary_unicode_passes_the_door() -> None:
    assert AcquireBody.model_validate({"key": "ü-🙂", "labels": {"a": "Ó"}}).key == "ü-🙂"


def test_the_guard_believes_a_stored_token_for_a_second_then_asks_again() -> None:
    now = [100.0]
    asked: list[str] = []
    revoked = False

    def lookup(digest: str) -> Principal:
        asked.append(digest)
        if revoked:
            raise Unauthorized("unknown or revoked token")
        return Principal(token_id="t1", owner="ann")

    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        owner = scope["state"]["principal"].owner
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": owner.encode()})

    guard = Guard(
        app,
        lookup=lookup,
        admin_hash=None,
        body_limit=lambda _m, _p: (1024, "api.max_body"),
        clock=lambda: now[0],
    )

    def call() -> int:
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/api/v1/workspaces/k/touch",
            "headers": [(b"authorization", b"Bearer dy_secret")],
        }
        asyncio.run(guard(scope, receive, send))
        return int(sent[0]["status"])

    assert (call(), call()) == (200, 200)
    assert len(asked) == 1  # the second from memory
    revoked = True
    now[0] += KNOWN_FOR_S / 2
    assert call() == 200  # still believed within the second
    now[0] += KNOWN_FOR_S
    assert call() == 401  # asked again: revoked
    assert len(asked) == 2
