"""The MCP server: each ``Agent`` method as a tool, built on the official ``mcp`` SDK.

A dockyard error (no such workspace, not running, too large, ...) becomes a tool error
whose text the agent reads; anything else is the SDK's generic "error executing tool"
(the details stay in the server's log). ``dockyard mcp`` serves it on stdio.
"""

# No ``from __future__ import annotations`` here: the SDK reads the tools' annotations
# at run time to make their input schemas.

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from dockyard import __version__
from dockyard.core.errors import DockyardError
from dockyard.mcp.tools import COMMAND_TIMEOUT_MAX_S, Agent

T = TypeVar("T")

INSTRUCTIONS = """\
dockyard keeps a container workspace per key (a conversation, a user, a repo and branch).
Call acquire first with a key: it creates the workspace, or brings back the one parked
earlier with its files. run_command runs shell commands in a persistent shell of that
workspace (cd and exported variables carry over). Files: read_file, write_file, list_dir
with absolute paths inside the container. A workspace idle for long is parked (its work
saved); extend it before a long pause, park it when you are done."""

Key = Annotated[str, Field(description="the workspace's key, e.g. 'user:42' or 'repo@branch'")]
Path = Annotated[str, Field(description="an absolute path inside the workspace")]
TIMEOUT = "interrupt the command after this many seconds"

READS = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
WRITES = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)


def _errors_as_tool_errors(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except DockyardError as exc:
            raise ToolError(exc.message) from None

    return call


def build(agent: Agent) -> MCPServer:
    """The server with dockyard's tools, acting as ``agent`` does (its owner, if any)."""
    server: MCPServer = MCPServer(name="dockyard", version=__version__, instructions=INSTRUCTIONS)

    def tool(annotations: ToolAnnotations) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def register(fn: Callable[..., T]) -> Callable[..., T]:
            server.add_tool(_errors_as_tool_errors(fn), annotations=annotations)
            return fn

        return register

    @tool(WRITES)
    def acquire(
        key: Key,
        repo: Annotated[str | None, Field(description="a git URL to clone in")] = None,
        branch: Annotated[str | None, Field(description="the branch to check out")] = None,
    ) -> dict[str, Any]:
        """Get the workspace for a key: created, reused, or restored with its saved work."""
        return agent.acquire(key, repo=repo, branch=branch)

    @tool(WRITES)
    def run_command(
        key: Key,
        command: Annotated[str, Field(description="a shell command line", min_length=1)],
        timeout_s: Annotated[
            float,
            Field(
                description="interrupt it after this many seconds", gt=0, le=COMMAND_TIMEOUT_MAX_S
            ),
        ] = 120.0,
    ) -> dict[str, Any]:
        """Run a command in the workspace's persistent shell; returns its exit code, its
        output (stdout and stderr together, the last 64 KiB) and the working directory
        after it. A command past its timeout is interrupted; the shell stays usable."""
        return agent.run_command(key, command, timeout_s=timeout_s)

    @tool(READS)
    def read_file(key: Key, path: Path) -> dict[str, Any]:
        """Read a text file of the workspace (its first 64 KiB)."""
        return agent.read_file(key, path)

    @tool(WRITES)
    def write_file(
        key: Key,
        path: Path,
        content: Annotated[str, Field(description="the file's whole new content")],
        make_dirs: Annotated[bool, Field(description="make missing directories")] = True,
    ) -> dict[str, Any]:
        """Write a file of the workspace, replacing what was there."""
        return agent.write_file(key, path, content, make_dirs=make_dirs)

    @tool(READS)
    def list_dir(key: Key, path: Path) -> dict[str, Any]:
        """List a directory of the workspace: names, kinds, sizes, modes."""
        return agent.list_dir(key, path)

    @tool(READS)
    def status(key: Key) -> dict[str, Any]:
        """The workspace's state, idle time and time left before it is parked."""
        return agent.status(key)

    @tool(WRITES)
    def extend(
        key: Key,
        minutes: Annotated[float, Field(description="how much longer", gt=0, le=1440)],
    ) -> dict[str, Any]:
        """Push the workspace's idle deadline later (before a long pause)."""
        return agent.extend(key, minutes)

    @tool(WRITES)
    def park(key: Key) -> dict[str, Any]:
        """Save the workspace's work and stop its container; acquire brings it back."""
        return agent.park(key)

    return server
