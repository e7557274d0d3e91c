"""Azure Firewall's decision for one connection, in its documented processing order
(https://learn.microsoft.com/azure/firewall/rule-processing,
https://learn.microsoft.com/azure/firewall/policy-rule-sets).

Order: the parent (base) policy's rule collection groups before the child's, whatever
their priorities; then groups by priority (100 first), then collections by priority. All
DNAT collections are evaluated before any network collection, and all network collections
before any application collection. The first collection with a matching rule decides with
its action (Allow, Deny; DNAT translates and allows). Application rules are evaluated only
for HTTP/HTTPS (and MSSQL, not modelled) and only when no network rule matched. Nothing
matched: denied.

Matching:

* sources: ``sourceAddresses`` (``*``, CIDRs, IPs, ranges ``a-b``) and ``sourceIpGroups``;
  a rule matches only when it covers the whole source (every address of a source subnet);
* network rules: ``ipProtocols`` (TCP, UDP, ICMP, Any), ``destinationPorts`` (``*``,
  ``443``, ``80-443``), ``destinationAddresses`` (``*``, CIDRs, ranges, service tags via
  the flow's ``service_tags``), ``destinationIpGroups``, and ``destinationFqdns`` when the
  policy's DNS proxy is on (https://learn.microsoft.com/azure/firewall/fqdn-filtering-network-rules;
  the flow's FQDN is compared by name, without wildcards);
* application rules: ``protocols`` (``Http:80``, ``Https:443``...), ``targetFqdns`` with
  wildcards (``*.example.com`` matches ``a.example.com`` and ``a.b.example.com``, not
  ``example.com``; ``*`` matches everything), ``fqdnTags`` through ``FQDN_TAGS``, and the
  host of ``targetUrls``. Web categories never match (not modelled);
* DNAT rules: destination one of the firewall's public IPs, port and protocol.

Not modelled: threat intelligence in Deny mode, IDPS, TLS inspection, the built-in
infrastructure rule collection, web categories, MSSQL application rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from hubspoke_deploy.verify.addresses import Endpoint, covers, port_matches
from hubspoke_deploy.verify.model import Network, Policy, Protocol, Rule, RuleCollection, RuleCollectionGroup, key

__all__ = [
    "FQDN_TAGS",
    "FirewallDecision",
    "FirewallRequest",
    "decide",
    "fqdn_matches",
    "ordered_collections",
    "ordered_groups",
    "policy_chain",
    "tag_fqdns",
]

# What an FQDN tag covers. AzureKubernetesService: the "Azure Global required FQDN /
# application rules" of https://learn.microsoft.com/azure/aks/outbound-rules-control-egress
# (the tag is "kept current with the platform's required endpoints",
# https://learn.microsoft.com/azure/firewall/fqdn-tags). packages.aks.azure.com is the
# package source AKS nodes now use for binaries (successor of acs-mirror.azureedge.net,
# listed in the same article's current revision). {region}: the cluster's region.
FQDN_TAGS: dict[str, tuple[str, ...]] = {
    "azurekubernetesservice": (
        "*.hcp.{region}.azmk8s.io",
        "mcr.microsoft.com",
        "*.data.mcr.microsoft.com",
        "mcr-0001.mcr-msedge.net",
        "management.azure.com",
        "login.microsoftonline.com",
        "packages.microsoft.com",
        "acs-mirror.azureedge.net",
        "packages.aks.azure.com",
    ),
}

_APP_PROTOCOLS: dict[str, str] = {"http": "http", "https": "https"}


@dataclass(frozen=True)
class FirewallRequest:
    """One connection as the firewall sees it. ``destination`` is the IP it connects to (or
    an unknown public address); ``fqdn`` the name the client asked for (SNI / Host header;
    also what a network rule's FQDN is compared with)."""

    source: Endpoint
    destination: Endpoint
    port: int
    protocol: Protocol
    fqdn: str | None = None


@dataclass(frozen=True)
class FirewallDecision:
    """``stage``: ``dnat | network | application | default``; ``rule`` the deciding rule as
    ``group/collection/rule`` (None for the default deny); ``policy`` the policy that holds
    it; ``translated`` (address, port) of a DNAT rule."""

    allowed: bool
    stage: Literal["dnat", "network", "application", "default"]
    rule: str | None
    action: str | None
    reason: str
    policy: str | None = None
    translated: tuple[str, str | None] | None = None
    notes: tuple[str, ...] = field(default=())


def tag_fqdns(tag: str, region: str) -> tuple[str, ...]:
    """The FQDNs an FQDN tag covers (empty for an unknown tag)."""
    return tuple(f.replace("{region}", region.lower()) for f in FQDN_TAGS.get(tag.lower(), ()))


def fqdn_matches(pattern: str, fqdn: str) -> bool:
    """Azure Firewall target FQDN matching: exact (case-insensitive), ``*`` = any, a leading
    ``*`` matches any prefix (``*.a.com``: ``x.a.com``, ``x.y.a.com``, not ``a.com``)."""
    p = pattern.strip().lower().rstrip(".")
    name = fqdn.strip().lower().rstrip(".")
    if p == "*":
        return True
    if p.startswith("*"):
        return name.endswith(p[1:]) and len(name) > len(p) - 1
    return p == name


def policy_chain(network: Network, policy: Policy) -> list[Policy]:
    """The policy and its ancestors, root (base) first."""
    chain: list[Policy] = []
    seen: set[str] = set()
    current: Policy | None = policy
    while current is not None and key(current.id) not in seen:
        seen.add(key(current.id))
        chain.append(current)
        current = network.policy(current.base_policy_id)
    return list(reversed(chain))


def ordered_groups(network: Network, policy: Policy) -> list[tuple[Policy, RuleCollectionGroup]]:
    """Rule collection groups in processing order: parent policy's first, then priority."""
    result: list[tuple[Policy, RuleCollectionGroup]] = []
    for p in policy_chain(network, policy):
        result += [(p, g) for g in sorted(p.groups, key=lambda g: g.priority)]
    return result


def ordered_collections(network: Network, policy: Policy) -> list[tuple[Policy, RuleCollectionGroup, RuleCollection]]:
    result = []
    for p, g in ordered_groups(network, policy):
        result += [(p, g, c) for c in sorted(g.collections, key=lambda c: c.priority)]
    return result


def _expand_groups(network: Network, ids: Iterable[str]) -> list[str]:
    out: list[str] = []
    for gid in ids:
        out += network.ip_groups.get(key(gid), ())
    return out


def _source_ok(network: Network, rule: Rule, source: Endpoint) -> bool:
    specs = [*rule.source_addresses, *_expand_groups(network, rule.source_ip_groups)]
    return any(covers(s, source) for s in specs)


def _ip_protocol_ok(rule: Rule, protocol: Protocol) -> bool:
    wanted = "udp" if protocol == "udp" else "tcp"
    return any(p.lower() in ("any", wanted) for p in rule.ip_protocols)


def _network_match(network: Network, policy: Policy, rule: Rule, req: FirewallRequest) -> bool:
    if not _ip_protocol_ok(rule, req.protocol) or not any(port_matches(p, req.port) for p in rule.destination_ports):
        return False
    if not _source_ok(network, rule, req.source):
        return False
    specs = [*rule.destination_addresses, *_expand_groups(network, rule.destination_ip_groups)]
    if any(covers(s, req.destination) for s in specs):
        return True
    if rule.destination_fqdns and policy.dns_proxy and req.fqdn:
        return any(f.strip().lower().rstrip(".") == req.fqdn.lower().rstrip(".") for f in rule.destination_fqdns)
    return False


def _url_host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _application_match(network: Network, rule: Rule, req: FirewallRequest, region: str) -> bool:
    kind = _APP_PROTOCOLS.get(req.protocol)
    if kind is None or req.fqdn is None:
        return False
    if not any(t.lower() == kind and port == req.port for t, port in rule.protocols):
        return False
    if not _source_ok(network, rule, req.source):
        return False
    patterns = [*rule.target_fqdns, *(_url_host(u) for u in rule.target_urls)]
    for tag in rule.fqdn_tags:
        patterns += tag_fqdns(tag, region)
    return any(fqdn_matches(p, req.fqdn) for p in patterns)


def _nat_match(network: Network, rule: Rule, req: FirewallRequest) -> bool:
    if not _ip_protocol_ok(rule, req.protocol) or not any(port_matches(p, req.port) for p in rule.destination_ports):
        return False
    if not _source_ok(network, rule, req.source):
        return False
    # a DNAT rule's destination is a firewall public IP, never a wildcard for this purpose
    return bool(req.destination.networks) and any(covers(d, req.destination) for d in rule.destination_addresses)


def decide(network: Network, policy: Policy, request: FirewallRequest, *, region: str) -> FirewallDecision:
    """The firewall's decision for ``request`` under ``policy`` (with its parents)."""
    collections = ordered_collections(network, policy)

    def path(g: RuleCollectionGroup, c: RuleCollection, r: Rule) -> str:
        return f"{g.name}/{c.name}/{r.name}"

    def where(p: Policy) -> str:
        return "" if key(p.id) == key(policy.id) else f" (parent policy {p.name})"

    for p, g, c in collections:
        if c.kind != "Nat":
            continue
        for r in c.rules:
            if r.rule_type == "NatRule" and _nat_match(network, r, request):
                target = r.translated_address or r.translated_fqdn or "?"
                return FirewallDecision(
                    True,
                    "dnat",
                    path(g, c, r),
                    "DNAT",
                    f"DNAT rule {path(g, c, r)}{where(p)} translates to {target}:{r.translated_port or request.port}",
                    p.name,
                    (target, r.translated_port),
                )
    stages: tuple[Literal["network", "application"], ...] = ("network", "application")
    for stage in stages:
        if stage == "application" and request.protocol not in _APP_PROTOCOLS:
            break
        for p, g, c in collections:
            if c.kind != "Filter":
                continue
            for r in c.rules:
                if stage == "network":
                    hit = r.rule_type == "NetworkRule" and _network_match(network, p, r, request)
                else:
                    hit = r.rule_type == "ApplicationRule" and _application_match(network, r, request, region)
                if not hit:
                    continue
                allowed = c.action.lower() == "allow"
                verb = "allows" if allowed else "denies"
                return FirewallDecision(
                    allowed,
                    stage,
                    path(g, c, r),
                    c.action,
                    f"{stage} rule {path(g, c, r)}{where(p)} (group {g.priority}, collection {c.priority}, "
                    f"{c.action}) {verb}",
                    p.name,
                )
    kinds = "network or application" if request.protocol in _APP_PROTOCOLS else "network"
    return FirewallDecision(
        False, "default", None, None, f"no {kinds} rule of policy {policy.name} matches: denied by default", policy.name
    )
