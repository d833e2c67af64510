"""Who is doing something: ``host:pid`` of a process, and whether that process still lives.

Leases and sessions carry their holder's identity. On the holder's own host a dead
holder is recognisable at once (its pid is gone), so a killed CLI command neither blocks
its workspace until the lease expires nor keeps its sessions counted as live. Holders on
other hosts are never declared dead here: their leases expire on their own.
"""

from __future__ import annotations

import os
import socket


def process_identity() -> str:
    """Who holds leases and sessions: host and process, readable in ``status`` output."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_dead(holder: str) -> bool:
    """True if ``holder`` (``host:pid``, maybe followed by more ``:`` parts that are not
    a pid) names a process on this host that no longer exists."""
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
