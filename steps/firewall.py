"""Azure Firewall, its policy and rules, egress SNAT, and the spoke route tables.

Everything of the network half of the architecture that ``network.foundation_steps``
does not build: the firewall public IPs (optionally from a public IP prefix), the
NAT gateway variant, the firewall policy and its rule collection groups, the
firewall with its structured-log diagnostic setting, one route table per spoke and
the node subnets created already associated with it (``network.routed_subnet_steps``).

Faithful to "Use Azure Firewall to help protect an AKS cluster"
(https://learn.microsoft.com/azure/architecture/guide/aks/aks-firewall) and fixing
what its Terraform sample gets wrong: no catch-all rule, DNS proxy on, the
``AzureKubernetesService`` FQDN tag, many public IPs (or a NAT gateway / prefix)
and the /32 "Internet" route for every firewall IP used by DNAT (asymmetric
routing).

Ordering Azure imposes, expressed as ``requires`` / ``lock_keys``:

* public IPs (and their prefix) and the policy before the firewall;
* rule collection groups written one at a time (``lock_keys`` = the policy id:
  "Only one Rule Collection Group can be updated at a time with Azure Firewall
  Policy", https://github.com/Azure/bicep/issues/1013#issuecomment-932126524,
  https://github.com/hashicorp/terraform-provider-azurerm/issues/15440);
  the firewall waits for all of them (it starts with its complete rule set, and
  no policy write races the firewall's own provisioning);
* firewall before the route table (the next hop is the firewall's observed private IP);
* route table before the node subnets (they are created associated with it), so
  nothing that depends on UDR egress (AKS with ``userDefinedRouting``) starts
  before the route and the rules exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.clients import to_json
from hubspoke_deploy.orchestrator.diff import UNKNOWN, Change
from hubspoke_deploy.orchestrator.diff import diff as structural_diff
from hubspoke_deploy.orchestrator.step import Outputs, OwnedIds, Spec, Step
from hubspoke_deploy.steps import egress, keys
from hubspoke_deploy.steps.base import DeploymentStep, arm_id, out, props, ref
from hubspoke_deploy.steps.network import (
    NODE_SUBNETS,
    ROUTED_SUBNETS,
    PublicIpStep,
    routed_subnet_steps,
    subnet_id,
)

__all__ = [
    "AKS_FQDN_TAG",
    "DIAGNOSTIC_LOG_CATEGORIES",
    "RCG_AKS",
    "RCG_DNAT",
    "RCG_PRIORITIES",
    "RCG_REGISTRIES",
    "RCG_USER",
    "DiagnosticSettingStep",
    "FirewallNextHopStep",
    "FirewallPolicyStep",
    "FirewallStep",
    "NatGatewayStep",
    "PublicIpPrefixStep",
    "RouteTableStep",
    "RuleCollectionGroupStep",
    "acr_fqdns",
    "dedicated_pip_key",
    "dnat_public_ip_keys",
    "firewall_name",
    "firewall_pip_keys",
    "firewall_policy_name",
    "firewall_public_ips",
    "firewall_steps",
    "hub_firewall_subnet_kwargs",
    "node_source_addresses",
    "route_table_name",
    "route_table_spokes",
]

# --------------------------------------------------------------------------- constants

# The FQDN tag Azure Firewall keeps current with AKS's required egress endpoints
# (https://learn.microsoft.com/azure/firewall/fqdn-tags,
# https://learn.microsoft.com/azure/aks/outbound-rules-control-egress#azure-global-required-fqdn--application-rules).
AKS_FQDN_TAG = "AzureKubernetesService"

# Resource-specific ("structured") log categories of Microsoft.Network/azureFirewalls
# (https://learn.microsoft.com/azure/azure-monitor/reference/supported-logs/microsoft-network-azurefirewalls-logs,
# https://learn.microsoft.com/azure/firewall/firewall-structured-logs).
DIAGNOSTIC_LOG_CATEGORIES: tuple[str, ...] = (
    "AZFWNetworkRule",
    "AZFWApplicationRule",
    "AZFWNatRule",
    "AZFWThreatIntel",
    "AZFWIdpsSignature",
    "AZFWDnsQuery",
    "AZFWFqdnResolveFailure",
    "AZFWFatFlow",
    "AZFWFlowTrace",
    "AZFWApplicationRuleAggregation",
    "AZFWNetworkRuleAggregation",
    "AZFWNatRuleAggregation",
)

# Rule collection groups: one per reason to change, so that editing one rule's FQDNs
# rewrites exactly one group. Priorities are distinct (100 = highest .. 65000).
# DNAT collections are always evaluated before network rules, and network rules
# before application rules, whatever the group priority; the group priority only
# orders groups within a rule type
# (https://learn.microsoft.com/azure/firewall/policy-rule-sets,
# https://learn.microsoft.com/azure/firewall/rule-processing).
RCG_DNAT = "dnat"
RCG_AKS = "aks-egress"
RCG_REGISTRIES = "registries"
RCG_USER = "user-egress"
RCG_PRIORITIES: dict[str, int] = {RCG_DNAT: 100, RCG_AKS: 200, RCG_REGISTRIES: 300, RCG_USER: 400}

_FILTER = "FirewallPolicyFilterRuleCollection"
_NAT = "FirewallPolicyNatRuleCollection"
_NAME_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


# --------------------------------------------------------------------------- names


def firewall_name(cfg: DeploymentConfig) -> str:
    return f"afw-{cfg.name}"


def firewall_policy_name(cfg: DeploymentConfig) -> str:
    return f"afwp-{cfg.name}"


def route_table_name(cfg: DeploymentConfig, spoke: str) -> str:
    return f"rt-{cfg.name}-{spoke}"


def _safe(name: str) -> str:
    return _NAME_SAFE.sub("-", name).strip("-") or "rule"


def dedicated_pip_key(rule_name: str) -> str:
    """Step key of the public IP dedicated to one DNAT rule."""
    return f"fw.pip.dnat.{_safe(rule_name)}"


def acr_fqdns(cfg: DeploymentConfig) -> list[str]:
    """The deployment's own registry: login server and regional data endpoint
    (https://learn.microsoft.com/azure/container-registry/container-registry-firewall-access-rules#configure-client-firewall-rules-for-mcr)."""
    return [f"{cfg.acr_name}.azurecr.io", f"{cfg.acr_name}.{cfg.location}.data.azurecr.io"]


def firewall_pip_keys(cfg: DeploymentConfig) -> list[str]:
    """SNAT public IPs, in ipConfiguration order (the first one carries the subnet)."""
    return [keys.firewall_pip(i) for i in range(1, cfg.firewall.public_ip_count + 1)]


def dnat_public_ip_keys(cfg: DeploymentConfig) -> list[str]:
    """Public IPs that receive inbound DNAT traffic (each needs a /32 Internet route).

    Rules without ``dedicated_public_ip`` land on the first firewall public IP."""
    result: list[str] = []
    for rule in cfg.firewall.dnat_rules:
        key = dedicated_pip_key(rule.name) if rule.dedicated_public_ip else keys.firewall_pip(1)
        if key not in result:
            result.append(key)
    return result


def route_table_spokes(cfg: DeploymentConfig) -> list[str]:
    """Spokes with at least one node subnet (those get a route table)."""
    return [
        spoke.name
        for spoke in cfg.spokes
        if any(getattr(spoke.subnets, field, None) for field in ROUTED_SUBNETS)
    ]


def node_source_addresses(cfg: DeploymentConfig) -> list[str]:
    """Prefixes of the cluster spoke's node (and pod) subnets: the source of egress rules."""
    subnets = cfg.cluster_spoke.subnets
    return [p for p in (getattr(subnets, f, None) for f in NODE_SUBNETS) if p]


def jumpbox_source_addresses(cfg: DeploymentConfig) -> list[str]:
    """The subnet of the jump box VM (the cluster spoke's jump box subnet)."""
    prefix = cfg.cluster_spoke.subnets.jumpbox
    return [prefix] if cfg.jumpbox.enabled and prefix else []


def predicted_firewall_ip(cfg: DeploymentConfig) -> str:
    """The private IP Azure gives the firewall: the first usable address of AzureFirewallSubnet
    (Azure reserves the first four of every subnet,
    https://learn.microsoft.com/azure/virtual-network/virtual-networks-faq#are-there-any-restrictions-on-using-ip-addresses-within-these-subnets).
    What the firewall actually got is checked by ``verify`` (the route tables use the observed one)."""
    import ipaddress

    return str(ipaddress.ip_network(cfg.hub.subnets.firewall, strict=False)[4])


def spoke_dns_servers(cfg: DeploymentConfig) -> list[str]:
    """A spoke's DNS servers: the firewall's DNS proxy when it is on, else Azure's (none set)."""
    fw = cfg.firewall
    if fw.tier != "Basic" and fw.effective_dns_proxy:
        return [predicted_firewall_ip(cfg)]
    return []


def hub_firewall_subnet_kwargs(cfg: DeploymentConfig, requires: tuple[str, ...]) -> dict[str, Any]:
    """Keyword arguments of the hub AzureFirewallSubnet ``SubnetStep`` (for foundation_steps).

    In the NAT gateway variant the subnet carries ``natGateway`` and therefore
    waits for the NAT gateway step: ``SubnetStep(key, cfg, vnet, name, prefix,
    **hub_firewall_subnet_kwargs(cfg, (hub_vnet_key,)))``."""
    if cfg.firewall.nat_gateway:
        return {"requires": (*requires, keys.NAT_GATEWAY), "nat_gateway_key": keys.NAT_GATEWAY}
    return {"requires": tuple(requires)}


def _upstream_ip(upstream: Mapping[str, Outputs], key: str) -> Any:
    """A public IP address from upstream outputs; the plan placeholder passes through."""
    value = upstream[key].get("ip_address")
    return UNKNOWN if value is None or value == UNKNOWN else value


# --------------------------------------------------------------------------- steps


class PublicIpPrefixStep(DeploymentStep):
    """Standard public IP prefix from which the firewall SNAT IPs take their addresses
    (https://learn.microsoft.com/azure/firewall/firewall-faq#can-i-use-a-public-ip-prefix)."""

    client = "network"
    operations = "public_ip_prefixes"
    resource_type = "Microsoft.Network/publicIPPrefixes"
    immutable = ("sku", "zones", "properties.prefixLength", "properties.publicIPAddressVersion")
    unordered = ("zones",)

    def __init__(self, key: str, cfg: DeploymentConfig, name: str, length: int, zones: list[str]) -> None:
        super().__init__(key, cfg, (keys.RG,))
        self.prefix_name = name
        self.length = length
        self.zones = list(zones)

    def names(self) -> tuple[str, ...]:
        return (self.prefix_name,)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        extra: dict[str, Any] = {"sku": {"name": "Standard", "tier": "Regional"}}
        if self.zones:
            extra["zones"] = self.zones
        return self.top(config, {"prefixLength": self.length, "publicIPAddressVersion": "IPv4"}, **extra)

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed, ip_prefix=props(observed).get("ipPrefix"))


