"""Subnets for owners' networks, carved from one pool (pure).

Each owner's workspaces get a bridge network of their own; dockerd would give each one a
/16 or /20 of its small default address pools, which run out after about thirty
networks. dockyard hands out ``workspace.network_prefix``-sized subnets of
``workspace.network_pool`` instead, the first one that overlaps no network the engine
has (dockyard's or anyone's).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Network


def free_subnet(pool: IPv4Network, prefix: int, taken: Iterable[str]) -> IPv4Network | None:
    """The first ``/prefix`` of ``pool`` overlapping none of ``taken`` (CIDR strings,
    IPv6 and garbage ignored), or None when the pool is full."""
    busy = _ipv4(taken)
    for candidate in pool.subnets(new_prefix=prefix):
        if not any(candidate.overlaps(other) for other in busy):
            return candidate
    return None


def _ipv4(texts: Iterable[str]) -> list[IPv4Network]:
    found = []
    for text in texts:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if isinstance(network, IPv4Network):
            found.append(network)
    return found
