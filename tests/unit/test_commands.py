"""The limits on a command's arguments and environment (pure)."""

from __future__ import annotations

import pytest

from dockyard.core.commands import ARG_MAX_BYTES, ARGS_TOTAL_MAX_BYTES, check_command
from dockyard.core.errors import InvalidValue


def test_an_ordinary_command_passes() -> None:
    check_command(["sh", "-c", "echo hi"], {"LANG": "C.UTF-8", "EMPTY": ""})


@pytest.mark.parametrize(
    ("argv", "env", "reason"),
    [
        ([], {}, "needs a command"),
        (["echo", "a" * ARG_MAX_BYTES], {}, r"command\[1\]: 128.0KiB, at most 128.0KiB"),
        (["echo", "é" * (ARG_MAX_BYTES // 2)], {}, r"command\[1\]"),  # bytes, not characters
        (["echo", "a\0b"], {}, "NUL"),
        (["echo"] + ["a" * 100_000] * 11, {}, "at most 1.0MiB"),
        (["env"], {"A=B": "c"}, "no variable name"),
        (["env"], {"": "c"}, "no variable name"),
        (["env"], {"BIG": "x" * ARG_MAX_BYTES}, r"env\['BIG'\]"),
        (["env"], {f"V{i}": "x" * 100_000 for i in range(11)}, "command and its env"),
    ],
)
def test_what_the_kernel_would_refuse_is_refused_first(
    argv: list[str], env: dict[str, str], reason: str
) -> None:
    with pytest.raises(InvalidValue, match=reason):
        check_command(argv, env)


def test_the_total_counts_every_terminating_nul() -> None:
    fits = ["a" * (ARG_MAX_BYTES - 1)] * (ARGS_TOTAL_MAX_BYTES // ARG_MAX_BYTES)
    check_command(fits, {})
    with pytest.raises(InvalidValue):
        check_command([*fits, ""], {})
