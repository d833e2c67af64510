"""What a command run in a workspace may be: the kernel's limits on a new program's
arguments and environment, checked before the engine is asked (it would answer with
exit code 126 and its message as the command's output)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dockyard.core.errors import InvalidValue
from dockyard.core.units import format_size

#: One argument or ``NAME=value``, with its NUL (Linux's MAX_ARG_STRLEN, 32 pages).
ARG_MAX_BYTES = 128 * 1024
#: All of them together: half of the usual ARG_MAX (2 MiB), the rest is for the
#: image's own environment and the wrapper dockyard puts in front.
ARGS_TOTAL_MAX_BYTES = 1024 * 1024


def check_command(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Raise ``InvalidValue`` naming what is wrong with ``argv`` and ``env``, if anything."""
    if not argv:
        raise InvalidValue("exec needs a command")
    total = 0
    for index, arg in enumerate(argv):
        total += _string_size(arg, what=f"command[{index}]")
    for name, value in env.items():
        if not name or "=" in name:
            raise InvalidValue(f"env: {name[:64]!r} is no variable name (empty, or with '=')")
        total += _string_size(f"{name}={value}", what=f"env[{name[:64]!r}]")
    if total > ARGS_TOTAL_MAX_BYTES:
        raise InvalidValue(
            f"the command and its env are {format_size(total)}, "
            f"at most {format_size(ARGS_TOTAL_MAX_BYTES)}"
        )


def _string_size(text: str, *, what: str) -> int:
    if "\0" in text:
        raise InvalidValue(f"{what}: contains a NUL character")
    size = len(text.encode("utf-8", errors="surrogateescape")) + 1
    if size > ARG_MAX_BYTES:
        raise InvalidValue(f"{what}: {format_size(size)}, at most {format_size(ARG_MAX_BYTES)}")
    return size
