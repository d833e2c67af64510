"""Owners' networks: every owner's workspaces share a bridge network of their own.

Containers on different bridge networks cannot open connections to each other (the
engine's isolation rules), while each network still reaches the internet; so an owner's
workspaces see each other and nobody else's. The network is made when the owner's first
container is, on a subnet of ``workspace.network_pool`` (``core.subnets``), and goes when
no container is attached to it any more: at ``gc``, or when the pool runs full and a new
owner needs room. ``workspace.network`` set to anything (``bridge``, ``none``, a name)
puts every workspace there instead, as it is.
"""

from __future__ import annotations

from datetime import timedelta

from dockyard.core.errors import Conflict, NotFound
from dockyard.core.naming import LABEL_ROLE, network_labels, owner_network_name
from dockyard.core.subnets import free_subnet
from dockyard.engine.models import ContainerInfo, NetworkInfo
from dockyard.service.observe import installation_labels
from dockyard.service.runtime.context import Context

#: Creations that may lose a race (for the name, or the subnet) before giving up.
ATTEMPTS = 8
#: A network this young is not reclaimed: its first container may be on its way.
RECLAIM_GRACE = timedelta(minutes=1)


def network_missing(ctx: Context, name: str) -> bool:
    """Is ``name``, an owner's network, gone (removed since it was looked up)?"""
    if ctx.settings.workspace.network is not None:
        return False  # the operator's network: not one dockyard makes again
    return not _exists(ctx, name)


def network_for(ctx: Context, owner: str) -> str:
    """The network a new container of ``owner``'s goes on, made if it is missing."""
    configured = ctx.settings.workspace.network
    if configured is not None:
        return configured
    name = owner_network_name(owner, installation=ctx.installation)
    if _exists(ctx, name):
        return name
    # One pick of a subnet at a time in this installation (every replica's): concurrent
    # first workspaces of several owners would all pick the same free subnet, and all but
    # one lose. Another installation on the engine can still take it first: try again.
    with ctx.networks_lock():
        for _attempt in range(ATTEMPTS):
            if _exists(ctx, name):
                return name
            subnet = _free_subnet(ctx) or (_free_subnet(ctx) if reclaim(ctx) else None)
            if subnet is None:
                settings = ctx.settings.workspace
                raise Conflict(
                    f"no /{settings.network_prefix} subnet left in workspace.network_pool "
                    f"{settings.network_pool} for owner {owner!r}'s network (every one is "
                    "in use); widen the pool or lower network_prefix"
                )
            try:
                ctx.engine.create_network(
                    name=name,
                    labels=network_labels(installation=ctx.installation, owner=owner),
                    subnet=str(subnet),
                )
            except Conflict:
                continue  # made meanwhile (the next look finds it), or the subnet was taken
            return name
    raise Conflict(f"could not make the network {name} for owner {owner!r}: try again")


def _exists(ctx: Context, name: str) -> bool:
    try:
        ctx.engine.inspect_network(name=name)
    except NotFound:
        return False
    return True


def join_owners_network(ctx: Context, owner: str, info: ContainerInfo) -> None:
    """A stopped container on the engine's shared bridge (made before owners had
    networks) joins its owner's network and leaves the bridge, before it starts again.
    A running one is left where it is until then: moving it would cut its connections."""
    if ctx.settings.workspace.network is not None or tuple(info.networks) != ("bridge",):
        return
    target = network_for(ctx, owner)
    ctx.engine.connect_network(name=target, container=info.id)
    ctx.engine.disconnect_network(name="bridge", container=info.id)


def _free_subnet(ctx: Context) -> str | None:
    settings = ctx.settings.workspace
    taken = [s for n in ctx.engine.list_networks(labels={}) for s in n.subnets]
    found = free_subnet(settings.network_pool, settings.network_prefix, taken)
    return None if found is None else str(found)


def owner_networks(ctx: Context) -> list[NetworkInfo]:
    """This installation's owners' networks."""
    return ctx.engine.list_networks(labels={**installation_labels(ctx), LABEL_ROLE: "network"})


def unused(ctx: Context) -> list[NetworkInfo]:
    """Owners' networks no container (running or stopped, anyone's) is attached to: a
    stopped container cannot start again once its network is gone."""
    attached = {n for c in ctx.engine.list_containers(labels={}) for n in c.networks}
    return [n for n in owner_networks(ctx) if n.name not in attached and n.id not in attached]


def reclaim(ctx: Context) -> int:
    """Remove the unused owners' networks older than ``RECLAIM_GRACE`` (a container
    running on one meanwhile makes the engine refuse: that one stays); how many went."""
    removed = 0
    settled = ctx.now() - RECLAIM_GRACE
    for network in unused(ctx):
        if network.created_at is not None and network.created_at > settled:
            continue
        try:
            ctx.engine.remove_network(name=network.name)
        except Conflict:
            continue
        removed += 1
    return removed
