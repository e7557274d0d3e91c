"""Network foundation steps: resource group, Log Analytics, VNets, subnets, peerings, public IPs.

Subnet layout follows the article: the hub carries AzureFirewallSubnet,
AzureBastionSubnet (and AzureFirewallManagementSubnet for the Basic tier);
each spoke carries node subnets (behind the route table to the firewall), an
API server subnet delegated to ``Microsoft.ContainerService/managedClusters``,
a jump box / private endpoint subnet and an Application Gateway subnet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.step import Outputs, OwnedIds, Spec, StepContext
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.base import DeploymentStep, arm_id, out, props, ref, rg_id

# Azure's fixed subnet names (https://learn.microsoft.com/azure/firewall/firewall-faq,
# https://learn.microsoft.com/azure/bastion/configuration-settings#subnet)
HUB_SUBNET_NAMES = {
    "firewall": "AzureFirewallSubnet",
    "firewall_management": "AzureFirewallManagementSubnet",
    "bastion": "AzureBastionSubnet",
}
SPOKE_SUBNET_NAMES = {
    "system_nodes": "snet-system-nodes",
    "user_nodes": "snet-user-nodes",
    "pods": "snet-pods",
    "api_server": "snet-api-server",
    "jumpbox": "snet-jumpbox",
    "app_gateway": "snet-appgw",
    "app_gateway_for_containers": "snet-agc",
}
# The cluster's node (and pod) subnets: the source of the AKS egress rules.
NODE_SUBNETS = ("system_nodes", "user_nodes", "pods")
# Spoke subnets whose egress goes through the firewall: every subnet that hosts workloads (the
# article: "associate a route table to each subnet that hosts the worker nodes"; the jump box
# and the private endpoints live in the jump box subnet). From network api-version 2025-07-01
# a new subnet has no default outbound access, so without the route it reaches nothing at all.
ROUTED_SUBNETS = (*NODE_SUBNETS, "jumpbox")
# Subnets that keep no route to the firewall, and why (exemptions are explicit).
UNROUTED_SUBNETS: dict[str, str] = {
    "AzureFirewallSubnet": "the firewall's own subnet: it egresses through its public IPs "
                           "(https://learn.microsoft.com/azure/firewall/firewall-faq)",
    "AzureFirewallManagementSubnet": "the Basic tier's management traffic, which Azure requires to go to the "
                                     "Internet directly (https://learn.microsoft.com/azure/firewall/management-nic)",
    "AzureBastionSubnet": "Azure Bastion does not support user-defined routes on its subnet "
                          "(https://learn.microsoft.com/azure/bastion/bastion-faq#udr)",
    "snet-api-server": "delegated to AKS for API server VNet integration: the control plane's own subnet "
                       "(https://learn.microsoft.com/azure/aks/api-server-vnet-integration)",
    "snet-appgw": "Application Gateway v2 does not support a 0.0.0.0/0 route to a virtual appliance "
                  "(https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure"
                  "#supported-user-defined-routes)",
    "snet-agc": "delegated to Application Gateway for Containers: its proxies receive the Internet's requests and "
                "answer them directly, so a 0.0.0.0/0 route to the firewall would make the replies asymmetric "
                "(https://learn.microsoft.com/azure/firewall/integrate-lb#asymmetric-routing); the subnet holds "
                "no workload (https://learn.microsoft.com/azure/application-gateway/for-containers/"
                "application-gateway-for-containers-components)",
}
# Subnet delegations, by spoke subnet field.
SUBNET_DELEGATIONS: dict[str, str] = {
    "api_server": "Microsoft.ContainerService/managedClusters",
    # https://learn.microsoft.com/azure/application-gateway/for-containers/quickstart-create-application-gateway-for-containers-byo-deployment
    "app_gateway_for_containers": "Microsoft.ServiceNetworking/trafficControllers",
}


class ResourceGroupStep(DeploymentStep):
    client = "resource"
    operations = "resource_groups"
    put_method = "create_or_update"
    put_is_lro = False
    resource_type = "Microsoft.Resources/resourceGroups"

    def args(self) -> tuple[str, ...]:
        return (self.cfg.resource_group,)

    def resource_id(self) -> str:
        return rg_id(self.cfg)

    def display_name(self) -> str:
        return self.cfg.resource_group

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return {"location": config.location, "tags": dict(config.tags)}

    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return resource_group_blockers(ctx, self.cfg.resource_group, owned)


class WorkspaceStep(DeploymentStep):
    client = "loganalytics"
    operations = "workspaces"
    resource_type = "Microsoft.OperationalInsights/workspaces"

    def names(self) -> tuple[str, ...]:
        return (self.cfg.workspace_name,)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return self.top(
            config,
            {"sku": {"name": config.monitoring.sku}, "retentionInDays": config.monitoring.retention_days},
        )

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed, customer_id=props(observed).get("customerId"))


class VnetStep(DeploymentStep):
    client = "network"
    operations = "virtual_networks"
    list_method = "list"  # the plan reads all of them in one request
    resource_type = "Microsoft.Network/virtualNetworks"
    unordered = ("properties.addressSpace.addressPrefixes",)
    owns: ClassVar[Mapping[str, Any]] = {
        "properties.dhcpOptions.dnsServers": None,
        # DDoS protection switched off = no plan (the PUT without enableDdosProtection turns it off)
        "properties.ddosProtectionPlan": None,
    }

    def __init__(
        self, key: str, cfg: DeploymentConfig, vnet: str, address_space: list[str],
        dns_servers: list[str] | None = None,
    ) -> None:
        super().__init__(key, cfg, (keys.RG,))
        self.vnet = vnet
        self.address_space = list(address_space)
        self.dns_servers = list(dns_servers or [])

    def names(self) -> tuple[str, ...]:
        return (self.vnet,)

    def lock_keys(self) -> tuple[str, ...]:
        return (self.resource_id().lower(),)

    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return vnet_blockers(ctx, observed, owned)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        # No "subnets" in the body: subnets are their own steps, and a VNet PUT
        # without the property keeps the existing ones (api-version >= 2023-11-01).
        properties: dict[str, Any] = {"addressSpace": {"addressPrefixes": self.address_space}}
        if self.dns_servers:
            # The spoke resolves through the firewall's DNS proxy, so FQDN network rules see the
            # addresses the clients see (https://learn.microsoft.com/azure/firewall/dns-details).
            properties["dhcpOptions"] = {"dnsServers": self.dns_servers}
        from hubspoke_deploy.steps.security import ddos_vnet_properties

        properties.update(ddos_vnet_properties(config, self.key))
        return self.top(config, properties)


class SubnetStep(DeploymentStep):
    """One subnet. It owns its prefix and its associations: a route table, NSG or NAT
    gateway the config does not give it is removed (switching the NAT gateway off undoes the
    association before the gateway, now an orphan, is deleted). Everything else someone set
    on the subnet (service endpoints, policies...) is carried over by every write."""

    client = "network"
    operations = "subnets"
    resource_type = "Microsoft.Network/virtualNetworks/subnets"
    owns: ClassVar[Mapping[str, Any]] = {
        "properties.defaultOutboundAccess": None,
        "properties.routeTable": None,
        "properties.networkSecurityGroup": None,
        "properties.natGateway": None,
        "properties.delegations": None,
        # Azure's default for a subnet that does not set it
        # (https://learn.microsoft.com/azure/private-link/disable-private-endpoint-network-policy).
        "properties.privateEndpointNetworkPolicies": "Disabled",
    }
    # Writable subnet properties the step does not own: a PUT replaces the subnet, so they
    # are sent back as Azure has them.
    carried_over: ClassVar[tuple[str, ...]] = (
        "serviceEndpoints",
        "serviceEndpointPolicies",
        "privateLinkServiceNetworkPolicies",
        "ipAllocations",
        "sharingScope",
    )

    def __init__(
        self,
        key: str,
        cfg: DeploymentConfig,
        vnet: str,
        name: str,
        prefix: str,
        requires: tuple[str, ...],
        *,
        route_table_key: str | None = None,
        nsg_key: str | None = None,
        delegation: str | None = None,
        private_endpoint_policies: str | None = None,
        nat_gateway_key: str | None = None,
    ) -> None:
        super().__init__(key, cfg, requires)
        self.vnet = vnet
        self.subnet = name
        self.prefix = prefix
        self.route_table_key = route_table_key
        self.nsg_key = nsg_key
        self.delegation = delegation
        self.private_endpoint_policies = private_endpoint_policies
        self.nat_gateway_key = nat_gateway_key

    def names(self) -> tuple[str, ...]:
        return (self.vnet, self.subnet)

    def lock_keys(self) -> tuple[str, ...]:
        return (arm_id(self.cfg, "Microsoft.Network/virtualNetworks", self.vnet).lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        # No default outbound access on any subnet, said explicitly (whatever the api-version's
        # default): egress is the firewall's, or nothing
        # (https://learn.microsoft.com/azure/virtual-network/ip-services/default-outbound-access).
        properties: dict[str, Any] = {"addressPrefix": self.prefix, "defaultOutboundAccess": False}
        if self.route_table_key:
            properties["routeTable"] = ref(upstream[self.route_table_key]["id"])
        if self.nsg_key:
            properties["networkSecurityGroup"] = ref(upstream[self.nsg_key]["id"])
        if self.nat_gateway_key:
            properties["natGateway"] = ref(upstream[self.nat_gateway_key]["id"])
        if self.delegation:
            name = "aks-delegation" if self.delegation.endswith("/managedClusters") else "agc-delegation"
            properties["delegations"] = [{"name": name, "properties": {"serviceName": self.delegation}}]
        if self.private_endpoint_policies:
            properties["privateEndpointNetworkPolicies"] = self.private_endpoint_policies
        return {"name": self.subnet, "properties": properties}

    def body(self, spec: Spec, observed: Spec | None) -> Spec:
        if observed is None:
            return spec
        have = props(observed)
        kept = {k: have[k] for k in self.carried_over if have.get(k) not in (None, [], {})}
        return {**spec, "properties": {**kept, **(spec.get("properties") or {})}}

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed, address_prefix=props(observed).get("addressPrefix"))

    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return subnet_users(ctx, observed, owned)


class PeeringStep(DeploymentStep):
    client = "network"
    operations = "virtual_network_peerings"
    list_method = "list"  # the plan reads all of them in one request
    resource_type = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"

    def __init__(
        self,
        key: str,
        cfg: DeploymentConfig,
        local_vnet: str,
        remote_vnet: str,
        requires: tuple[str, ...],
        *,
        allow_gateway_transit: bool = False,
        use_remote_gateways: bool = False,
    ) -> None:
        super().__init__(key, cfg, requires)
        self.local_vnet = local_vnet
        self.remote_vnet = remote_vnet
        self.allow_gateway_transit = allow_gateway_transit
        self.use_remote_gateways = use_remote_gateways

    def names(self) -> tuple[str, ...]:
        return (self.local_vnet, f"peer-{self.local_vnet}-to-{self.remote_vnet}")

    def lock_keys(self) -> tuple[str, ...]:
        vnet = "Microsoft.Network/virtualNetworks"
        return (
            arm_id(self.cfg, vnet, self.local_vnet).lower(),
            arm_id(self.cfg, vnet, self.remote_vnet).lower(),
        )

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return {
            "name": self.names()[1],
            "properties": {
                "remoteVirtualNetwork": ref(arm_id(self.cfg, "Microsoft.Network/virtualNetworks", self.remote_vnet)),
                "allowVirtualNetworkAccess": True,
                "allowForwardedTraffic": True,
                "allowGatewayTransit": self.allow_gateway_transit,
                "useRemoteGateways": self.use_remote_gateways,
            },
        }

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed, peering_state=props(observed).get("peeringState"))


class PublicIpStep(DeploymentStep):
    """Standard, static, zone-redundant public IP (Azure Firewall and Bastion need Standard static)."""

    client = "network"
    operations = "public_ip_addresses"
    resource_type = "Microsoft.Network/publicIPAddresses"
    immutable = ("sku", "zones", "properties.publicIPPrefix")
    unordered = ("zones",)

    def __init__(
        self,
        key: str,
        cfg: DeploymentConfig,
        name: str,
        *,
        zones: list[str] | None = None,
        prefix_key: str | None = None,
        requires: tuple[str, ...] = (keys.RG,),
    ) -> None:
        super().__init__(key, cfg, requires + ((prefix_key,) if prefix_key else ()))
        self.pip = name
        self.zones = list(zones or [])
        self.prefix_key = prefix_key

    def names(self) -> tuple[str, ...]:
        return (self.pip,)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        properties: dict[str, Any] = {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"}
        if self.prefix_key:
            properties["publicIPPrefix"] = ref(upstream[self.prefix_key]["id"])
        extra: dict[str, Any] = {"sku": {"name": "Standard", "tier": "Regional"}}
        if self.zones:
            extra["zones"] = self.zones
        return self.top(config, properties, **extra)

    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return public_ip_blockers(ctx, observed, owned)

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed, ip_address=props(observed).get("ipAddress"))


def foundation_steps(cfg: DeploymentConfig) -> list[DeploymentStep]:
    """Resource group, workspace, VNets, peerings and the subnets that do not wait for the firewall."""
    result: list[DeploymentStep] = [
        ResourceGroupStep(keys.RG, cfg),
        WorkspaceStep(keys.WORKSPACE, cfg, (keys.RG,)),
        VnetStep(keys.vnet(keys.HUB), cfg, cfg.hub_vnet_name, cfg.hub.address_space),
    ]
    hub = cfg.hub.subnets
    hub_vnet_key = keys.vnet(keys.HUB)
    for field, name in HUB_SUBNET_NAMES.items():
        prefix = getattr(hub, field, None)
        if not prefix:
            continue
        if field == "firewall":
            # NAT gateway variant: AzureFirewallSubnet carries the NAT gateway (SNAT scale).
            from hubspoke_deploy.steps.firewall import hub_firewall_subnet_kwargs

            fw_kwargs = hub_firewall_subnet_kwargs(cfg, (hub_vnet_key,))
            result.append(
                SubnetStep(keys.subnet(keys.HUB, field), cfg, cfg.hub_vnet_name, name, prefix, **fw_kwargs)
            )
        else:
            result.append(
                SubnetStep(keys.subnet(keys.HUB, field), cfg, cfg.hub_vnet_name, name, prefix, (hub_vnet_key,))
            )
    from hubspoke_deploy.steps.firewall import spoke_dns_servers

    for spoke in cfg.spokes:
        vnet_name = cfg.spoke_vnet_name(spoke)
        vkey = keys.vnet(spoke.name)
        result.append(VnetStep(vkey, cfg, vnet_name, spoke.address_space, spoke_dns_servers(cfg)))
        result.append(
            PeeringStep(
                keys.peering(keys.HUB, spoke.name), cfg, cfg.hub_vnet_name, vnet_name, (hub_vnet_key, vkey),
            )
        )
        result.append(
            PeeringStep(
                keys.peering(spoke.name, keys.HUB), cfg, vnet_name, cfg.hub_vnet_name, (hub_vnet_key, vkey),
                use_remote_gateways=spoke.use_remote_gateways,
            )
        )
        subnets = spoke.subnets
        for field, name in SPOKE_SUBNET_NAMES.items():
            prefix = getattr(subnets, field, None)
            if not prefix or field in ROUTED_SUBNETS:
                continue  # routed subnets are created with their route table (steps.firewall)
            kwargs: dict[str, Any] = {}
            if field in SUBNET_DELEGATIONS:
                kwargs["delegation"] = SUBNET_DELEGATIONS[field]
            result.append(SubnetStep(keys.subnet(spoke.name, field), cfg, vnet_name, name, prefix, (vkey,), **kwargs))
    return result


def routed_subnet_steps(cfg: DeploymentConfig) -> list[SubnetStep]:
    """Workload subnets (nodes, pods, jump box and private endpoints), created already
    associated with their spoke's route table.

    Creating them with the association (instead of associating later) means no
    moment exists where anything could egress around the firewall, and AKS with
    outboundType userDefinedRouting finds the route table in place."""
    result: list[SubnetStep] = []
    for spoke in cfg.spokes:
        vnet_name = cfg.spoke_vnet_name(spoke)
        for field in ROUTED_SUBNETS:
            prefix = getattr(spoke.subnets, field, None)
            if not prefix:
                continue
            rt = keys.route_table(spoke.name)
            # NSGs and UDRs apply to the private endpoints in the jump box subnet.
            policies = "Enabled" if field == "jumpbox" else None
            result.append(
                SubnetStep(
                    keys.subnet(spoke.name, field), cfg, vnet_name, SPOKE_SUBNET_NAMES[field], prefix,
                    (keys.vnet(spoke.name), rt), route_table_key=rt, private_endpoint_policies=policies,
                )
            )
    return result


def subnet_id(cfg: DeploymentConfig, spoke: str, field: str) -> str:
    vnet = cfg.hub_vnet_name if spoke == keys.HUB else cfg.spoke_vnet_name(spoke)
    name = HUB_SUBNET_NAMES[field] if spoke == keys.HUB else SPOKE_SUBNET_NAMES[field]
    return arm_id(cfg, "Microsoft.Network/virtualNetworks/subnets", vnet, name)



def top_level_id(resource_id: str) -> str:
    """``/subscriptions/s/resourceGroups/g/providers/NS/type/name`` of any nested id."""
    parts = resource_id.strip("/").split("/")
    return "/" + "/".join(parts[:8]) if len(parts) >= 8 else resource_id


def managed_by_owned(ctx: StepContext, resource_id: str, owned: OwnedIds) -> bool:
    """Resources Azure creates on behalf of one of ours: a private endpoint's NIC."""
    rid = top_level_id(resource_id)
    if "/providers/microsoft.network/networkinterfaces/" not in rid.lower():
        return False
    parts = rid.strip("/").split("/")
    from azure.core.exceptions import ResourceNotFoundError

    try:
        nic = ctx.clients.get("network").network_interfaces.get(parts[3], parts[7])
    except ResourceNotFoundError:
        return True  # gone already
    pe = (nic.get("properties") or {}).get("privateEndpoint") if hasattr(nic, "get") else None
    return bool(isinstance(pe, Mapping) and pe.get("id") and owned.owns(str(pe["id"])))


