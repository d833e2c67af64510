"""``dockyard mcp`` driven by the MCP SDK's own client over stdio, on the real engine: the
tools and their schemas, an agent-like session (acquire, write, cat, read), errors as
tool errors, and an owner-scoped server that cannot touch another owner's workspace."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from dockyard.engine.docker import DockerEngine
from dockyard.store import Store
from tests.engine_fixtures import remove_installation

TOOLS = {
    "acquire",
    "run_command",
    "read_file",
    "write_file",
    "list_dir",
    "status",
    "extend",
    "park",
}


@pytest.fixture
def data(tmp_path: Path, docker: DockerEngine) -> Iterator[Path]:
    where = tmp_path / "data"
    yield where
    if (where / "dockyard.db").exists():
        store = Store.open(f"sqlite:///{where / 'dockyard.db'}")
        try:
            installation = store.installation_id
        finally:
            store.close()
        remove_installation(docker, installation)


def server(data: Path, *options: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "dockyard", "--data-dir", str(data), "mcp", *options],
        env={**os.environ},
    )


def result_of(answer: Any) -> dict[str, Any]:
    assert not answer.is_error, answer.content
    found: dict[str, Any] = json.loads(answer.content[0].text)
    return found


def error_of(answer: Any) -> str:
    assert answer.is_error
    text: str = answer.content[0].text
    return text


def test_an_agent_works_in_a_workspace_through_mcp(data: Path) -> None:
    async def agent() -> None:
        async with Client(server(data, "--owner", "alice")) as mcp:
            listed = await mcp.list_tools()
            tools = {t.name: t for t in listed.tools}
            assert set(tools) == TOOLS
            schema = tools["run_command"].input_schema
            assert schema["required"] == ["key", "command"]
            assert schema["properties"]["timeout_s"]["type"] == "number"
            assert tools["read_file"].annotations is not None
            assert tools["read_file"].annotations.read_only_hint is True

            made = result_of(await mcp.call_tool("acquire", {"key": "mcp-ws"}))
            assert (made["outcome"], made["workspace"]["owner"]) == ("created", "alice")
            wrote = await mcp.call_tool(
                "write_file", {"key": "mcp-ws", "path": "/tmp/notes/hello.txt", "content": "hi\n"}
            )
            assert result_of(wrote)["size"] == 3
            ran = result_of(
                await mcp.call_tool(
                    "run_command", {"key": "mcp-ws", "command": "cd /tmp/notes && cat hello.txt"}
                )
            )
            assert (ran["exit_code"], ran["output"], ran["cwd"]) == (0, "hi\n", "/tmp/notes")
            again = result_of(
                await mcp.call_tool("run_command", {"key": "mcp-ws", "command": "pwd"})
            )
            assert again["output"] == "/tmp/notes\n"  # the same shell
            read = result_of(
                await mcp.call_tool("read_file", {"key": "mcp-ws", "path": "/tmp/notes/hello.txt"})
            )
            assert read["content"] == "hi\n" and not read["truncated"]
            listing = result_of(
                await mcp.call_tool("list_dir", {"key": "mcp-ws", "path": "/tmp/notes"})
            )
            assert [e["name"] for e in listing["entries"]] == ["hello.txt"]
            assert result_of(await mcp.call_tool("status", {"key": "mcp-ws"}))["state"] == "running"
            extended = result_of(await mcp.call_tool("extend", {"key": "mcp-ws", "minutes": 30}))
            assert extended["capped"] is False

            missing = await mcp.call_tool("read_file", {"key": "mcp-ws", "path": "/nope"})
            assert "no /nope in workspace 'mcp-ws'" in error_of(missing)
            bad = await mcp.call_tool("run_command", {"key": "mcp-ws", "command": ""})
            assert bad.is_error  # refused by the input schema (min_length)

            saved = {"key": "mcp-ws", "path": "/workspace/saved.txt", "content": "kept\n"}
            result_of(await mcp.call_tool("write_file", saved))
            parked = result_of(await mcp.call_tool("park", {"key": "mcp-ws"}))
            assert parked["state"] == "parked"
            not_running = await mcp.call_tool("run_command", {"key": "mcp-ws", "command": "true"})
            assert "dockyard up mcp-ws" in error_of(not_running)
            back = result_of(await mcp.call_tool("acquire", {"key": "mcp-ws"}))
            assert back["outcome"] == "restored"
            kept = result_of(
                await mcp.call_tool("run_command", {"key": "mcp-ws", "command": "cat saved.txt"})
            )
            assert kept["output"] == "kept\n"  # a new shell, in the restored work

        async with Client(server(data, "--owner", "mallory")) as other:
            calls: list[tuple[str, dict[str, Any]]] = [
                ("status", {"key": "mcp-ws"}),
                ("run_command", {"key": "mcp-ws", "command": "id"}),
                ("read_file", {"key": "mcp-ws", "path": "/etc/hostname"}),
                ("write_file", {"key": "mcp-ws", "path": "/tmp/x", "content": "x"}),
                ("list_dir", {"key": "mcp-ws", "path": "/"}),
                ("extend", {"key": "mcp-ws", "minutes": 5}),
                ("park", {"key": "mcp-ws"}),
                ("acquire", {"key": "mcp-ws"}),
            ]
            for tool, arguments in calls:
                answer = await other.call_tool(tool, arguments)
                assert "no workspace 'mcp-ws'" in error_of(answer), tool

    asyncio.run(agent())
