"""The evaluator's model of a deployed network: frozen dataclasses built from ARM REST JSON
(``hubspoke_deploy.verify.build.network_from_arm``), the flows to check and the verdicts.

Every resource id is kept as ARM returns it; lookups are case-insensitive (ARM ids are).
Only what the evaluator uses is modelled: address spaces and prefixes, DNS servers,
peerings, route tables, subnet NSGs, NAT gateways, the firewall's private/public IPs and
policy (rule collection groups, parent policy, DNS proxy), IP groups, private DNS zones with
their VNet links and A records, and private endpoints.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

__all__ = [
    "DnsZone",
    "Finding",
    "Firewall",
    "Flow",
    "Hop",
    "Network",
    "NsgRule",
    "Peering",
    "Policy",
    "PrivateEndpoint",
    "Protocol",
    "Route",
    "RouteTable",
    "Rule",
    "RuleCollection",
    "RuleCollectionGroup",
    "SecurityGroup",
    "Subnet",
    "Verdict",
    "Vnet",
    "key",
]

Protocol = Literal["tcp", "udp", "http", "https"]


def key(resource_id: str) -> str:
    """Lookup key of an ARM id (ids are case-insensitive; a trailing slash is ignored)."""
    return resource_id.strip().rstrip("/").lower()


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- network


@dataclass(frozen=True)
class Route:
    """One route of a route table (``properties.routes[]``).

    ``address_prefix`` is a CIDR or a service tag (routes accept service tags,
    https://learn.microsoft.com/azure/virtual-network/virtual-networks-udr-overview#service-tags-for-user-defined-routes).
    ``next_hop_type``: ``VirtualAppliance | VnetLocal | Internet | VirtualNetworkGateway | None``."""

    name: str
    address_prefix: str
    next_hop_type: str
    next_hop_ip: str | None = None


@dataclass(frozen=True)
class RouteTable:
    id: str
    name: str
    routes: tuple[Route, ...] = ()
    disable_bgp_route_propagation: bool = False


@dataclass(frozen=True)
class NsgRule:
    """One security rule; single and list forms of prefixes and port ranges are merged."""

    name: str
    priority: int
    direction: Literal["Inbound", "Outbound"]
    access: Literal["Allow", "Deny"]
    protocol: str = "*"
    source_prefixes: tuple[str, ...] = ("*",)
    source_ports: tuple[str, ...] = ("*",)
    destination_prefixes: tuple[str, ...] = ("*",)
    destination_ports: tuple[str, ...] = ("*",)
    default: bool = False
    uses_asgs: bool = False


@dataclass(frozen=True)
class SecurityGroup:
    """A network security group: its custom rules (Azure's default rules are implicit,
    see ``hubspoke_deploy.verify.nsg.DEFAULT_RULES``)."""

    id: str
    name: str
    rules: tuple[NsgRule, ...] = ()


@dataclass(frozen=True)
class Subnet:
    """A subnet. ``default_outbound_access`` is ARM's ``properties.defaultOutboundAccess`` as
    returned (None when absent; the network decides what absent means)."""

    id: str
    name: str
    vnet_id: str
    prefixes: tuple[str, ...]
    route_table_id: str | None = None
    nsg_id: str | None = None
    nat_gateway_id: str | None = None
    default_outbound_access: bool | None = None
    delegations: tuple[str, ...] = ()
    app_gateway: bool = False


@dataclass(frozen=True)
class Peering:
    name: str
    remote_vnet_id: str
    state: str = "Connected"
    allow_forwarded_traffic: bool = False
    remote_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vnet:
    id: str
    name: str
    prefixes: tuple[str, ...]
    dns_servers: tuple[str, ...] = ()
    peerings: tuple[Peering, ...] = ()
    location: str | None = None


@dataclass(frozen=True)
class Firewall:
    id: str
    name: str
    private_ip: str | None
    policy_id: str | None = None
    subnet_id: str | None = None
    public_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """A rule of a rule collection, any of the three ``ruleType`` s; fields a type does not
    have stay empty. ``protocols`` are an application rule's ``(protocolType, port)``."""

    name: str
    rule_type: Literal["NetworkRule", "ApplicationRule", "NatRule"]
    source_addresses: tuple[str, ...] = ()
    source_ip_groups: tuple[str, ...] = ()
    destination_addresses: tuple[str, ...] = ()
    destination_ip_groups: tuple[str, ...] = ()
    destination_fqdns: tuple[str, ...] = ()
    destination_ports: tuple[str, ...] = ()
    ip_protocols: tuple[str, ...] = ()
    protocols: tuple[tuple[str, int], ...] = ()
    target_fqdns: tuple[str, ...] = ()
    fqdn_tags: tuple[str, ...] = ()
    target_urls: tuple[str, ...] = ()
    web_categories: tuple[str, ...] = ()
    translated_address: str | None = None
    translated_fqdn: str | None = None
    translated_port: str | None = None


@dataclass(frozen=True)
class RuleCollection:
    """``kind``: ``Filter`` (FirewallPolicyFilterRuleCollection) or ``Nat``;
    ``action``: ``Allow | Deny | DNAT``."""

    name: str
    kind: Literal["Filter", "Nat"]
    action: str
    priority: int
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class RuleCollectionGroup:
    id: str
    name: str
    priority: int
    collections: tuple[RuleCollection, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A firewall policy. ``dns_servers`` are the proxy's upstream servers (empty: Azure DNS)."""

    id: str
    name: str
    base_policy_id: str | None = None
    dns_proxy: bool = False
    dns_servers: tuple[str, ...] = ()
    groups: tuple[RuleCollectionGroup, ...] = ()


@dataclass(frozen=True)
class DnsZone:
    """A private DNS zone: ``a_records`` maps a relative record name (``@`` = apex) to its
    IPv4 addresses; ``links`` maps a linked VNet id to the link's ``resolutionPolicy``
    (``Default`` or ``NxDomainRedirect``)."""

    id: str
    name: str
    a_records: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    links: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def linked_vnet_ids(self) -> tuple[str, ...]:
        return tuple(self.links)

    def linked_to(self, vnet_id: str) -> bool:
        return key(vnet_id) in {key(v) for v in self.links}

    def resolution_policy(self, vnet_id: str) -> str:
        for vid, policy in self.links.items():
            if key(vid) == key(vnet_id):
                return policy
        return "Default"


@dataclass(frozen=True)
class PrivateEndpoint:
    id: str
    name: str
    subnet_id: str | None
    ips: tuple[str, ...] = ()
    target_id: str | None = None
    group_ids: tuple[str, ...] = ()
    location: str | None = None


@dataclass
class Network:
    """Everything the evaluator reads, indexed by lower-cased ARM id.

    ``default_outbound_access`` is what a subnet without ``properties.defaultOutboundAccess``
    gets: ``False`` from network api-version 2025-07-01 (new subnets are private by default,
    https://learn.microsoft.com/azure/virtual-network/ip-services/default-outbound-access),
    ``True`` for subnets created with older api-versions. A subnet with a NAT gateway
    always has outbound access."""

    vnets: dict[str, Vnet] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    route_tables: dict[str, RouteTable] = field(default_factory=dict)
    nsgs: dict[str, SecurityGroup] = field(default_factory=dict)
    firewalls: dict[str, Firewall] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    zones: dict[str, DnsZone] = field(default_factory=dict)
    private_endpoints: dict[str, PrivateEndpoint] = field(default_factory=dict)
    ip_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default_outbound_access: bool = False

    # ---------------------------------------------------------------- lookups

    def subnet(self, subnet_id: str) -> Subnet | None:
        return self.subnets.get(key(subnet_id))

    def subnet_by_name(self, name: str) -> Subnet | None:
        """A subnet by ``name`` or ``vnet/name`` (first match)."""
        for subnet in self.subnets.values():
            vnet = _name(subnet.vnet_id)
            if name.lower() in (subnet.name.lower(), f"{vnet}/{subnet.name}".lower()):
                return subnet
        return None

    def vnet(self, vnet_id: str) -> Vnet | None:
        return self.vnets.get(key(vnet_id))

    def vnet_of(self, subnet: Subnet) -> Vnet | None:
        return self.vnet(subnet.vnet_id)

    def subnet_for_ip(self, ip: str) -> Subnet | None:
        """The subnet whose prefix holds ``ip`` (most specific first)."""
        addr = _ip(ip)
        if addr is None:
            return None
        best: tuple[int, Subnet] | None = None
        for subnet in self.subnets.values():
            for prefix in subnet.prefixes:
                net = _net(prefix)
                if net is not None and addr in net and (best is None or net.prefixlen > best[0]):
                    best = (net.prefixlen, subnet)
        return best[1] if best else None

    def vnet_for_ip(self, ip: str) -> Vnet | None:
        addr = _ip(ip)
        if addr is None:
            return None
        for vnet in self.vnets.values():
            for prefix in vnet.prefixes:
                net = _net(prefix)
                if net is not None and addr in net:
                    return vnet
        return None

    def connected_peerings(self, vnet: Vnet) -> list[tuple[Peering, tuple[str, ...]]]:
        """Peerings in state ``Connected`` with the remote prefixes (from the peering's
        ``remoteAddressSpace`` or, when absent, the remote VNet as read)."""
        result = []
        for peering in vnet.peerings:
            if peering.state.lower() != "connected":
                continue
            prefixes = peering.remote_prefixes
            if not prefixes:
                remote = self.vnet(peering.remote_vnet_id)
                prefixes = remote.prefixes if remote else ()
            result.append((peering, prefixes))
        return result

    def route_table(self, subnet: Subnet) -> RouteTable | None:
        return self.route_tables.get(key(subnet.route_table_id)) if subnet.route_table_id else None

    def nsg(self, subnet: Subnet) -> SecurityGroup | None:
        return self.nsgs.get(key(subnet.nsg_id)) if subnet.nsg_id else None

    def firewall_by_private_ip(self, ip: str) -> Firewall | None:
        for fw in self.firewalls.values():
            if fw.private_ip and fw.private_ip == ip:
                return fw
        return None

    def firewall_by_public_ip(self, ip: str) -> Firewall | None:
        for fw in self.firewalls.values():
            if ip in fw.public_ips:
                return fw
        return None

    def policy(self, policy_id: str | None) -> Policy | None:
        return self.policies.get(key(policy_id)) if policy_id else None

    def has_outbound_access(self, subnet: Subnet) -> bool:
        """Whether a 0.0.0.0/0 -> Internet next hop actually reaches the Internet: a NAT
        gateway, or default outbound access (explicit, or this network's default)."""
        if subnet.nat_gateway_id:
            return True
        if subnet.default_outbound_access is None:
            return self.default_outbound_access
        return subnet.default_outbound_access


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _net(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


# --------------------------------------------------------------------------- flows and verdicts


@dataclass(frozen=True)
class Flow:
    """A flow that must work: from ``source`` (a subnet id, ``vnet/subnet`` or subnet name, or
    an IP) to ``destination`` (an FQDN or an IP) on ``port``/``protocol``.

    ``protocol`` ``http``/``https`` are TCP flows the firewall may also match with application
    rules (by FQDN, SNI/Host header). ``service_tags`` are the service tags the destination
    belongs to (e.g. ``AzureCloud.westeurope``): the evaluator has no service tag IP lists,
    so a rule or route naming a tag matches only when the flow says the destination is in it.
    ``why``/``source_doc`` say who needs it (shown in reports)."""

    name: str
    source: str
    destination: str
    port: int
    protocol: Protocol = "tcp"
    service_tags: tuple[str, ...] = ()
    why: str = ""
    source_doc: str = ""

    @classmethod
    def parse(cls, source: str, to: str, *, name: str | None = None) -> Flow:
        """The flow of ``verify --from SOURCE --to HOST:PORT[/tcp|udp|http|https]``.

        Without a protocol, port 443 is ``https``, 80 ``http``, any other ``tcp``.
        Raises ``ValueError`` with a plain-words message."""
        target, _, proto = to.strip().partition("/")
        host, sep, port_text = target.rpartition(":")
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"--to {to!r}: expected HOST:PORT[/tcp|udp|http|https], e.g. mcr.microsoft.com:443/https")
        port = int(port_text)
        protocol = proto.lower() or {443: "https", 80: "http"}.get(port, "tcp")
        if protocol not in ("tcp", "udp", "http", "https"):
            raise ValueError(f"--to {to!r}: protocol must be tcp, udp, http or https")
        if not source.strip():
            raise ValueError("--from: a subnet (id, vnet/subnet or name) or an IP is required")
        return cls(name or f"{source} -> {to}", source.strip(), host, port, cast(Protocol, protocol))


@dataclass(frozen=True)
class Hop:
    """One step of the evaluated path: ``kind`` is ``dns | route | nsg-out | firewall |
    nsg-in | deliver | internet | drop``; ``detail`` is a sentence."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass(frozen=True)
class Verdict:
    """The outcome for one flow.

    ``status``: ``allowed`` (reaches its destination, through the firewall when it leaves the
    private network), ``blocked`` (an NSG or the firewall denies it), ``bypass`` (reaches the
    Internet without the firewall), ``dropped`` (no route / next hop None), ``unresolved``
    (DNS gives no usable answer) or ``unknown`` (the path leaves what is modelled).
    ``rule`` is the allowing rule as ``group/collection/rule`` (firewall) or
    ``nsg/rule``; for a firewall deny, the Deny rule (or None for the default deny)."""

    flow: Flow
    status: Literal["allowed", "blocked", "bypass", "dropped", "unresolved", "unknown"]
    hops: tuple[Hop, ...]
    rule: str | None
    reason: str
    fix: str | None = None
    crosses_firewall: bool = False
    resolved: str | None = None
    blocking_rule: str | None = None

    @property
    def allowed(self) -> bool:
        return self.status == "allowed"

    @property
    def path(self) -> str:
        return " -> ".join(h.detail for h in self.hops)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``-o json``)."""
        return {
            "flow": asdict(self.flow),
            "status": self.status,
            "allowed": self.allowed,
            "rule": self.rule,
            "blocking_rule": self.blocking_rule,
            "reason": self.reason,
            "fix": self.fix,
            "crosses_firewall": self.crosses_firewall,
            "resolved": self.resolved,
            "path": self.path,
            "hops": [{"kind": h.kind, "detail": h.detail} for h in self.hops],
        }


@dataclass(frozen=True)
class Finding:
    """A property of the network independent of any flow.

    ``kind``: ``bypass`` (a subnet reaches the Internet without the firewall), ``catch-all``
    (an allow rule matching everything), ``no-egress`` (a non-exempt subnet with no route to
    the Internet at all), ``exempt`` (a subnet excluded from the firewall by design, with the
    documented reason). ``problem`` is true for ``bypass`` and ``catch-all``."""

    kind: Literal["bypass", "catch-all", "no-egress", "exempt"]
    subject: str
    detail: str
    fix: str | None = None

    @property
    def problem(self) -> bool:
        return self.kind in ("bypass", "catch-all")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problem": self.problem}
