"""dockyard over HTTP: ``Client`` (sync) and ``AsyncClient`` (asyncio), with the library's
verbs, results and errors, for processes and machines other than the server's::

    from dockyard.client import Client
    from dockyard.core.errors import NotFound

    with Client("http://dockyard:8420", token="dy_...") as dy:  # or $DOCKYARD_URL/_TOKEN
        dy.acquire("user:42", owner="42")
        session = dy.open_session("user:42")
        dy.run_command(session.id, "cd /workspace && export CI=1")
        print(dy.run_command(session.id, "make test").exit_code)
        dy.write_file("user:42", "/workspace/notes.md", b"# notes\\n")
        with dy.download("user:42", "/workspace") as archive:
            extract(archive, Path("copy"))  # refuses entries that would land outside

Errors are ``dockyard.core.errors`` classes: ``NotFound``, ``QuotaExceeded``,
``Conflict``, ``Unavailable`` (the server cannot be reached), and the rest of the tree.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.archives import extract, tar_tree
    from dockyard.client.asynchronous import AsyncClient
    from dockyard.client.models import (
        Acquired,
        Changed,
        CommandResult,
        EventInfo,
        ExecResult,
        Output,
        Removed,
        SessionInfo,
        Touched,
        WorkspaceInfo,
    )
    from dockyard.client.sync import Client
    from dockyard.core.archives import FileEntry, Listing, PathStat, Uploaded

#: Where each name lives: imported when first used, so a program that only names a
#: result type (the CLI does) does not pay for httpx.
_HOMES = {
    "AsyncClient": "dockyard.client.asynchronous",
    "Client": "dockyard.client.sync",
    "extract": "dockyard.archives",
    "tar_tree": "dockyard.archives",
    **dict.fromkeys(["FileEntry", "Listing", "PathStat", "Uploaded"], "dockyard.core.archives"),
    **dict.fromkeys(
        [
            "Acquired",
            "Changed",
            "CommandResult",
            "EventInfo",
            "ExecResult",
            "Output",
            "Removed",
            "SessionInfo",
            "Touched",
            "WorkspaceInfo",
        ],
        "dockyard.client.models",
    ),
}

__all__ = [
    "Acquired",
    "AsyncClient",
    "Changed",
    "Client",
    "CommandResult",
    "EventInfo",
    "ExecResult",
    "FileEntry",
    "Listing",
    "Output",
    "PathStat",
    "Removed",
    "SessionInfo",
    "Touched",
    "Uploaded",
    "WorkspaceInfo",
    "extract",
    "tar_tree",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dockyard.client' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
