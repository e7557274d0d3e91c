"""Name resolution of a destination FQDN as seen from a source VNet.

Who resolves (``resolver_view``):

* the VNet has no DNS servers (or only 168.63.129.16): Azure-provided DNS, which answers
  from the private DNS zones linked to *that* VNet
  (https://learn.microsoft.com/azure/dns/private-dns-virtual-network-links);
* the VNet's first DNS server is an Azure Firewall's private IP and the firewall's policy
  has DNS proxy on: the firewall forwards to its policy's DNS servers; with none (Azure
  DNS), the answer comes from the zones linked to the *firewall's* VNet, the hub
  (https://learn.microsoft.com/azure/firewall/dns-settings#dns-proxy);
  with DNS proxy off the firewall does not listen on port 53: resolution fails;
* any other DNS server (or custom upstream servers of the proxy): unknown to this
  evaluator; the name is treated as resolving publicly, and the answer says so.

How a name resolves (``resolve``): a private endpoint's public name is a CNAME to the same
label under the service's ``privatelink`` zone (``myacr.azurecr.io`` ->
``myacr.privatelink.azurecr.io``; table ``PRIVATELINK_ZONES``). The name and then its
privatelink alias are looked up in the most specific linked zone that contains them: an A
record gives a private IP; a linked zone without the record answers NXDOMAIN (unless the
link's ``resolutionPolicy`` is ``NxDomainRedirect``, which falls back to public
resolution, https://learn.microsoft.com/azure/dns/private-dns-fallback); no linked zone
means public resolution.

Simplifications: only A records (no CNAME/wildcard records inside private zones), the
first DNS server of a VNet only, no DNS private resolver / forwarding rulesets, and a
firewall policy's DNS settings are not inherited from its parent policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hubspoke_deploy.verify.addresses import AZURE_PLATFORM_IP
from hubspoke_deploy.verify.model import DnsZone, Network, PrivateEndpoint, Vnet

__all__ = [
    "PRIVATELINK_ZONES",
    "DnsAnswer",
    "ResolverView",
    "privatelink_alias",
    "record_names_for_endpoint",
    "resolve",
    "resolver_view",
]

# Public DNS suffix -> privatelink zone (the CNAME Azure's public DNS returns for a service
# with a private endpoint), from "Azure Private Endpoint private DNS zone values"
# https://learn.microsoft.com/azure/private-link/private-endpoint-dns#azure-services-dns-zone-configuration
# ``{region}`` is the region name as in the zone (e.g. westeurope).
PRIVATELINK_ZONES: tuple[tuple[str, str], ...] = (
    # Container Registry (registry): login server and the regional data endpoint
    # <name>.<region>.data.azurecr.io -> <name>.<region>.data.privatelink.azurecr.io
    ("azurecr.io", "privatelink.azurecr.io"),
    # Key Vault (vault)
    ("vault.azure.net", "privatelink.vaultcore.azure.net"),
    ("vaultcore.azure.net", "privatelink.vaultcore.azure.net"),
    # Storage (blob, file, queue, table, dfs, web)
    ("blob.core.windows.net", "privatelink.blob.core.windows.net"),
    ("file.core.windows.net", "privatelink.file.core.windows.net"),
    ("queue.core.windows.net", "privatelink.queue.core.windows.net"),
    ("table.core.windows.net", "privatelink.table.core.windows.net"),
    ("dfs.core.windows.net", "privatelink.dfs.core.windows.net"),
    ("web.core.windows.net", "privatelink.web.core.windows.net"),
    # AKS API server (management): {region}.azmk8s.io -> privatelink.{region}.azmk8s.io
    ("{region}.azmk8s.io", "privatelink.{region}.azmk8s.io"),
    # Azure Monitor (azuremonitor)
    ("monitor.azure.com", "privatelink.monitor.azure.com"),
    ("oms.opinsights.azure.com", "privatelink.oms.opinsights.azure.com"),
    ("ods.opinsights.azure.com", "privatelink.ods.opinsights.azure.com"),
)

_REGION = re.compile(r"^[a-z0-9]+$")


def privatelink_alias(fqdn: str) -> tuple[str, str] | None:
    """``(alias, privatelink zone)`` of a public service name, or None.

    ``x.azurecr.io`` -> ``("x.privatelink.azurecr.io", "privatelink.azurecr.io")``. A name
    already under a privatelink zone, and the public API server names of public AKS clusters
    (``*.hcp.<region>.azmk8s.io``), have no alias."""
    name = fqdn.lower().rstrip(".")
    if ".privatelink." in f".{name}":
        return None
    for public, zone in PRIVATELINK_ZONES:
        if "{region}" in public:
            tail = public.replace("{region}.", "")
            if not name.endswith("." + tail):
                continue
            head = name[: -len(tail) - 1]
            prefix, _, region = head.rpartition(".")
            if not prefix or not _REGION.match(region) or prefix.endswith(".hcp") or prefix == "hcp":
                continue
            z = zone.replace("{region}", region)
            return f"{prefix}.{z}", z
        if name.endswith("." + public):
            prefix = name[: -len(public) - 1]
            return f"{prefix}.{zone}", zone
    return None


def record_names_for_endpoint(pe: PrivateEndpoint, zone_name: str) -> list[str]:
    """A records Azure writes into ``zone_name`` for a private endpoint's DNS zone group:
    the target resource's name, and for a registry also ``<name>.<region>.data`` (the data
    endpoint, https://learn.microsoft.com/azure/container-registry/container-registry-private-link)."""
    if not pe.target_id:
        return []
    name = pe.target_id.rstrip("/").rsplit("/", 1)[-1].lower()
    zone = zone_name.lower()
    if zone.endswith("azmk8s.io"):
        return []  # the API server's record is written by AKS itself
    names = [name]
    groups = {g.lower() for g in pe.group_ids}
    if zone == "privatelink.azurecr.io" and (not groups or "registry" in groups) and pe.location:
        names.append(f"{name}.{pe.location.lower().replace(' ', '')}.data")
    return names


