"""Several engines: placement (pure), daemon identity, unknown is not gone (fake engines).

The fake engines are two in-memory engines under one store; what they prove is the
orchestration (which engine each call goes to, what a pass plans when one engine does
not answer). The same behaviours on real engines: ``tests/engine/test_fleet.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard.core.errors import (
    EngineRefused,
    EngineUnavailable,
    InvalidInput,
    InvalidValue,
    QuotaExceeded,
    SettingsError,
)
from dockyard.core.fleet import Candidate, Health, NoEngine, place
from dockyard.core.model import SaveStrategy, State
from dockyard.core.naming import LABEL_INSTALLATION, LABEL_MANAGED, LABEL_WORKSPACE
from dockyard.engine.fake import FakeEngine
from dockyard.engine.models import ContainerSpec
from dockyard.events import EventBus, store_sink
from dockyard.service import AcquireRequest, Context, Dockyard
from dockyard.service.runtime.fleet import Fleet, open_engine
from dockyard.service.workspaces.placement import place_held, restore_engine
from dockyard.settings import Settings, load_settings
from dockyard.settings.sections import EngineSettings
from dockyard.store import Store
from tests.helpers import FakeClock

H = timedelta(hours=1)


def ready(name: str, load: int = 0, **kwargs: object) -> Candidate:
    return Candidate(name=name, health=Health.READY, load=load, **kwargs)  # type: ignore[arg-type]


# -- placement (pure) ---------------------------------------------------------------------


def test_the_least_filled_engine_is_chosen_relative_to_its_capacity() -> None:
    engines = [ready("a", load=3, capacity=4), ready("b", load=5, capacity=20)]
    assert place(engines) == "b"  # 75% against 25%


def test_ties_go_by_name_so_every_replica_chooses_alike() -> None:
    assert place([ready("b"), ready("a")]) == "a"


def test_down_draining_full_and_unlabelled_engines_take_nothing() -> None:
    engines = [
        Candidate("down", Health.UNREACHABLE, 0),
        Candidate("refused", Health.REFUSED, 0),
        ready("drains", draining=True),
        ready("full", load=2, capacity=2),
        ready("gpu", load=9, labels={"gpu": "yes"}),
    ]
    assert place(engines) == "gpu"
    assert place(engines, require={"gpu": "yes"}) == "gpu"
    with pytest.raises(NoEngine, match="no engine has the labels zone=eu"):
        place(engines, require={"zone": "eu"})
    with pytest.raises(NoEngine, match=r"drains: draining; .*full: full \(2/2\)"):
        place(engines[:4])


def test_no_engine_answering_is_unavailable_not_a_quota() -> None:
    with pytest.raises(EngineUnavailable, match="down: unreachable; refused: refused") as caught:
        place([Candidate("down", Health.UNREACHABLE, 0), Candidate("refused", Health.REFUSED, 0)])
    assert not isinstance(caught.value, QuotaExceeded)


# -- settings -------------------------------------------------------------------------------


def test_engines_are_listed_once_each_and_not_beside_engine_url() -> None:
    one = {"name": "a", "url": "unix:///a.sock"}
    with pytest.raises(SettingsError, match="engine names must be unique"):
        load_settings(env={}, flags={"engines": [one, one]})
    with pytest.raises(SettingsError, match="set engine_url or"):
        load_settings(env={}, flags={"engines": [one], "engine_url": "unix:///b.sock"})
    with pytest.raises(SettingsError, match="name"):
        load_settings(env={}, flags={"engines": [{"name": "Not OK"}]})
    fleet = load_settings(env={}, flags={}).fleet
    assert [(e.name, e.url) for e in fleet] == [("default", None)]


# -- two fake engines under one store -------------------------------------------------------


@pytest.fixture
def two(settings: Settings, clock: FakeClock) -> Iterator[tuple[Dockyard, FakeEngine, FakeEngine]]:
    a, b = FakeEngine(clock=clock, url="fake://a"), FakeEngine(clock=clock, url="fake://b")
    specs = (EngineSettings(name="a"), EngineSettings(name="b", labels={"gpu": "yes"}))
    fleet = Fleet({"a": a, "b": b}, specs=specs)
    store = Store.open(settings.store_url)
    ctx = Context(
        settings=settings,
        store=store,
        engine=a,
        clock=clock,
        bus=EventBus([store_sink(store)]),
        fleet=fleet,
        engine_name="a",
    )
    yield Dockyard(ctx), a, b
    store.close()


def test_new_workspaces_spread_and_each_call_goes_to_its_own_engine(
    two: tuple[Dockyard, FakeEngine, FakeEngine],
) -> None:
    dy, a, b = two
    keys = [f"k{i}" for i in range(4)]
    for key in keys:
        dy.acquire(AcquireRequest(key=key))
    engines = {key: dy.get(key).engine for key in keys}
    assert sorted(engines.values()) == ["a", "a", "b", "b"]
    assert len(a.containers) == len(b.containers) == 2
    on_b = next(k for k, e in engines.items() if e == "b")
    before = len(b.execs)
    assert dy.exec(on_b, ["true"]) == 0
    assert len(b.execs) == before + 1  # ran on b, not on a
    dy.park(on_b)
    assert not any(c.spec.name == dy.get(on_b).name for c in b.containers.values())
    assert dy.acquire(AcquireRequest(key=on_b)).workspace.engine == "b"  # back where its volume is


def test_a_request_can_ask_for_an_engine_or_for_labels(
    two: tuple[Dockyard, FakeEngine, FakeEngine],
) -> None:
    dy, _a, _b = two
    assert dy.acquire(AcquireRequest(key="x", engine="a")).workspace.engine == "a"
    assert dy.acquire(AcquireRequest(key="y", engine="a")).workspace.engine == "a"
    assert dy.acquire(AcquireRequest(key="g", engine_labels={"gpu": "yes"})).workspace.engine == "b"
    with pytest.raises(InvalidValue, match="no engine 'c' here"):
        dy.acquire(AcquireRequest(key="z", engine="c"))
    assert dy.ctx.store.workspaces.get("z") is None


def test_an_engine_that_does_not_answer_is_unknown_not_gone(
    two: tuple[Dockyard, FakeEngine, FakeEngine], clock: FakeClock
) -> None:
    dy, _a, b = two
    dy.acquire(AcquireRequest(key="on-a", engine="a"))
    dy.acquire(AcquireRequest(key="on-b", engine="b"))
    b.containers.clear()  # what b holds cannot be seen ...
    b.down = True  # ... because b does not answer
    _orphan(b, dy, key="stray")
    clock.advance(2 * H)  # both idle past their deadline
    report = dy.clean()
    planned = {(x.verb, x.key) for x in report.plan.actions}
    assert planned == {("park", "on-a")}  # nothing at all for b's workspace
    assert dy.get("on-a").state is State.PARKED
    assert dy.get("on-b").state is State.RUNNING
    views = {v.workspace.key: v for v in dy.list()[0]}
    assert views["on-b"].container_status == "unknown"
    known = {v.name: v.health for v in dy.engines(ask=False)}  # what metrics show
    assert known == {"a": Health.READY, "b": Health.UNREACHABLE}
    with pytest.raises(EngineUnavailable, match="workspace 'on-b' is on engine 'b'"):
        dy.acquire(AcquireRequest(key="on-b"))
    assert dy.get("on-b").state is State.RUNNING
    assert dy.acquire(AcquireRequest(key="new")).workspace.engine == "a"  # placed on a


def test_no_engine_answering_fails_the_pass(
    two: tuple[Dockyard, FakeEngine, FakeEngine],
) -> None:
    dy, a, b = two
    a.down = b.down = True
    with pytest.raises(EngineUnavailable, match="no engine answers"):
        dy.clean()


def test_a_record_on_an_engine_not_configured_is_unknown(
    two: tuple[Dockyard, FakeEngine, FakeEngine], clock: FakeClock
) -> None:
    dy, a, _b = two
    dy.acquire(AcquireRequest(key="k", engine="a"))
    ws = dy.get("k")
    dy.ctx.store.workspaces.save(replace(ws, engine="gone"), expect_state=ws.state)
    clock.advance(2 * H)
    assert [x for x in dy.clean().plan.actions if x.key == "k"] == []  # not vanished
    assert a.containers  # and its container (a stray on a now) is not an orphan
    assert any(v.name == "gone" and v.url is None for v in dy.engines())


def test_another_daemon_at_an_engine_address_is_refused_until_confirmed(
    fake_dy: Dockyard, fake_engine: FakeEngine, clock: FakeClock
) -> None:
    fake_dy.acquire(AcquireRequest(key="k"))
    fake_engine.daemon_id = "another-daemon"  # the URL now reaches another daemon
    fake_engine.containers.clear()  # which has none of ours
    fake_dy.ctx.engines.distrust("default")
    clock.advance(2 * H)
    with pytest.raises(EngineRefused, match="another daemon"):
        fake_dy.clean()  # the pass does nothing: no 'vanished', no recreation
    assert fake_dy.get("k").state is State.RUNNING
    assert fake_dy.engines(ask=False)[0].health is Health.REFUSED
    with pytest.raises(EngineRefused, match="dockyard engine confirm default"):
        fake_dy.acquire(AcquireRequest(key="k"))
    assert fake_engine.containers == {}  # no second, empty container
    [view] = fake_dy.engines()
    assert (view.health, view.seen_id) == (Health.REFUSED, "another-daemon")
    assert fake_dy.confirm_engine("default") == "another-daemon"
    fake_dy.clean()  # now the daemon is the one on record: the container really is gone
    assert fake_dy.get("k").state is State.FAILED


def test_a_pass_planned_on_another_daemons_listing_does_not_act(
    settings: Settings, clock: FakeClock
) -> None:
    """Within the trust of a recent check, a pass lists the engine without asking who it
    is; its actions ask again first, so a daemon swapped in meanwhile changes nothing."""
    engine = FakeEngine(clock=clock)
    seconds = [0.0]
    fleet = Fleet({"default": engine}, monotonic=lambda: seconds[0])
    store = Store.open(settings.store_url)
    ctx = Context(settings, store, engine, clock=clock, fleet=fleet)
    dy = Dockyard(ctx)
    try:
        dy.acquire(AcquireRequest(key="k"))
        engine.daemon_id, engine.containers = "swapped-in", {}
        seconds[0] += 5  # still trusted for the listing (30 s), not for acting (1 s)
        with pytest.raises(EngineRefused):
            dy.clean()
        assert dy.get("k").state is State.RUNNING  # planned 'vanished', never marked
    finally:
        store.close()


def test_draining_places_nothing_there_and_parks_what_is_there(
    two: tuple[Dockyard, FakeEngine, FakeEngine],
) -> None:
    dy, _a, b = two
    dy.acquire(AcquireRequest(key="vol", engine="b"))
    report = dy.drain_engine("b")
    assert (report.parked, report.stays, report.failed) == (["vol"], ["vol"], {})
    assert dy.get("vol").state is State.PARKED
    assert dy.acquire(AcquireRequest(key="new")).workspace.engine == "a"
    assert dy.acquire(AcquireRequest(key="vol")).workspace.engine == "b"  # its volume is there
    with pytest.raises(NoEngine, match="b: draining"):
        dy.acquire(AcquireRequest(key="gpu", engine_labels={"gpu": "yes"}))
    dy.undrain_engine("b")
    assert not b.down


def test_parked_git_work_on_a_draining_engine_is_placed_anew(
    two: tuple[Dockyard, FakeEngine, FakeEngine],
) -> None:
    dy, _a, _b = two
    dy.acquire(AcquireRequest(key="g", engine="b", strategy=SaveStrategy.GIT))
    dy.acquire(AcquireRequest(key="v", engine="b"))
    dy.drain_engine("b")
    assert restore_engine(dy.ctx, dy.get("g")) == "a"  # a git bundle can go anywhere
    assert restore_engine(dy.ctx, dy.get("v")) == "b"  # a volume cannot


def _orphan(engine: FakeEngine, dy: Dockyard, *, key: str) -> None:
    """A container of ours with no record, on ``engine``."""
    down, engine.down = engine.down, False
    labels = {LABEL_MANAGED: "true", LABEL_INSTALLATION: dy.installation, LABEL_WORKSPACE: key}
    spec = ContainerSpec(
        name=f"dy-{key}", image="dockyard/workspace:latest", command=["sleep"], labels=labels
    )
    engine.create_container(spec=spec)
    engine.down = down


def test_tls_follows_the_docker_cli_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path / "certs"))
    open_engine(EngineSettings(name="a", url="unix:///x.sock"), teardowns=1).close()  # no TLS
    with pytest.raises(InvalidInput, match=r"engine 'b': TLS to the engine needs .*certs/ca\.pem"):
        open_engine(EngineSettings(name="b", url="tcp://10.0.0.1:2376"), teardowns=1)
    monkeypatch.delenv("DOCKER_TLS_VERIFY")
    open_engine(EngineSettings(name="b", url="tcp://10.0.0.1:2376"), teardowns=1).close()
    with pytest.raises(InvalidInput, match="TLS to the engine needs"):
        open_engine(EngineSettings(name="c", url="tcp://h:1", tls_verify=True), teardowns=1)


def test_an_engines_capacity_is_counted_again_under_its_lease(
    settings: Settings, clock: FakeClock
) -> None:
    """The choice is made without a lock; the intent is written under the engine's
    lease after counting again, so a place taken meanwhile is not taken twice."""
    engine = FakeEngine(clock=clock)
    fleet = Fleet({"a": engine}, specs=(EngineSettings(name="a", capacity=2),))
    store = Store.open(settings.store_url)
    dy = Dockyard(Context(settings, store, engine, clock=clock, fleet=fleet, engine_name="a"))
    try:
        dy.acquire(AcquireRequest(key="one"))
        with place_held(dy.ctx, "a"):  # one place left: held
            pass
        dy.acquire(AcquireRequest(key="two"))
        full = pytest.raises(NoEngine, match=r"engine 'a' filled up meanwhile \(2/2\)")
        with full, place_held(dy.ctx, "a"):
            pass
        with pytest.raises(NoEngine, match=r"a: full \(2/2\)"):
            dy.acquire(AcquireRequest(key="three"))
        assert dy.ctx.store.workspaces.get("three") is None
    finally:
        store.close()
