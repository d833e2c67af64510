"""``dockyard.client`` against a real ``serve`` and the real engine: every verb's round
trip, sync and async; output streamed before the command ends; files both ways; the
library's error classes; an owner's token confined to its owner."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.client import AsyncClient, Client, ExecResult, Output, extract, tar_tree
from dockyard.core.archives import EntryKind
from dockyard.core.errors import (
    Conflict,
    InvalidKey,
    NoSuchPath,
    NotFound,
    Unauthorized,
    Unavailable,
)
from dockyard.core.model import Outcome, SessionKind, SessionStatus, State
from tests.api.conftest import ADMIN, Server
from tests.helpers import free_port


def test_every_verb_round_trips(server: Server, tmp_path: Path) -> None:
    with Client(server.url, token=ADMIN) as dy:
        created = dy.acquire("cl", owner="team", labels={"purpose": "test"})
        assert created.outcome is Outcome.CREATED
        assert (created.workspace.key, created.workspace.owner) == ("cl", "team")
        assert created.workspace.state is State.RUNNING
        assert dy.acquire("cl").outcome is Outcome.REUSED
        assert dy.get("cl").raw["labels"] == {"purpose": "test"}
        assert [w.key for w in dy.list(owner="team")] == ["cl"]
        assert dy.list(owner="nobody") == []
        touched = dy.touch("cl")
        assert touched.key == "cl" and touched.deadline > touched.last_activity_at
        extended = dy.extend("cl", timedelta(minutes=30))
        assert extended.workspace.deadline is not None
        assert extended.workspace.deadline >= touched.deadline + timedelta(minutes=29)
        assert dy.keep("cl").workspace.keep
        assert not dy.keep("cl", keep=False).workspace.keep

        ran = dy.exec("cl", ["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (ran.exit_code, ran.stdout, ran.stderr) == (3, "out\n", "err\n")

        session = dy.open_session("cl", kind=SessionKind.COMMAND)
        assert dy.run_command(session.id, "cd /tmp && export A=1").cwd == "/tmp"
        assert dy.run_command(session.id, "echo $A; pwd").output == "1\n/tmp\n"
        streamed = list(dy.command_stream(session.id, "echo a; echo b"))
        assert "".join(p.text for p in streamed if isinstance(p, Output)) == "a\nb\n"
        assert streamed[-1].exit_code == 0  # type: ignore[union-attr]
        assert session.id in [s.id for s in dy.sessions("cl")]
        assert dy.session(session.id).kind is SessionKind.COMMAND
        closed = dy.close_session(session.id)
        assert (closed.status, closed.closed_reason) == (SessionStatus.DEAD, "closed")

        source = tmp_path / "src"
        source.mkdir()
        (source / "f.txt").write_text("file\n")
        assert dy.upload("cl", "/tmp", tar_tree(source, arcname="src")).entries == 2
        assert [e.name for e in dy.list_dir("cl", "/tmp/src").entries] == ["f.txt"]
        found = dy.stat_path("cl", "/tmp/src")
        assert found is not None and found.kind is EntryKind.DIRECTORY
        assert dy.stat_path("cl", "/tmp/none") is None
        dy.write_file("cl", "/tmp/w/x", b"written", parents=True)
        assert dy.read_file("cl", "/tmp/w/x") == b"written"
        out = tmp_path / "out"
        out.mkdir()
        with dy.download("cl", "/tmp/src") as archive:
            extract(archive, out)
        assert (out / "src" / "f.txt").read_text() == "file\n"

        assert dy.stats()["workspaces_by_state"]["running"] >= 1
        assert dy.whoami() == {"admin": True, "owner": None}
        types = [e.type for e in dy.events(workspace="cl")]
        assert types[0] == "workspace.created" and "workspace.extended" in types

        parked = dy.park("cl")
        assert parked.changed and parked.workspace.state is State.PARKED
        assert dy.acquire("cl").outcome is Outcome.RESTORED
        removed = dy.remove("cl", purge=True, force=True)
        assert removed.changed and removed.purged
        with pytest.raises(NotFound, match="no workspace 'cl'"):
            dy.get("cl")


def test_an_exec_streams_line_by_line(server: Server) -> None:
    with Client(server.url, token=ADMIN) as dy:
        dy.acquire("st")
        script = "echo first; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo second"
        seen: list[Output | ExecResult] = []
        for piece in dy.exec_stream("st", ["sh", "-c", script], timeout=60):
            seen.append(piece)
            if isinstance(piece, Output) and piece.text == "first\n":
                # the command is still waiting: the first line came before its end
                assert dy.exec("st", ["touch", "/tmp/go"]).exit_code == 0
        texts = [p.text for p in seen if isinstance(p, Output)]
        assert texts[0] == "first\n" and "".join(texts) == "first\nsecond\n"
        end = seen[-1]
        assert isinstance(end, ExecResult) and end.exit_code == 0


def test_errors_are_the_librarys_classes(server: Server) -> None:
    with Client(server.url, token=ADMIN) as dy:
        with pytest.raises(NotFound):
            dy.touch("ghost")
        with pytest.raises(InvalidKey, match="whitespace"):
            dy.acquire("bad key!")
        dy.acquire("er")
        with pytest.raises(NoSuchPath, match="no /nope"):
            dy.read_file("er", "/nope")
        dy.park("er")
        with pytest.raises(Conflict, match="dockyard up er"):
            dy.exec("er", ["true"])
    with Client(server.url, token="dy_wrong") as dy, pytest.raises(Unauthorized):
        dy.list()
    nowhere = Client(f"http://127.0.0.1:{free_port()}", retries=1, sleep=lambda _: None)
    with nowhere, pytest.raises(Unavailable, match="cannot reach dockyard"):
        nowhere.list()


def test_an_owner_token_reaches_only_its_owner(server: Server) -> None:
    with Client(server.url, token=server.token("alice")) as alice:
        assert alice.acquire("al").workspace.owner == "alice"
        alice.write_file("al", "/tmp/mine", b"m")
    with Client(server.url, token=server.token("bob")) as bob:
        assert bob.whoami() == {"admin": False, "owner": "bob"}
        assert bob.list() == []
        for verb in (bob.get, bob.touch, bob.park, bob.sessions):
            with pytest.raises(NotFound):
                verb("al")
        with pytest.raises(NotFound):
            bob.read_file("al", "/tmp/mine")


def test_the_environment_names_the_server_and_the_token(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_URL", server.url)
    monkeypatch.setenv("DOCKYARD_TOKEN", ADMIN)
    with Client() as dy:
        assert dy.whoami()["admin"] is True
        assert ADMIN not in repr(dy.connection)


def test_the_async_client_does_the_same(server: Server) -> None:
    async def work() -> None:
        async with AsyncClient(server.url, token=ADMIN) as dy:
            assert (await dy.acquire("as")).outcome is Outcome.CREATED
            results = await asyncio.gather(*(dy.touch("as") for _ in range(20)))
            assert {r.key for r in results} == {"as"}
            pieces = [p async for p in dy.exec_stream("as", ["sh", "-c", "echo 1; echo 2"])]
            assert "".join(p.text for p in pieces if isinstance(p, Output)) == "1\n2\n"
            session = await dy.open_session("as")
            assert (await dy.run_command(session.id, "echo $((6*7))")).output == "42\n"
            await dy.write_file("as", "/tmp/a", b"async")
            assert await dy.read_file("as", "/tmp/a") == b"async"
            async with dy.download("as", "/tmp/a") as archive:
                data = b"".join([chunk async for chunk in archive])
            assert b"async" in data

            async def chunks() -> AsyncIterator[bytes]:
                yield data

            assert (await dy.upload("as", "/", chunks())).entries == 1
            with pytest.raises(NotFound):
                await dy.get("ghost")
            followed: list[str] = []

            async def follow() -> None:
                async for event in dy.follow_events(workspace="as"):
                    followed.append(event.type)
                    if event.type == "workspace.parked":
                        return

            watcher = asyncio.create_task(follow())
            await asyncio.sleep(0.3)  # the stream is open before the park
            await dy.park("as")
            await asyncio.wait_for(watcher, 30)
            assert "workspace.parked" in followed

    asyncio.run(work())


def test_events_followed_as_they_happen(server: Server) -> None:
    with Client(server.url, token=ADMIN) as dy:
        dy.acquire("ev")
        last = dy.events(workspace="ev")[-1].id
        seen: list[str] = []

        def follow() -> None:
            with Client(server.url, token=ADMIN) as other:
                for event in other.follow_events(after=last, workspace="ev"):
                    seen.append(event.type)
                    if event.type == "workspace.parked":
                        return

        watcher = threading.Thread(target=follow)
        watcher.start()
        dy.park("ev")
        watcher.join(30)
        assert not watcher.is_alive() and seen[-1] == "workspace.parked"


def test_twenty_megabytes_through_the_client(server: Server, tmp_path: Path) -> None:
    payload = os.urandom(20 * 1024 * 1024)
    (tmp_path / "big.bin").write_bytes(payload)
    with Client(server.url, token=ADMIN) as dy:
        dy.acquire("big")
        dy.upload("big", "/tmp", tar_tree(tmp_path / "big.bin", arcname="big.bin"))
        out = tmp_path / "out"
        out.mkdir()
        with dy.download("big", "/tmp/big.bin") as archive:
            extract(archive, out)
    assert (out / "big.bin").read_bytes() == payload