@dataclass(frozen=True)
class ResolverView:
    """Who answers for a VNet: ``azure`` (Azure DNS with ``links_vnet_id``'s zone links),
    ``custom`` (unknown server), ``failed`` (nothing answers)."""

    kind: Literal["azure", "custom", "failed"]
    links_vnet_id: str | None
    text: str
    via_firewall: str | None = None


@dataclass(frozen=True)
class DnsAnswer:
    """``status``: ``private`` (``ips`` from ``zone``), ``public`` (resolves outside the
    VNets; the IP is unknown), ``nxdomain`` (a linked zone has no record), ``failed``.
    ``unlinked_zone``: for a public answer, a zone of the network that holds the name's record
    but is not linked to the resolving VNet (the name was meant to resolve privately)."""

    status: Literal["private", "public", "nxdomain", "failed"]
    name: str
    queried: str
    resolver: ResolverView
    ips: tuple[str, ...] = ()
    zone: str | None = None
    note: str = ""
    unlinked_zone: str | None = None

    @property
    def ip(self) -> str | None:
        return self.ips[0] if self.ips else None

    def describe(self) -> str:
        via = self.resolver.text
        if self.status == "private":
            alias = f" (CNAME {self.queried})" if self.queried != self.name else ""
            return f"{self.name}{alias} -> {self.ips[0]} from zone {self.zone} via {via}"
        if self.status == "nxdomain":
            return f"{self.name}: NXDOMAIN, zone {self.zone} is linked but has no record for {self.queried} ({via})"
        if self.status == "failed":
            return f"{self.name}: not resolvable ({via})"
        return f"{self.name} resolves publicly via {via}" + (f"; {self.note}" if self.note else "")


def _vnet_of_subnet_id(subnet_id: str) -> str:
    parts = subnet_id.rstrip("/").split("/")
    return "/".join(parts[:-2])


