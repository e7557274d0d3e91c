"""Microsoft.Network resource types and Azure's networking rules (data-driven).

Citations (where Azure documents each behaviour):

* Azure reserves 5 addresses per subnet (x.x.x.0-3 and the broadcast), so the first
  usable address is .4: https://learn.microsoft.com/azure/virtual-network/virtual-networks-faq#are-there-any-restrictions-on-using-ip-addresses-within-these-subnets
* AzureFirewallSubnet (and AzureFirewallManagementSubnet) need at least /26:
  https://learn.microsoft.com/azure/firewall/firewall-faq#why-does-azure-firewall-need-a--26-subnet-size
* AzureBastionSubnet must be /26 or larger:
  https://learn.microsoft.com/azure/bastion/configuration-settings#subnet
* The firewall takes the first usable address of AzureFirewallSubnet (.4) as its private IP
  (the address used as next hop in the UDRs of the AKS egress article):
  https://learn.microsoft.com/azure/aks/limit-egress-traffic#create-a-route-table
* Firewall public IPs must be Standard SKU, static:
  https://learn.microsoft.com/azure/firewall/firewall-faq#what-are-the-requirements-for-public-ip-addresses
* Firewall Basic needs a management IP configuration on AzureFirewallManagementSubnet:
  https://learn.microsoft.com/azure/firewall/basic-features#management-nic
* Peered VNets cannot have overlapping address spaces:
  https://learn.microsoft.com/azure/virtual-network/virtual-network-manage-peering#requirements-and-constraints
* Peering state Initiated until the reverse peering exists, then Connected:
  https://learn.microsoft.com/azure/virtual-network/virtual-network-manage-peering#create-a-peering
* Route next hops (VirtualAppliance needs nextHopIpAddress; other types must not have one):
  https://learn.microsoft.com/azure/virtual-network/virtual-networks-udr-overview#custom-routes
* Subnet delete refused while in use (InUseSubnetCannotBeDeleted):
  https://learn.microsoft.com/azure/virtual-network/virtual-network-manage-subnet#delete-a-subnet
* Public IP delete refused while associated:
  https://learn.microsoft.com/azure/virtual-network/ip-services/virtual-network-public-ip-address#delete-a-public-ip-address
* NSG delete refused while associated:
  https://learn.microsoft.com/azure/virtual-network/manage-network-security-group#delete-a-network-security-group
* Route table delete refused while associated:
  https://learn.microsoft.com/azure/virtual-network/manage-route-table#delete-a-route-table
* Standard SKU public IPs must use static allocation:
  https://learn.microsoft.com/azure/virtual-network/ip-services/public-ip-addresses#sku
* NSG rule priority 100-4096:
  https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview#security-rules
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from hubspoke_deploy.simulator.providers.base import (
    JSON,
    DeleteContext,
    DeleteRule,
    ResourceId,
    ResourceType,
    Store,
    WriteContext,
    WriteRule,
    deep_get,
    register,
    register_rule,
)

NS = "Microsoft.Network"
VNET = f"{NS}/virtualNetworks"
SUBNET = f"{VNET}/subnets"
PEERING = f"{VNET}/virtualNetworkPeerings"
ROUTE_TABLE = f"{NS}/routeTables"
ROUTE = f"{ROUTE_TABLE}/routes"
NSG = f"{NS}/networkSecurityGroups"
NSG_RULE = f"{NSG}/securityRules"
PIP = f"{NS}/publicIPAddresses"
PIP_PREFIX = f"{NS}/publicIPPrefixes"
NAT = f"{NS}/natGateways"
FIREWALL = f"{NS}/azureFirewalls"
FW_POLICY = f"{NS}/firewallPolicies"
RCG = f"{FW_POLICY}/ruleCollectionGroups"
NIC = f"{NS}/networkInterfaces"
PE = f"{NS}/privateEndpoints"
PE_ZONE_GROUP = f"{PE}/privateDnsZoneGroups"
BASTION = f"{NS}/bastionHosts"

Net = ipaddress.IPv4Network | ipaddress.IPv6Network

SPECIAL_SUBNET_MIN = {"azurefirewallsubnet": 26, "azurefirewallmanagementsubnet": 26, "azurebastionsubnet": 26}
PUBLIC_POOL = ipaddress.ip_network("20.61.0.0/16")


# ------------------------------------------------------------------------- helpers


def parse_net(text: Any) -> Net | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        return None


def subnet_prefixes(res: JSON | None) -> list[str]:
    props = (res or {}).get("properties") or {}
    out: list[str] = []
    if isinstance(props.get("addressPrefix"), str):
        out.append(props["addressPrefix"])
    pfx = props.get("addressPrefixes")
    if isinstance(pfx, list):
        out += [p for p in pfx if isinstance(p, str) and p not in out]
    return out


def vnet_prefixes(res: JSON | None) -> list[str]:
    pfx = deep_get(res, "properties.addressSpace.addressPrefixes", [])
    return [p for p in pfx if isinstance(p, str)] if isinstance(pfx, list) else []


def _nets(prefixes: list[str]) -> list[Net]:
    return [n for n in (parse_net(p) for p in prefixes) if n is not None]


def _overlaps(a: list[Net], b: list[Net]) -> bool:
    return any(x.version == y.version and x.overlaps(y) for x in a for y in b)


def _vnet_of_subnet(subnet_id: str) -> str:
    return subnet_id.rsplit("/", 2)[0]


def _subnet_name(subnet_id: Any) -> str:
    return str(subnet_id).rstrip("/").rsplit("/", 1)[-1] if isinstance(subnet_id, str) else ""


def used_private_ips(store: Store, subnet_id: str) -> set[str]:
    used: set[str] = set()
    for ref in store.referrers(subnet_id):
        owner = _owner_obj(ref.resource, ref.path)
        ip = deep_get(owner, "properties.privateIPAddress") if owner else None
        if isinstance(ip, str):
            used.add(ip)
    return used


def _owner_obj(resource: JSON, path: str) -> JSON | None:
    """The object holding ``properties.subnet.id`` for a reference path like
    ``properties.ipConfigurations.0.properties.subnet.id``."""
    parts = path.split(".")
    if len(parts) >= 3 and parts[-2] == "subnet" and parts[-3] == "properties":
        obj = deep_get(resource, ".".join(parts[:-3])) if len(parts) > 3 else resource
        return obj if isinstance(obj, dict) else None
    return None


def allocate_private_ip(store: Store, subnet_id: str, taken: set[str] | None = None) -> str | None:
    """First free address of the subnet from .4 (Azure reserves .0-.3 and the broadcast)."""
    sub = store.get(subnet_id)
    nets = _nets(subnet_prefixes(sub))
    if not nets:
        return None
    net = nets[0]
    used = used_private_ips(store, subnet_id) | (taken or set())
    first = int(net.network_address) + 4
    last = int(net.broadcast_address) - 1
    for i in range(first, last + 1):
        ip = str(ipaddress.ip_address(i))
        if ip not in used:
            return ip
    return None


def _ip_configs(res: JSON) -> list[JSON]:
    cfgs = deep_get(res, "properties.ipConfigurations", [])
    return [c for c in cfgs if isinstance(c, dict)] if isinstance(cfgs, list) else []


def _fill_ipconfig_ids(ctx: WriteContext, segment: str) -> None:
    for i, cfg in enumerate(_ip_configs(ctx.resource)):
        name = cfg.get("name") or f"ipconfig{i + 1}"
        cfg["name"] = name
        cfg["id"] = f"{ctx.resource['id']}/{segment}/{name}"
        cfg.setdefault("properties", {})
        cfg.setdefault("type", f"{ctx.rid.type}/{segment}")


def _sku_name(res: JSON | None) -> str:
    return str(deep_get(res, "sku.name", "") or "")


# ------------------------------------------------------------------------- subnet rules


def _subnet_cidr(ctx: WriteContext) -> str | None:
    prefixes = subnet_prefixes(ctx.resource)
    if not prefixes:
        return f"Subnet '{ctx.rid.name}' is not valid: it has no address prefix."
    for p in prefixes:
        if parse_net(p) is None:
            return (
                f"Subnet '{ctx.rid.name}' is not valid in virtual network '{ctx.rid.names[0]}': "
                f"'{p}' is not a valid CIDR network address."
            )
    return None


def _subnet_inside(ctx: WriteContext) -> str | None:
    vnets = _nets(vnet_prefixes(ctx.parent))
    for n in _nets(subnet_prefixes(ctx.resource)):
        if not any(n.version == v.version and n.subnet_of(v) for v in vnets):  # type: ignore[arg-type]
            return (
                f"Subnet '{ctx.rid.name}' is not valid because its IP address range is outside the IP address "
                f"range of virtual network '{ctx.rid.names[0]}'."
            )
    return None


def _subnet_overlap(ctx: WriteContext) -> str | None:
    mine = _nets(subnet_prefixes(ctx.resource))
    for sib in ctx.siblings:
        if _overlaps(mine, _nets(subnet_prefixes(sib))):
            return (
                f"Subnet '{ctx.rid.name}' is not valid because its IP address range overlaps with that of an "
                f"existing subnet '{sib.get('name')}' in virtual network '{ctx.rid.names[0]}'."
            )
    return None


def _subnet_special_size(ctx: WriteContext) -> str | None:
    need = SPECIAL_SUBNET_MIN.get(ctx.rid.name.lower())
    if need is None:
        return None
    for n in _nets(subnet_prefixes(ctx.resource)):
        if n.prefixlen > need:
            return (
                f"Subnet '{ctx.rid.name}' is not valid in virtual network '{ctx.rid.names[0]}': the "
                f"{ctx.rid.name} must be /{need} or larger, not /{n.prefixlen}."
            )
    return None


def _vnet_space(ctx: WriteContext) -> str | None:
    prefixes = vnet_prefixes(ctx.resource)
    if not prefixes:
        return "The virtual network needs properties.addressSpace.addressPrefixes."
    for p in prefixes:
        if parse_net(p) is None:
            return f"Address prefix '{p}' of virtual network '{ctx.rid.name}' is not a valid CIDR."
    return None


def _vnet_keeps_subnets_inside(ctx: WriteContext) -> str | None:
    vnets = _nets(vnet_prefixes(ctx.resource))
    for sub in ctx.new_children.get("subnets", []):
        for n in _nets(subnet_prefixes(sub)):
            if not any(n.version == v.version and n.subnet_of(v) for v in vnets):  # type: ignore[arg-type]
                return (
                    f"Subnet '{sub.get('name')}' is not valid because its IP address range is outside the IP "
                    f"address range of virtual network '{ctx.rid.name}'."
                )
    return None


def _peering_overlap(ctx: WriteContext) -> str | None:
    remote_id = deep_get(ctx.resource, "properties.remoteVirtualNetwork.id")
    if not isinstance(remote_id, str):
        return None
    remote = ctx.store.get(remote_id)
    if remote is None or ctx.parent is None:
        return None
    if _overlaps(_nets(vnet_prefixes(ctx.parent)), _nets(vnet_prefixes(remote))):
        return (
            f"Cannot create or update peering '{ctx.rid.name}'. Virtual networks {ctx.parent.get('id')} and "
            f"{remote.get('id')} cannot be peered because their address spaces overlap."
        )
    return None


def _peering_remote_required(ctx: WriteContext) -> str | None:
    if not isinstance(deep_get(ctx.resource, "properties.remoteVirtualNetwork.id"), str):
        return f"Peering '{ctx.rid.name}' needs properties.remoteVirtualNetwork.id."
    return None


def _route_next_hop(ctx: WriteContext) -> str | None:
    hop_type = str(ctx.props.get("nextHopType") or "")
    ip = ctx.props.get("nextHopIpAddress")
    valid = ("VirtualNetworkGateway", "VnetLocal", "Internet", "VirtualAppliance", "None")
    if hop_type not in valid:
        return f"Route '{ctx.rid.name}' has an invalid nextHopType '{hop_type}'. Valid values: {', '.join(valid)}."
    if hop_type == "VirtualAppliance":
        try:
            ipaddress.ip_address(str(ip))
        except ValueError:
            return (
                f"Route '{ctx.rid.name}' has next hop type VirtualAppliance and needs a valid "
                f"nextHopIpAddress, not '{ip}'."
            )
    elif ip:
        return (
            f"Route '{ctx.rid.name}' has next hop type {hop_type}: nextHopIpAddress '{ip}' is only allowed "
            "with next hop type VirtualAppliance."
        )
    return None


def _route_prefix(ctx: WriteContext) -> str | None:
    p = ctx.props.get("addressPrefix")
    if not isinstance(p, str) or (parse_net(p) is None and not p[:1].isalpha()):  # service tags allowed
        return f"Route '{ctx.rid.name}' has an invalid addressPrefix '{p}'."
    return None


def _nsg_priority(ctx: WriteContext) -> str | None:
    prio = ctx.props.get("priority")
    if not isinstance(prio, int) or not 100 <= prio <= 4096:
        return f"Security rule '{ctx.rid.name}' has invalid priority {prio}. Value provided must be 100-4096."
    for sib in ctx.siblings:
        sp = sib.get("properties") or {}
        if sp.get("priority") == prio and sp.get("direction") == ctx.props.get("direction"):
            return (
                f"Security rule '{ctx.rid.name}' conflicts with rule '{sib.get('name')}'. Rules cannot have "
                "the same Priority and Direction."
            )
    return None


def _pip_static(ctx: WriteContext) -> str | None:
    if (
        _sku_name(ctx.resource).lower() == "standard"
        and str(ctx.props.get("publicIPAllocationMethod") or "Static").lower() != "static"
    ):
        return f"Standard sku publicIp {ctx.rid.id} must have AllocationMethod set to Static."
    return None


def _fw_subnet(ctx: WriteContext) -> str | None:
    if str(deep_get(ctx.resource, "properties.sku.name", "AZFW_VNet")) == "AZFW_Hub":
        return None
    cfgs = _ip_configs(ctx.resource)
    if not cfgs:
        return f"Azure Firewall {ctx.rid.name} needs an ipConfiguration on subnet AzureFirewallSubnet."
    sid = deep_get(cfgs[0], "properties.subnet.id")
    if _subnet_name(sid).lower() != "azurefirewallsubnet":
        return (
            f"Azure Firewall {ctx.rid.name}: the subnet of the first ipConfiguration must be named "
            f"AzureFirewallSubnet, not '{_subnet_name(sid)}'."
        )
    return None


def _fw_pips(ctx: WriteContext) -> str | None:
    cfgs = list(_ip_configs(ctx.resource))
    mgmt = deep_get(ctx.resource, "properties.managementIpConfiguration")
    if isinstance(mgmt, dict):
        cfgs.append(mgmt)
    for cfg in cfgs:
        pid = deep_get(cfg, "properties.publicIPAddress.id")
        if not isinstance(pid, str):
            continue
        pip = ctx.store.get(pid)
        if pip is None:
            continue
        method = str(deep_get(pip, "properties.publicIPAllocationMethod", "Static"))
        if _sku_name(pip).lower() != "standard" or method.lower() != "static":
            return (
                f"Azure Firewall {ctx.rid.name}: public IP {pid} must be SKU Standard with static "
                f"allocation (it is {_sku_name(pip) or 'Basic'}/{method})."
            )
    return None


def _fw_basic_mgmt(ctx: WriteContext) -> str | None:
    tier = str(deep_get(ctx.resource, "properties.sku.tier", "") or "")
    mgmt = deep_get(ctx.resource, "properties.managementIpConfiguration")
    if tier.lower() == "basic" and not isinstance(mgmt, dict):
        return (
            f"Azure Firewall {ctx.rid.name} with SKU tier Basic needs a managementIpConfiguration on "
            "subnet AzureFirewallManagementSubnet."
        )
    if isinstance(mgmt, dict):
        sid = deep_get(mgmt, "properties.subnet.id")
        if _subnet_name(sid).lower() != "azurefirewallmanagementsubnet":
            return (
                f"Azure Firewall {ctx.rid.name}: the management ipConfiguration must use subnet "
                f"AzureFirewallManagementSubnet, not '{_subnet_name(sid)}'."
            )
    return None


def _bastion_subnet(ctx: WriteContext) -> str | None:
    cfgs = _ip_configs(ctx.resource)
    if str(deep_get(ctx.resource, "sku.name", "")).lower() == "developer":
        return None
    sid = deep_get(cfgs[0], "properties.subnet.id") if cfgs else None
    if _subnet_name(sid).lower() != "azurebastionsubnet":
        return (
            f"Bastion host {ctx.rid.name} must be deployed in a subnet named AzureBastionSubnet, not "
            f"'{_subnet_name(sid)}'."
        )
    return None


def _nic_subnet(ctx: WriteContext) -> str | None:
    cfgs = _ip_configs(ctx.resource)
    if not cfgs:
        return f"Network interface {ctx.rid.name} needs at least one ipConfiguration."
    for cfg in cfgs:
        if not isinstance(deep_get(cfg, "properties.subnet.id"), str):
            return f"IP configuration {cfg.get('name')} of network interface {ctx.rid.name} needs a subnet."
    return None


def _pe_subnet(ctx: WriteContext) -> str | None:
    if not isinstance(deep_get(ctx.resource, "properties.subnet.id"), str):
        return f"Private endpoint {ctx.rid.name} needs properties.subnet.id."
    conns = (ctx.props.get("privateLinkServiceConnections") or []) + (
        ctx.props.get("manualPrivateLinkServiceConnections") or []
    )
    if not conns:
        return f"Private endpoint {ctx.rid.name} needs a privateLinkServiceConnection."
    return None


# ------------------------------------------------------------------------- delete rules

_SUBNET_USERS = (NIC, PE, FIREWALL, BASTION)


def _subnet_users(store: Store, subnet_id: str) -> list[str]:
    users: list[str] = []
    vnet_key = _vnet_of_subnet(subnet_id).lower()
    for ref in store.referrers(subnet_id):
        rid = str(ref.resource.get("id", ""))
        rtype = str(ref.resource.get("type", ""))
        if rid.lower() == vnet_key or rid.lower().startswith(vnet_key + "/"):
            continue
        if rtype.lower().startswith(NS.lower() + "/") and rtype not in _SUBNET_USERS:
            # e.g. a route table / NSG back-reference: not a user of the subnet's addresses
            continue
        users.append(ref.owner_id)
    return users


def _subnet_in_use(ctx: DeleteContext) -> str | None:
    users = _subnet_users(ctx.store, str(ctx.resource["id"]))
    if users:
        return (
            f"Subnet {ctx.rid.name} is in use by {users[0]} and cannot be deleted. In order to delete the "
            "subnet, delete all the resources within the subnet. See aka.ms/deletesubnet."
        )
    return None


def _vnet_subnets_in_use(ctx: DeleteContext) -> str | None:
    for sub in ctx.store.children(str(ctx.resource["id"]), "subnets"):
        users = _subnet_users(ctx.store, str(sub["id"]))
        if users:
            return (
                f"Subnet {sub.get('name')} is in use by {users[0]} and cannot be deleted. In order to delete "
                "the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet."
            )
    return None


def _refs_excluding_self(ctx: DeleteContext) -> list[str]:
    return [
        r.owner_id
        for r in ctx.store.referrers(str(ctx.resource["id"]))
        if not str(r.resource.get("id", "")).lower().startswith(ctx.rid.key)
    ]


def _route_table_in_use(ctx: DeleteContext) -> str | None:
    users = _refs_excluding_self(ctx)
    if users:
        return (
            f"Route table {ctx.resource['id']} is in use and cannot be deleted. It is associated with "
            f"{', '.join(users)}."
        )
    return None


def _pip_in_use(ctx: DeleteContext) -> str | None:
    users = _refs_excluding_self(ctx)
    if users:
        return (
            f"Public IP address {ctx.resource['id']} can not be deleted since it is still allocated to "
            f"resource {users[0]}. In order to delete the public IP, disassociate/detach the Public IP "
            "address from the resource."
        )
    return None


def _nsg_in_use(ctx: DeleteContext) -> str | None:
    users = _refs_excluding_self(ctx)
    if users:
        return (
            f"Network security group {ctx.resource['id']} cannot be deleted because it is in use by the "
            f"following resources: {', '.join(users)}. In order to delete the Network security group, remove "
            "the association with the resource(s)."
        )
    return None


_D = "https://learn.microsoft.com/azure/virtual-network/"

WRITE_RULES: list[WriteRule] = [
    WriteRule(
        "vnet-address-space",
        VNET,
        _vnet_space,
        400,
        "InvalidAddressPrefixFormat",
        _D + "manage-virtual-network#create-a-virtual-network",
    ),
    WriteRule(
        "vnet-subnets-inside",
        VNET,
        _vnet_keeps_subnets_inside,
        400,
        "NetcfgSubnetRangeOutsideVnet",
        _D + "virtual-network-manage-subnet#add-a-subnet",
    ),
    WriteRule(
        "subnet-cidr",
        SUBNET,
        _subnet_cidr,
        400,
        "NetcfgInvalidSubnet",
        _D + "virtual-network-manage-subnet#add-a-subnet",
    ),
    WriteRule(
        "subnet-inside-vnet",
        SUBNET,
        _subnet_inside,
        400,
        "NetcfgSubnetRangeOutsideVnet",
        _D + "virtual-network-manage-subnet#add-a-subnet",
    ),
    WriteRule(
        "subnet-overlap",
        SUBNET,
        _subnet_overlap,
        400,
        "NetcfgSubnetRangesOverlap",
        _D + "virtual-network-manage-subnet#add-a-subnet",
    ),
    WriteRule(
        "subnet-special-size",
        SUBNET,
        _subnet_special_size,
        400,
        "NetcfgInvalidSubnet",
        "https://learn.microsoft.com/azure/firewall/firewall-faq#why-does-azure-firewall-need-a--26-subnet-size"
        " ; https://learn.microsoft.com/azure/bastion/configuration-settings#subnet",
    ),
    WriteRule(
        "peering-remote",
        PEERING,
        _peering_remote_required,
        400,
        "InvalidRequestFormat",
        _D + "virtual-network-manage-peering#create-a-peering",
    ),
    WriteRule(
        "peering-overlap",
        PEERING,
        _peering_overlap,
        400,
        "VnetAddressSpacesOverlap",
        _D + "virtual-network-manage-peering#requirements-and-constraints",
    ),
    WriteRule(
        "route-prefix",
        ROUTE,
        _route_prefix,
        400,
        "InvalidRouteAddressPrefix",
        _D + "virtual-networks-udr-overview#custom-routes",
    ),
    WriteRule(
        "route-next-hop",
        ROUTE,
        _route_next_hop,
        400,
        "RouteTableInvalidNextHop",
        _D + "virtual-networks-udr-overview#custom-routes",
    ),
    WriteRule(
        "nsg-rule-priority",
        NSG_RULE,
        _nsg_priority,
        400,
        "SecurityRuleInvalidPriority",
        _D + "network-security-groups-overview#security-rules",
    ),
    WriteRule(
        "pip-standard-static",
        PIP,
        _pip_static,
        400,
        "StandardSkuPublicIPAddressesMustBeStatic",
        _D + "ip-services/public-ip-addresses#sku",
    ),
    WriteRule(
        "fw-subnet",
        FIREWALL,
        _fw_subnet,
        400,
        "AzureFirewallSubnetMissing",
        "https://learn.microsoft.com/azure/firewall/firewall-faq#why-does-azure-firewall-need-a--26-subnet-size",
    ),
    WriteRule(
        "fw-public-ip",
        FIREWALL,
        _fw_pips,
        400,
        "AzureFirewallPublicIpMustBeStandardStatic",
        "https://learn.microsoft.com/azure/firewall/firewall-faq#what-are-the-requirements-for-public-ip-addresses",
    ),
    WriteRule(
        "fw-basic-management",
        FIREWALL,
        _fw_basic_mgmt,
        400,
        "AzureFirewallManagementIpConfigurationMissing",
        "https://learn.microsoft.com/azure/firewall/basic-features#management-nic",
    ),
    WriteRule(
        "bastion-subnet",
        BASTION,
        _bastion_subnet,
        400,
        "BastionHostSubnetInvalid",
        "https://learn.microsoft.com/azure/bastion/configuration-settings#subnet",
    ),
    WriteRule(
        "nic-subnet",
        NIC,
        _nic_subnet,
        400,
        "InvalidRequestFormat",
        _D + "virtual-network-network-interface#create-a-network-interface",
    ),
    WriteRule(
        "pe-subnet",
        PE,
        _pe_subnet,
        400,
        "InvalidRequestFormat",
        "https://learn.microsoft.com/azure/private-link/create-private-endpoint-portal",
    ),
]

DELETE_RULES: list[DeleteRule] = [
    DeleteRule(
        "subnet-in-use",
        SUBNET,
        _subnet_in_use,
        400,
        "InUseSubnetCannotBeDeleted",
        _D + "virtual-network-manage-subnet#delete-a-subnet",
    ),
    DeleteRule(
        "vnet-subnets-in-use",
        VNET,
        _vnet_subnets_in_use,
        400,
        "InUseSubnetCannotBeDeleted",
        _D + "manage-virtual-network#delete-a-virtual-network",
    ),
    DeleteRule(
        "route-table-in-use",
        ROUTE_TABLE,
        _route_table_in_use,
        400,
        "InUseRouteTableCannotBeDeleted",
        _D + "manage-route-table#delete-a-route-table",
    ),
    DeleteRule(
        "pip-in-use",
        PIP,
        _pip_in_use,
        400,
        "PublicIPAddressCannotBeDeleted",
        _D + "ip-services/virtual-network-public-ip-address#delete-a-public-ip-address",
    ),
    DeleteRule(
        "nsg-in-use",
        NSG,
        _nsg_in_use,
        400,
        "InUseNetworkSecurityGroupCannotBeDeleted",
        _D + "manage-network-security-group#delete-a-network-security-group",
    ),
]

for _r in WRITE_RULES:
    register_rule(_r)
for _d in DELETE_RULES:
    register_rule(_d)


# ------------------------------------------------------------------------- types


class _NetworkType(ResourceType):
    resource_guid: ClassVar[bool] = True


class _TopLevel(_NetworkType):
    requires_location: ClassVar[bool] = True


def _refs_of_type(store: Store, target: str, type_name: str) -> list[JSON]:
    seen: set[str] = set()
    out: list[JSON] = []
    for ref in store.referrers(target):
        if str(ref.resource.get("type", "")).lower() == type_name.lower() and ref.owner_id.lower() not in seen:
            seen.add(ref.owner_id.lower())
            out.append({"id": ref.owner_id})
    return out


@register
class VirtualNetworks(_TopLevel):
    type_name = VNET
    create_latency_s: ClassVar[float] = 5.0
    update_latency_s: ClassVar[float | None] = 4.0
    delete_latency_s: ClassVar[float | None] = 5.0
    inline_children: ClassVar[dict[str, str]] = {
        "subnets": "subnets",
        "virtualNetworkPeerings": "virtualNetworkPeerings",
    }
    schema: ClassVar[dict[str, str]] = {
        "properties.addressSpace": "object",
        "properties.addressSpace.addressPrefixes": "list[str]",
        "properties.dhcpOptions.dnsServers": "list[str]",
        "properties.enableDdosProtection": "bool",
    }


@register
class Subnets(_NetworkType):
    type_name = SUBNET
    create_latency_s: ClassVar[float] = 3.0
    delete_latency_s: ClassVar[float | None] = 3.0
    schema: ClassVar[dict[str, str]] = {
        "properties.addressPrefix": "str",
        "properties.addressPrefixes": "list[str]",
        "properties.delegations": "list[object]",
        "properties.serviceEndpoints": "list[object]",
        "properties.routeTable": "object",
        "properties.networkSecurityGroup": "object",
    }

    def on_write(self, ctx: WriteContext) -> None:
        # A subnet that does not set them gets Azure's defaults: network policies for private
        # endpoints Disabled, for private link services Enabled
        # (https://learn.microsoft.com/azure/private-link/disable-private-endpoint-network-policy,
        # https://learn.microsoft.com/azure/private-link/disable-private-link-service-network-policy).
        ctx.props.setdefault("privateEndpointNetworkPolicies", "Disabled")
        ctx.props.setdefault("privateLinkServiceNetworkPolicies", "Enabled")

    def on_read(self, store: Store, view: JSON) -> None:
        props = view.setdefault("properties", {})
        sid = str(view["id"])
        ipcfgs: list[JSON] = []
        pes: list[JSON] = []
        seen: set[str] = set()
        for ref in store.referrers(sid):
            rtype = str(ref.resource.get("type", "")).lower()
            if ref.owner_id.lower() in seen or str(ref.resource.get("id", "")).lower().startswith(
                _vnet_of_subnet(sid).lower()
            ):
                continue
            seen.add(ref.owner_id.lower())
            if rtype == PE.lower():
                pes.append({"id": ref.owner_id})
            elif rtype in (NIC.lower(), FIREWALL.lower(), BASTION.lower()):
                ipcfgs.append({"id": ref.owner_id})
        if ipcfgs:
            props["ipConfigurations"] = ipcfgs
        else:
            props.pop("ipConfigurations", None)
        if pes:
            props["privateEndpoints"] = pes
        else:
            props.pop("privateEndpoints", None)


@register
class VirtualNetworkPeerings(_NetworkType):
    type_name = PEERING
    create_latency_s: ClassVar[float] = 5.0
    delete_latency_s: ClassVar[float | None] = 3.0
    schema: ClassVar[dict[str, str]] = {
        "properties.remoteVirtualNetwork": "object",
        "properties.allowVirtualNetworkAccess": "bool",
        "properties.allowForwardedTraffic": "bool",
        "properties.allowGatewayTransit": "bool",
        "properties.useRemoteGateways": "bool",
    }

    def on_read(self, store: Store, view: JSON) -> None:
        props = view.setdefault("properties", {})
        local_vnet = str(view["id"]).rsplit("/", 2)[0]
        remote_id = deep_get(view, "properties.remoteVirtualNetwork.id")
        remote = store.get(remote_id) if isinstance(remote_id, str) else None
        connected = False
        if remote is not None:
            for p in store.children(str(remote["id"]), "virtualNetworkPeerings"):
                rid = deep_get(p, "properties.remoteVirtualNetwork.id")
                if (
                    isinstance(rid, str)
                    and rid.lower() == local_vnet.lower()
                    and deep_get(p, "properties.provisioningState") == "Succeeded"
                ):
                    connected = True
        if remote is None:
            props["peeringState"] = "Disconnected"
        else:
            props["peeringState"] = "Connected" if connected else "Initiated"
            props["remoteAddressSpace"] = {"addressPrefixes": vnet_prefixes(remote)}
        props["peeringSyncLevel"] = "FullyInSync"


@register
class RouteTables(_TopLevel):
    type_name = ROUTE_TABLE
    create_latency_s: ClassVar[float] = 3.0
    inline_children: ClassVar[dict[str, str]] = {"routes": "routes"}

    def on_read(self, store: Store, view: JSON) -> None:
        subs = _refs_of_type(store, str(view["id"]), SUBNET)
        if subs:
            view.setdefault("properties", {})["subnets"] = subs


@register
class Routes(_NetworkType):
    type_name = ROUTE
    create_latency_s: ClassVar[float] = 2.0
    schema: ClassVar[dict[str, str]] = {
        "properties.addressPrefix": "str",
        "properties.nextHopType": "str",
        "properties.nextHopIpAddress": "str",
    }


@register
class NetworkSecurityGroups(_TopLevel):
    type_name = NSG
    create_latency_s: ClassVar[float] = 3.0
    inline_children: ClassVar[dict[str, str]] = {"securityRules": "securityRules"}

    def on_read(self, store: Store, view: JSON) -> None:
        props = view.setdefault("properties", {})
        subs = _refs_of_type(store, str(view["id"]), SUBNET)
        nics = _refs_of_type(store, str(view["id"]), NIC)
        if subs:
            props["subnets"] = subs
        if nics:
            props["networkInterfaces"] = nics
        props.setdefault("defaultSecurityRules", [])


@register
class SecurityRules(_NetworkType):
    type_name = NSG_RULE
    create_latency_s: ClassVar[float] = 2.0
    schema: ClassVar[dict[str, str]] = {
        "properties.priority": "int",
        "properties.protocol": "str",
        "properties.access": "str",
        "properties.direction": "str",
    }


@register
class PublicIPAddresses(_TopLevel):
    type_name = PIP
    create_latency_s: ClassVar[float] = 3.0
    schema: ClassVar[dict[str, str]] = {
        "sku": "object",
        "zones": "list[str]",
        "properties.publicIPAllocationMethod": "str",
    }

    def on_write(self, ctx: WriteContext) -> None:
        sku = ctx.resource.get("sku")
        if isinstance(sku, dict) and sku.get("name"):
            # A public IP is Regional unless created Global (cross-region load balancer)
            # (https://learn.microsoft.com/azure/virtual-network/ip-services/public-ip-addresses#sku).
            sku.setdefault("tier", "Regional")
        old = deep_get(ctx.existing, "properties.ipAddress") if ctx.existing else None
        if isinstance(old, str):
            ctx.props["ipAddress"] = old
            return
        used = {deep_get(p, "properties.ipAddress") for p in ctx.store.find(PIP)}
        for host in PUBLIC_POOL.hosts():
            if str(host) not in used:
                ctx.props["ipAddress"] = str(host)
                break
        ctx.props.setdefault("publicIPAddressVersion", "IPv4")
        ctx.props.setdefault("publicIPAllocationMethod", "Static")
        ctx.props.setdefault("idleTimeoutInMinutes", 4)

    def on_read(self, store: Store, view: JSON) -> None:
        users = [r.owner_id for r in store.referrers(str(view["id"]))]
        if users:
            view.setdefault("properties", {})["ipConfiguration"] = {"id": users[0]}


@register
class PublicIPPrefixes(_TopLevel):
    type_name = PIP_PREFIX
    create_latency_s: ClassVar[float] = 3.0

    def on_write(self, ctx: WriteContext) -> None:
        old = deep_get(ctx.existing, "properties.ipPrefix") if ctx.existing else None
        if isinstance(old, str):
            ctx.props["ipPrefix"] = old
            return
        length = int(ctx.props.get("prefixLength") or 28)
        n = len(ctx.store.find(PIP_PREFIX))
        ctx.props["ipPrefix"] = f"20.62.{n % 256}.0/{max(length, 24)}"


@register
class NatGateways(_TopLevel):
    type_name = NAT
    create_latency_s: ClassVar[float] = 5.0

    def on_read(self, store: Store, view: JSON) -> None:
        subs = _refs_of_type(store, str(view["id"]), SUBNET)
        if subs:
            view.setdefault("properties", {})["subnets"] = subs


@register
class FirewallPolicies(_TopLevel):
    type_name = FW_POLICY
    create_latency_s: ClassVar[float] = 10.0

    def on_read(self, store: Store, view: JSON) -> None:
        props = view.setdefault("properties", {})
        props["ruleCollectionGroups"] = [
            {"id": c["id"]} for c in store.children(str(view["id"]), "ruleCollectionGroups")
        ]
        fws = _refs_of_type(store, str(view["id"]), FIREWALL)
        if fws:
            props["firewalls"] = fws


@register
class RuleCollectionGroups(_NetworkType):
    type_name = RCG
    create_latency_s: ClassVar[float] = 10.0
    schema: ClassVar[dict[str, str]] = {"properties.priority": "int", "properties.ruleCollections": "list[object]"}


@register
class AzureFirewalls(_TopLevel):
    type_name = FIREWALL
    create_latency_s: ClassVar[float] = 600.0
    update_latency_s: ClassVar[float | None] = 300.0
    delete_latency_s: ClassVar[float | None] = 300.0
    schema: ClassVar[dict[str, str]] = {"properties.ipConfigurations": "list[object]", "zones": "list[str]"}

    def on_write(self, ctx: WriteContext) -> None:
        _fill_ipconfig_ids(ctx, "azureFirewallIpConfigurations")
        mgmt = ctx.props.get("managementIpConfiguration")
        if isinstance(mgmt, dict):
            mgmt.setdefault("name", "management")
            mgmt["id"] = f"{ctx.resource['id']}/azureFirewallIpConfigurations/{mgmt['name']}"
        cfgs = _ip_configs(ctx.resource)
        if cfgs:
            sid = deep_get(cfgs[0], "properties.subnet.id")
            nets = _nets(subnet_prefixes(ctx.store.get(sid))) if isinstance(sid, str) else []
            if nets:
                # the firewall's private IP: first usable address (.4) of AzureFirewallSubnet
                cfgs[0]["properties"]["privateIPAddress"] = str(nets[0].network_address + 4)
        ctx.props.setdefault("threatIntelMode", "Alert")
        ctx.props.setdefault("sku", {"name": "AZFW_VNet", "tier": "Standard"})


@register
class NetworkInterfaces(_TopLevel):
    type_name = NIC
    create_latency_s: ClassVar[float] = 2.0
    schema: ClassVar[dict[str, str]] = {"properties.ipConfigurations": "list[object]"}

    def on_write(self, ctx: WriteContext) -> None:
        _fill_ipconfig_ids(ctx, "ipConfigurations")
        old = {c.get("name"): c for c in _ip_configs(ctx.existing)} if ctx.existing else {}
        taken: set[str] = set()
        for cfg in _ip_configs(ctx.resource):
            p = cfg["properties"]
            sid = deep_get(cfg, "properties.subnet.id")
            prev = deep_get(old.get(cfg.get("name")), "properties.privateIPAddress")
            if str(p.get("privateIPAllocationMethod") or "Dynamic") == "Static" and p.get("privateIPAddress"):
                continue
            if isinstance(prev, str):
                p["privateIPAddress"] = prev
            elif isinstance(sid, str):
                ip = allocate_private_ip(ctx.store, sid, taken)
                if ip:
                    p["privateIPAddress"] = ip
            p.setdefault("privateIPAllocationMethod", "Dynamic")
            if isinstance(p.get("privateIPAddress"), str):
                taken.add(p["privateIPAddress"])
        ctx.props.setdefault("macAddress", "00-0D-3A-" + ctx.store.new_guid()[:8].upper()[0:2] + "-00-01")


@register
class PrivateEndpoints(_TopLevel):
    type_name = PE
    create_latency_s: ClassVar[float] = 60.0
    delete_latency_s: ClassVar[float | None] = 30.0
    schema: ClassVar[dict[str, str]] = {
        "properties.subnet": "object",
        "properties.privateLinkServiceConnections": "list[object]",
    }

    def on_write(self, ctx: WriteContext) -> None:
        for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
            for i, conn in enumerate(ctx.props.get(key) or []):
                if isinstance(conn, dict):
                    conn.setdefault("name", f"{ctx.rid.name}-conn{i}")
                    conn["id"] = f"{ctx.resource['id']}/{key}/{conn['name']}"
                    cp = conn.setdefault("properties", {})
                    cp["privateLinkServiceConnectionState"] = {
                        "status": "Approved",
                        "description": "Auto-Approved",
                        "actionsRequired": "None",
                    }
        old_nics = deep_get(ctx.existing, "properties.networkInterfaces") if ctx.existing else None
        old_ip = deep_get(ctx.existing, "properties.customDnsConfigs.0.ipAddresses.0") if ctx.existing else None
        sid = deep_get(ctx.resource, "properties.subnet.id")
        ip = (
            old_ip
            if isinstance(old_ip, str)
            else (allocate_private_ip(ctx.store, sid) if isinstance(sid, str) else None)
        )
        if old_nics:
            ctx.props["networkInterfaces"] = old_nics
        else:
            # Azure creates a read-only NIC "{pe}.nic.{guid}" in the endpoint's resource group
            rid = ctx.rid
            nic_id = (
                f"/subscriptions/{rid.subscription}/resourceGroups/{rid.resource_group}/providers/"
                f"{NIC}/{rid.name}.nic.{ctx.store.new_guid()}"
            )
            ctx.props["networkInterfaces"] = [{"id": nic_id}]
            if isinstance(sid, str):
                ctx.store.put(
                    {
                        "id": nic_id,
                        "location": ctx.resource.get("location"),
                        "properties": {
                            "ipConfigurations": [
                                {
                                    "name": "privateEndpointIpConfig",
                                    "id": f"{nic_id}/ipConfigurations/privateEndpointIpConfig",
                                    "properties": {
                                        "privateIPAddress": ip,
                                        "privateIPAllocationMethod": "Dynamic",
                                        "subnet": {"id": sid},
                                    },
                                }
                            ],
                            "privateEndpoint": {"id": ctx.resource["id"]},
                        },
                    }
                )
        if ip:
            ctx.props["customDnsConfigs"] = [{"fqdn": f"{ctx.rid.name}.privatelink.local", "ipAddresses": [ip]}]

    def on_delete(self, ctx: DeleteContext) -> None:
        for nic in deep_get(ctx.resource, "properties.networkInterfaces", []) or []:
            if isinstance(nic, dict) and isinstance(nic.get("id"), str):
                ctx.store.delete(nic["id"])


@register
class PrivateDnsZoneGroups(_NetworkType):
    """A private endpoint's DNS zone group: once provisioned, Azure writes an A record for the
    endpoint's target in each zone of the group (and removes it with the group); for a
    registry also its regional data endpoint ``<registry>.<region>.data``.
    https://learn.microsoft.com/azure/private-link/private-endpoint-dns-integration"""

    type_name = PE_ZONE_GROUP
    create_latency_s: ClassVar[float] = 5.0
    resource_guid: ClassVar[bool] = False
    schema: ClassVar[dict[str, str]] = {"properties.privateDnsZoneConfigs": "list[object]"}

    @staticmethod
    def _records(store: Store, resource: JSON) -> list[tuple[str, str, list[str]]]:
        """(zone id, record name, IPs) the group stands for."""
        pe_id = str(resource["id"]).rsplit("/privateDnsZoneGroups/", 1)[0]
        pe = store.get(pe_id)
        if pe is None:
            return []
        conns = deep_get(pe, "properties.privateLinkServiceConnections", []) or []
        target = deep_get(conns[0], "properties.privateLinkServiceId", "") if conns else ""
        groups = [str(g).lower() for g in (deep_get(conns[0], "properties.groupIds", []) or [])] if conns else []
        ips = [ip for c in deep_get(pe, "properties.customDnsConfigs", []) or [] for ip in c.get("ipAddresses") or []]
        if not target or not ips:
            return []
        name = str(target).rstrip("/").rsplit("/", 1)[-1].lower()
        names = [name]
        if "registry" in groups:
            names.append(f"{name}.{str(pe.get('location', '')).replace(' ', '').lower()}.data")
        out: list[tuple[str, str, list[str]]] = []
        for cfg in deep_get(resource, "properties.privateDnsZoneConfigs", []) or []:
            zone_id = deep_get(cfg, "properties.privateDnsZoneId")
            if isinstance(zone_id, str) and store.get(zone_id) is not None:
                out += [(zone_id, n, ips) for n in names]
        return out

    def on_provisioned(self, store: Store, resource: JSON) -> None:
        from hubspoke_deploy.simulator.providers.privatedns import put_a_record

        for zone_id, name, ips in self._records(store, resource):
            put_a_record(store, zone_id, name, ips)

    def on_delete(self, ctx: DeleteContext) -> None:
        for zone_id, name, _ips in self._records(ctx.store, ctx.resource):
            ctx.store.delete(f"{zone_id}/A/{name}")


@register
class BastionHosts(_TopLevel):
    type_name = BASTION
    create_latency_s: ClassVar[float] = 420.0
    delete_latency_s: ClassVar[float | None] = 200.0

    def on_write(self, ctx: WriteContext) -> None:
        _fill_ipconfig_ids(ctx, "bastionHostIpConfigurations")
        ctx.props.setdefault("dnsName", f"bst-{ctx.store.new_guid()}.bastion.azure.com")


def subnet_id_of(rid: ResourceId) -> str:
    """Helper for other providers: the VNet id of a subnet id."""
    return _vnet_of_subnet(rid.id)
