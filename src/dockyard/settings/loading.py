"""Reading the settings: defaults < TOML file < ``DOCKYARD_*`` environment < flags,
merged as plain mappings, validated once, errors naming the key path and its source."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import ValidationError

from dockyard.core.errors import SettingsError
from dockyard.settings.sections import Settings

ENV_PREFIX = "DOCKYARD_"
ENV_CONFIG = "DOCKYARD_CONFIG"
#: Read by other parts, not settings: the file's path, and a client's server and token
#: (``dockyard --url``, ``dockyard.client``).
ENV_NOT_SETTINGS = frozenset({ENV_CONFIG, "DOCKYARD_URL", "DOCKYARD_TOKEN"})


def default_config_file() -> Path:
    return platformdirs.user_config_path("dockyard") / "config.toml"


def load_settings(
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers and validate; raises ``SettingsError`` naming key path and source."""
    environ = os.environ if env is None else env
    sources: dict[tuple[str, ...], str] = {}
    merged: dict[str, Any] = {}

    path = config_file or _config_from_env(environ)
    if path is not None:
        _merge(merged, _read_toml(path), sources, origin=str(path))
    _merge(merged, _env_layer(environ, sources), sources, origin=None)
    if flags:
        _merge(merged, _nest(flags), sources, origin="command-line flag")
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, sources)) from None


def _config_from_env(environ: Mapping[str, str]) -> Path | None:
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG]).expanduser()
    default = default_config_file()
    return default if default.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


def _env_layer(environ: Mapping[str, str], sources: dict[tuple[str, ...], str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        value: Any = raw
        if raw.strip().startswith(("[", "{")):
            try:
                value = json.loads(raw)
            except ValueError:
                raise SettingsError(
                    f"{name}: value starts like JSON but is not valid JSON"
                ) from None
        _set_path(layer, path, value)
        sources[path] = name
    return layer


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"workspace.image": "x"}`` -> ``{"workspace": {"image": "x"}}``; None is skipped."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is not None:
            _set_path(nested, tuple(dotted.split(".")), value)
    return nested


def _set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = target
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _merge(
    target: dict[str, Any],
    layer: Mapping[str, Any],
    sources: dict[tuple[str, ...], str],
    *,
    origin: str | None,
    prefix: tuple[str, ...] = (),
) -> None:
    for key, value in layer.items():
        path = (*prefix, key)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, sources, origin=origin, prefix=path)
            continue
        target[key] = value
        if origin is not None:
            sources[path] = origin


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