def resolver_view(network: Network, vnet: Vnet) -> ResolverView:
    """Who resolves names for clients of ``vnet`` (see the module docstring)."""
    servers = [s for s in vnet.dns_servers if s]
    if not servers or all(s == AZURE_PLATFORM_IP for s in servers):
        return ResolverView("azure", vnet.id, f"Azure DNS with {vnet.name}'s zone links")
    first = servers[0]
    firewall = network.firewall_by_private_ip(first)
    if firewall is None:
        return ResolverView("custom", None, f"custom DNS server {first} (not modelled)")
    policy = network.policy(firewall.policy_id)
    if policy is None or not policy.dns_proxy:
        return ResolverView(
            "failed", None, f"{vnet.name} uses {firewall.name} ({first}) as DNS server but its DNS proxy is off"
        )
    upstream = [s for s in policy.dns_servers if s != AZURE_PLATFORM_IP]
    if upstream:
        return ResolverView(
            "custom", None, f"{firewall.name} DNS proxy -> custom DNS server {upstream[0]} (not modelled)", firewall.id
        )
    fw_vnet_id = _vnet_of_subnet_id(firewall.subnet_id) if firewall.subnet_id else None
    fw_vnet = network.vnet(fw_vnet_id) if fw_vnet_id else None
    name = fw_vnet.name if fw_vnet else "the firewall's VNet"
    return ResolverView(
        "azure",
        fw_vnet.id if fw_vnet else fw_vnet_id,
        f"{firewall.name} DNS proxy ({first}) -> Azure DNS with {name}'s zone links",
        firewall.id,
    )


def _zone_for(zones: list[DnsZone], name: str) -> DnsZone | None:
    best: DnsZone | None = None
    for zone in zones:
        if (name == zone.name or name.endswith("." + zone.name)) and (best is None or len(zone.name) > len(best.name)):
            best = zone
    return best


def resolve(network: Network, fqdn: str, vnet: Vnet) -> DnsAnswer:
    """Resolve ``fqdn`` for clients in ``vnet``."""
    name = fqdn.lower().rstrip(".")
    view = resolver_view(network, vnet)
    if view.kind == "failed":
        return DnsAnswer("failed", name, name, view)
    if view.kind == "custom" or view.links_vnet_id is None:
        return DnsAnswer(
            "public", name, name, view, note="the custom DNS server's answer is unknown: treated as public"
        )
    linked = [z for z in network.zones.values() if z.linked_to(view.links_vnet_id)]
    alias = privatelink_alias(name)
    candidates = [name] + ([alias[0]] if alias else [])
    for candidate in candidates:
        zone = _zone_for(linked, candidate)
        if zone is None:
            continue
        relative = "@" if candidate == zone.name else candidate[: -len(zone.name) - 1]
        ips = zone.a_records.get(relative, ())
        if ips:
            return DnsAnswer("private", name, candidate, view, ips=tuple(ips), zone=zone.name)
        if zone.resolution_policy(view.links_vnet_id).lower() == "nxdomainredirect":
            continue
        return DnsAnswer("nxdomain", name, candidate, view, zone=zone.name)
    # A zone of the network that has the record but is not linked to the resolving VNet:
    # the name is meant to resolve privately (a foreign name in that zone's namespace, with
    # no record, rightly resolves publicly).
    target = network.vnet(view.links_vnet_id)
    vnet_name = target.name if target else view.links_vnet_id
    unlinked = [z for z in network.zones.values() if not z.linked_to(view.links_vnet_id)]
    for candidate in candidates:
        zone = _zone_for(unlinked, candidate)
        if zone is None:
            continue
        relative = "@" if candidate == zone.name else candidate[: -len(zone.name) - 1]
        if zone.a_records.get(relative):
            return DnsAnswer(
                "public",
                name,
                candidate,
                view,
                zone=zone.name,
                note=f"zone {zone.name} has the record but is not linked to {vnet_name}",
                unlinked_zone=zone.name,
            )
    return DnsAnswer("public", name, alias[0] if alias else name, view)
