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


@dataclass(frozen=True)
class _Namespace:
    name: str
    host_ip: str
    engine_ip: str

    @property
    def inside(self) -> tuple[str, ...]:
        """A command prefix that runs in the namespace (``ip netns exec`` would remount
        /sys and lose the cgroup mounts)."""
        return ("nsenter", f"--net=/run/netns/{self.name}")


@contextmanager
def _namespace() -> Iterator[_Namespace]:
    """A network namespace joined to the host by a veth pair on a /30 of its own."""
    name = f"dyt{secrets.token_hex(3)}"
    octet = secrets.randbelow(60) * 4  # a /30 of 10.251.X.0/24 of its own
    third = secrets.randbelow(250)
    ns = _Namespace(name, f"10.251.{third}.{octet + 1}", f"10.251.{third}.{octet + 2}")
    try:
        _run("ip", "netns", "add", name)
        _run("ip", "link", "add", f"{name}h", "type", "veth", "peer", "name", f"{name}n")
        _run("ip", "link", "set", f"{name}n", "netns", name)
        _run("ip", "addr", "add", f"{ns.host_ip}/30", "dev", f"{name}h")
        _run("ip", "link", "set", f"{name}h", "up")
        _run(*ns.inside, "ip", "link", "set", "lo", "up")
        _run(*ns.inside, "ip", "addr", "add", f"{ns.engine_ip}/30", "dev", f"{name}n")
        _run(*ns.inside, "ip", "link", "set", f"{name}n", "up")
        _run(*ns.inside, "ip", "route", "add", "default", "via", ns.host_ip)
        yield ns
    finally:
        with suppress(subprocess.CalledProcessError):
            _run("ip", "netns", "del", name)  # its end of the veth pair, and so the other


@contextmanager
def _directories() -> Iterator[tuple[Path, Path]]:
    """A runtime directory (short: sockets live there) and a data directory, each the
    path ``mkdtemp`` made; unmounted below and removed afterwards."""
    runtime = Path(tempfile.mkdtemp(prefix="dyt-", dir="/run"))
    data = Path(tempfile.mkdtemp(prefix="dyt-data-"))
    try:
        yield runtime, data
    finally:
        for made in (runtime, data):
            _umount_under(made)
            shutil.rmtree(made, ignore_errors=True)


def _stop(daemon: subprocess.Popen[bytes] | None) -> None:
    if daemon is None:
        return
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()


@contextmanager
def engine_in_netns(image: str, *, tls: bool = False) -> Iterator[NetnsEngine]:
    """Start a dockerd there, load ``image`` into it, yield it; tear it all down after."""
    daemon: subprocess.Popen[bytes] | None = None
    with _namespace() as ns, _directories() as (runtime, data):
        log = runtime / "dockerd.log"
        socket_path = runtime / "docker.sock"
        listen, secure = ["--host", "tcp://0.0.0.0:2375"], None
        if tls:
            secure = make_certificates(runtime / "certs", ip=ns.engine_ip)
            listen = ["--host", "tcp://0.0.0.0:2376", "--tlsverify",
                      "--tlscacert", str(secure.server / "ca.pem"),
                      "--tlscert", str(secure.server / "server-cert.pem"),
                      "--tlskey", str(secure.server / "server-key.pem")]  # fmt: skip
        try:
            with log.open("wb") as out:
                daemon = subprocess.Popen(
                    [*ns.inside, "dockerd", "--host", f"unix://{socket_path}", *listen,
                     "--data-root", str(data), "--exec-root", str(runtime / "exec"),
                     "--pidfile", str(runtime / "docker.pid"),
                     "--bridge", "none", "--iptables=false"],
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            port = 2376 if tls else 2375
            engine = NetnsEngine(
                ns.name,
                f"tcp://{ns.engine_ip}:{port}",
                f"unix://{socket_path}",
                client_certs=secure.client if secure else None,
            )
            _wait_for(engine.unix_url, daemon, log)
            saved = subprocess.run(["docker", "save", image], check=True, capture_output=True)
            _run("docker", "-H", engine.unix_url, "load", stdin=saved.stdout)
            yield engine
        finally:
            _stop(daemon)


#: Podman as root without systemd or journald, with the ulimits its containers need.
PODMAN_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


@contextmanager
def podman_in_netns(image: str) -> Iterator[NetnsEngine]:
    """Podman's Docker-compatible API (``podman system service``) there on TCP 2375,
    with storage and configuration of its own (nothing of the host's Podman is used or
    changed), ``image`` loaded into it; torn down afterwards, with the ``conmon``
    processes it leaves behind for a while after each exec."""
    daemon: subprocess.Popen[bytes] | None = None
    with _namespace() as ns, _directories() as (runtime, data):
        conf = runtime / "containers.conf"
        conf.write_text(PODMAN_CONF)
        env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        podman = ["podman", "--root", str(data / "storage"), "--runroot", str(runtime / "run"),
                  "--tmpdir", str(runtime / "tmp"),
                  "--network-config-dir", str(runtime / "networks")]  # fmt: skip
        log = runtime / "podman.log"
        try:
            saved = subprocess.run(["docker", "save", image], check=True, capture_output=True)
            subprocess.run(
                [*podman, "load"], input=saved.stdout, env=env, check=True,
                capture_output=True, timeout=120,
            )  # fmt: skip
            with log.open("wb") as out:
                daemon = subprocess.Popen(
                    [*ns.inside, *podman, "system", "service", "--time=0", "tcp://0.0.0.0:2375"],
                    stdout=out, stderr=subprocess.STDOUT, env=env,
                )  # fmt: skip
            url = f"tcp://{ns.engine_ip}:2375"
            _wait_for(url, daemon, log)
            yield NetnsEngine(ns.name, url, url)
        finally:
            subprocess.run(  # whatever a failed test left running there
                [*podman, "rm", "--all", "--force", "--time", "0"],
                env=env, check=False, capture_output=True, timeout=120,
            )  # fmt: skip
            _stop(daemon)
            subprocess.run(["pkill", "-f", f"conmon .*{data}/"], check=False)


def _wait_for(url: str, daemon: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    engine = DockerEngine(url)
    try:
        while not _answers(engine):
            if daemon.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text()[-3000:]
                raise AssertionError(f"the namespaced engine did not start:\n{tail}")
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
