"""The files routes against a real ``serve`` and the real engine: a 20 MB file in and out
byte for byte, as an archive and whole; listings; caps answered 413 before the body is
read; clear errors; owners kept apart."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import httpx

from dockyard.archives import extract, tar_bytes
from dockyard.engine.docker import DockerEngine
from tests.api.conftest import Server, start_server, stop_server
from tests.engine_fixtures import remove_installation


def test_twenty_megabytes_in_and_out_byte_for_byte(server: Server, tmp_path: Path) -> None:
    payload = os.urandom(20 * 1024 * 1024)
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "files"}).raise_for_status()
        put = api.put(
            "/api/v1/workspaces/files/archive",
            params={"path": "/tmp"},
            content=iter([tar_bytes("big.bin", payload)]),  # chunked: no declared length
            headers={"Content-Type": "application/x-tar"},
        )
        assert put.status_code == 200, put.text
        assert put.json()["entries"] == 1

        listing = api.get("/api/v1/workspaces/files/files", params={"path": "/tmp"}).json()
        [entry] = [e for e in listing["entries"] if e["name"] == "big.bin"]
        assert (entry["kind"], entry["size"], entry["mode"]) == ("file", len(payload), "0644")

        with api.stream(
            "GET", "/api/v1/workspaces/files/archive", params={"path": "/tmp/big.bin"}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-tar"
            extract(response.iter_bytes(), tmp_path)
        assert (tmp_path / "big.bin").read_bytes() == payload

        whole = payload[: 8 * 1024 * 1024]
        wrote = api.put(
            "/api/v1/workspaces/files/file",
            params={"path": "/tmp/new/whole.bin", "parents": True, "mode": "0600"},
            content=whole,
        )
        assert wrote.status_code == 200, wrote.text
        read = api.get("/api/v1/workspaces/files/file", params={"path": "/tmp/new/whole.bin"})
        assert read.content == whole
        stat = api.get("/api/v1/workspaces/files/stat", params={"path": "/tmp/new/whole.bin"})
        assert stat.json() == {
            "name": "whole.bin",
            "kind": "file",
            "size": len(whole),
            "mode": "0600",
            "link_target": "",
        }


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def test_errors_a_client_can_act_on(server: Server) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "fe"}).raise_for_status()
        files = "/api/v1/workspaces/fe"
        status, code, message = error(api.get(f"{files}/files", params={"path": "/nope"}))
        assert (status, code, message) == (404, "no_such_path", "no /nope in workspace 'fe'")
        status, code, _ = error(api.get(f"{files}/files", params={"path": "/etc/hostname"}))
        assert (status, code) == (422, "invalid_value")
        status, code, message = error(api.get(f"{files}/stat", params={"path": "relative"}))
        assert (status, code) == (422, "invalid_value") and "not absolute" in message
        status, code, _ = error(api.get(f"{files}/files"))
        assert (status, code) == (422, "invalid_value")  # path is required
        status, code, message = error(
            api.put(f"{files}/archive", params={"path": "/tmp"}, content=b"no tar" * 200)
        )
        assert (status, code) == (422, "invalid_value") and "not a tar archive" in message
        status, code, _ = error(api.get(f"{files}/archive", params={"path": "/tmp/none"}))
        assert (status, code) == (404, "no_such_path")
        status, code, _ = error(api.get(f"{files}/stat", params={"path": "/tmp/none"}))
        assert (status, code) == (404, "no_such_path")
        status, code, _ = error(api.get("/api/v1/workspaces/ghost/stat", params={"path": "/"}))
        assert (status, code) == (404, "not_found")  # the workspace itself
        status, code, _ = error(
            api.put(f"{files}/file", params={"path": "/tmp/x", "mode": "999"}, content=b"x")
        )
        assert (status, code) == (422, "invalid_value")
        api.post(f"{files}/park").raise_for_status()
        status, code, message = error(api.get(f"{files}/file", params={"path": "/etc/hostname"}))
        assert (status, code) == (409, "conflict") and "dockyard up fe" in message


def test_caps_refuse_a_body_before_it_is_read(tmp_path: Path, docker: DockerEngine) -> None:
    server = start_server(tmp_path, extra_config='[files]\nmax_size = "1m"\nsingle_max = "64k"\n')
    try:
        with server.client() as api:
            api.post("/api/v1/workspaces", json={"key": "fc"}).raise_for_status()
            declared = api.put(
                "/api/v1/workspaces/fc/archive",
                params={"path": "/tmp"},
                content=tar_bytes("big", b"x" * 2 * 1024 * 1024),
            )
            status, code, message = error(declared)
            assert (status, code) == (413, "body_too_large") and "files.max_size" in message
            chunked = api.put(
                "/api/v1/workspaces/fc/archive",
                params={"path": "/tmp"},
                content=iter([b"\0" * 512 * 1024] * 4),
            )
            assert chunked.status_code == 413
            status, code, message = error(
                api.put(
                    "/api/v1/workspaces/fc/file", params={"path": "/tmp/f"}, content=b"y" * 70000
                )
            )
            assert (status, code) == (413, "body_too_large") and "files.single_max" in message
            listing = api.get("/api/v1/workspaces/fc/files", params={"path": "/tmp"}).json()
            assert [e["name"] for e in listing["entries"]] == []  # nothing half-written
            api.post(
                "/api/v1/workspaces/fc/exec",
                json={"command": ["sh", "-c", "head -c 100000 /dev/zero > /tmp/large"]},
            ).raise_for_status()
            status, code, message = error(
                api.get("/api/v1/workspaces/fc/file", params={"path": "/tmp/large"})
            )
            assert (status, code) == (413, "too_large") and "download it instead" in message
    finally:
        stop_server(server)
        remove_installation(docker, server.installation)


def test_an_owner_reaches_only_its_own_files(server: Server) -> None:
    alice, bob = server.token("alice"), server.token("bob")
    with server.client(alice) as api:
        api.post("/api/v1/workspaces", json={"key": "alice-ws"}).raise_for_status()
        api.put(
            "/api/v1/workspaces/alice-ws/file", params={"path": "/tmp/secret"}, content=b"s"
        ).raise_for_status()
        assert (
            api.get("/api/v1/workspaces/alice-ws/file", params={"path": "/tmp/secret"}).content
            == b"s"
        )
    with server.client(bob) as api:
        for method, route in [
            ("GET", "file"),
            ("GET", "files"),
            ("GET", "stat"),
            ("GET", "archive"),
            ("PUT", "file"),
            ("PUT", "archive"),
        ]:
            answer = api.request(
                method,
                f"/api/v1/workspaces/alice-ws/{route}",
                params={"path": "/tmp/secret" if route != "files" else "/tmp"},
                content=tar_bytes("x", b"x") if method == "PUT" else None,
            )
            assert answer.status_code == 404, (method, route, answer.text)


def test_a_directory_archive_names_its_entries_under_the_directory(server: Server) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "fd"}).raise_for_status()
        api.put(
            "/api/v1/workspaces/fd/file",
            params={"path": "/tmp/d/e/f", "parents": True},
            content=b"f",
        ).raise_for_status()
        data = api.get("/api/v1/workspaces/fd/archive", params={"path": "/tmp/d"}).content
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        assert sorted(archive.getnames()) == ["d", "d/e", "d/e/f"]
