"""The layers of the settings as plain mappings: the TOML file, ``DOCKYARD_*`` variables
and flags, merged in that order, with where each value came from. The standard library
only: the CLI's quick exec reads them without loading pydantic."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dockyard.core.errors import SettingsError

ENV_PREFIX = "DOCKYARD_"
ENV_CONFIG = "DOCKYARD_CONFIG"
#: Read by other parts, not settings: the file's path, and a client's server and token
#: (``dockyard --url``, ``dockyard.client``).
ENV_NOT_SETTINGS = frozenset({ENV_CONFIG, "DOCKYARD_URL", "DOCKYARD_TOKEN"})


def default_config_file() -> Path:
    return user_dir("config") / "config.toml"


def default_data_dir() -> Path:
    return user_dir("data")


#: The XDG base directories platformdirs gives on Linux (a test holds them equal), read
#: directly: platformdirs' own import costs an exec more than the exec's own work.
_XDG = {"config": ("XDG_CONFIG_HOME", ".config"), "data": ("XDG_DATA_HOME", ".local/share")}


def user_dir(kind: str) -> Path:
    """dockyard's ``kind`` ("config" or "data") directory of this user."""
    if sys.platform.startswith("linux"):
        variable, fallback = _XDG[kind]
        base = os.environ.get(variable, "").strip()
        return Path(base if base else Path.home() / fallback) / "dockyard"
    import platformdirs  # noqa: PLC0415 - elsewhere: the platform's own rules

    return (
        platformdirs.user_config_path("dockyard")
        if kind == "config"
        else (platformdirs.user_data_path("dockyard"))
    )


def config_from_env(environ: Mapping[str, str]) -> Path | None:
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG]).expanduser()
    default = default_config_file()
    return default if default.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # noqa: PLC0415 - only when there is a file to read

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


def env_layer(environ: Mapping[str, str], sources: dict[tuple[str, ...], str]) -> dict[str, Any]:
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
        set_path(layer, path, value)
        sources[path] = name
    return layer


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"workspace.image": "x"}`` -> ``{"workspace": {"image": "x"}}``; None is skipped."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is not None:
            set_path(nested, tuple(dotted.split(".")), value)
    return nested


def set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = target
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def merge(
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
            merge(target[key], value, sources, origin=origin, prefix=path)
            continue
        target[key] = value
        if origin is not None:
            sources[path] = origin


def merged_layers(
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """The layers merged (file < environment < flags), and each key path's source."""
    environ = os.environ if env is None else env
    sources: dict[tuple[str, ...], str] = {}
    merged: dict[str, Any] = {}
    path = config_file or config_from_env(environ)
    if path is not None:
        merge(merged, read_toml(path), sources, origin=str(path))
    merge(merged, env_layer(environ, sources), sources, origin=None)
    if flags:
        merge(merged, nest(flags), sources, origin="command-line flag")
    return merged, sources
