"""The MCP server: each ``Agent`` method as a tool, built on the official ``mcp`` SDK.

A dockyard error (no such workspace, not running, too large, ...) becomes a tool error
whose text the agent reads; anything else is the SDK's generic "error executing tool"
(the details stay in the server's log). ``dockyard mcp`` serves it on stdio, for one
agent; ``serve`` at ``/api/v1/mcp`` (streamable HTTP), where each call acts for the
caller's token as every API route does: an owner's token reaches its owner's
workspaces only.
"""

# No ``from __future__ import annotations`` here: the SDK reads the tools' annotations
# at run time to make their input schemas.

import functools
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import Field
from starlette.types import ASGIApp

from dockyard import __version__
from dockyard.core.errors import DockyardError
from dockyard.mcp.tools import COMMAND_TIMEOUT_MAX_S, Agent
from dockyard.service import Dockyard, Principal

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


AgentFor = Callable[[Context], Agent]


def build(agent_for: AgentFor) -> MCPServer:
    """The server with dockyard's tools; each call acts as ``agent_for(its context)``."""
    server: MCPServer = MCPServer(name="dockyard", version=__version__, instructions=INSTRUCTIONS)

    def tool(annotations: ToolAnnotations) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def register(fn: Callable[..., T]) -> Callable[..., T]:
            server.add_tool(_errors_as_tool_errors(fn), annotations=annotations)
            return fn

        return register

    @tool(WRITES)
    def acquire(
        ctx: Context,
        key: Key,
        repo: Annotated[str | None, Field(description="a git URL to clone in")] = None,
        branch: Annotated[str | None, Field(description="the branch to check out")] = None,
    ) -> dict[str, Any]:
        """Get the workspace for a key: created, reused, or restored with its saved work."""
        return agent_for(ctx).acquire(key, repo=repo, branch=branch)

    @tool(WRITES)
    def run_command(
        ctx: Context,
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
        return agent_for(ctx).run_command(key, command, timeout_s=timeout_s)

    @tool(READS)
    def read_file(ctx: Context, key: Key, path: Path) -> dict[str, Any]:
        """Read a text file of the workspace (its first 64 KiB)."""
        return agent_for(ctx).read_file(key, path)

    @tool(WRITES)
    def write_file(
        ctx: Context,
        key: Key,
        path: Path,
        content: Annotated[str, Field(description="the file's whole new content")],
        make_dirs: Annotated[bool, Field(description="make missing directories")] = True,
    ) -> dict[str, Any]:
        """Write a file of the workspace, replacing what was there."""
        return agent_for(ctx).write_file(key, path, content, make_dirs=make_dirs)

    @tool(READS)
    def list_dir(ctx: Context, key: Key, path: Path) -> dict[str, Any]:
        """List a directory of the workspace: names, kinds, sizes, modes."""
        return agent_for(ctx).list_dir(key, path)

    @tool(READS)
    def status(ctx: Context, key: Key) -> dict[str, Any]:
        """The workspace's state, idle time and time left before it is parked."""
        return agent_for(ctx).status(key)

    @tool(WRITES)
    def extend(
        ctx: Context,
        key: Key,
        minutes: Annotated[float, Field(description="how much longer", gt=0, le=1440)],
    ) -> dict[str, Any]:
        """Push the workspace's idle deadline later (before a long pause)."""
        return agent_for(ctx).extend(key, minutes)

    @tool(WRITES)
    def park(ctx: Context, key: Key) -> dict[str, Any]:
        """Save the workspace's work and stop its container; acquire brings it back."""
        return agent_for(ctx).park(key)

    return server


def stdio_server(agent: Agent) -> MCPServer:
    """The server ``dockyard mcp`` runs: every call acts as ``agent``."""
    return build(lambda _ctx: agent)


class _Agents:
    """One ``Agent`` per owner (None: the admin), with its command sessions."""

    def __init__(self, dy: Dockyard) -> None:
        self.dy = dy
        self._by_owner: dict[str | None, Agent] = {}
        self._lock = threading.Lock()

    def of(self, ctx: Context) -> Agent:
        request = ctx.request_context.request
        principal = getattr(getattr(request, "state", None), "principal", None)
        if not isinstance(principal, Principal):  # the guard lets no such request through
            raise ToolError("this call carries no dockyard token")
        with self._lock:
            found = self._by_owner.get(principal.owner)
            if found is None:
                found = self._by_owner[principal.owner] = Agent(self.dy, owner=principal.owner)
            return found


def http_app(
    dy: Dockyard, *, path: str
) -> tuple[ASGIApp, Callable[[], AbstractAsyncContextManager[None]]]:
    """The streamable HTTP app answering at ``path``, and what must run around it (the
    SDK's session manager). Stateless: each request stands alone, so any replica can
    answer it. The API's guard has checked the token before a request gets here; the
    SDK's DNS-rebinding check (Host headers) is off, since no request passes without one.
    """
    agents = _Agents(dy)
    server = build(agents.of)
    app = server.streamable_http_app(
        streamable_http_path=path,
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return app, server.session_manager.run
