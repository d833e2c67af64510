"""A second Docker engine of the test's own, in a network namespace of its own.

It is reached over TCP across a veth pair, so the test can cut it off the way a network
partition would (``blackhole``: its packets dropped inside its namespace) without
touching the host's engine, bridge or iptables. With ``tls``, it speaks only TLS on
2376 and asks for a client certificate (``dockerd --tlsverify``), from certificates
made for the test (``tests/tls_certs.py``). Everything is made under names unique to
the test and removed at the end, dockerd first: the namespace, its veth pair, its
temporary directories (each the path ``mkdtemp`` returned).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.errors import DockyardError
from dockyard.engine.docker import DockerEngine
from tests.tls_certs import make_certificates


@dataclass(frozen=True)
class NetnsEngine:
    name: str  # the namespace
    tcp_url: str
    unix_url: str
    client_certs: Path | None = None  # ca.pem, cert.pem, key.pem when it speaks TLS

    def blackhole(self, *, on: bool) -> None:
        """Drop (or stop dropping) every packet to the engine's API port, inside its
        own namespace: the engine is still up, but nobody can reach it."""
        action = "-A" if on else "-D"
        port = self.tcp_url.rsplit(":", 1)[1]
        _run("nsenter", f"--net=/run/netns/{self.name}", "iptables", action, "INPUT",
             "-p", "tcp", "--dport", port, "-j", "DROP")  # fmt: skip


def _run(*argv: str, stdin: bytes | None = None) -> None:
    subprocess.run(argv, check=True, capture_output=True, input=stdin, timeout=120)


@contextmanager
def engine_in_netns(image: str, *, tls: bool = False) -> Iterator[NetnsEngine]:
    """Start it, load ``image`` into it, yield it; tear it all down afterwards."""
    name = f"dyt{secrets.token_hex(3)}"
    octet = secrets.randbelow(60) * 4  # a /30 of 10.251.X.0/24 of its own
    third = secrets.randbelow(250)
    host_ip, engine_ip = f"10.251.{third}.{octet + 1}", f"10.251.{third}.{octet + 2}"
    runtime = Path(tempfile.mkdtemp(prefix="dyt-", dir="/run"))  # short: sockets live here
    data = Path(tempfile.mkdtemp(prefix="dyt-data-"))
    daemon: subprocess.Popen[bytes] | None = None
    log = runtime / "dockerd.log"
    try:
        _run("ip", "netns", "add", name)
        _run("ip", "link", "add", f"{name}h", "type", "veth", "peer", "name", f"{name}n")
        _run("ip", "link", "set", f"{name}n", "netns", name)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", f"{name}h")
        _run("ip", "link", "set", f"{name}h", "up")
        inside = ("nsenter", f"--net=/run/netns/{name}")
        _run(*inside, "ip", "link", "set", "lo", "up")
        _run(*inside, "ip", "addr", "add", f"{engine_ip}/30", "dev", f"{name}n")
        _run(*inside, "ip", "link", "set", f"{name}n", "up")
        _run(*inside, "ip", "route", "add", "default", "via", host_ip)
        socket_path = runtime / "docker.sock"
        listen, secure = ["--host", "tcp://0.0.0.0:2375"], None
        if tls:
            secure = make_certificates(runtime / "certs", ip=engine_ip)
            listen = ["--host", "tcp://0.0.0.0:2376", "--tlsverify",
                      "--tlscacert", str(secure.server / "ca.pem"),
                      "--tlscert", str(secure.server / "server-cert.pem"),
                      "--tlskey", str(secure.server / "server-key.pem")]  # fmt: skip
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [*inside, "dockerd", "--host", f"unix://{socket_path}", *listen,
                 "--data-root", str(data),
                 "--exec-root", str(runtime / "exec"), "--pidfile", str(runtime / "docker.pid"),
                 "--bridge", "none", "--iptables=false"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        port = 2376 if tls else 2375
        engine = NetnsEngine(
            name,
            f"tcp://{engine_ip}:{port}",
            f"unix://{socket_path}",
            client_certs=secure.client if secure else None,
        )
        _wait_for(engine.unix_url, daemon, log)
        saved = subprocess.run(["docker", "save", image], check=True, capture_output=True)
        _run("docker", "-H", engine.unix_url, "load", stdin=saved.stdout)
        yield engine
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        with suppress(subprocess.CalledProcessError):
            _run("ip", "netns", "del", name)  # its end of the veth pair, and so the other
        _umount_under(runtime)
        shutil.rmtree(runtime, ignore_errors=True)
        _umount_under(data)
        shutil.rmtree(data, ignore_errors=True)


def _wait_for(url: str, daemon: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    engine = DockerEngine(url)
    try:
        while not _answers(engine):
            if daemon.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text()[-3000:]
                raise AssertionError(f"the namespaced dockerd did not start:\n{tail}")
            time.sleep(0.1)
    finally:
        engine.close()


def _answers(engine: DockerEngine) -> bool:
    try:
        engine.ping()
    except DockyardError:
        return False
    return True


def _umount_under(root: Path) -> None:
    """What the engine mounted below ``root`` (overlay layers, shm), deepest first."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    targets = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{root}/")]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    with suppress(OSError):
        os.sync()
