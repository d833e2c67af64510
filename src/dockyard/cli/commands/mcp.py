"""``dockyard mcp``: an MCP server on standard input and output, for an agent."""

from __future__ import annotations

import importlib.util

import click

from dockyard.cli.app import App, pass_app
from dockyard.core.errors import Unavailable


@click.command(name="mcp")
@click.option(
    "--owner",
    help="Act for this owner only: other owners' workspaces do not exist for the agent, "
    "and what it creates is this owner's. Default: any owner (new ones are 'agent').",
)
@pass_app
def mcp(app: App, *, owner: str | None) -> None:
    """Serve dockyard's tools to an agent over MCP (stdio): acquire a workspace, run
    commands in its persistent shell, read, write and list files, status, extend, park.

    Add it to an agent's MCP configuration as the command `dockyard mcp --owner NAME`.
    Standard output carries the protocol; logs go to standard error.
    """
    if importlib.util.find_spec("mcp") is None:
        raise Unavailable("dockyard mcp needs the MCP SDK: pip install 'dockyard[mcp]'")
    from dockyard.mcp.server import stdio_server  # noqa: PLC0415 - the SDK loads here only
    from dockyard.mcp.tools import Agent  # noqa: PLC0415

    stdio_server(Agent(app.dockyard(), owner=owner)).run("stdio")
