"""Matching of address specs, service tags, ports and protocols, shared by the NSG and the
firewall evaluation.

An :class:`Endpoint` is a set of addresses: a subnet (every address of its prefixes), one
IP, or an *unknown public address* (a name that resolves outside the VNets: the evaluator
does not know the IP). A spec matches an endpoint when it covers *all* of its addresses, so
a rule allowing ``10.1.1.0/25`` does not allow a flow from the subnet ``10.1.1.0/24``.
An unknown public address is covered only by ``*``, ``0.0.0.0/0``, ``Internet`` and the
service tags the flow says it belongs to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AZURE_PLATFORM_IP",
    "Endpoint",
    "IPNetwork",
    "covers",
    "parse_network",
    "port_matches",
    "tag_matches",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The virtual public IP of the Azure platform (DNS, health probes: the AzureLoadBalancer tag)
# https://learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16
AZURE_PLATFORM_IP = "168.63.129.16"

_ANY = {"*", "any", "0.0.0.0/0", "::/0"}


def parse_network(value: str) -> IPNetwork | None:
    """A CIDR or a single IP as a network; None for anything else (tags, ranges, FQDNs)."""
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def _range(value: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] | None:
    if "-" not in value:
        return None
    low, _, high = value.partition("-")
    try:
        return ipaddress.ip_address(low.strip()), ipaddress.ip_address(high.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class Endpoint:
    """A set of addresses. ``networks`` empty means an unknown public address."""

    networks: tuple[IPNetwork, ...] = ()
    service_tags: tuple[str, ...] = ()

    @classmethod
    def of(cls, prefixes: Iterable[str], service_tags: Sequence[str] = ()) -> Endpoint:
        nets = tuple(n for n in (parse_network(p) for p in prefixes) if n is not None)
        return cls(nets, tuple(service_tags))

    @classmethod
    def public(cls, service_tags: Sequence[str] = ()) -> Endpoint:
        return cls((), tuple(service_tags))

    @property
    def unknown_public(self) -> bool:
        return not self.networks

    def within(self, nets: Iterable[IPNetwork]) -> bool:
        """Every address of the endpoint is inside one of ``nets``."""
        pool = list(nets)
        if not self.networks:
            return any(n.prefixlen == 0 for n in pool)
        return all(any(_subnet_of(mine, n) for n in pool) for mine in self.networks)

    def describe(self) -> str:
        if not self.networks:
            return "a public address"
        return ", ".join(str(n) for n in self.networks)


def _subnet_of(inner: IPNetwork, outer: IPNetwork) -> bool:
    if inner.version != outer.version:
        return False
    return inner.subnet_of(outer)  # type: ignore[arg-type]


def tag_matches(spec: str, tags: Iterable[str]) -> bool:
    """``spec`` names one of ``tags`` or a top-level tag of one of them
    (``AzureCloud`` covers ``AzureCloud.westeurope``). Case-insensitive."""
    wanted = spec.strip().lower()
    for tag in tags:
        t = tag.strip().lower()
        if t == wanted or t.startswith(wanted + "."):
            return True
    return False


def covers(
    spec: str,
    endpoint: Endpoint,
    *,
    virtual_network: Sequence[IPNetwork] | None = None,
) -> bool:
    """Whether one address spec covers the whole endpoint.

    ``spec``: ``*``/``Any``, a CIDR or an IP, a range ``a-b``, ``VirtualNetwork`` (needs
    ``virtual_network``: the prefixes the NSG's tag stands for), ``Internet``,
    ``AzureLoadBalancer``, or any other service tag (matched against the endpoint's tags)."""
    value = spec.strip()
    lowered = value.lower()
    if lowered in _ANY:
        return True
    net = parse_network(value)
    if net is not None:
        return endpoint.within([net])
    bounds = _range(value)
    if bounds is not None:
        low, high = bounds
        if not endpoint.networks:
            return False
        if low.version != high.version:
            return False
        lo, hi = int(low), int(high)
        return all(
            n.version == low.version and lo <= int(n.network_address) and int(n.broadcast_address) <= hi
            for n in endpoint.networks
        )
    if lowered == "virtualnetwork":
        return virtual_network is not None and endpoint.within(virtual_network)
    if lowered == "internet":
        # Outside the VNets and reachable from the Internet (Azure's public space included)
        # https://learn.microsoft.com/azure/virtual-network/service-tags-overview#available-service-tags
        return not endpoint.networks or all(n.network_address.is_global for n in endpoint.networks)
    if lowered == "azureloadbalancer":
        return endpoint.within([ipaddress.ip_network(AZURE_PLATFORM_IP)])
    return tag_matches(value, endpoint.service_tags)


def port_matches(spec: str, port: int) -> bool:
    """``*``, ``443`` or ``80-443`` (inclusive)."""
    value = spec.strip()
    if value in ("*", "", "Any", "any"):
        return True
    low, sep, high = value.partition("-")
    try:
        if sep:
            return int(low) <= port <= int(high)
        return int(value) == port
    except ValueError:
        return False
