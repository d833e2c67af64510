"""Where the quick exec works: the store's file, the engine's socket, the work directory,
from the same layers as the settings (``settings.layers``: the TOML file and the
``DOCKYARD_*`` variables), read without validating what it does not use.

None means "not the quick path's case": several engines, PostgreSQL, an engine over TCP
(TLS), a server (``DOCKYARD_URL``), or a value it would have to judge (the full CLI
reads it, and says what is wrong with it if anything is).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.core.errors import SettingsError
from dockyard.engine.docker import DEFAULT_URL
from dockyard.settings.layers import default_data_dir, merged_layers

_SQLITE = "sqlite:///"
_UNIX = "unix://"
#: ``workspace.workdir``'s rule (``settings.sections.WorkspaceSettings``).
_WORKDIR = re.compile(r"^/\S*$")
DEFAULT_WORKDIR = "/workspace"


@dataclass(frozen=True, slots=True)
class Place:
    database: Path
    engine_url: str
    workdir: str


def place(environ: Mapping[str, str]) -> Place | None:
    if environ.get("DOCKYARD_URL"):
        return None
    try:
        merged, _sources = merged_layers(env=environ)
    except SettingsError:
        return None
    if merged.get("engines"):
        return None
    database = _database(merged)
    engine_url = _engine_url(merged, environ)
    workdir = _section(merged, "workspace").get("workdir", DEFAULT_WORKDIR)
    if database is None or engine_url is None:
        return None
    if not isinstance(workdir, str) or not _WORKDIR.match(workdir):
        return None
    return Place(database=database, engine_url=engine_url, workdir=workdir)


def _database(merged: Mapping[str, Any]) -> Path | None:
    url = merged.get("database_url")
    if url is None:
        data_dir = merged.get("data_dir")
        if data_dir is None:
            return default_data_dir() / "dockyard.db"
        return Path(data_dir) / "dockyard.db" if isinstance(data_dir, str) else None
    if not isinstance(url, str) or not url.startswith(_SQLITE) or "?" in url:
        return None
    path = url.removeprefix(_SQLITE)
    return Path(path) if path and path != ":memory:" else None


def _engine_url(merged: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    url = merged.get("engine_url") or environ.get("DOCKER_HOST") or DEFAULT_URL
    return url if isinstance(url, str) and url.startswith(_UNIX) else None


def _section(merged: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = merged.get(name)
    return section if isinstance(section, Mapping) else {}
