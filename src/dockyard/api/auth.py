"""Bearer tokens on the wire: the ``Authorization`` header, hashed before anything else
looks at it. Who a hash belongs to is the service's business (``Dockyard.principal``)."""

from __future__ import annotations

from dockyard.core.errors import Unauthorized
from dockyard.service import hash_token


def token_digest(authorization: str | None) -> str:
    """The hash of the bearer token in an ``Authorization`` header (no I/O)."""
    if not authorization:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be: Bearer <token>")
    return hash_token(token.strip())
