"""Reading the settings: defaults < TOML file < ``DOCKYARD_*`` environment < flags,
merged as plain mappings (``layers``), validated once, errors naming the key path and
its source."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dockyard.core.errors import SettingsError
from dockyard.settings.layers import (
    ENV_CONFIG,
    ENV_NOT_SETTINGS,
    ENV_PREFIX,
    default_config_file,
    merged_layers,
)
from dockyard.settings.sections import Settings

__all__ = ["ENV_CONFIG", "ENV_NOT_SETTINGS", "ENV_PREFIX", "default_config_file", "load_settings"]


def load_settings(
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers and validate; raises ``SettingsError`` naming key path and source."""
    merged, sources = merged_layers(config_file=config_file, env=env, flags=flags)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, sources)) from None


def _describe(exc: ValidationError, sources: Mapping[tuple[str, ...], str]) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        where = _format_loc(loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        origin = _origin(loc, sources)
        lines.append(f"{where}: {message}" + (f" (from {origin})" if origin else ""))
    return "; ".join(lines)


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part).startswith(("function-", "json-or-python")):
            text += ("." if text else "") + str(part)
    return text or "settings"


def _origin(loc: tuple[Any, ...], sources: Mapping[tuple[str, ...], str]) -> str | None:
    names = tuple(str(p) for p in loc if not isinstance(p, int))
    for length in range(len(names), 0, -1):
        if names[:length] in sources:
            return sources[names[:length]]
    # An unknown section set by a deeper key: DOCKYARD_POLCY__X makes "polcy" unknown.
    deeper = [origin for path, origin in sources.items() if path[: len(names)] == names]
    return deeper[0] if deeper else None
