"""An engine over TLS (``dockerd --tlsverify``), the way the docker CLI reaches one:
a dockerd of the test's own in a network namespace of its own, with certificates made
for the test. Every kind of call goes over it: plain requests, streams (events, logs),
a hijacked exec with its input ended (a half-close through TLS), archives in and out.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.core.errors import DockyardError, EngineUnavailable, InvalidInput
from dockyard.core.model import Outcome, State
from dockyard.engine.docker import DockerEngine
from dockyard.engine.tls import client_context
from dockyard.service import AcquireRequest, Dockyard
from dockyard.settings import DEFAULT_IMAGE, Settings, load_settings
from tests.engine_fixtures import remove_installation_at
from tests.netns_engine import NetnsEngine, engine_in_netns
from tests.tls_certs import make_certificates


@pytest.fixture(scope="module")
def secure() -> Iterator[NetnsEngine]:
    with engine_in_netns(DEFAULT_IMAGE, tls=True) as engine:
        yield engine


def tls_settings(tmp_path: Path, engine: NetnsEngine, *, cert_path: Path | None) -> Settings:
    spec = {"name": "secure", "url": engine.tcp_url, "tls_verify": True, "cert_path": cert_path}
    return load_settings(
        env={},
        flags={
            "data_dir": tmp_path / "data",
            "engines": [spec],
            "workspace.network": "none",
            "workspace.memory": "128m",
            "workspace.stop_timeout": "1s",
        },
    )


@pytest.fixture
def dy(tmp_path: Path, secure: NetnsEngine) -> Iterator[Dockyard]:
    service = Dockyard.open(tls_settings(tmp_path, secure, cert_path=secure.client_certs))
    yield service
    installation = service.installation
    service.close()
    remove_installation_at(secure.unix_url, installation)


def test_a_workspace_lives_its_whole_life_over_tls(dy: Dockyard) -> None:
    assert dy.acquire(AcquireRequest(key="tls")).outcome is Outcome.CREATED
    out = bytearray()
    code = dy.exec(
        "tls",
        ["sh", "-c", "cat > /workspace/in.txt && wc -c < /workspace/in.txt"],
        stdin=iter([b"hello ", b"over tls\n"]),  # ends: the process sees end of input
        on_output=lambda _stream, data: out.extend(data),
    )
    assert (code, out.decode().strip()) == (0, "15")
    assert dy.park("tls").changed
    assert dy.acquire(AcquireRequest(key="tls")).outcome is Outcome.RESTORED
    out.clear()
    dy.exec("tls", ["cat", "/workspace/in.txt"], on_output=lambda _s, data: out.extend(data))
    assert out.decode() == "hello over tls\n"
    dy.clean()  # lists, reads the engine's events, inspects: all over TLS
    assert dy.get("tls").state is State.RUNNING


def test_archives_go_in_and_out_over_tls(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="files"))
    engine = dy.ctx.at(dy.get("files")).engine
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("note.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    container = dy.get("files").container_id or ""
    engine.put_archive(ref=container, path="/workspace", data=iter([buffer.getvalue()]))
    with engine.get_archive(ref=container, path="/workspace/note.txt") as chunks:
        data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile("note.txt")
        assert member is not None and member.read() == b"hi\n"


def test_a_client_the_engine_does_not_trust_gets_a_clear_error(
    tmp_path: Path, secure: NetnsEngine
) -> None:
    stranger = make_certificates(tmp_path / "other", ip="10.0.0.1", name="another ca")
    engine = DockerEngine(secure.tcp_url, tls=client_context(stranger.client))
    try:
        with pytest.raises(EngineUnavailable, match="TLS: the engine's certificate is not trusted"):
            engine.ping()
    finally:
        engine.close()
    plain = DockerEngine(secure.tcp_url)
    try:
        with pytest.raises(DockyardError):
            plain.ping()
    finally:
        plain.close()
    with pytest.raises(InvalidInput, match=r"engine 'secure': TLS to the engine needs .*cert\.pem"):
        Dockyard.open(tls_settings(tmp_path, secure, cert_path=tmp_path / "nothing"))
