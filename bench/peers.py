"""Side by side with the peers: dockyard, the docker SDK and llm-sandbox, interleaved.

The same three operations by each: a new workspace (container), an exec of ``true`` and
a warm reuse of a running one. The docker SDK is the floor (each figure is dockyard's
p50 over the SDK's); llm-sandbox's ratio over the same floor is in the figure's note.

The peers are not dependencies of the project: ``bench/run`` installs them into
``bench/.peers`` (``pip install --target``), which only this module puts on
``sys.path``, after everything else, so the project's own packages win. Without them the
figures are skipped, with the reason printed.
"""

from __future__ import annotations

import importlib
import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.figures import Bench
from bench.stats import Figure, p50, timed
from dockyard.core.naming import LABEL_INSTALLATION
from dockyard.service import AcquireRequest
from dockyard.service.workspaces.containers import container_spec
from dockyard.service.workspaces.networks import network_for

PEERS_DIR = Path(__file__).parent / ".peers"
LABEL_PEER = "dockyard.bench.peer"


@dataclass
class Peers:
    """The peer modules and what they were given: one SDK client, shared by both."""

    client: Any
    sandbox: Any  # llm_sandbox.docker.SandboxDockerSession, or None when not importable
    sandbox_version: str
    sandbox_skipped: str  # why llm-sandbox is not measured, when it is not
    made: list[str] = field(default_factory=list)  # ids of containers the peers started


def load_peers() -> Peers | str:
    """The peers, or why they cannot be measured."""
    if PEERS_DIR.is_dir() and str(PEERS_DIR) not in sys.path:
        sys.path.append(str(PEERS_DIR))
    try:
        docker: Any = importlib.import_module("docker")
    except ImportError as exc:
        return f"the docker SDK is not importable ({exc}; bench/run installs it in {PEERS_DIR})"
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure of the peer means no figure
        return f"the docker SDK cannot reach the engine ({exc})"
    sandbox, version, skipped = None, "", ""
    try:
        module: Any = importlib.import_module("llm_sandbox.docker")
        sandbox = module.SandboxDockerSession
        version = importlib.import_module("importlib.metadata").version("llm-sandbox")
    except Exception as exc:  # noqa: BLE001
        skipped = f"llm-sandbox not importable ({exc})"
    return Peers(client=client, sandbox=sandbox, sandbox_version=version, sandbox_skipped=skipped)


def peer_figures(bench: Bench) -> list[Figure]:
    """The three side-by-side figures; none when the docker SDK is missing."""
    peers = load_peers()
    if isinstance(peers, str):
        print(f"[bench] peer figures skipped: {peers}", flush=True)
        return []
    try:
        return [new_workspace(bench, peers), exec_true(bench, peers), warm_reuse(bench, peers)]
    finally:
        for cid in peers.made:
            try:
                peers.client.containers.get(cid).remove(force=True)
            except Exception as exc:  # noqa: BLE001 - gone already is fine
                if "404" not in str(exc) and "Not Found" not in str(exc):
                    print(f"[bench] removing peer container {cid[:12]}: {exc}", flush=True)
        peers.client.close()


# -- the three operations ---------------------------------------------------------------------


def new_workspace(bench: Bench, peers: Peers) -> Figure:
    dy = bench.dy
    samples = 3 if bench.quick else 8
    counter = itertools.count()
    # the container dockyard makes, as SDK keyword arguments: same image, command, limits,
    # init process, working directory and network (the owner's, which dockyard made)
    probe = dy.acquire(AcquireRequest(key="bench-peers-probe")).workspace
    spec = container_spec(dy.ctx, probe, network=network_for(dy.ctx, probe.owner))
    dy.remove(probe.key, purge=True, force=True)
    labels = {LABEL_INSTALLATION: dy.ctx.installation, LABEL_PEER: "1"}
    kwargs: dict[str, Any] = {
        "command": list(spec.command),
        "mem_limit": spec.memory_bytes,
        "nano_cpus": spec.nano_cpus,
        "pids_limit": spec.pids_limit,
        "init": True,
        "working_dir": spec.workdir,
        "network": spec.network,
        "labels": labels,
    }
    kwargs = {k: v for k, v in kwargs.items() if v is not None}

    def one_run() -> tuple[float, float, float | None]:
        ours, floor, theirs = [], [], []
        for _ in range(samples):
            key = f"bench-peers-new-{next(counter)}"
            ours.append(timed(lambda: dy.acquire(AcquireRequest(key=key))))
            made: list[Any] = []
            floor.append(
                timed(
                    lambda: made.append(
                        peers.client.containers.run(spec.image, detach=True, **kwargs)
                    )
                )
            )
            peers.made.append(made[0].id)
            if peers.sandbox is not None:
                sessions: list[Any] = []

                def open_session() -> None:
                    session = peers.sandbox(
                        client=peers.client,
                        image=spec.image,
                        lang="python",
                        skip_environment_setup=True,  # its setup runs python -m venv
                        runtime_configs=dict(kwargs),
                    )
                    session.open()
                    sessions.append(session)

                theirs.append(timed(open_session))
                peers.made.append(sessions[0].container.id)
            # cleanup, untimed
            dy.remove(key, purge=True, force=True)
            for cid in peers.made:
                peers.client.containers.get(cid).remove(force=True)
            peers.made.clear()
        return p50(ours), p50(floor), p50(theirs) if theirs else None

    return three_way(
        "new workspace vs docker SDK containers.run",
        1.15,
        bench,
        peers,
        one_run,
        what="acquire of a new key (volume, record, container) vs containers.run of the same "
        "container spec",
        sandbox_what="SandboxDockerSession(image=..., skip_environment_setup=True).open()",
    )


