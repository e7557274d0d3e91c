"""Microsoft.Network/privateDnsZones (+ virtualNetworkLinks) and the zone-name rule of
private endpoints' privateDnsZoneGroups.

* Zones and links are global resources (location ``global``); create is a long-running
  operation (~30 s each). https://learn.microsoft.com/rest/api/dns/privatednszones/create-or-update
* A link's ``virtualNetwork.id`` must exist (checked by the core's reference check);
  ``registrationEnabled``; ``virtualNetworkLinkState`` is ``Completed`` once provisioned.
  https://learn.microsoft.com/azure/dns/private-dns-virtual-network-links
* A virtual network can be linked to a given zone only once, and to at most one zone with
  auto-registration. https://learn.microsoft.com/azure/dns/private-dns-virtual-network-links#registration-virtual-network
* privateDnsZoneGroups: each zone of the group must be the privatelink zone of the endpoint's
  group id (registry -> privatelink.azurecr.io, vault -> privatelink.vaultcore.azure.net,
  blob -> privatelink.blob.core.windows.net, ...).
  https://learn.microsoft.com/azure/private-link/private-endpoint-dns#azure-services-dns-zone-configuration
  Azure itself would accept a mismatched zone and name resolution would silently fail; the
  simulator refuses it (400 ``PrivateDnsZoneGroupZoneMismatch``) so the mistake surfaces in tests.
"""

from __future__ import annotations

from hubspoke_deploy.simulator.providers.base import (
    ResourceType,
    Store,
    WriteContext,
    WriteRule,
    deep_get,
    register,
    register_rule,
)

ZONE_TYPE = "Microsoft.Network/privateDnsZones"
LINK_TYPE = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
ZONE_GROUP_TYPE = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"

_LINKS_DOC = "https://learn.microsoft.com/azure/dns/private-dns-virtual-network-links"
_ZONES_DOC = "https://learn.microsoft.com/azure/private-link/private-endpoint-dns#azure-services-dns-zone-configuration"

#: private link group id (lower case) -> accepted privatelink zone names (public cloud)
GROUP_ZONES: dict[str, tuple[str, ...]] = {
    "registry": ("privatelink.azurecr.io",),
    "vault": ("privatelink.vaultcore.azure.net",),
    "blob": ("privatelink.blob.core.windows.net",),
    "blob_secondary": ("privatelink.blob.core.windows.net",),
    "file": ("privatelink.file.core.windows.net",),
    "queue": ("privatelink.queue.core.windows.net",),
    "table": ("privatelink.table.core.windows.net",),
    "dfs": ("privatelink.dfs.core.windows.net",),
    "web": ("privatelink.web.core.windows.net",),
    "azuremonitor": (
        "privatelink.monitor.azure.com",
        "privatelink.oms.opinsights.azure.com",
        "privatelink.ods.opinsights.azure.com",
        "privatelink.agentsvc.azure-automation.net",
        "privatelink.blob.core.windows.net",
    ),
}


def _check_global(ctx: WriteContext) -> str | None:
    loc = str(ctx.resource.get("location", "global") or "global")
    if loc.lower() == "global":
        return None
    kind = "Microsoft.Network/privateDnsZones/virtualNetworkLinks" if ctx.rid.is_child else ZONE_TYPE
    return (
        f"The provided location '{loc}' is not available for resource type '{kind}'. "
        "List of available regions for the resource type is 'global'."
    )


def _links_of_vnet(store: Store, vnet_id: str) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for link in store.find(LINK_TYPE):
        if str(deep_get(link, "properties.virtualNetwork.id", "")).lower() == vnet_id.lower():
            out.append((str(link.get("id", "")), bool(deep_get(link, "properties.registrationEnabled"))))
    return out


def _check_link_once(ctx: WriteContext) -> str | None:
    vnet = deep_get(ctx.resource, "properties.virtualNetwork.id")
    if not isinstance(vnet, str) or ctx.rid.parent is None:
        return None
    zone_key = ctx.rid.parent.key + "/"
    for link_id, _ in _links_of_vnet(ctx.store, vnet):
        if link_id.lower().startswith(zone_key) and link_id.lower() != ctx.rid.key:
            return (
                f"A virtual network link to virtual network '{vnet}' already exists in private DNS zone "
                f"'{ctx.rid.parent.name}' ('{link_id.rsplit('/', 1)[-1]}'). A virtual network can be linked "
                "to a private DNS zone only once."
            )
    return None


def _check_one_registration(ctx: WriteContext) -> str | None:
    vnet = deep_get(ctx.resource, "properties.virtualNetwork.id")
    if not isinstance(vnet, str) or not deep_get(ctx.resource, "properties.registrationEnabled"):
        return None
    for link_id, reg in _links_of_vnet(ctx.store, vnet):
        if reg and link_id.lower() != ctx.rid.key:
            return (
                f"Virtual network '{vnet}' already has auto-registration enabled through link '{link_id}'. "
                "A virtual network can be a registration virtual network of only one private DNS zone."
            )
    return None


def _group_ids(pe: dict[str, object] | None) -> list[str]:
    if not isinstance(pe, dict):
        return []
    out: list[str] = []
    for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
        for conn in deep_get(pe, f"properties.{key}") or []:
            if isinstance(conn, dict):
                ids = deep_get(conn, "properties.groupIds") or conn.get("groupIds") or []
                out.extend(str(g) for g in ids)
    return out


