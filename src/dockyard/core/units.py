"""Parsing and formatting of durations and byte sizes, shared by settings, CLI and API.

Durations are written the way people write them in config files and flags: ``90s``,
``45m``, ``1h30m``, ``7d``, ``1.5h``; a bare number means seconds. Sizes accept ``512m``,
``2g``, ``2GiB``, ``10GB`` (binary units for ``k/m/g/t`` and ``KiB..``, decimal for ``KB..``,
as docker does for ``--memory``). Parsing raises ``ValueError`` with a message that names
the accepted forms; the caller adds the key path.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_DURATION_HINT = "expected a duration like 90s, 45m, 1h30m or 7d"
#: The longest duration anything takes (ten years): longer ones are typing errors, and
#: overflow the date arithmetic (a deadline of now + 10**12 days does not exist).
DURATION_MAX = timedelta(days=3650)
#: The largest size anything takes (a pebibyte; the store's integers hold 2**63).
SIZE_MAX = 1024**5


def parse_duration(text: str | float | timedelta) -> timedelta:
    """Parse ``text`` into a non-negative timedelta."""
    if isinstance(text, timedelta):
        seconds = text.total_seconds()
    elif isinstance(text, bool):
        raise ValueError(_DURATION_HINT)
    elif isinstance(text, int | float):
        seconds = float(text)
    elif isinstance(text, str):
        seconds = _parse_duration_text(text.strip().lower())
    else:  # from JSON or TOML anything may come
        raise ValueError(_DURATION_HINT)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{_DURATION_HINT}, not negative or infinite")
    if seconds > DURATION_MAX.total_seconds():
        raise ValueError(f"{_DURATION_HINT}, at most {format_duration(DURATION_MAX)}")
    return timedelta(seconds=seconds)


def _parse_duration_text(text: str) -> float:
    if not text:
        raise ValueError(_DURATION_HINT)
    try:
        return float(text)
    except ValueError:
        pass
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            raise ValueError(f"{_DURATION_HINT}, got {text!r}")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or position == 0:
        raise ValueError(f"{_DURATION_HINT}, got {text!r}")
    return total


def format_duration(delta: timedelta | float) -> str:
    """Render a duration for people: ``45s``, ``12m``, ``1h05m``, ``3d4h``; negative gets ``-``."""
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    sign = "-" if seconds < 0 else ""
    whole = int(abs(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d{hours}h" if hours else f"{days}d"
    elif hours:
        text = f"{hours}h{minutes:02d}m"
    elif minutes:
        text = f"{minutes}m{secs:02d}s" if minutes < 10 and secs else f"{minutes}m"
    else:
        text = f"{secs}s"
    return sign + text


def duration_text(delta: timedelta) -> str:
    """A duration as settings write it: as people read it (``format_duration``) when that
    says it exactly, else every unit spelled out (``45m30s``, ``250ms``), so that
    ``parse_duration(duration_text(d)) == d`` to the millisecond."""
    text = format_duration(delta)
    if parse_duration(text) == delta:
        return text
    millis = round(delta.total_seconds() * 1000)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    if millis or not parts:
        parts.append(f"{millis}ms")
    return "".join(parts)


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)")
_SIZE_HINT = "expected a size like 512m, 2g, 2GiB or 10GB"
_BINARY = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_DECIMAL = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def parse_size(text: str | int) -> int:
    """Parse ``text`` into a positive number of bytes."""
    if isinstance(text, bool):
        raise ValueError(_SIZE_HINT)
    if isinstance(text, int):
        value = text
    elif not isinstance(text, str):  # from JSON or TOML anything may come
        raise ValueError(_SIZE_HINT)
    else:
        match = _SIZE.fullmatch(text.strip().lower())
        if match is None:
            raise ValueError(f"{_SIZE_HINT}, got {text!r}")
        number, prefix, suffix = match.groups()
        # "2g", "2gi", "2gib" are binary; "2gb" is decimal, like docker and disk vendors.
        table = _DECIMAL if suffix == "b" and prefix else _BINARY
        value = int(float(number) * table[prefix])
    if value <= 0:
        raise ValueError(f"{_SIZE_HINT}, and greater than zero")
    if value > SIZE_MAX:
        raise ValueError(f"{_SIZE_HINT}, at most {format_size(SIZE_MAX)}")
    return value


def format_size(size: int) -> str:
    """Render a byte count with binary units: ``512.0MiB``, ``2.0GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}TiB"


def plural(count: int, word: str) -> str:
    """``1 file``, ``3 files``: English plurals of regular nouns."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
