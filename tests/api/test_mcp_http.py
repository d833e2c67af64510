"""The MCP server inside ``serve`` (streamable HTTP at /api/v1/mcp), driven by the SDK's
own client: the API's tokens, an owner's token confined to its owner."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.api.conftest import ADMIN, Server


async def call(server: Server, token: str, tool: str, arguments: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{server.url}/api/v1/mcp", http_client=http)) as mcp,
    ):
        return await mcp.call_tool(tool, arguments)


def text(answer: Any) -> str:
    found: str = answer.content[0].text
    return found


def test_agents_reach_dockyard_over_http_with_the_apis_tokens(server: Server) -> None:
    alice = server.token("alice")

    async def work() -> None:
        made = await call(server, alice, "acquire", {"key": "mcp-http"})
        assert not made.is_error, text(made)
        assert json.loads(text(made))["workspace"]["owner"] == "alice"
        ran = await call(
            server, alice, "run_command", {"key": "mcp-http", "command": "echo $((6*7))"}
        )
        assert json.loads(text(ran))["output"] == "42\n"
        other = await call(server, server.token("bob"), "status", {"key": "mcp-http"})
        assert other.is_error and "no workspace 'mcp-http'" in text(other)
        admin = await call(server, ADMIN, "status", {"key": "mcp-http"})
        assert json.loads(text(admin))["state"] == "running"

    asyncio.run(work())
    refused = httpx.post(
        f"{server.url}/api/v1/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        timeout=10,
    )
    assert refused.status_code == 401  # no token, no tools