def subnet_users(ctx: StepContext, subnet: Mapping[str, Any], owned: OwnedIds) -> list[str]:
    """Resources using a subnet (NICs, endpoints, firewalls, Bastion) that this deployment does not own."""
    users: list[str] = []
    properties = subnet.get("properties") or {}
    for key in ("ipConfigurations", "privateEndpoints", "serviceAssociationLinks",
                "applicationGatewayIPConfigurations"):
        for user in properties.get(key) or []:
            # a service association link names the delegated service's resource in ``link``
            link = (user.get("properties") or {}).get("link") if key == "serviceAssociationLinks" else None
            owner = top_level_id(str(link or user.get("id", "")))
            if owner and not owned.owns(owner) and not managed_by_owned(ctx, owner, owned) and owner not in users:
                users.append(owner)
    return users


# --------------------------------------------------------------------------- teardown checks
# Shared by the steps and by the orphan handlers (steps.orphans): a resource that left the
# config is deleted under the same rules as one torn down by ``down``.


def resource_group_blockers(ctx: StepContext, resource_group: str, owned: OwnedIds) -> list[str]:
    """The group is deleted only when nothing foreign is left in it (deleting a group
    deletes everything inside, whoever created it)."""
    resources = list(ctx.clients.get("resource").resources.list_by_resource_group(resource_group))
    blockers = [
        str(r.id) for r in resources
        if not owned.owns(str(r.id)) and not managed_by_owned(ctx, str(r.id), owned)
    ]
    # children someone else put under one of our resources (a frontend of our traffic controller)
    from hubspoke_deploy.steps.ingress import foreign_children

    return blockers + foreign_children(ctx, [str(r.id) for r in resources if owned.owns(str(r.id))], owned)


def vnet_blockers(ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
    """Subnets this deployment did not create, or its own subnets still used by foreign
    resources, keep the VNet (Azure refuses the delete: InUseSubnetCannotBeDeleted)."""
    blockers: list[str] = []
    for subnet in props(observed).get("subnets") or []:
        sid = str(subnet.get("id", ""))
        if not owned.owns(sid) or subnet_users(ctx, subnet, owned):
            blockers.append(sid)
    return blockers


def public_ip_blockers(ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
    """Attached to something this deployment does not own (PublicIPAddressCannotBeDeleted)."""
    user = str((props(observed).get("ipConfiguration") or {}).get("id", ""))
    return [top_level_id(user)] if user and not owned.owns(top_level_id(user)) else []


def association_blockers(ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
    """Subnets or NICs this deployment does not own that still use a route table, NSG or NAT
    gateway (Azure refuses the delete: InUseRouteTableCannotBeDeleted,
    InUseNetworkSecurityGroupCannotBeDeleted, InUseNatGatewayCannotBeDeleted)."""
    users = [str(r.get("id", "")) for key in ("networkInterfaces", "subnets")
             for r in props(observed).get(key) or []]
    return [u for u in users if u and not owned.owns(top_level_id(u)) and not owned.owns(u)]
