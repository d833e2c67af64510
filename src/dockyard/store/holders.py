"""Who holds a lease or a session: ``host:pid:p<nonce>`` of a process (the nonce is what
the store's liveness check is keyed by: ``service.runtime.identity``). The standard
library only."""

from __future__ import annotations

import os
import re
import socket

_NONCE = re.compile(r"^p[0-9a-f]{16}$")
_PROCESS_NONCE = "p" + os.urandom(8).hex()  # (secrets would load hashlib: the same bytes)


def process_identity() -> str:
    """Who holds leases and sessions: host, process and this process's nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_NONCE}"


def nonce_of(holder: str) -> str | None:
    """The liveness key in ``holder`` (an identity, maybe with a lease token after it)."""
    return next((part for part in holder.split(":")[2:] if _NONCE.match(part)), None)
