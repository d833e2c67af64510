"""API tokens: an admin token, and per-owner tokens that see only their owner's work.

Tokens are 32 random bytes, shown once when made and stored only as their SHA-256 (a
salt adds nothing to a secret with 256 bits of entropy). Lookup goes through the hash,
so no token is ever compared, logged or stored in the clear.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from dockyard.core.errors import NotFound, Unauthorized
from dockyard.core.naming import validate_owner
from dockyard.store import Store

TOKEN_PREFIX = "dy_"  # noqa: S105 - a prefix that makes leaked tokens greppable


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the admin (``owner`` None) or one owner."""

    token_id: str
    owner: str | None

    @property
    def admin(self) -> bool:
        return self.owner is None

    def may_see(self, owner: str) -> bool:
        return self.owner is None or self.owner == owner


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never its secret."""

    id: str
    owner: str | None
    description: str
    created_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    store: Store, *, owner: str | None, description: str, at: datetime
) -> tuple[str, str]:
    """Make a token (for ``owner``, or admin if None); returns ``(id, token)``."""
    if owner is not None:
        validate_owner(owner)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(4)
    store.tokens.add(
        token_id=token_id,
        token_hash=hash_token(token),
        owner=owner,
        description=description[:255],
        at=at,
    )
    return token_id, token


def list_tokens(store: Store) -> list[TokenInfo]:
    return [TokenInfo(**row) for row in store.tokens.list()]


def revoke(store: Store, token_id: str) -> None:
    if not store.tokens.delete(token_id):
        raise NotFound(f"no token {token_id!r}")


def admin_principal(digest: str, *, admin_hash: str | None) -> Principal | None:
    """The admin, if ``digest`` is the settings' admin token (no I/O)."""
    if admin_hash is not None and secrets.compare_digest(digest, admin_hash):
        return Principal(token_id="settings", owner=None)  # noqa: S106 - an id, not a secret
    return None


def stored_principal(store: Store, digest: str) -> Principal:
    """The principal of a token made with ``create_token``; ``Unauthorized`` if none."""
    found = store.tokens.find(digest)
    if found is None:
        raise Unauthorized("unknown or revoked token")
    return Principal(token_id=found[0], owner=found[1])