def _check_zone_group(ctx: WriteContext) -> str | None:
    parent = ctx.parent
    if parent is None and ctx.rid.parent is not None:
        parent = ctx.store.get(ctx.rid.parent.id)
    groups = [g.lower() for g in _group_ids(parent)]
    expected: set[str] = set()
    for g in groups:
        expected.update(GROUP_ZONES.get(g, ()))
    if not expected:
        return None  # group ids the simulator does not model
    for cfg in ctx.props.get("privateDnsZoneConfigs") or []:
        if not isinstance(cfg, dict):
            continue
        zone_id = deep_get(cfg, "properties.privateDnsZoneId") or cfg.get("privateDnsZoneId")
        if not isinstance(zone_id, str):
            continue
        zone = zone_id.rstrip("/").rsplit("/", 1)[-1].lower()
        if zone not in expected:
            return (
                f"Private DNS zone '{zone}' does not match the private endpoint's group id "
                f"'{', '.join(groups)}': expected {' or '.join(sorted(expected))}. See {_ZONES_DOC}"
            )
    return None


for _rule in (
    WriteRule(
        "pdns-zone-global",
        ZONE_TYPE,
        _check_global,
        400,
        "LocationNotAvailableForResourceType",
        "https://learn.microsoft.com/rest/api/dns/privatednszones/create-or-update",
    ),
    WriteRule("pdns-link-global", LINK_TYPE, _check_global, 400, "LocationNotAvailableForResourceType", _LINKS_DOC),
    WriteRule("pdns-link-once", LINK_TYPE, _check_link_once, 409, "Conflict", _LINKS_DOC),
    WriteRule(
        "pdns-link-one-registration",
        LINK_TYPE,
        _check_one_registration,
        409,
        "Conflict",
        _LINKS_DOC + "#registration-virtual-network",
    ),
    WriteRule(
        "pe-zone-group-zone-name",
        ZONE_GROUP_TYPE,
        _check_zone_group,
        400,
        "PrivateDnsZoneGroupZoneMismatch",
        _ZONES_DOC,
    ),
):
    register_rule(_rule)


@register
class PrivateDnsZones(ResourceType):
    type_name = ZONE_TYPE
    create_latency_s = 30.0
    update_latency_s = 5.0
    long_running = True
    requires_location = True

    def on_write(self, ctx: WriteContext) -> None:
        ctx.resource["location"] = "global"
        props = ctx.props
        props.setdefault("maxNumberOfRecordSets", 25000)
        props.setdefault("maxNumberOfVirtualNetworkLinks", 1000)
        props.setdefault("maxNumberOfVirtualNetworkLinksWithRegistration", 100)

    def on_read(self, store: Store, view: dict[str, object]) -> None:
        rid = str(view.get("id", ""))
        links = store.children(rid, "virtualNetworkLinks")
        props = view.get("properties")
        if isinstance(props, dict):
            props["numberOfVirtualNetworkLinks"] = len(links)
            props["numberOfVirtualNetworkLinksWithRegistration"] = sum(
                1 for link in links if deep_get(link, "properties.registrationEnabled")
            )
            props.setdefault("numberOfRecordSets", 1)


@register
class VirtualNetworkLinks(ResourceType):
    type_name = LINK_TYPE
    create_latency_s = 30.0
    update_latency_s = 10.0
    long_running = True
    requires_location = True
    schema = {"properties.registrationEnabled": "bool", "properties.virtualNetwork": "object"}

    def on_write(self, ctx: WriteContext) -> None:
        ctx.resource["location"] = "global"
        ctx.props.setdefault("registrationEnabled", False)
        ctx.props["virtualNetworkLinkState"] = "InProgress"

    def on_read(self, store: Store, view: dict[str, object]) -> None:
        props = view.get("properties")
        if isinstance(props, dict):
            done = str(props.get("provisioningState", "Succeeded")) == "Succeeded"
            props["virtualNetworkLinkState"] = "Completed" if done else "InProgress"


RECORD_TYPE = "Microsoft.Network/privateDnsZones/A"


@register
class ARecordSets(ResourceType):
    """A record sets of a private zone (``aRecords[].ipv4Address``). Azure writes them for a
    private endpoint's DNS zone group and for a private AKS cluster's API server in its own
    zone; they can also be written directly.
    https://learn.microsoft.com/rest/api/dns/privatednszones/record-sets/create-or-update"""

    type_name = RECORD_TYPE
    long_running = False
    create_status = 201
    schema = {"properties.aRecords": "list[object]", "properties.ttl": "int"}

    def on_write(self, ctx: WriteContext) -> None:
        ctx.props.setdefault("ttl", 10)
        ctx.props["fqdn"] = f"{ctx.rid.name}.{ctx.rid.parent.name if ctx.rid.parent else ''}."
        ctx.props["isAutoRegistered"] = False


def put_a_record(store: Store, zone_id: str, name: str, ips: list[str]) -> None:
    """Write (or overwrite) the A record set ``name`` of a zone, as Azure does on behalf of a
    private endpoint's zone group or an AKS cluster."""
    zone_name = zone_id.rstrip("/").rsplit("/", 1)[-1]
    store.put({
        "id": f"{zone_id}/A/{name}",
        "name": name,
        "type": RECORD_TYPE,
        "properties": {
            "ttl": 10,
            "fqdn": f"{name}.{zone_name}.",
            "isAutoRegistered": False,
            "aRecords": [{"ipv4Address": ip} for ip in ips],
            "provisioningState": "Succeeded",
        },
    })