def exec_true(bench: Bench, peers: Peers) -> Figure:
    dy = bench.dy
    samples = 30 if bench.quick else 150
    ws = dy.acquire(AcquireRequest(key="bench-peers-exec")).workspace
    container = peers.client.containers.get(ws.name)
    session = None
    if peers.sandbox is not None:
        session = peers.sandbox(
            client=peers.client, container_id=ws.name, lang="python", skip_environment_setup=True
        )
        session.open()

    def ours() -> None:
        dy.exec(ws.key, ["true"], on_output=lambda _s, _d: None)

    def floor() -> None:
        assert container.exec_run("true").exit_code == 0

    def theirs() -> None:
        assert session is not None
        assert session.execute_command("true").exit_code == 0

    def one_run() -> tuple[float, float, float | None]:
        a, b, c = [], [], []
        for _ in range(samples):
            a.append(timed(ours))
            b.append(timed(floor))
            if session is not None:
                c.append(timed(theirs))
        return p50(a), p50(b), p50(c) if c else None

    try:
        return three_way(
            "exec of true vs docker SDK exec_run",
            1.10,
            bench,
            peers,
            one_run,
            what="dockyard exec vs container.exec_run, the same container",
            sandbox_what="session.execute_command('true') on that container",
        )
    finally:
        if session is not None:
            session.close()  # a session on an existing container only disconnects
        dy.remove(ws.key, purge=True, force=True)


def warm_reuse(bench: Bench, peers: Peers) -> Figure:
    dy = bench.dy
    samples = 50 if bench.quick else 300
    ws = dy.acquire(AcquireRequest(key="bench-peers-warm")).workspace

    def ours() -> None:
        dy.acquire(AcquireRequest(key=ws.key))

    def floor() -> None:
        peers.client.containers.get(ws.name)

    def theirs(client: Any) -> Any:
        session = peers.sandbox(
            client=client, container_id=ws.name, lang="python", skip_environment_setup=True
        )
        session.open()
        return session

    # and as its documentation shows it, without a client: each session makes its own
    # (docker.from_env(), which asks the engine for its API version first)
    default_client: list[float] = []

    def one_run() -> tuple[float, float, float | None]:
        a, b, c, d = [], [], [], []
        for _ in range(samples):
            a.append(timed(ours))
            b.append(timed(floor))
            if peers.sandbox is not None:
                c.append(timed(lambda: theirs(peers.client)))
                made: list[Any] = []
                d.append(timed(lambda: made.append(theirs(None))))
                made[0].client.close()
        if d:
            default_client.append(p50(d) / p50(b))
        return p50(a), p50(b), p50(c) if c else None

    try:
        figure = three_way(
            "warm reuse vs docker SDK containers.get",
            2.0,
            bench,
            peers,
            one_run,
            what="acquire of a running key vs containers.get(name)",
            sandbox_what="SandboxDockerSession(client=the SDK's, container_id=name).open()",
        )
        if default_client:
            figure.note += (
                f"; without a client of its own (docker.from_env() per session, as its docs "
                f"show): {p50(default_client):.2f}x ({min(default_client):.2f}.."
                f"{max(default_client):.2f})"
            )
        return figure
    finally:
        dy.remove(ws.key, purge=True, force=True)


# -- reporting --------------------------------------------------------------------------------


def three_way(
    name: str,
    target: float,
    bench: Bench,
    peers: Peers,
    one_run: Callable[[], tuple[float, float, float | None]],
    *,
    what: str,
    sandbox_what: str,
) -> Figure:
    """Dockyard over the SDK per run as the figure; llm-sandbox over the SDK in the note."""
    figure = Figure(name, "x floor", target)
    sandbox: list[float] = []
    sandbox_s: list[float] = []
    for _ in range(bench.runs):
        ours, floor, theirs = one_run()
        figure.value_s.append(ours)
        figure.floor_s.append(floor)
        figure.runs.append(ours / floor)
        if theirs is not None:
            sandbox.append(theirs / floor)
            sandbox_s.append(theirs)
    figure.note = (
        f"{what}; p50 dockyard {ms(p50(figure.value_s))}, docker SDK {ms(p50(figure.floor_s))}"
    )
    if sandbox:
        figure.note += (
            f"; llm-sandbox {peers.sandbox_version} {sandbox_what}: {p50(sandbox):.2f}x the SDK "
            f"({min(sandbox):.2f}..{max(sandbox):.2f}), p50 {ms(p50(sandbox_s))}"
        )
    else:
        figure.note += f"; llm-sandbox skipped: {peers.sandbox_skipped}"
    return figure


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
