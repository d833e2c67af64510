"""Owners' workspaces cannot reach each other (the real engine's isolation of bridge
networks), an owner's own can; and gc takes the network an owner no longer uses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dockyard.core.gc import GcRequest, Kind
from dockyard.core.naming import owner_network_name
from dockyard.service import AcquireRequest, Dockyard
from dockyard.service.reconcile import gc
from dockyard.settings import Settings
from tests.engine_fixtures import engine_json


def _sh(dy: Dockyard, key: str, script: str) -> tuple[int, str]:
    out = bytearray()
    code = dy.exec(key, ["sh", "-c", script], on_output=lambda _stream, data: out.extend(data))
    return code, out.decode()


def _address(dy: Dockyard, key: str) -> str:
    info: Any = engine_json(f"/containers/{dy.get(key).container_id}/json")
    [network] = info["NetworkSettings"]["Networks"].values()
    return str(network["IPAddress"])


def _serve(dy: Dockyard, key: str) -> None:
    code, _ = _sh(
        dy,
        key,
        f"mkdir -p /tmp/www && echo {key} > /tmp/www/index.html && httpd -p 8080 -h /tmp/www",
    )  # busybox httpd goes to the background
    assert code == 0


def _fetch(dy: Dockyard, key: str, address: str) -> str:
    """The page served at ``address``, fetched from ``key`` ('' if it cannot connect)."""
    request = r"printf 'GET / HTTP/1.0\r\n\r\n'"
    return _sh(dy, key, f"{request} | nc -w 2 {address} 8080 2>/dev/null")[1]


def test_owners_workspaces_reach_their_own_and_nobody_elses(dy: Dockyard) -> None:
    for key, owner in [("a1", "alice"), ("a2", "alice"), ("b1", "bob")]:
        dy.acquire(AcquireRequest(key=key, owner=owner))
    _serve(dy, "a1")
    _serve(dy, "b1")
    a1, b1 = _address(dy, "a1"), _address(dy, "b1")
    assert _fetch(dy, "a2", a1).endswith("\r\n\r\na1\n")  # alice's own share a network
    assert _fetch(dy, "a2", b1) == ""  # bob's is out of reach
    assert _fetch(dy, "b1", a1) == ""  # and alice's of bob's
    assert _fetch(dy, "b1", b1).endswith("b1\n")  # (it does serve)
    assert (
        a1.startswith("10.213.")
        and b1.startswith("10.213.")
        and a1.split(".")[2] != b1.split(".")[2]
    )
    code, routes = _sh(dy, "a1", "ip route")
    assert code == 0 and "default via 10.213." in routes  # the way out (NAT) is there


def test_gc_takes_the_network_of_an_owner_without_workspaces(dy: Dockyard) -> None:
    dy.acquire(AcquireRequest(key="a", owner="alice"))
    dy.acquire(AcquireRequest(key="b", owner="bob"))
    dy.remove("b", purge=True)
    plan = gc.plan(dy.ctx, GcRequest(age=timedelta(0)))
    networks = [item.name for item in plan.items if item.kind is Kind.NETWORK]
    assert networks == [owner_network_name("bob", installation=dy.installation)]
    results = gc.apply(dy.ctx, plan)
    assert [r.outcome.value for r in results if r.item.kind is Kind.NETWORK] == ["removed"]
    assert dy.acquire(AcquireRequest(key="a")).outcome.value == "reused"
    assert dy.acquire(AcquireRequest(key="b", owner="bob")).outcome.value == "created"


def test_a_workspace_made_on_the_shared_bridge_moves_to_its_owners_network_when_started(
    engine_settings: Settings, installed: list[str]
) -> None:
    """Containers made before owners had networks join theirs at their next start."""
    shared = engine_settings.workspace.model_copy(update={"network": "bridge"})
    before = Dockyard.open(engine_settings.model_copy(update={"workspace": shared}))
    installed.append(before.installation)
    before.acquire(AcquireRequest(key="w", owner="alice"))
    before.stop("w")
    before.close()
    after = Dockyard.open(engine_settings)
    try:
        assert after.acquire(AcquireRequest(key="w")).outcome.value == "started"
        info: Any = engine_json(f"/containers/{after.get('w').container_id}/json")
        owners = owner_network_name("alice", installation=after.installation)
        assert list(info["NetworkSettings"]["Networks"]) == [owners]
    finally:
        after.close()
