"""A plan a reviewer can approve: the text and JSON renderings of a :class:`~hubspoke_deploy.library.PlanResult`.

Text, grouped by what happens to each resource: replacements and deletions first (they
destroy something), then updates, then creates; a one-line summary at the top and at the
bottom (``Plan: 86 to create, 2 to update, 1 to replace, 3 to delete.``); resources that stay
as they are are counted, and listed only with ``-v``. A create shows its key properties
(address spaces and prefixes, SKUs and tiers, zones, node pools, rules, DNAT mappings), read
from the step's desired body through :data:`KEY_PROPERTIES` -- a table of property paths per
resource type, data rather than code per step. ``-o json`` carries every desired property of
each item (redacted by the library).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hubspoke_deploy.config.regions import region_of_key

UNKNOWN = "(known after apply)"  # hubspoke_deploy.orchestrator.diff.UNKNOWN, without importing the engine

# Well-known names shown instead of GUIDs: Azure's built-in role definition ids
# (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles), the ones the steps assign.
WELL_KNOWN_NAMES: dict[str, str] = {
    "4d97b98b-1d4f-4787-a291-c67834d212e7": "Network Contributor",
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": "AcrPull",
    "b12aa53e-6015-4669-85d0-8515ebb3ae7f": "Private DNS Zone Contributor",
    "f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator",
}


@dataclass(frozen=True)
class Show:
    """One key property of a resource type.

    ``path`` is dotted from the resource body; ``[*]`` walks every item of a list and a final
    ``#`` counts them. Without ``each`` the values found are joined on the resource's summary
    line (``label value``). With ``each`` every value is a line of its own, rendered by
    ``template`` -- or by ``templates[item[by]]`` -- where ``{a.b|c}`` is the item's ``a.b``
    (else ``c``) and a ``[...]`` part is left out when a field inside it is missing; ``children``
    are shown under each item, their paths relative to it.
    """

    label: str
    path: str
    each: bool = False
    template: str = ""
    by: str = ""
    templates: Mapping[str, str] = field(default_factory=dict)
    children: tuple[Show, ...] = ()


_POOL = ("{name} ({mode}): {vmSize}[ x {count}][, autoscale {minCount}-{maxCount}][, zones {availabilityZones}]"
         "[, max pods {maxPods}][, subnet {vnetSubnetID}]")
_ROUTE = "{name}: {properties.addressPrefix} -> {properties.nextHopType}[ {properties.nextHopIpAddress}]"
_SECURITY_RULE = ("{name}: {properties.access} {properties.direction} {properties.protocol} "
                  "{properties.sourceAddressPrefix|properties.sourceAddressPrefixes} -> "
                  "{properties.destinationAddressPrefix|properties.destinationAddressPrefixes}:"
                  "{properties.destinationPortRange|properties.destinationPortRanges}, priority {properties.priority}")
_RULES = {
    "NetworkRule": "{name}: {ipProtocols} {sourceAddresses|sourceIpGroups} -> "
                   "{destinationAddresses|destinationFqdns|destinationIpGroups}:{destinationPorts}",
    "ApplicationRule": "{name}: {sourceAddresses|sourceIpGroups} -> [FQDN tag {fqdnTags} ][{targetFqdns} ]"
                       "[web categories {webCategories} ]{protocols}",
    "NatRule": "{name}: {ipProtocols} {destinationAddresses}:{destinationPorts} -> "
               "{translatedAddress|translatedFqdn}:{translatedPort}[ from {sourceAddresses}]",
}
_SKU = Show("sku", "sku.name")

#: How an added or removed list item of a change reads (``...rules[allow-pypi]: (none) -> allow-pypi: ...``),
#: by the list's name: a template, or (field, templates by that field's value).
ITEM_TEMPLATES: dict[str, str | tuple[str, Mapping[str, str]]] = {
    "rules": ("ruleType", _RULES),
    "routes": _ROUTE,
    "securityRules": _SECURITY_RULE,
    "agentPoolProfiles": _POOL,
}
_ZONES = Show("zones", "zones")

#: The properties a reviewer needs to approve a create, per ARM resource type (case-insensitive).
KEY_PROPERTIES: dict[str, tuple[Show, ...]] = {
    "Microsoft.Resources/resourceGroups": (Show("location", "location"),),
    "Microsoft.Network/virtualNetworks": (
        Show("address space", "properties.addressSpace.addressPrefixes"),
        Show("DNS servers", "properties.dhcpOptions.dnsServers"),
    ),
    "Microsoft.Network/virtualNetworks/subnets": (
        Show("prefix", "properties.addressPrefix"),
        Show("prefixes", "properties.addressPrefixes"),
        Show("route table", "properties.routeTable.id"),
        Show("NSG", "properties.networkSecurityGroup.id"),
        Show("NAT gateway", "properties.natGateway.id"),
        Show("delegated to", "properties.delegations[*].properties.serviceName"),
    ),
    "Microsoft.Network/virtualNetworks/virtualNetworkPeerings": (
        Show("to", "properties.remoteVirtualNetwork.id"),
        Show("forwarded traffic", "properties.allowForwardedTraffic"),
        Show("gateway transit", "properties.allowGatewayTransit"),
    ),
    "Microsoft.Network/publicIPAddresses": (_SKU, _ZONES, Show("prefix", "properties.publicIPPrefix.id")),
    "Microsoft.Network/publicIPPrefixes": (_SKU, _ZONES, Show("length", "properties.prefixLength")),
    "Microsoft.Network/natGateways": (_SKU, _ZONES, Show("public IPs", "properties.publicIpAddresses[*].id"),
                                      Show("prefixes", "properties.publicIpPrefixes[*].id")),
    "Microsoft.Network/firewallPolicies": (
        Show("tier", "properties.sku.tier"),
        Show("threat intel", "properties.threatIntelMode"),
        Show("IDPS", "properties.intrusionDetection.mode"),
        Show("DNS proxy", "properties.dnsSettings.enableProxy"),
    ),
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups": (
        Show("priority", "properties.priority"),
        Show("collection", "properties.ruleCollections[*]", each=True,
             template="{name}: {action.type}, priority {priority}",
             children=(Show("rule", "rules[*]", each=True, by="ruleType", templates=_RULES),)),
    ),
    "Microsoft.Network/azureFirewalls": (
        Show("sku", "properties.sku.name"),
        Show("tier", "properties.sku.tier"),
        _ZONES,
        Show("public IPs", "properties.ipConfigurations#"),
        Show("management IP", "properties.managementIpConfiguration.properties.publicIPAddress.id"),
        Show("policy", "properties.firewallPolicy.id"),
    ),
    "Microsoft.Network/routeTables": (
        Show("BGP propagation disabled", "properties.disableBgpRoutePropagation"),
        Show("route", "properties.routes[*]", each=True, template=_ROUTE),
    ),
    "Microsoft.Network/routeTables/routes": (
        Show("route", "properties.addressPrefix"),
        Show("next hop", "properties.nextHopType"),
        Show("via", "properties.nextHopIpAddress"),
    ),
    "Microsoft.Network/networkSecurityGroups": (
        Show("rule", "properties.securityRules[*]", each=True, template=_SECURITY_RULE),
    ),
    "Microsoft.Network/bastionHosts": (_SKU, Show("tunneling", "properties.enableTunneling")),
    "Microsoft.Network/networkInterfaces": (
        Show("subnet", "properties.ipConfigurations[*].properties.subnet.id"),
        Show("private IP", "properties.ipConfigurations[*].properties.privateIPAllocationMethod"),
        Show("public IP", "properties.ipConfigurations[*].properties.publicIPAddress.id"),
        Show("NSG", "properties.networkSecurityGroup.id"),
    ),
    "Microsoft.Network/privateEndpoints": (
        Show("subnet", "properties.subnet.id"),
        Show("to", "properties.privateLinkServiceConnections[*].properties.privateLinkServiceId"),
        Show("group", "properties.privateLinkServiceConnections[*].properties.groupIds"),
    ),
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups": (
        Show("zones", "properties.privateDnsZoneConfigs[*].properties.privateDnsZoneId"),
    ),
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": (
        Show("VNet", "properties.virtualNetwork.id"),
        Show("auto-registration", "properties.registrationEnabled"),
    ),
    "Microsoft.ContainerService/managedClusters": (
        Show("tier", "sku.tier"),
        Show("version", "properties.kubernetesVersion"),
        Show("private", "properties.apiServerAccessProfile.enablePrivateCluster"),
        Show("API server VNet integration", "properties.apiServerAccessProfile.enableVnetIntegration"),
        Show("outbound", "properties.networkProfile.outboundType"),
        Show("network", "properties.networkProfile", each=True,
             template="{networkPlugin}[ {networkPluginMode}][, dataplane {networkDataplane}][, policy {networkPolicy}]"
                      "[, pods {podCidr}][, services {serviceCidr}]"),
        Show("node pool", "properties.agentPoolProfiles[*]", each=True, template=_POOL),
    ),
    "Microsoft.ContainerService/managedClusters/agentPools": (
        Show("node pool", "properties", each=True, template=_POOL.replace("{name} ({mode})", "{mode}")),
    ),
    "Microsoft.ContainerRegistry/registries": (
        _SKU,
        Show("zone redundancy", "properties.zoneRedundancy"),
        Show("public access", "properties.publicNetworkAccess"),
        Show("admin user", "properties.adminUserEnabled"),
    ),
    "Microsoft.KeyVault/vaults": (
        Show("sku", "properties.sku.name"),
        Show("RBAC", "properties.enableRbacAuthorization"),
        Show("purge protection", "properties.enablePurgeProtection"),
        Show("soft-delete days", "properties.softDeleteRetentionInDays"),
        Show("public access", "properties.publicNetworkAccess"),
    ),
    "Microsoft.Storage/storageAccounts": (
        _SKU,
        Show("kind", "kind"),
        Show("public access", "properties.publicNetworkAccess"),
        Show("shared key", "properties.allowSharedKeyAccess"),
    ),
    "Microsoft.OperationalInsights/workspaces": (
        Show("sku", "properties.sku.name"),
        Show("retention days", "properties.retentionInDays"),
    ),
    "Microsoft.Insights/diagnosticSettings": (
        Show("to", "properties.workspaceId"),
        Show("logs", "properties.logs[*].category"),
        Show("log groups", "properties.logs[*].categoryGroup"),
    ),
    "Microsoft.Authorization/roleAssignments": (
        Show("role", "properties.roleDefinitionId"),
        Show("on", "@scope"),
        Show("principal", "properties.principalId"),
    ),
    # the ingress (steps/ingress.py)
    "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies": (
        Show("mode", "properties.policySettings.mode"),
        Show("state", "properties.policySettings.state"),
        Show("rule set", "properties.managedRules.managedRuleSets[*]", each=True,
             template="{ruleSetType} {ruleSetVersion}"),
    ),
    "Microsoft.Network/applicationGateways": (
        Show("sku", "properties.sku.name"),
        _ZONES,
        Show("autoscale", "properties.autoscaleConfiguration", each=True, template="{minCapacity}-{maxCapacity}"),
        Show("subnet", "properties.gatewayIPConfigurations[*].properties.subnet.id"),
        Show("WAF policy", "properties.firewallPolicy.id"),
    ),
    "Microsoft.ServiceNetworking/trafficControllers/associations": (Show("subnet", "properties.subnet.id"),),
    "Microsoft.ServiceNetworking/trafficControllers/securityPolicies": (
        Show("WAF policy", "properties.wafPolicy.id"),
    ),
    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials": (
        Show("issuer", "properties.issuer"),
        Show("subject", "properties.subject"),
    ),
    "Microsoft.Compute/virtualMachines": (
        Show("size", "properties.hardwareProfile.vmSize"),
        _ZONES,
        Show("image", "properties.storageProfile.imageReference", each=True,
             template="{publisher}:{offer}:{sku}:{version}"),
        Show("admin", "properties.osProfile.adminUsername"),
        Show("password login disabled", "properties.osProfile.linuxConfiguration.disablePasswordAuthentication"),
    ),
    # [global_entry] (steps/globalentry.py)
    "Microsoft.Cdn/profiles": (_SKU,),
    "Microsoft.Cdn/profiles/originGroups": (
        Show("probe", "properties.healthProbeSettings", each=True,
             template="{probeProtocol} {probeRequestType} {probePath} every {probeIntervalInSeconds} s"),
    ),
    "Microsoft.Cdn/profiles/originGroups/origins": (
        Show("host", "properties.hostName"), Show("https port", "properties.httpsPort"),
        Show("priority", "properties.priority"),
    ),
    "Microsoft.Cdn/profiles/afdEndpoints/routes": (Show("forwarding", "properties.forwardingProtocol"),),
    "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies": (
        _SKU, Show("mode", "properties.policySettings.mode"),
        Show("rule set", "properties.managedRules.managedRuleSets[*]", each=True,
             template="{ruleSetType} {ruleSetVersion}"),
    ),
    "Microsoft.Network/trafficmanagerprofiles": (
        Show("routing", "properties.trafficRoutingMethod"),
        Show("monitor", "properties.monitorConfig", each=True,
             template="{protocol}:{port}{path} every {intervalInSeconds} s, {toleratedNumberOfFailures} failures"),
        Show("endpoint", "properties.endpoints[*]", each=True,
             template="{name}: {properties.target} ({properties.endpointLocation})"),
    ),
}

_TYPES = {k.lower(): v for k, v in KEY_PROPERTIES.items()}

# Replacements and deletions destroy something: they come first. Then what changes, then what is new.
_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("replace", "-/+", "Replace ({n}): deleted and re-created -- the resource is gone meanwhile"),
    ("delete", "-", "Delete ({n})"),
    ("keep", "=", "Keep ({n}): not deleted"),
    ("update", "~", "Update in place ({n})"),
    ("create", "+", "Create ({n})"),
    ("no-op", " ", "No change ({n})"),
)
_SUMMARY_ORDER = (("create", "to create"), ("update", "to update"), ("replace", "to replace"), ("delete", "to delete"))

_INDENT = "        "
_WIDTH = 110


# -- values -----------------------------------------------------------------------------------
def _is_id(value: str) -> bool:
    return value.startswith(("/subscriptions/", "/providers/"))


def fmt(value: Any) -> str:
    """A property value in words: an ARM id by its name, ``Https:443``, lists comma-joined."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, str):
        if _is_id(value):
            name = value.rstrip("/").rsplit("/", 1)[-1]
            return WELL_KNOWN_NAMES.get(name.lower(), name)
        return value
    if isinstance(value, Mapping):
        if "protocolType" in value:
            return f"{value['protocolType']}:{value.get('port', '')}".rstrip(":")
        if set(value) == {"id"}:
            return fmt(value["id"])
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value) if value else "none"
    return str(value)


