"""Who is doing something: ``host:pid:p<nonce>`` of a process, and whether it still lives.

Leases and sessions carry their holder's identity. The host and pid are for people
(``status`` says who holds a workspace); the nonce, unique per process, is what the
store's liveness check is keyed by (``store.liveness``: a lock the process holds for its
whole life). A holder is judged dead only when that check says so: a process on another
machine, in another pid namespace or under another host name with the same pid is never
taken for dead from here, however its pid looks. When the store cannot tell, a lease
expires on its own (its TTL) and a session stays until its workspace goes.

Identities of older releases (``host:pid``, no nonce) are judged the old way: dead if
they name this host and a pid that does not exist here.
"""

from __future__ import annotations

import os
import socket

from dockyard.store import Store
from dockyard.store.holders import nonce_of, process_identity

__all__ = ["announce", "holder_is_dead", "nonce_of", "process_identity"]


def announce(store: Store, holder: str) -> None:
    """Make ``holder`` (this process's identity) recognisable as alive to others."""
    nonce = nonce_of(holder)
    if nonce is not None:
        store.liveness.announce(nonce)


def holder_is_dead(holder: str, store: Store | None = None) -> bool:
    """True only if ``holder``'s process is known to be gone."""
    nonce = nonce_of(holder)
    if nonce is not None:
        return store is not None and store.liveness.alive(nonce) is False
    return _legacy_dead(holder)


def _legacy_dead(holder: str) -> bool:
    parts = holder.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