class NatGatewayStep(DeploymentStep):
    """Standard NAT gateway for the AzureFirewallSubnet (SNAT scale: 64,512 ports per IP,
    https://learn.microsoft.com/azure/firewall/integrate-with-nat-gateway).

    A Standard NAT gateway is zonal or non-zonal, never zone-redundant: it takes at
    most one zone, and a zonal one only accepts public IPs of its zone or
    zone-redundant ones (https://learn.microsoft.com/azure/nat-gateway/nat-availability-zones).
    It is deployed non-zonal here (Azure places it), with a non-zonal IP, so it does
    not tie the zone-redundant firewall to one zone."""

    client = "network"
    operations = "nat_gateways"
    resource_type = "Microsoft.Network/natGateways"
    immutable = ("sku", "zones")

    def __init__(self, key: str, cfg: DeploymentConfig, name: str, pip_keys: list[str]) -> None:
        super().__init__(key, cfg, (keys.RG, *pip_keys))
        self.gateway = name
        self.pip_keys = list(pip_keys)

    def names(self) -> tuple[str, ...]:
        return (self.gateway,)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return self.top(
            config,
            {
                "idleTimeoutInMinutes": 4,
                "publicIpAddresses": [ref(upstream[k]["id"]) for k in self.pip_keys],
            },
            sku={"name": "Standard"},
        )


