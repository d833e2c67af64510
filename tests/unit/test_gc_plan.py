"""The gc planner as decision tables: what goes, what stays, in which order."""

from __future__ import annotations

from datetime import timedelta

from dockyard.core.gc import (
    ContainerFacts,
    Facts,
    GcRequest,
    ImageFacts,
    Kind,
    NetworkFacts,
    VolumeFacts,
    plan_gc,
)
from dockyard.core.model import Checkpoint, CheckpointKind, SaveStrategy, State
from tests.helpers import T0, workspace

D = timedelta(days=1)
NOW = T0 + 30 * D
ALL = GcRequest(age=7 * D, images=True, volumes=True)


def facts(**kinds: object) -> Facts:
    base: dict[str, object] = {
        "containers": [],
        "images": [],
        "volumes": [],
        "workspaces": [],
        "checkpoints": [],
        "default_image": "dockyard/workspace:latest",
    }
    return Facts(**{**base, **kinds})  # type: ignore[arg-type]


def container(name: str, **changes: object) -> ContainerFacts:
    fields: dict[str, object] = {
        "id": name,
        "name": name,
        "key": None,
        "running": False,
        "keep": False,
        "created_at": T0,
        "finished_at": NOW - 8 * D,
        **changes,
    }
    return ContainerFacts(**fields)  # type: ignore[arg-type]


def image(
    name: str, *, used: int = 0, last_used_days: float = 20, size: int = 100, children: int = 0
) -> ImageFacts:
    return ImageFacts(
        id=f"sha256:{name}",
        tags=(f"{name}:latest",),
        size=size,
        created_at=T0,
        last_used=NOW - last_used_days * D,
        in_use_by=used,
        children=children,
    )


def volume(name: str, key: str | None, **changes: object) -> VolumeFacts:
    fields: dict[str, object] = {
        "name": name,
        "key": key,
        "created_at": T0,
        "size": 10,
        "mounted_by": 0,
        "keep": False,
        **changes,
    }
    return VolumeFacts(**fields)  # type: ignore[arg-type]


def names(request: GcRequest, the_facts: Facts) -> list[str]:
    return [item.name for item in plan_gc(now=NOW, request=request, facts=the_facts).items]


def test_containers_by_when_they_stopped() -> None:
    the_facts = facts(
        containers=[
            container("old"),
            container("recent", finished_at=NOW - D),
            container("running", running=True),
            container("kept", keep=True),
            container("never-started", finished_at=None),  # created at T0: 30 days
        ]
    )
    assert names(ALL, the_facts) == ["old", "never-started"]


def test_images_lru_first_never_in_use_or_needed() -> None:
    checkpoint = Checkpoint(
        id="c",
        workspace_key="k",
        strategy=SaveStrategy.IMAGE,
        kind=CheckpointKind.IMAGE,
        created_at=T0,
        expires_at=NOW + D,
        verified=True,
        ref="sha256:snap",
    )
    the_facts = facts(
        images=[
            image("b", last_used_days=10),
            image("a", last_used_days=20),
            image("busy", used=1),
            image("snap"),  # a live checkpoint's snapshot
            image("dockyard/workspace"),  # the default image
            image("fresh", last_used_days=1),
        ],
        checkpoints=[checkpoint],
    )
    assert names(ALL, the_facts) == ["a:latest", "b:latest"]
    budget = GcRequest(age=365 * D, images=True, keep_storage=450)  # 6 x 100 bytes in all
    assert names(budget, the_facts) == ["a:latest", "b:latest"]
    assert names(GcRequest(age=365 * D, images=True, keep_storage=550), the_facts) == ["a:latest"]


def test_an_image_others_are_built_on_waits_for_them() -> None:
    the_facts = facts(images=[image("parent", children=1), image("parents", children=2)])
    plan = plan_gc(now=NOW, request=ALL, facts=the_facts)
    assert plan.items == ()
    assert plan.kept == (
        ("parent:latest", "1 other image is built on it"),
        ("parents:latest", "2 other images are built on it"),
    )
    budget = GcRequest(age=365 * D, images=True, keep_storage=0)
    assert plan_gc(now=NOW, request=budget, facts=the_facts).items == ()


def test_volumes_only_when_no_workspace_needs_them() -> None:
    removed = workspace(key="removed", state=State.REMOVED, state_changed_at=NOW - 8 * D)
    just_removed = workspace(key="just", state=State.REMOVED, state_changed_at=NOW - D)
    parked = workspace(key="parked", state=State.PARKED, state_changed_at=T0)
    running = workspace(key="running")
    live = Checkpoint(
        id="c",
        workspace_key="parked",
        strategy=SaveStrategy.VOLUME,
        kind=CheckpointKind.VOLUME,
        created_at=T0,
        expires_at=NOW + D,
        verified=True,
    )
    the_facts = facts(
        volumes=[
            volume("orphan", "nobody"),
            volume("removed", "removed"),
            volume("just", "just"),
            volume("parked", "parked"),
            volume("running", "running"),
            volume("mounted", "nobody", mounted_by=1),
            volume("kept", "nobody", keep=True),
        ],
        workspaces=[removed, just_removed, parked, running],
        checkpoints=[live],
    )
    plan = plan_gc(now=NOW, request=ALL, facts=the_facts)
    assert [(i.kind, i.name) for i in plan.items] == [
        (Kind.VOLUME, "orphan"),
        (Kind.VOLUME, "removed"),
    ]
    assert ("parked", "workspace 'parked' has checkpoints") in plan.kept


def test_images_and_volumes_only_when_asked() -> None:
    the_facts = facts(images=[image("a")], volumes=[volume("orphan", None)])
    assert names(GcRequest(age=7 * D), the_facts) == []


def test_a_workspace_kept_with_dockyard_keep_is_never_planned() -> None:
    """The preview listed its stopped container (the label says not kept: `keep` came
    after the container), and apply then skipped it: plan and apply must agree."""
    kept = workspace(key="k", keep=True, state=State.STOPPED)
    parked = workspace(key="p", keep=True, state=State.PARKED, state_changed_at=T0)
    the_facts = facts(
        containers=[container("c-k", key="k")],
        volumes=[volume("v-p", "p")],
        workspaces=[kept, parked],
    )
    plan = plan_gc(now=NOW, request=ALL, facts=the_facts)
    assert plan.items == ()
    assert ("c-k", "kept") in plan.kept and ("v-p", "kept") in plan.kept


def test_owners_networks_go_when_nothing_is_attached_and_their_owner_is_long_gone() -> None:
    """Attached (running or stopped) stays; age counts from the owner's last change."""
    networks = [
        NetworkFacts("dy-net-a", "alice", T0, attached=1),
        NetworkFacts("dy-net-b", "bob", T0, attached=0),
        NetworkFacts("dy-net-c", "carol", T0, attached=0),
        NetworkFacts("dy-net-d", "dave", NOW - D, attached=0),
    ]
    recent = workspace(key="c", owner="carol", state=State.PARKED, state_changed_at=NOW - D)
    plan = plan_gc(
        now=NOW,
        request=GcRequest(age=7 * D),  # no --images, no --volumes: networks all the same
        facts=facts(networks=networks, workspaces=[recent]),
    )
    assert [(i.kind, i.name, i.reason) for i in plan.items] == [
        (Kind.NETWORK, "dy-net-b", "no container is attached to it")
    ]
