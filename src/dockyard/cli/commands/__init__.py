"""One module per command; ``COMMANDS`` is what ``dockyard`` registers."""

from __future__ import annotations

import click

from dockyard.cli.commands.checkpoints import checkpoints
from dockyard.cli.commands.clean import clean
from dockyard.cli.commands.cp import cp, files
from dockyard.cli.commands.doctor import doctor
from dockyard.cli.commands.engine import engine
from dockyard.cli.commands.events import events
from dockyard.cli.commands.exec import exec_
from dockyard.cli.commands.extend import extend
from dockyard.cli.commands.gc import gc
from dockyard.cli.commands.keep import keep, unkeep
from dockyard.cli.commands.ls import ls
from dockyard.cli.commands.mcp import mcp
from dockyard.cli.commands.park import park
from dockyard.cli.commands.reconcile import reconcile
from dockyard.cli.commands.rm import rm
from dockyard.cli.commands.serve import serve
from dockyard.cli.commands.sessions import run, sessions
from dockyard.cli.commands.shell import shell
from dockyard.cli.commands.status import status
from dockyard.cli.commands.stop import stop
from dockyard.cli.commands.token import token
from dockyard.cli.commands.touch import touch
from dockyard.cli.commands.up import up

COMMANDS: list[click.Command] = [
    up,
    exec_,
    run,
    sessions,
    shell,
    cp,
    files,
    ls,
    status,
    touch,
    extend,
    stop,
    park,
    checkpoints,
    rm,
    keep,
    unkeep,
    clean,
    gc,
    reconcile,
    doctor,
    engine,
    serve,
    mcp,
    token,
    events,
]
