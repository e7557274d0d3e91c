"""Network security group evaluation of a subnet, by priority, with Azure's default rules
(https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview).

Rules are evaluated from the lowest priority number; the first rule that matches (protocol,
source, source port, destination, destination port) decides. Outbound rules see the
packet's final destination (not the next hop), inbound rules its source as it arrives
(Azure Firewall does not SNAT traffic to private destinations, so a spoke's address).

Address prefixes: ``*``, CIDRs, ranges, and the tags ``VirtualNetwork`` (the VNet's address
space, connected peered VNets, and the prefixes of the subnet's user-defined routes - so a
0.0.0.0/0 UDR makes every destination ``VirtualNetwork``, as Azure documents,
https://learn.microsoft.com/azure/virtual-network/service-tags-overview#available-service-tags),
``Internet``, ``AzureLoadBalancer`` and other service tags (matched with the flow's
``service_tags``).

Simplifications: subnet NSGs only (a NIC's NSG is not read); rules using application
security groups never match; a client's source port is ephemeral, so a source port spec
matches when it is ``*`` or overlaps 1024-65535.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hubspoke_deploy.verify.addresses import Endpoint, IPNetwork, covers, parse_network, port_matches
from hubspoke_deploy.verify.model import Network, NsgRule, Protocol, SecurityGroup, Subnet

__all__ = ["DEFAULT_RULES", "NsgDecision", "evaluate_nsg", "ordered_rules", "virtual_network_prefixes"]


def _default(
    name: str,
    priority: int,
    direction: Literal["Inbound", "Outbound"],
    access: Literal["Allow", "Deny"],
    source: str,
    destination: str,
) -> NsgRule:
    return NsgRule(
        name,
        priority,
        direction,
        access,
        "*",
        (source,),
        ("*",),
        (destination,),
        ("*",),
        default=True,
    )


# Azure's default security rules (cannot be removed, lowest priority), from
# https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview#default-security-rules
DEFAULT_RULES: tuple[NsgRule, ...] = (
    _default("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*"),
    _default("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    _default("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    _default("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    _default("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
)

_EPHEMERAL = (1024, 65535)


@dataclass(frozen=True)
class NsgDecision:
    allowed: bool
    nsg: SecurityGroup | None
    rule: NsgRule | None
    text: str

    @property
    def rule_path(self) -> str | None:
        if self.nsg is None or self.rule is None:
            return None
        return f"{self.nsg.name}/{self.rule.name}"


def virtual_network_prefixes(network: Network, subnet: Subnet) -> list[IPNetwork]:
    """What the ``VirtualNetwork`` tag stands for in ``subnet``'s NSG."""
    prefixes: list[str] = []
    vnet = network.vnet_of(subnet)
    if vnet is not None:
        prefixes += vnet.prefixes
        for _peering, remote in network.connected_peerings(vnet):
            prefixes += remote
    table = network.route_table(subnet)
    if table is not None:
        prefixes += [r.address_prefix for r in table.routes]
    return [n for n in (parse_network(p) for p in prefixes) if n is not None]


def ordered_rules(nsg: SecurityGroup, direction: Literal["Inbound", "Outbound"]) -> list[NsgRule]:
    rules = [r for r in nsg.rules if r.direction == direction]
    rules += [r for r in DEFAULT_RULES if r.direction == direction]
    return sorted(rules, key=lambda r: r.priority)


def _protocol_matches(spec: str, protocol: Protocol) -> bool:
    s = spec.strip().lower()
    if s in ("*", "any"):
        return True
    if s == "tcp":
        return protocol in ("tcp", "http", "https")
    if s == "udp":
        return protocol == "udp"
    return False


def _source_port_matches(spec: str) -> bool:
    value = spec.strip()
    if value in ("*", ""):
        return True
    low, sep, high = value.partition("-")
    try:
        lo, hi = (int(low), int(high)) if sep else (int(value), int(value))
    except ValueError:
        return False
    return hi >= _EPHEMERAL[0] and lo <= _EPHEMERAL[1]


def _matches(
    rule: NsgRule,
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: Protocol,
    vnet_space: list[IPNetwork],
) -> bool:
    if rule.uses_asgs or not _protocol_matches(rule.protocol, protocol):
        return False
    if not any(_source_port_matches(p) for p in rule.source_ports):
        return False
    if not any(port_matches(p, port) for p in rule.destination_ports):
        return False
    if not any(covers(p, source, virtual_network=vnet_space) for p in rule.source_prefixes):
        return False
    return any(covers(p, destination, virtual_network=vnet_space) for p in rule.destination_prefixes)


def evaluate_nsg(
    network: Network,
    subnet: Subnet,
    direction: Literal["Inbound", "Outbound"],
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: Protocol,
) -> NsgDecision:
    """The decision of ``subnet``'s NSG (allowed with no NSG)."""
    nsg = network.nsg(subnet)
    if nsg is None:
        return NsgDecision(True, None, None, f"no NSG on {subnet.name} ({direction.lower()})")
    space = virtual_network_prefixes(network, subnet)
    for rule in ordered_rules(nsg, direction):
        if _matches(rule, source, destination, port, protocol, space):
            verb = "allows" if rule.access == "Allow" else "denies"
            default = " (default rule)" if rule.default else ""
            return NsgDecision(
                rule.access == "Allow",
                nsg,
                rule,
                f"NSG {nsg.name} {direction.lower()} rule {rule.name} ({rule.priority}){default} {verb}",
            )
    return NsgDecision(False, nsg, None, f"NSG {nsg.name}: no {direction.lower()} rule matches")
