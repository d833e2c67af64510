"""The ``dockyard`` executable: ``exec`` of a running workspace takes the quick path
(``dockyard.fastpath``) when it can; everything else, and what the quick path declines,
is the full CLI (``cli.main``)."""

from __future__ import annotations

import sys


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["exec"]:
        from dockyard.fastpath.exec import quick_exec  # noqa: PLC0415 - only for exec

        code = quick_exec(args[1:])
        if code is not None:
            return code
    from dockyard.cli.main import main as full  # noqa: PLC0415 - the whole CLI

    return full()
