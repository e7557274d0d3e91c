"""The effective next hop of a subnet for a destination, as Azure selects it
(https://learn.microsoft.com/azure/virtual-network/virtual-networks-udr-overview).

System routes of every subnet: each prefix of its VNet's address space -> ``VnetLocal``;
each prefix of a peered VNet -> ``VNetPeering`` (peering state ``Connected`` only);
``0.0.0.0/0`` -> ``Internet``; ``10.0.0.0/8``, ``172.16.0.0/12``, ``192.168.0.0/16`` and
``100.64.0.0/10`` -> ``None`` (dropped) unless the VNet or a peered VNet's address space
includes them. The subnet's route table adds user routes; a user route replaces the system
route of the *same* prefix; a user route for 0.0.0.0/0 removes the reserved-prefix ``None``
routes (the doc's routing example). Azure then picks the longest matching prefix.

Default outbound access: a selected ``Internet`` next hop reaches the Internet only when the
subnet has outbound access (a NAT gateway, or default outbound access - see
``Network.default_outbound_access``); otherwise the packet is dropped and the next hop is
reported as ``None`` with that reason
(https://learn.microsoft.com/azure/virtual-network/ip-services/default-outbound-access).

Simplifications: no BGP / virtual network gateway routes (``disableBgpRoutePropagation`` is
read but irrelevant without gateways), no service endpoint routes, no NIC public IPs or load
balancer outbound rules as outbound methods. A route whose prefix is a service tag matches a
flow that lists the tag in ``service_tags``; without the tag's IP list it is ranked just
above 0.0.0.0/0 (below any CIDR that contains the destination), and tags among themselves
in the documented order (regional tags, top-level tags, AzureCloud regional, AzureCloud).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hubspoke_deploy.verify.addresses import IPNetwork, parse_network, tag_matches
from hubspoke_deploy.verify.model import Network, Subnet

__all__ = ["RESERVED_PREFIXES", "EffectiveRoute", "NextHop", "effective_routes", "next_hop"]

# Default system routes with next hop None (RFC 1918 and RFC 6598), from
# https://learn.microsoft.com/azure/virtual-network/virtual-networks-udr-overview#default
RESERVED_PREFIXES: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


@dataclass(frozen=True)
class EffectiveRoute:
    prefix: str
    next_hop_type: str
    next_hop_ip: str | None = None
    source: Literal["User", "Default"] = "Default"
    name: str = ""

    def describe(self) -> str:
        target = f"{self.next_hop_type} {self.next_hop_ip}" if self.next_hop_ip else self.next_hop_type
        label = f"UDR '{self.name}'" if self.source == "User" else "system route"
        return f"{label} {self.prefix} -> {target}"


@dataclass(frozen=True)
class NextHop:
    """``type``: ``VnetLocal | VNetPeering | Internet | VirtualAppliance |
    VirtualNetworkGateway | None``; ``route`` is the route selected (None when no route
    matches at all); ``reason`` a sentence."""

    type: str
    ip: str | None
    route: EffectiveRoute | None
    reason: str


def _norm(prefix: str) -> str:
    net = parse_network(prefix)
    return str(net) if net is not None else prefix.strip().lower()


def _normalize_type(value: str) -> str:
    v = value.replace(" ", "").lower()
    return {
        "vnetlocal": "VnetLocal",
        "virtualnetwork": "VnetLocal",
        "vnetpeering": "VNetPeering",
        "virtualnetworkpeering": "VNetPeering",
        "internet": "Internet",
        "virtualappliance": "VirtualAppliance",
        "virtualnetworkgateway": "VirtualNetworkGateway",
        "none": "None",
    }.get(v, value)


def effective_routes(network: Network, subnet: Subnet) -> list[EffectiveRoute]:
    """The active routes of a subnet (system routes not overridden, then user routes)."""
    vnet = network.vnet_of(subnet)
    system: dict[str, EffectiveRoute] = {}
    own: list[IPNetwork] = []
    if vnet is not None:
        for prefix in vnet.prefixes:
            system[_norm(prefix)] = EffectiveRoute(_norm(prefix), "VnetLocal")
            if (n := parse_network(prefix)) is not None:
                own.append(n)
        for _peering, prefixes in network.connected_peerings(vnet):
            for prefix in prefixes:
                system.setdefault(_norm(prefix), EffectiveRoute(_norm(prefix), "VNetPeering"))
                if (n := parse_network(prefix)) is not None:
                    own.append(n)
    system["0.0.0.0/0"] = EffectiveRoute("0.0.0.0/0", "Internet")
    for reserved in RESERVED_PREFIXES:
        rnet = ipaddress.ip_network(reserved)
        if not any(rnet.version == n.version and rnet.subnet_of(n) for n in own):  # type: ignore[arg-type]
            system.setdefault(reserved, EffectiveRoute(reserved, "None"))
    user: dict[str, EffectiveRoute] = {}
    table = network.route_table(subnet)
    if table is not None:
        for route in table.routes:
            if not route.address_prefix:
                continue
            p = _norm(route.address_prefix)
            user[p] = EffectiveRoute(p, _normalize_type(route.next_hop_type), route.next_hop_ip, "User", route.name)
    if "0.0.0.0/0" in user:
        for reserved in RESERVED_PREFIXES:
            if system.get(reserved, EffectiveRoute("", "")).next_hop_type == "None":
                system.pop(reserved, None)
    merged = {p: r for p, r in system.items() if p not in user}
    return [*merged.values(), *user.values()]


def _tag_rank(tag: str) -> int:
    t = tag.lower()
    if t == "azurecloud":
        return 1
    if t.startswith("azurecloud."):
        return 2
    if "." not in t:
        return 3
    return 4


def next_hop(
    network: Network,
    subnet: Subnet,
    destination_ip: str | None,
    *,
    service_tags: Sequence[str] = (),
) -> NextHop:
    """The next hop for traffic from ``subnet`` to ``destination_ip`` (None: an unknown
    public address, e.g. a name that resolves publicly)."""
    dest = parse_network(destination_ip) if destination_ip else None
    best: tuple[tuple[float, int, int], EffectiveRoute] | None = None
    for route in effective_routes(network, subnet):
        net = parse_network(route.prefix)
        rank: tuple[float, int, int]
        user = 1 if route.source == "User" else 0
        if net is not None:
            if dest is None:
                if net.prefixlen != 0:
                    continue
            elif dest.version != net.version or not dest.subnet_of(net):  # type: ignore[arg-type]
                continue
            rank = (float(net.prefixlen), 0, user)
        else:
            if not tag_matches(route.prefix, service_tags):
                continue
            rank = (0.5, _tag_rank(route.prefix), user)
        if best is None or rank > best[0]:
            best = (rank, route)
    if best is None:
        return NextHop("None", None, None, "no route matches")
    route = best[1]
    if route.next_hop_type == "Internet" and not network.has_outbound_access(subnet):
        return NextHop(
            "None",
            None,
            route,
            f"{route.describe()}, but {subnet.name} has no outbound access "
            "(defaultOutboundAccess false and no NAT gateway): dropped",
        )
    return NextHop(route.next_hop_type, route.next_hop_ip, route, route.describe())