class FirewallPolicyStep(DeploymentStep):
    """Firewall policy: tier, threat intelligence, DNS proxy, IDPS (Premium).

    The policy body carries no rules: rule collection groups are child resources,
    each owned by its own step (a policy PUT does not remove them)."""

    client = "network"
    operations = "firewall_policies"
    resource_type = "Microsoft.Network/firewallPolicies"
    # A policy's tier cannot be changed in place (Standard -> Premium is a migration
    # to a new policy: https://learn.microsoft.com/azure/firewall/premium-migrate).
    immutable = ("properties.sku",)
    # TLS inspection switched off = no CA certificate left on the policy
    owns: ClassVar[Mapping[str, Any]] = {"properties.transportSecurity": None}

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG,))

    def names(self) -> tuple[str, ...]:
        return (firewall_policy_name(self.cfg),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        fw = config.firewall
        properties: dict[str, Any] = {
            "sku": {"tier": fw.tier},
            "threatIntelMode": fw.effective_threat_intel_mode,
        }
        # DNS proxy: Standard and Premium only
        # (https://learn.microsoft.com/azure/firewall/dns-settings#dns-proxy);
        # the article calls it required for reliable FQDN filtering in network rules.
        if fw.tier != "Basic":
            properties["dnsSettings"] = {"enableProxy": bool(fw.effective_dns_proxy)}
        # IDPS: Premium only (https://learn.microsoft.com/azure/firewall/premium-features#idps).
        if fw.tier == "Premium":
            properties["intrusionDetection"] = {"mode": fw.effective_idps_mode}
        from hubspoke_deploy.steps.security import tls_inspection_body

        return tls_inspection_body(config, self.top(config, properties))


class RuleCollectionGroupStep(DeploymentStep):
    """One rule collection group of the firewall policy."""

    client = "network"
    operations = "firewall_policy_rule_collection_groups"
    resource_type = "Microsoft.Network/firewallPolicies/ruleCollectionGroups"
    taggable = False
    unordered = tuple(
        f"properties.ruleCollections.rules.{field}"
        for field in (
            "sourceAddresses",
            "destinationAddresses",
            "destinationPorts",
            "destinationFqdns",
            "targetFqdns",
            "fqdnTags",
            "ipProtocols",
        )
    )

    def __init__(
        self,
        key: str,
        cfg: DeploymentConfig,
        name: str,
        priority: int,
        collections: Any,
        requires: tuple[str, ...] = (),
    ) -> None:
        """``collections(config, upstream) -> list`` builds the ruleCollections (pure)."""
        super().__init__(key, cfg, (keys.FIREWALL_POLICY, *requires))
        self.group = name
        self.priority = priority
        self.collections = collections

    def names(self) -> tuple[str, ...]:
        return (firewall_policy_name(self.cfg), self.group)

    def lock_keys(self) -> tuple[str, ...]:
        return (arm_id(self.cfg, FirewallPolicyStep.resource_type, firewall_policy_name(self.cfg)).lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return {
            "name": self.group,
            "properties": {"priority": self.priority, "ruleCollections": self.collections(config, upstream)},
        }


class FirewallStep(DeploymentStep):
    """Azure Firewall (AZFW_VNet) in the hub, attached to the policy."""

    client = "network"
    operations = "azure_firewalls"
    resource_type = "Microsoft.Network/azureFirewalls"
    # Zones are fixed at creation; the tier changes only through a migration
    # (https://learn.microsoft.com/azure/firewall/deploy-availability-zone-powershell,
    # https://learn.microsoft.com/azure/firewall/premium-migrate).
    immutable = ("zones", "properties.sku")
    unordered = ("zones",)

    def __init__(
        self,
        key: str,
        cfg: DeploymentConfig,
        ip_configs: list[tuple[str, str]],
        requires: tuple[str, ...],
    ) -> None:
        """``ip_configs``: (ipConfiguration name, public IP step key), the first carries the subnet."""
        super().__init__(key, cfg, requires)
        self.ip_configs = list(ip_configs)

    def names(self) -> tuple[str, ...]:
        return (firewall_name(self.cfg),)

    def lock_keys(self) -> tuple[str, ...]:
        # Writes to the firewall and to its policy's rule groups are not run together.
        return (arm_id(self.cfg, FirewallPolicyStep.resource_type, firewall_policy_name(self.cfg)).lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        fw = config.firewall
        configs: list[dict[str, Any]] = []
        for index, (name, pip_key) in enumerate(self.ip_configs):
            ip_props: dict[str, Any] = {"publicIPAddress": ref(upstream[pip_key]["id"])}
            if index == 0:
                ip_props["subnet"] = ref(upstream[keys.subnet(keys.HUB, "firewall")]["id"])
            configs.append({"name": name, "properties": ip_props})
        properties: dict[str, Any] = {
            "sku": {"name": "AZFW_VNet", "tier": fw.tier},
            "firewallPolicy": ref(upstream[keys.FIREWALL_POLICY]["id"]),
            "ipConfigurations": configs,
        }
        if fw.tier == "Basic":
            # Basic separates management traffic on its own subnet and IP
            # (https://learn.microsoft.com/azure/firewall/basic-features,
            # https://learn.microsoft.com/azure/firewall/management-nic).
            properties["managementIpConfiguration"] = {
                "name": "mgmt-ipconfig",
                "properties": {
                    "subnet": ref(upstream[keys.subnet(keys.HUB, "firewall_management")]["id"]),
                    "publicIPAddress": ref(upstream[keys.FIREWALL_MGMT_PIP]["id"]),
                },
            }
        extra: dict[str, Any] = {}
        if fw.zones:
            extra["zones"] = list(fw.zones)
        return self.top(config, properties, **extra)

    def outputs(self, observed: Spec) -> Outputs:
        configs = props(observed).get("ipConfigurations") or []
        private_ip = None
        if configs and isinstance(configs[0], Mapping):
            first = configs[0].get("properties") or {}
            private_ip = first.get("privateIPAddress") if isinstance(first, Mapping) else None
        public_ip_ids = [
            (c.get("properties") or {}).get("publicIPAddress", {}).get("id")
            for c in configs
            if isinstance(c, Mapping)
        ]
        return out(observed, private_ip=private_ip, public_ip_ids=public_ip_ids)


class DiagnosticSettingStep(Step):
    """Diagnostic setting (extension resource) sending the firewall's structured logs
    to Log Analytics in resource-specific tables
    (``logAnalyticsDestinationType: Dedicated``,
    https://learn.microsoft.com/azure/firewall/firewall-structured-logs,
    https://learn.microsoft.com/rest/api/monitor/diagnostic-settings/create-or-update?view=rest-monitor-2021-05-01-preview).

    azure-mgmt-monitor 6.0.2: ``diagnostic_settings.get/create_or_update/delete
    (resource_uri, name[, parameters])``, none of them long-running."""

    resource_type = "Microsoft.Insights/diagnosticSettings"
    taggable: ClassVar[bool | None] = False

    def __init__(
        self,
        key: str,
        cfg: DeploymentConfig,
        target_id: str,
        name: str,
        categories: tuple[str, ...],
        requires: tuple[str, ...],
        *,
        dedicated: bool = True,
        metrics: tuple[str, ...] = ("AllMetrics",),
    ) -> None:
        super().__init__(key, requires)
        self.cfg = cfg
        self.target_id = target_id
        self.name = name
        self.categories = tuple(categories)
        # resource-specific tables, where the type has them (else AzureDiagnostics: no destination type)
        self.dedicated = dedicated
        self.metrics = tuple(metrics)

    def resource_id(self) -> str:
        return f"{self.target_id}/providers/Microsoft.Insights/diagnosticSettings/{self.name}"

    def display_name(self) -> str:
        return f"{self.target_id.rsplit('/', 1)[-1]}/{self.name}"

    def _ops(self, ctx: Any) -> Any:
        return ctx.clients.get("monitor").diagnostic_settings

    def _uri(self) -> str:
        return self.target_id.lstrip("/")

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        properties: dict[str, Any] = {
            "workspaceId": upstream[keys.WORKSPACE]["id"],
            "logAnalyticsDestinationType": "Dedicated",
            "logs": [{"category": c, "enabled": True} for c in self.categories],
            "metrics": [{"category": m, "enabled": True} for m in self.metrics],
        }
        if not self.dedicated:
            del properties["logAnalyticsDestinationType"]
        return {"properties": properties}

    def read(self, ctx: Any) -> Spec | None:
        from azure.core.exceptions import ResourceNotFoundError
        from hubspoke_deploy.orchestrator.clients import to_json

        try:
            model = self._ops(ctx).get(self._uri(), self.name)
        except ResourceNotFoundError:
            return None
        observed = to_json(model)
        return observed if isinstance(observed, dict) else None

    def apply(self, ctx: Any, spec: Spec, observed: Spec | None) -> Spec:
        from azure.core.exceptions import HttpResponseError
        from hubspoke_deploy.orchestrator.clients import to_json

        try:
            result = to_json(self._ops(ctx).create_or_update(self._uri(), self.name, spec))
        except HttpResponseError as err:
            # The REST spec lists only 200 for this PUT, so the SDK raises on a 201
            # "Created" although the write succeeded; re-read instead of failing.
            if getattr(err, "status_code", None) != 201:
                raise
            result = None
        if isinstance(result, dict) and result:
            return result
        fresh = self.read(ctx)
        if fresh is None:
            raise RuntimeError(f"{self.key}: diagnostic setting not found right after a successful write")
        return fresh

    def delete(self, ctx: Any) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._ops(ctx).delete(self._uri(), self.name)
        except ResourceNotFoundError:
            return

    def diff(self, spec: Spec, observed: Spec) -> list[Change]:
        # Log/metric settings are keyed by category (Azure does not keep their order);
        # disabled categories Azure echoes back are the same as absent ones.
        return structural_diff(_by_category(spec), _by_category(observed))


def _by_category(body: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(body)
    properties = dict(body.get("properties") or {})
    for field in ("logs", "metrics"):
        items = properties.get(field)
        if isinstance(items, list):
            properties[field] = [
                {**item, "name": item.get("category") or item.get("categoryGroup")}
                for item in items
                if isinstance(item, Mapping) and item.get("enabled") is not False
            ]
    result["properties"] = properties
    return result


DEFAULT_ROUTE = "default-via-firewall"


class RouteTableStep(DeploymentStep):
    """Route table of one spoke, routes inline (this step owns the table and its routes).

    It does not wait for the firewall (issue 15): the default route's next hop is the address
    Azure gives the firewall, the first usable one of AzureFirewallSubnet
    (``predicted_firewall_ip``), so the route table, the workload subnets and their role
    assignments are ready before the firewall is. The next hop itself belongs to
    :class:`FirewallNextHopStep`, which checks it against the firewall's actual private IP once
    the firewall exists and repairs the route if it ever differs; this step creates the route
    with the predicted address and afterwards carries over whatever next hop Azure has."""

    client = "network"
    operations = "route_tables"
    resource_type = "Microsoft.Network/routeTables"

    def __init__(self, key: str, cfg: DeploymentConfig, spoke: str, dnat_pip_keys: list[str]) -> None:
        super().__init__(key, cfg, (keys.RG, *dnat_pip_keys))
        self.spoke = spoke
        self.dnat_pip_keys = list(dnat_pip_keys)

    def diff(self, spec: Spec, observed: Spec) -> list[Change]:
        return super().diff(_default_next_hop(spec, UNKNOWN), observed)

    def body(self, spec: Spec, observed: Spec | None) -> Spec:
        for route in props(observed or {}).get("routes") or []:
            if isinstance(route, Mapping) and str(route.get("name", "")).lower() == DEFAULT_ROUTE.lower():
                hop = (route.get("properties") or {}).get("nextHopIpAddress")
                if isinstance(hop, str) and hop:
                    return _default_next_hop(spec, hop)
        return spec

    def names(self) -> tuple[str, ...]:
        return (route_table_name(self.cfg, self.spoke),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        # The next hop on creation: the firewall's address-to-be (checked, and repaired if
        # ever needed, by FirewallNextHopStep against what Azure reports).
        routes: list[dict[str, Any]] = [default_route(predicted_firewall_ip(config))]
        # Replies to traffic that entered through a firewall public IP (DNAT) must
        # leave the same way: a /32 route to that IP with next hop Internet avoids
        # the asymmetric path through the default route (article, "Avoid asymmetric
        # routing"; https://learn.microsoft.com/azure/firewall/integrate-lb#asymmetric-routing).
        for pip_key in self.dnat_pip_keys:
            ip = _upstream_ip(upstream, pip_key)
            routes.append(
                {
                    "name": f"internet-{pip_key.replace('.', '-')}",
                    "properties": {
                        "addressPrefix": UNKNOWN if ip == UNKNOWN else f"{ip}/32",
                        "nextHopType": "Internet",
                    },
                }
            )
        return self.top(config, {"disableBgpRoutePropagation": True, "routes": routes})

    def _associated(self, observed: Spec) -> list[str]:
        return [str(s.get("id", "")) for s in props(observed).get("subnets") or [] if s.get("id")]

    def delete_blockers(self, ctx: Any, observed: Spec, owned: OwnedIds) -> list[str]:
        # A subnet this deployment does not own still routes through the table: keep it.
        return [sid for sid in self._associated(observed) if not owned.owns(sid)]

    def prepare_delete(self, ctx: Any, observed: Spec, owned: OwnedIds) -> None:
        """Azure refuses to delete an associated route table (InUseRouteTableCannotBeDeleted):
        our subnets that are kept (still used by foreign NICs) are disassociated first."""
        net = ctx.clients.get("network")
        for sid in self._associated(observed):
            parts = sid.strip("/").split("/")
            rg, vnet, name = parts[3], parts[7], parts[9]
            subnet = to_json(net.subnets.get(rg, vnet, name))
            properties = dict(subnet.get("properties") or {})
            if not properties.pop("routeTable", None):
                continue
            body = {"name": name, "properties": {
                k: v for k, v in properties.items()
                if k in ("addressPrefix", "addressPrefixes", "networkSecurityGroup", "delegations",
                         "privateEndpointNetworkPolicies", "privateLinkServiceNetworkPolicies",
                         "serviceEndpoints", "natGateway")
            }}
            # One token slot per subnet: after a kill, a subnet re-attaches to its own operation,
            # never to another subnet's (issue 13.5).
            ctx.lro.run(
                lambda rg=rg, vnet=vnet, name=name, body=body, **kw: net.subnets.begin_create_or_update(
                    rg, vnet, name, body, **kw
                ),
                kind=f"disassociate:{sid.lower()}",
                resource_type="Microsoft.Network/virtualNetworks/subnets",
            )


# --------------------------------------------------------------------------- rules


def default_route(next_hop: Any) -> dict[str, Any]:
    return {
        "name": DEFAULT_ROUTE,
        "properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": next_hop},
    }


def _default_next_hop(spec: Spec, next_hop: Any) -> Spec:
    properties = dict(spec.get("properties") or {})
    properties["routes"] = [
        default_route(next_hop) if str(r.get("name", "")).lower() == DEFAULT_ROUTE.lower() else r
        for r in properties.get("routes") or []
    ]
    return {**spec, "properties": properties}


class FirewallNextHopStep(DeploymentStep):
    """The default route's next hop of one spoke's route table, checked against the firewall's
    private IP as Azure reports it (``properties.ipConfigurations[0].properties.privateIPAddress``)
    once the firewall exists: normally equal to the address the route was created with (no
    write); a route PUT repairs it otherwise. The route goes with its table (no delete of its own)."""

    client = "network"
    operations = "routes"
    resource_type = "Microsoft.Network/routeTables/routes"
    taggable = False

    def __init__(self, key: str, cfg: DeploymentConfig, spoke: str) -> None:
        # After the spoke's routed subnets: their writes reference the table, which a route write
        # shows Updating (Azure refuses them with ReferencedResourceNotProvisioned meanwhile).
        config_spoke = next(s for s in cfg.spokes if s.name == spoke)
        subnets = [keys.subnet(spoke, f) for f in ROUTED_SUBNETS if getattr(config_spoke.subnets, f, None)]
        super().__init__(key, cfg, (keys.route_table(spoke), keys.FIREWALL, *subnets))
        self.spoke = spoke

    def names(self) -> tuple[str, ...]:
        return (route_table_name(self.cfg, self.spoke), DEFAULT_ROUTE)

    def lock_keys(self) -> tuple[str, ...]:
        return (arm_id(self.cfg, RouteTableStep.resource_type, route_table_name(self.cfg, self.spoke)).lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        private_ip = upstream[keys.FIREWALL].get("private_ip")
        return default_route(UNKNOWN if private_ip is None else private_ip)

    def delete(self, ctx: Any) -> None:
        return None  # deleted with its route table (or kept with it)


def _protocols(entries: list[str]) -> list[dict[str, Any]]:
    result = []
    for entry in entries:
        kind, _, port = entry.partition(":")
        result.append({"protocolType": kind, "port": int(port)})
    return result


def _filter(name: str, priority: int, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ruleCollectionType": _FILTER,
        "name": name,
        "priority": priority,
        "action": {"type": "Allow"},
        "rules": rules,
    }


def _aks_collections(config: Any, upstream: Mapping[str, Outputs]) -> list[dict[str, Any]]:
    """Everything the cluster and the jump box need before they start, from the requirement table
    (``steps.egress``): each requirement in its own collection, from the narrowest source."""
    sources = node_source_addresses(config)
    fw = config.firewall
    network_rules: list[dict[str, Any]] = []
    app_collections: list[dict[str, Any]] = []
    for req in egress.requirements(config, egress.NODES):
        if req.network is not None:
            protocol, port, destination = req.network
            rule: dict[str, Any] = {
                "ruleType": "NetworkRule",
                "name": req.name,
                "ipProtocols": [protocol],
                "sourceAddresses": sources,
                "destinationPorts": [port],
            }
            # By FQDN when the DNS proxy resolves for the firewall (network rules with FQDNs need
            # it, https://learn.microsoft.com/azure/firewall/fqdn-filtering-network-rules),
            # otherwise to any address on that protocol and port only.
            if fw.tier != "Basic" and fw.effective_dns_proxy:
                rule["destinationFqdns"] = [destination]
            else:
                rule["destinationAddresses"] = ["*"]
            network_rules.append(rule)
        elif req.fqdn_tags:
            app_collections.append(_filter("aks-application", 200, [
                _app_rule(req.name, sources, req.protocols, fqdn_tags=req.fqdn_tags)]))
        else:
            app_collections.append(_filter(f"addon-{req.name}", 300 + 10 * len(app_collections), [
                _app_rule(req.name, sources, req.protocols, fqdns=[egress.expand(f, config) for f in req.fqdns])]))
    if not config.aks.api_server_vnet_integration:
        # Node-to-API-server tunnel (konnectivity), needed only when the API server is
        # not projected into the VNet (article; AKS required network rules:
        # UDP 1194 and TCP 9000 to the AzureCloud.<region> service tag).
        tag = f"AzureCloud.{config.location}"
        for name, protocol, port in (("apiserver-tunnel-udp", "UDP", "1194"), ("apiserver-tunnel-tcp", "TCP", "9000")):
            network_rules.append({
                "ruleType": "NetworkRule",
                "name": name,
                "ipProtocols": [protocol],
                "sourceAddresses": sources,
                "destinationAddresses": [tag],
                "destinationPorts": [port],
            })
    # Other spokes reach the private endpoints (registry, Key Vault, storage) through the hub:
    # spoke-to-spoke traffic follows their 0.0.0.0/0 route to the firewall.
    endpoints = config.cluster_spoke.subnets.jumpbox
    others = [p for s in config.spokes if s.name != config.cluster_spoke_name
              for p in (getattr(s.subnets, f, None) for f in ROUTED_SUBNETS) if p]
    if endpoints and others:
        network_rules.append({
            "ruleType": "NetworkRule",
            "name": "spokes-to-private-endpoints",
            "ipProtocols": ["TCP"],
            "sourceAddresses": others,
            "destinationAddresses": [endpoints],
            "destinationPorts": ["443"],
        })
    jumpbox = jumpbox_source_addresses(config)
    jumpbox_rules = [
        _app_rule(req.name, jumpbox, req.protocols, fqdns=[egress.expand(f, config) for f in req.fqdns])
        for req in egress.requirements(config, egress.JUMPBOX)
    ] if jumpbox else []
    collections = [_filter("aks-network", 100, network_rules), *app_collections]
    if jumpbox_rules:
        collections.append(_filter("jumpbox", 500, jumpbox_rules))
    return collections


def _app_rule(
    name: str, sources: list[str], protocols: tuple[str, ...], *,
    fqdns: list[str] | None = None, fqdn_tags: tuple[str, ...] = (),
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "ruleType": "ApplicationRule",
        "name": name,
        "sourceAddresses": list(sources),
        "protocols": _protocols(list(protocols)),
    }
    if fqdns:
        rule["targetFqdns"] = fqdns
    if fqdn_tags:
        rule["fqdnTags"] = list(fqdn_tags)
    return rule


def _registry_collections(config: Any, upstream: Mapping[str, Outputs]) -> list[dict[str, Any]]:
    fqdns: list[str] = []
    for fqdn in [*config.firewall.container_registries, *acr_fqdns(config)]:
        if fqdn not in fqdns:
            fqdns.append(fqdn)
    rule = {
        "ruleType": "ApplicationRule",
        "name": "container-registries",
        "sourceAddresses": node_source_addresses(config),
        "targetFqdns": fqdns,
        "protocols": [{"protocolType": "Https", "port": 443}],
    }
    return [_filter("registries", 100, [rule])]


def _user_collections(config: Any, upstream: Mapping[str, Outputs]) -> list[dict[str, Any]]:
    default_sources = node_source_addresses(config)
    fw = config.firewall
    collections: list[dict[str, Any]] = []
    if fw.network_rules:
        rules = []
        for rule in fw.network_rules:
            body: dict[str, Any] = {
                "ruleType": "NetworkRule",
                "name": rule.name,
                "ipProtocols": list(rule.protocols),
                "sourceAddresses": list(rule.source_addresses or default_sources),
                "destinationPorts": list(rule.destination_ports),
            }
            if rule.destination_addresses:
                body["destinationAddresses"] = list(rule.destination_addresses)
            if rule.destination_fqdns:
                body["destinationFqdns"] = list(rule.destination_fqdns)
            rules.append(body)
        collections.append(_filter("user-network", 100, rules))
    if fw.application_rules:
        rules = []
        for app in fw.application_rules:
            body = {
                "ruleType": "ApplicationRule",
                "name": app.name,
                "sourceAddresses": list(app.source_addresses or default_sources),
                "protocols": _protocols(list(app.protocols)),
            }
            if app.fqdns:
                body["targetFqdns"] = list(app.fqdns)
            if app.fqdn_tags:
                body["fqdnTags"] = list(app.fqdn_tags)
            rules.append(body)
        collections.append(_filter("user-application", 200, rules))
    return collections


def _dnat_collections(config: Any, upstream: Mapping[str, Outputs]) -> list[dict[str, Any]]:
    rules = []
    for rule in config.firewall.dnat_rules:
        pip_key = dedicated_pip_key(rule.name) if rule.dedicated_public_ip else keys.firewall_pip(1)
        ip = _upstream_ip(upstream, pip_key)
        rules.append(
            {
                "ruleType": "NatRule",
                "name": rule.name,
                "ipProtocols": [rule.protocol],
                "sourceAddresses": list(rule.source_addresses),
                "destinationAddresses": UNKNOWN if ip == UNKNOWN else [ip],
                "destinationPorts": [str(rule.public_port)],
                "translatedAddress": rule.translated_address,
                "translatedPort": str(rule.translated_port),
            }
        )
    return [
        {
            "ruleCollectionType": _NAT,
            "name": "dnat",
            "priority": 100,
            "action": {"type": "DNAT"},
            "rules": rules,
        }
    ]


# --------------------------------------------------------------------------- assembly


def firewall_steps(cfg: DeploymentConfig) -> list[Step]:
    """Public IPs (+ prefix / NAT gateway), policy, rule groups, firewall, diagnostics,
    route tables and the node subnets (``network.routed_subnet_steps``)."""
    fw = cfg.firewall
    zones = list(fw.zones)
    steps: list[Step] = []

    prefix_key: str | None = None
    if fw.public_ip_prefix_length is not None:
        prefix_key = keys.FIREWALL_PIP_PREFIX
        steps.append(PublicIpPrefixStep(prefix_key, cfg, f"ippre-fw-{cfg.name}", fw.public_ip_prefix_length, zones))

    ip_configs: list[tuple[str, str]] = []
    for index, pip_key in enumerate(firewall_pip_keys(cfg), start=1):
        # An IP's prefix is fixed at creation (replacement), so IPs from a prefix have names of
        # their own: switching the prefix on or off creates the new IPs, moves the firewall to
        # them, then deletes the old ones (orphans) — never a delete of an IP still in use.
        name = f"pip-fw-{cfg.name}-{'pfx-' if prefix_key else ''}{index:02d}"
        steps.append(PublicIpStep(pip_key, cfg, name, zones=zones, prefix_key=prefix_key))
        ip_configs.append((f"ipconfig-{index:02d}", pip_key))
    for rule in fw.dnat_rules:
        if rule.dedicated_public_ip:
            pip_key = dedicated_pip_key(rule.name)
            steps.append(PublicIpStep(pip_key, cfg, f"pip-fw-{cfg.name}-dnat-{_safe(rule.name)}", zones=zones))
            ip_configs.append((f"ipconfig-dnat-{_safe(rule.name)}", pip_key))

    fw_requires: list[str] = [
        keys.RG,
        keys.FIREWALL_POLICY,
        keys.subnet(keys.HUB, "firewall"),
        *(key for _, key in ip_configs),
    ]
    if fw.tier == "Basic":
        steps.append(PublicIpStep(keys.FIREWALL_MGMT_PIP, cfg, f"pip-fw-{cfg.name}-mgmt", zones=zones))
        fw_requires += [keys.FIREWALL_MGMT_PIP, keys.subnet(keys.HUB, "firewall_management")]

    if fw.nat_gateway:
        steps.append(PublicIpStep(keys.NAT_GATEWAY_PIP, cfg, f"pip-ng-{cfg.name}"))
        steps.append(NatGatewayStep(keys.NAT_GATEWAY, cfg, f"ng-{cfg.name}", [keys.NAT_GATEWAY_PIP]))

    steps.append(FirewallPolicyStep(keys.FIREWALL_POLICY, cfg))
    # Only the group of everything the cluster and the jump box need before they start is written
    # before the firewall (on the critical path: policy -> aks-egress -> firewall -> cluster). The
    # others follow the firewall, while the cluster is being created: writes to one policy are
    # serial (the policy's lock key), so they never race the firewall's own provisioning either.
    before: list[tuple[str, Any, tuple[str, ...]]] = [(RCG_AKS, _aks_collections, ())]
    after: list[tuple[str, Any, tuple[str, ...]]] = [(RCG_REGISTRIES, _registry_collections, ())]
    if fw.network_rules or fw.application_rules:
        after.append((RCG_USER, _user_collections, ()))
    if fw.dnat_rules:
        after.append((RCG_DNAT, _dnat_collections, tuple(dnat_public_ip_keys(cfg))))
    for name, build, extra in before:
        key = keys.rule_collection_group(name)
        steps.append(RuleCollectionGroupStep(key, cfg, name, RCG_PRIORITIES[name], build, extra))
        fw_requires.append(key)
    for name, build, extra in after:
        key = keys.rule_collection_group(name)
        steps.append(RuleCollectionGroupStep(key, cfg, name, RCG_PRIORITIES[name], build, (keys.FIREWALL, *extra)))

    firewall = FirewallStep(keys.FIREWALL, cfg, ip_configs, tuple(dict.fromkeys(fw_requires)))
    steps.append(firewall)
    steps.append(
        DiagnosticSettingStep(
            keys.FIREWALL_DIAG,
            cfg,
            firewall.resource_id(),
            f"diag-{cfg.workspace_name}",
            DIAGNOSTIC_LOG_CATEGORIES,
            (keys.FIREWALL, keys.WORKSPACE),
        )
    )

    dnat_keys = dnat_public_ip_keys(cfg)
    for spoke in route_table_spokes(cfg):
        steps.append(RouteTableStep(keys.route_table(spoke), cfg, spoke, dnat_keys))
        steps.append(FirewallNextHopStep(f"{keys.route_table(spoke)}.next-hop", cfg, spoke))
    steps.extend(routed_subnet_steps(cfg))
    return steps


def firewall_public_ips(cfg: DeploymentConfig, step_outputs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Addresses of the firewall's public IPs (SNAT ones first, then dedicated DNAT ones),
    from the public IP steps' recorded outputs (the firewall itself only reports their ids)."""
    pip_keys = [*firewall_pip_keys(cfg)]
    pip_keys += [dedicated_pip_key(r.name) for r in cfg.firewall.dnat_rules if r.dedicated_public_ip]
    result: list[str] = []
    for key in pip_keys:
        ip = (step_outputs.get(key) or {}).get("ip_address")
        if isinstance(ip, str) and ip != UNKNOWN:
            result.append(ip)
    return result


def firewall_subnet_id(cfg: DeploymentConfig) -> str:
    """ARM id of AzureFirewallSubnet (convenience for other modules)."""
    return subnet_id(cfg, keys.HUB, "firewall")
