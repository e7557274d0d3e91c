"""Microsoft.Network/applicationGateways and Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies.

Citations (where Azure documents each behaviour):

* WAF policy: ``policySettings.mode`` Prevention or Detection, ``state`` Enabled or Disabled:
  https://learn.microsoft.com/azure/web-application-firewall/ag/policy-overview,
  https://learn.microsoft.com/azure/web-application-firewall/ag/create-waf-policy-ag
* Managed rule sets and their versions (one core rule set: DRS or OWASP CRS; the bot manager set
  beside it): https://learn.microsoft.com/azure/web-application-firewall/ag/application-gateway-crs-rulegroups-rules,
  https://learn.microsoft.com/azure/web-application-firewall/ag/bot-protection-overview
* The gateway's subnet is dedicated to application gateways; v2 does not support a 0.0.0.0/0
  route to a virtual appliance on it:
  https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure#virtual-network-and-dedicated-subnet,
  https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure#supported-user-defined-routes
* v2 needs a public frontend IP, Standard SKU and static, in every zone of the gateway:
  https://learn.microsoft.com/azure/application-gateway/configuration-frontend-ip,
  https://learn.microsoft.com/azure/application-gateway/application-gateway-faq#does-application-gateway-v2-support-only-private-ip-addresses
* Autoscale: 0 <= minCapacity <= maxCapacity <= 125:
  https://learn.microsoft.com/azure/application-gateway/application-gateway-autoscaling-zone-redundant
* WAF_v2 takes a WAF policy (``firewallPolicy``):
  https://learn.microsoft.com/azure/web-application-firewall/ag/policy-overview
* v2 routing rules need a priority (api-version 2021-08-01 and later):
  https://learn.microsoft.com/azure/application-gateway/configuration-request-routing-rules#rule-priority
* A policy associated with a gateway cannot be deleted:
  https://learn.microsoft.com/azure/web-application-firewall/ag/policy-overview
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from hubspoke_deploy.simulator.providers.base import (
    JSON,
    DeleteContext,
    DeleteRule,
    ResourceType,
    Store,
    WriteContext,
    WriteRule,
    deep_get,
    register,
    register_rule,
    register_view_hook,
)

APPGW = "Microsoft.Network/applicationGateways"
WAF_POLICY = "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies"
SUBNET = "Microsoft.Network/virtualNetworks/subnets"
PIP = "Microsoft.Network/publicIPAddresses"
ROUTE_TABLE = "Microsoft.Network/routeTables"
APPGW_DELEGATION = "Microsoft.Network/applicationGateways"

# rule set type -> supported versions (the current ones; 2.1 is the current Default Rule Set)
MANAGED_RULE_SETS: dict[str, frozenset[str]] = {
    "Microsoft_DefaultRuleSet": frozenset({"2.1"}),
    "OWASP": frozenset({"3.2", "3.1", "3.0"}),
    "Microsoft_BotManagerRuleSet": frozenset({"0.1", "1.0", "1.1"}),
}
CORE_RULE_SETS = frozenset({"Microsoft_DefaultRuleSet", "OWASP"})
V2_SKUS = frozenset({"Standard_v2", "WAF_v2"})
MAX_INSTANCES = 125

_WAF = "https://learn.microsoft.com/azure/web-application-firewall/ag/"
_INFRA = "https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure"


# ------------------------------------------------------------------------- helpers


def _gateway_subnets(res: JSON) -> list[str]:
    out: list[str] = []
    for cfg in deep_get(res, "properties.gatewayIPConfigurations", []) or []:
        sid = deep_get(cfg, "properties.subnet.id")
        if isinstance(sid, str):
            out.append(sid)
    return out


def _is_v2(res: JSON | None) -> bool:
    return str(deep_get(res, "properties.sku.name", "")) in V2_SKUS


def _forced_tunnel(store: Store, route_table_id: Any) -> str | None:
    """The 0.0.0.0/0 route of a route table that sends it to a virtual appliance, by name."""
    table = store.view(route_table_id) if isinstance(route_table_id, str) else None
    for route in deep_get(table, "properties.routes", []) or []:
        p = route.get("properties") or {}
        if p.get("addressPrefix") == "0.0.0.0/0" and str(p.get("nextHopType", "")).lower() == "virtualappliance":
            return str(route.get("name"))
    return None


def _gateways_in(store: Store, subnet_id: str) -> list[JSON]:
    seen: set[str] = set()
    out: list[JSON] = []
    for ref in store.referrers(subnet_id):
        rid = str(ref.resource.get("id", "")).lower()
        if str(ref.resource.get("type", "")).lower() == APPGW.lower() and rid not in seen:
            seen.add(rid)
            out.append(ref.resource)
    return out


# ------------------------------------------------------------------------- WAF policy rules


def _waf_settings(ctx: WriteContext) -> str | None:
    settings = ctx.props.get("policySettings") or {}
    mode = settings.get("mode", "Detection")
    state = settings.get("state", "Enabled")
    if mode not in ("Prevention", "Detection"):
        return f"Policy {ctx.rid.name}: policySettings.mode '{mode}' is invalid; allowed: Prevention, Detection."
    if state not in ("Enabled", "Disabled"):
        return f"Policy {ctx.rid.name}: policySettings.state '{state}' is invalid; allowed: Enabled, Disabled."
    return None


def _waf_rule_sets(ctx: WriteContext) -> str | None:
    sets = deep_get(ctx.resource, "properties.managedRules.managedRuleSets")
    if not isinstance(sets, list) or not sets:
        return f"Policy {ctx.rid.name}: managedRules.managedRuleSets needs at least one managed rule set."
    seen: set[str] = set()
    for item in sets:
        rtype, version = str((item or {}).get("ruleSetType", "")), str((item or {}).get("ruleSetVersion", ""))
        if rtype not in MANAGED_RULE_SETS:
            return (f"Policy {ctx.rid.name}: rule set type '{rtype}' is not supported; supported: "
                    f"{', '.join(sorted(MANAGED_RULE_SETS))}.")
        if version not in MANAGED_RULE_SETS[rtype]:
            return (f"Policy {ctx.rid.name}: {rtype} version '{version}' is not supported; supported: "
                    f"{', '.join(sorted(MANAGED_RULE_SETS[rtype]))}.")
        family = "core" if rtype in CORE_RULE_SETS else rtype
        if family in seen:
            return f"Policy {ctx.rid.name}: only one {'core rule set (DRS or OWASP)' if family == 'core' else rtype}."
        seen.add(family)
    return None


# ------------------------------------------------------------------------- gateway rules


def _appgw_sku(ctx: WriteContext) -> str | None:
    sku = ctx.props.get("sku") or {}
    name, tier = sku.get("name"), sku.get("tier")
    if name not in V2_SKUS or tier != name:
        return (f"Application gateway {ctx.rid.name}: sku {name}/{tier} is not supported; use Standard_v2 or WAF_v2 "
                "(name and tier alike).")
    if name == "WAF_v2" and not deep_get(ctx.resource, "properties.firewallPolicy.id") and \
            not ctx.props.get("webApplicationFirewallConfiguration"):
        return f"Application gateway {ctx.rid.name}: the WAF_v2 SKU needs a WAF policy (properties.firewallPolicy)."
    return None


def _appgw_capacity(ctx: WriteContext) -> str | None:
    auto = ctx.props.get("autoscaleConfiguration")
    capacity = deep_get(ctx.resource, "properties.sku.capacity")
    if auto is None and capacity is None:
        return f"Application gateway {ctx.rid.name} needs sku.capacity or autoscaleConfiguration."
    if isinstance(auto, dict):
        low, high = auto.get("minCapacity", 0), auto.get("maxCapacity", MAX_INSTANCES)
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high <= MAX_INSTANCES):
            return (f"Application gateway {ctx.rid.name}: autoscale needs 0 <= minCapacity <= maxCapacity <= "
                    f"{MAX_INSTANCES}, got {low}..{high}.")
    return None


def _appgw_dedicated_subnet(ctx: WriteContext) -> str | None:
    subnets = _gateway_subnets(ctx.resource)
    if not subnets:
        return f"Application gateway {ctx.rid.name} needs a gateway IP configuration with a subnet."
    for sid in subnets:
        subnet = ctx.store.get(sid)
        if subnet is None:
            return None  # the core answers InvalidResourceReference
        for d in deep_get(subnet, "properties.delegations", []) or []:
            service = str(deep_get(d, "properties.serviceName", ""))
            if service.lower() != APPGW_DELEGATION.lower():
                return f"Subnet {sid} is delegated to {service}; an application gateway needs a dedicated subnet."
        for ref in ctx.store.referrers(sid):
            rtype = str(ref.resource.get("type", "")).lower()
            owner = ref.owner_id.lower()
            if owner.startswith(sid.rsplit("/", 2)[0].lower()) or rtype == APPGW.lower():
                continue  # the VNet itself, another application gateway
            if rtype in (ROUTE_TABLE.lower(), "microsoft.network/networksecuritygroups",
                         "microsoft.network/natgateways", "microsoft.authorization/roleassignments"):
                continue  # associations and scopes, not users of the subnet's addresses
            return (f"Subnet {sid} is used by {ref.owner_id}; an application gateway subnet can hold only "
                    "application gateways.")
    return None


def _appgw_no_forced_tunnel(ctx: WriteContext) -> str | None:
    if not _is_v2(ctx.resource):
        return None
    for sid in _gateway_subnets(ctx.resource):
        subnet = ctx.store.get(sid)
        route = _forced_tunnel(ctx.store, deep_get(subnet, "properties.routeTable.id"))
        if route:
            return (f"Application gateway v2 {ctx.rid.name} cannot be deployed in subnet {sid}: its route table "
                    f"sends 0.0.0.0/0 to a virtual appliance (route '{route}'), which v2 does not support.")
    return None


def _subnet_no_forced_tunnel(ctx: WriteContext) -> str | None:
    """A subnet holding an application gateway v2 cannot take a route table that forces 0.0.0.0/0
    through an appliance."""
    route = _forced_tunnel(ctx.store, deep_get(ctx.resource, "properties.routeTable.id"))
    if not route:
        return None
    for gw in _gateways_in(ctx.store, str(ctx.resource.get("id", ""))):
        if _is_v2(gw):
            return (f"Subnet {ctx.rid.name} holds application gateway v2 {gw.get('id')}: a route table sending "
                    f"0.0.0.0/0 to a virtual appliance (route '{route}') is not supported there.")
    return None


def _appgw_frontends(ctx: WriteContext) -> str | None:
    fes = ctx.props.get("frontendIPConfigurations") or []
    public = [fe for fe in fes if deep_get(fe, "properties.publicIPAddress.id")]
    if _is_v2(ctx.resource) and not public:
        return f"Application gateway v2 {ctx.rid.name} needs a public frontend IP configuration."
    for fe in public:
        pip = ctx.store.get(str(deep_get(fe, "properties.publicIPAddress.id")))
        if pip is not None and (str(deep_get(pip, "sku.name", "")) != "Standard"
                                or deep_get(pip, "properties.publicIPAllocationMethod") != "Static"):
            return f"Application gateway v2 {ctx.rid.name}: its public IP must be Standard SKU with static allocation."
        gw_zones = set(ctx.resource.get("zones") or [])
        if pip is not None and not gw_zones <= set(pip.get("zones") or []):
            return (f"Application gateway {ctx.rid.name}: its public IP must be in every zone of the gateway "
                    f"({', '.join(sorted(gw_zones))}); it is in {', '.join(pip.get('zones') or []) or 'no zone'}.")
    subnets = _gateway_subnets(ctx.resource)
    for fe in fes:
        ip = deep_get(fe, "properties.privateIPAddress")
        if not isinstance(ip, str):
            continue
        sid = deep_get(fe, "properties.subnet.id") or (subnets[0] if subnets else None)
        prefix = deep_get(ctx.store.get(sid), "properties.addressPrefix") if isinstance(sid, str) else None
        try:
            net = ipaddress.ip_network(str(prefix), strict=False)
            inside = ipaddress.ip_address(ip) in net and \
                int(net.network_address) + 4 <= int(ipaddress.ip_address(ip)) < int(net.broadcast_address)
        except ValueError:
            inside = False
        if not inside:
            return f"Application gateway {ctx.rid.name}: private frontend IP {ip} is not a usable address of {prefix}."
    return None


def _appgw_rule_priority(ctx: WriteContext) -> str | None:
    if not _is_v2(ctx.resource):
        return None
    for rule in ctx.props.get("requestRoutingRules") or []:
        priority = deep_get(rule, "properties.priority")
        if not isinstance(priority, int) or not 1 <= priority <= 20000:
            return (f"Application gateway {ctx.rid.name}: request routing rule '{rule.get('name')}' needs a "
                    "priority from 1 to 20000.")
    return None


def _appgw_subnet_in_use(ctx: DeleteContext) -> str | None:
    gateways = _gateways_in(ctx.store, str(ctx.resource["id"]))
    if gateways:
        return (f"Subnet {ctx.rid.name} is in use by {gateways[0].get('id')} and cannot be deleted. In order to "
                "delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.")
    return None


def _waf_in_use(ctx: DeleteContext) -> str | None:
    users = sorted({str(r.resource.get("id")) for r in ctx.store.referrers(str(ctx.resource["id"]))
                    if not str(r.resource.get("id", "")).lower().startswith(ctx.rid.key)})
    if users:
        return (f"Web application firewall policy {ctx.rid.name} cannot be deleted: it is associated with "
                f"{', '.join(users)}. Remove the association first.")
    return None


RULES: list[WriteRule | DeleteRule] = [
    WriteRule("waf-policy-settings", WAF_POLICY, _waf_settings, 400, "InvalidPolicySettings", _WAF + "policy-overview"),
    WriteRule("waf-policy-rule-sets", WAF_POLICY, _waf_rule_sets, 400, "InvalidManagedRuleSet",
              _WAF + "application-gateway-crs-rulegroups-rules"),
    WriteRule("appgw-sku", APPGW, _appgw_sku, 400, "ApplicationGatewaySkuNotSupported", _WAF + "policy-overview"),
    WriteRule("appgw-capacity", APPGW, _appgw_capacity, 400, "ApplicationGatewayInvalidCapacity",
              "https://learn.microsoft.com/azure/application-gateway/application-gateway-autoscaling-zone-redundant"),
    WriteRule("appgw-dedicated-subnet", APPGW, _appgw_dedicated_subnet, 400, "ApplicationGatewaySubnetCannotBeShared",
              _INFRA + "#virtual-network-and-dedicated-subnet"),
    WriteRule("appgw-no-forced-tunnel", APPGW, _appgw_no_forced_tunnel, 400,
              "ApplicationGatewayV2SubnetWithRouteToVirtualAppliance", _INFRA + "#supported-user-defined-routes"),
    WriteRule("appgw-subnet-no-forced-tunnel", SUBNET, _subnet_no_forced_tunnel, 400,
              "ApplicationGatewayV2SubnetWithRouteToVirtualAppliance", _INFRA + "#supported-user-defined-routes"),
    WriteRule("appgw-frontends", APPGW, _appgw_frontends, 400, "ApplicationGatewayFrontendIpConfigurationInvalid",
              "https://learn.microsoft.com/azure/application-gateway/configuration-frontend-ip"),
    WriteRule("appgw-rule-priority", APPGW, _appgw_rule_priority, 400, "ApplicationGatewayRequestRoutingRulePriority",
              "https://learn.microsoft.com/azure/application-gateway/configuration-request-routing-rules#rule-priority"),
    DeleteRule("appgw-subnet-in-use", SUBNET, _appgw_subnet_in_use, 400, "InUseSubnetCannotBeDeleted",
               "https://learn.microsoft.com/azure/virtual-network/virtual-network-manage-subnet#delete-a-subnet"),
    DeleteRule("waf-policy-in-use", WAF_POLICY, _waf_in_use, 400, "ApplicationGatewayFirewallPolicyInUse",
               _WAF + "policy-overview"),
]
for _rule in RULES:
    register_rule(_rule)


# ------------------------------------------------------------------------- types


@register
class WebApplicationFirewallPolicies(ResourceType):
    type_name = WAF_POLICY
    long_running: ClassVar[bool] = False  # create_or_update answers 200/201 at once
    delete_long_running: ClassVar[bool | None] = True
    create_latency_s: ClassVar[float] = 10.0
    requires_location: ClassVar[bool] = True
    resource_guid: ClassVar[bool] = False
    schema: ClassVar[dict[str, str]] = {
        "properties.policySettings": "object",
        "properties.managedRules": "object",
        "properties.managedRules.managedRuleSets": "list[object]",
        "properties.customRules": "list[object]",
    }

    def on_read(self, store: Store, view: JSON) -> None:
        props = view.setdefault("properties", {})
        gateways = sorted({str(r.resource.get("id")) for r in store.referrers(str(view["id"]))
                           if str(r.resource.get("type", "")).lower() == APPGW.lower()})
        props["applicationGateways"] = [{"id": g} for g in gateways]


@register
class ApplicationGateways(ResourceType):
    type_name = APPGW
    create_latency_s: ClassVar[float] = 450.0
    update_latency_s: ClassVar[float | None] = 240.0
    delete_latency_s: ClassVar[float | None] = 240.0
    requires_location: ClassVar[bool] = True
    resource_guid: ClassVar[bool] = True
    schema: ClassVar[dict[str, str]] = {
        "properties.sku": "object",
        "properties.autoscaleConfiguration": "object",
        "properties.gatewayIPConfigurations": "list[object]",
        "properties.frontendIPConfigurations": "list[object]",
        "properties.frontendPorts": "list[object]",
        "properties.backendAddressPools": "list[object]",
        "properties.backendHttpSettingsCollection": "list[object]",
        "properties.httpListeners": "list[object]",
        "properties.requestRoutingRules": "list[object]",
    }

    def on_write(self, ctx: WriteContext) -> None:
        # sub-resources get ids under the gateway, as Azure returns them
        for segment in ("gatewayIPConfigurations", "frontendIPConfigurations", "frontendPorts", "backendAddressPools",
                        "backendHttpSettingsCollection", "httpListeners", "requestRoutingRules"):
            for item in ctx.props.get(segment) or []:
                if isinstance(item, dict) and item.get("name"):
                    item["id"] = f"{ctx.resource['id']}/{segment}/{item['name']}"
        ctx.props["operationalState"] = "Running"


def _subnet_gateway_configs(store: Store, view: JSON) -> None:
    """A subnet holding an application gateway lists its gateway IP configurations."""
    configs = []
    for gw in _gateways_in(store, str(view.get("id", ""))):
        for cfg in deep_get(gw, "properties.gatewayIPConfigurations", []) or []:
            if str(deep_get(cfg, "properties.subnet.id", "")).lower() == str(view.get("id", "")).lower():
                configs.append({"id": f"{gw['id']}/gatewayIPConfigurations/{cfg.get('name')}"})
    if configs:
        view.setdefault("properties", {})["applicationGatewayIPConfigurations"] = configs


register_view_hook("applicationgateway-subnet-configs", SUBNET, _subnet_gateway_configs)