_MISSING = object()


def _get(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def resolve(body: Any, path: str) -> list[Any]:
    """Every value at ``path`` (``a.b[*].c``; a final ``#`` counts the items)."""
    if path.endswith("#"):
        found = resolve(body, path[:-1])
        return [len(found[0])] if len(found) == 1 and isinstance(found[0], list) else []
    values = [body]
    for part in path.split("."):
        star = part.endswith("[*]")
        name = part[:-3] if star else part
        nxt: list[Any] = []
        for v in values:
            got = _get(v, name) if name else v
            if got is _MISSING:
                continue
            if star:
                nxt.extend(got if isinstance(got, list) else [])
            else:
                nxt.append(got)
        values = nxt
    return values


_FIELD = re.compile(r"\{([^{}]+)\}")
_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def render_template(template: str, item: Any) -> str:
    """``{a.b|c}`` fields of ``item``; a ``[...]`` part is dropped when one of its fields is missing."""

    def field_value(spec: str) -> Any:
        for alt in spec.split("|"):
            got = _get(item, alt.strip())
            if got is not _MISSING and got is not None and got != []:
                return got
        return _MISSING

    def optional(match: re.Match[str]) -> str:
        part = match.group(1)
        if any(field_value(f) is _MISSING for f in _FIELD.findall(part)):
            return ""
        return part

    text = _OPTIONAL.sub(optional, template)

    def value(match: re.Match[str]) -> str:
        got = field_value(match.group(1))
        return "-" if got is _MISSING else fmt(got)

    return _FIELD.sub(value, text)


def key_properties(resource_type: str, body: Mapping[str, Any] | None, resource_id: str = "") -> list[str]:
    """A create's key properties as lines: the scalar ones joined on the first lines, then one
    line per listed item (node pool, rule, route...), children indented under their item. The
    path ``@scope`` is what an extension resource (a role assignment) applies to, from its id."""
    if not body:
        return []
    if "/providers/" in resource_id:
        body = {**body, "@scope": resource_id.rsplit("/providers/", 1)[0]}
    shows = _TYPES.get(resource_type.lower(), ())
    inline: list[str] = []
    listed: list[str] = []
    _collect(shows, body, inline, listed, "")
    return _wrap(inline) + listed


def _collect(shows: Iterable[Show], body: Any, inline: list[str], listed: list[str], indent: str) -> None:
    for show in shows:
        values = resolve(body, show.path)
        if show.each:
            for item in values:
                template = show.templates.get(str(_get(item, show.by)), "") if show.by else show.template
                text = render_template(template, item) if template else fmt(item)
                listed.append(f"{indent}{show.label}: {text}")
                if show.children:
                    _collect(show.children, item, inline, listed, indent + "  ")
            continue
        values = [v for v in values if v is not None and v != []]
        if values:
            inline.append(f"{show.label} {fmt(values if len(values) > 1 else values[0])}")


def _wrap(parts: Sequence[str], sep: str = "; ") -> list[str]:
    lines: list[str] = []
    current = ""
    for part in parts:
        if current and len(current) + len(sep) + len(part) > _WIDTH - len(_INDENT):
            lines.append(current + sep.rstrip())
            current = part
        else:
            current = f"{current}{sep}{part}" if current else part
    if current:
        lines.append(current)
    return lines


# -- the plan -----------------------------------------------------------------------------------
def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _names(value: Any) -> Any:
    """A changed value with its ARM ids shortened to names (``-v`` shows them whole)."""
    if isinstance(value, str) and _is_id(value):
        return fmt(value)
    if isinstance(value, Mapping):
        return {k: _names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_names(v) for v in value]
    return value


_LIST_ITEM = re.compile(r"(?:^|\.)(\w+)\[[^\]]*\]$")


def _change_value(path: str, value: Any) -> str:
    """A changed value in words: an added or removed rule, route or pool by its template; ARM ids as names."""
    found = _LIST_ITEM.search(path)
    entry = ITEM_TEMPLATES.get(found.group(1)) if found else None
    if value is None:
        return "(none)"
    if entry is not None and isinstance(value, Mapping):
        template = entry if isinstance(entry, str) else entry[1].get(str(value.get(entry[0])), "")
        if template:
            return render_template(template, value)
    return _short(_names(value), 160)


def summary_line(plan: Any, title: str = "Plan:") -> str:
    """``Plan: 86 to create, 2 to update, 1 to replace, 3 to delete; 5 unchanged.``"""
    counts: dict[str, int] = plan.counts()
    head = title.rstrip(":")
    if not plan.has_changes:
        unchanged = counts.get("no-op", 0)
        kept = counts.get("keep", 0)
        extra = f"; {kept} kept" if kept else ""
        return f"{head}: no changes; {unchanged} resource(s) match the config{extra}."
    # a plan for up names all four (like terraform's); a teardown or drift report what it has
    text = ", ".join(f"{counts.get(action, 0)} {words}" for action, words in _SUMMARY_ORDER
                     if head == "Plan" or counts.get(action))
    rest = [f"{counts[a]} {w}" for a, w in (("no-op", "unchanged"), ("keep", "kept")) if counts.get(a)]
    return f"{head}: {text}" + (f"; {', '.join(rest)}" if rest else "") + "."


def _resource(item: Any) -> str:
    kind = "/".join(str(item.resource_type or "").split("/")[1:]) or "resource"
    return f"{kind} {item.resource_id.rstrip('/').rsplit('/', 1)[-1]}"


def plan_lines(plan: Any, title: str = "Plan:", *, verbose: int = 0) -> list[str]:
    """The plan as text lines (see the module docstring)."""
    summary = summary_line(plan, title)
    problems = list(getattr(plan, "flow_problems", []) or [])
    lines: list[str] = [summary]
    # kept orphans (no longer in the config, not this deployment's to delete) are listed anyway
    if not plan.has_changes and not verbose and not any(i.action == "keep" for i in plan.items):
        if problems:
            lines += _problems(problems)
        return lines
    shown = [i for i in plan.items if verbose or i.action != "no-op"]
    width = min(max((len(i.key) for i in shown), default=10), 40)
    # a multi-region plan: each action's rows grouped by region (region #1's keys carry no prefix)
    regions = sorted({region_of_key(i.key) for i in shown}, key=lambda r: (r is not None, r or ""))
    for action, mark, heading in _GROUPS:
        items = [i for i in shown if i.action == action]
        if not items:
            continue
        lines += ["", heading.format(n=len(items))]
        for region in regions:
            part = [i for i in items if region_of_key(i.key) == region]
            if part and len(regions) > 1:
                lines.append(f"  [{region or 'region #1 and shared'}: {len(part)}]")
            lines += _rows(part, action, mark, width, verbose)
    if problems:
        lines += ["", *_problems(problems)]
    if len(lines) > 1:
        lines += ["", summary]
    return lines


def _rows(items: Sequence[Any], action: str, mark: str, width: int, verbose: int) -> list[str]:
    """The rows of one action's items (alike creates or same updates folded unless ``verbose``)."""
    if verbose or action not in ("create", "update"):
        rows = [[i] for i in items]
    else:
        rows = _alike(items, _create_sig if action == "create" else _update_sig)
    lines: list[str] = []
    for members in rows:
        if len(members) == 1:
            lines += _item_lines(members[0], mark, width, verbose)
        elif action == "create":
            lines += _alike_lines(members, mark, width)
        else:
            lines += _same_change_lines(members, mark)
    return lines


_ALIKE_MIN = 3
_DIGITS = re.compile(r"(\d+)")


def _natural(text: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in _DIGITS.split(text)]


def _create_sig(item: Any) -> tuple[Any, ...]:
    shown = key_properties(item.resource_type, item.desired, item.resource_id)
    return item.resource_type, item.key.rsplit(".", 1)[0], tuple(shown)


def _update_sig(item: Any) -> tuple[Any, ...]:
    return tuple(_change_lines(item, 0))


def _alike(items: Sequence[Any], signature: Callable[[Any], tuple[Any, ...]]) -> list[list[Any]]:
    """Rows of alike items (creates of one type, one key prefix and the same key properties, as
    the firewall's 20 public IPs; updates making the same change, as a new tag) when there are
    at least three of them; the others one row each, in plan order."""
    buckets: dict[tuple[Any, ...], list[Any]] = {}
    for item in items:
        buckets.setdefault(signature(item), []).append(item)
    rows: list[list[Any]] = []
    for members in buckets.values():
        if len(members) >= _ALIKE_MIN:
            rows.append(sorted(members, key=lambda i: _natural(i.key)))
        else:
            rows.extend([m] for m in members)
    order = {id(item): n for n, item in enumerate(items)}
    return sorted(rows, key=lambda row: min(order[id(i)] for i in row))


def _alike_lines(members: Sequence[Any], mark: str, width: int) -> list[str]:
    first, last = members[0], members[-1]
    kind = _resource(first).split(" ", 1)[0]
    name = f"{_resource(first).split(' ', 1)[1]} ... {_resource(last).split(' ', 1)[1]}"
    keys = f"{first.key} ... {last.key}"
    out = [f"  {mark:>3} {keys:<{width}}  {len(members)} x {kind} {name}"]
    out += [f"{_INDENT}{line}" for line in key_properties(first.resource_type, first.desired, first.resource_id)]
    return out


def _same_change_lines(members: Sequence[Any], mark: str) -> list[str]:
    out = [f"  {mark:>3} {len(members)} resources, each with the same change:"]
    out += [f"{_INDENT}{line}" for line in _wrap([m.key for m in members], sep=", ")]
    out += [f"{_INDENT}{line}" for line in _change_lines(members[0], 0)]
    return out


def _change_lines(item: Any, verbose: int) -> list[str]:
    out: list[str] = []
    limit = 100_000 if verbose else 160
    for c in item.changes:
        if c.get("path") == "(resource)" and item.action == "delete":
            continue  # "exists -> deleted": the row says it
        tag = "  (forces replacement)" if c.get("replace") else ""
        if verbose:
            before, after = _short(c["before"], limit), _short(c["after"], limit)
        else:
            before, after = _change_value(c["path"], c["before"]), _change_value(c["path"], c["after"])
        if c["before"] is None and not verbose:
            out.append(f"{c['path']}: added {after}{tag}")
        elif c["after"] is None and not verbose:
            out.append(f"{c['path']}: removed {before}{tag}")
        else:
            out.append(f"{c['path']}: {before} -> {after}{tag}")
    return out


def _item_lines(item: Any, mark: str, width: int, verbose: int) -> list[str]:
    head = f"  {mark:>3} {item.key:<{width}}  {_resource(item)}"
    forced = [c["path"] for c in item.changes if c.get("replace")]
    if item.action == "replace" and forced:
        head += f"   <- forced by {', '.join(forced)}"
    orphan = item.orphan and item.action in ("delete", "keep")
    if orphan:  # the reason: no longer in the config, replaced, left behind
        head += f"   <- {item.note or 'no longer in the config'}"
    out = [head]
    if verbose:
        out.append(f"{_INDENT}id {item.resource_id}")
    if item.note and not orphan:
        out.append(f"{_INDENT}({item.note})")
    if item.action == "create":
        out += [f"{_INDENT}{line}" for line in key_properties(item.resource_type, item.desired, item.resource_id)]
    out += [f"{_INDENT}{line}" for line in _change_lines(item, verbose)]
    return out


def _problems(problems: Sequence[str]) -> list[str]:
    return [f"Warning: the planned network would not carry {len(problems)} required flow(s) (verify):",
            *(f"  - {line}" for line in problems)]


def plan_json(plan: Any, title: str = "Plan:") -> dict[str, Any]:
    """``-o json``: the library's plan document (every desired property, redacted) with the summary line."""
    doc: dict[str, Any] = plan.as_dict()
    doc["summary"] = summary_line(plan, title)
    for item in doc.get("items") or []:
        item["region"] = region_of_key(str(item.get("step", "")))  # None: region #1 or shared
    return doc


def print_plan(out: Callable[[str], None], data: Callable[[Any], None], as_json: bool, plan: Any, title: str,
               verbose: int = 0) -> None:
    """What the CLI's ``plan``, ``up`` and ``down`` print."""
    if as_json:
        data(plan_json(plan, title))
        return
    for line in plan_lines(plan, title, verbose=verbose):
        out(line)
