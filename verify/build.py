"""Build the evaluator's :class:`~hubspoke_deploy.verify.model.Network` from ARM REST JSON.

Input: a flat list of resources exactly as ARM's REST API returns them (camelCase keys,
``id``, ``name``, ``type``, ``properties``), in any order, e.g. from
``hubspoke_deploy.orchestrator.clients.to_json(model)``. Liberal: a missing optional field is
fine; unknown types are ignored. Field names follow the REST specs
(``specification/network/resource-manager/Microsoft.Network``: virtualNetwork.json,
routeTable.json, networkSecurityGroup.json, azureFirewall.json, firewallPolicy.json,
privateEndpoint.json, ipGroups.json; ``privatedns``: privatedns.json), checked against the
REST names of azure-mgmt-network 33 and azure-mgmt-privatedns 2.

Accepted types (case-insensitive):

* ``Microsoft.Network/virtualNetworks`` - ``addressSpace.addressPrefixes``,
  ``dhcpOptions.dnsServers``, subnets inline under ``subnets`` and peerings inline under
  ``virtualNetworkPeerings``; ``.../subnets`` and ``.../virtualNetworkPeerings`` may also be
  passed as separate resources (a separate one replaces the inline one with the same id).
* ``routeTables`` (routes inline or ``routeTables/routes``), ``networkSecurityGroups``
  (``securityRules`` inline or ``networkSecurityGroups/securityRules``; default rules are
  implicit), ``azureFirewalls``, ``publicIPAddresses`` (to know the firewall's public IPs),
  ``ipGroups``.
* ``firewallPolicies`` (``basePolicy.id``, ``dnsSettings.enableProxy`` / ``servers``) and
  ``firewallPolicies/ruleCollectionGroups`` (the group's policy is the parent in its id).
* ``Microsoft.Network/privateDnsZones``, ``privateDnsZones/virtualNetworkLinks``
  (``virtualNetwork.id``, ``resolutionPolicy``), ``privateDnsZones/A`` record sets
  (``aRecords[].ipv4Address``).
* ``privateEndpoints`` (IPs from ``customDnsConfigs[].ipAddresses``, ``ipConfigurations`` or
  the endpoint's NICs, ``networkInterfaces``) and ``privateEndpoints/privateDnsZoneGroups``.
  Azure writes the A records of a DNS zone group into the zone itself; when the zone's A
  record sets are not passed (the simulator does not create them) the records are derived
  from the zone group: ``privateDnsZoneConfigs[].properties.recordSets`` when ARM reports
  them, else the endpoint's target resource name (plus ``<name>.<location>.data`` for a
  container registry's data endpoint). Record sets read from the zone win.

``default_outbound_access`` is what a subnet without ``properties.defaultOutboundAccess``
gets (False: network api-version 2025-07-01 and later, where new subnets are private).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hubspoke_deploy.verify.dns import record_names_for_endpoint
from hubspoke_deploy.verify.model import (
    DnsZone,
    Firewall,
    Network,
    NsgRule,
    Peering,
    Policy,
    PrivateEndpoint,
    Route,
    RouteTable,
    Rule,
    RuleCollection,
    RuleCollectionGroup,
    SecurityGroup,
    Subnet,
    Vnet,
    key,
)

__all__ = ["network_from_arm"]

_NS = "microsoft.network/"


def _props(res: Mapping[str, Any]) -> Mapping[str, Any]:
    p = res.get("properties")
    return p if isinstance(p, Mapping) else {}


def _get(obj: Any, path: str, default: Any = None) -> Any:
    cur = obj
    for part in path.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return default
        if cur is None:
            return default
    return cur


def _strs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value if v is not None and str(v) != "")
    return (str(value),)


def _ids(value: Any) -> tuple[str, ...]:
    """``[{"id": ...}]`` or ``["..."]`` as a tuple of ids."""
    out = []
    for item in value or []:
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            out.append(item["id"])
        elif isinstance(item, str):
            out.append(item)
    return tuple(out)


def _id_of(obj: Any) -> str | None:
    v = _get(obj, "id")
    return v if isinstance(v, str) and v else None


def _type(res: Mapping[str, Any]) -> str:
    t = res.get("type")
    if isinstance(t, str) and t:
        return t.lower()
    # derive from the id: .../providers/Microsoft.Network/a/name/b/name -> microsoft.network/a/b
    rid = str(res.get("id", ""))
    parts = rid.strip("/").split("/")
    if "providers" in [p.lower() for p in parts]:
        i = [p.lower() for p in parts].index("providers")
        rest = parts[i + 1 :]
        if len(rest) >= 3:
            ns, segs = rest[0], rest[1:]
            return "/".join([ns, *segs[0::2]]).lower()
    return ""


def _parent(rid: str, levels: int = 2) -> str:
    return "/".join(rid.rstrip("/").split("/")[:-levels])


def _name(res: Mapping[str, Any]) -> str:
    n = res.get("name")
    if isinstance(n, str) and n:
        return n.rsplit("/", 1)[-1]
    return str(res.get("id", "")).rstrip("/").rsplit("/", 1)[-1]


def _bool(value: Any, default: bool | None = None) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return default


# --------------------------------------------------------------------------- parsers


def _subnet(res: Mapping[str, Any], vnet_id: str) -> Subnet:
    p = _props(res)
    prefixes = _strs(p.get("addressPrefixes")) or _strs(p.get("addressPrefix"))
    delegations = tuple(
        str(_get(d, "properties.serviceName") or d.get("serviceName") or "")
        for d in p.get("delegations") or []
        if isinstance(d, Mapping)
    )
    return Subnet(
        id=str(res.get("id", "")),
        name=_name(res),
        vnet_id=vnet_id,
        prefixes=prefixes,
        route_table_id=_id_of(p.get("routeTable")),
        nsg_id=_id_of(p.get("networkSecurityGroup")),
        nat_gateway_id=_id_of(p.get("natGateway")),
        default_outbound_access=_bool(p.get("defaultOutboundAccess")),
        delegations=tuple(d for d in delegations if d),
        app_gateway=bool(p.get("applicationGatewayIPConfigurations"))
        or any(d.lower() == "microsoft.network/applicationgateways" for d in delegations),
    )


def _peering(res: Mapping[str, Any]) -> Peering:
    p = _props(res)
    return Peering(
        name=_name(res),
        remote_vnet_id=str(_get(p, "remoteVirtualNetwork.id", "")),
        state=str(p.get("peeringState") or "Connected"),
        allow_forwarded_traffic=bool(_bool(p.get("allowForwardedTraffic"), False)),
        remote_prefixes=_strs(_get(p, "remoteAddressSpace.addressPrefixes")),
    )


def _route(res: Mapping[str, Any]) -> Route:
    p = _props(res)
    return Route(
        name=_name(res),
        address_prefix=str(p.get("addressPrefix", "")),
        next_hop_type=str(p.get("nextHopType", "None")),
        next_hop_ip=p.get("nextHopIpAddress") if isinstance(p.get("nextHopIpAddress"), str) else None,
    )


def _nsg_rule(res: Mapping[str, Any]) -> NsgRule:
    p = _props(res)

    def both(single: str, many: str) -> tuple[str, ...]:
        return _strs(p.get(many)) or _strs(p.get(single)) or ("*",)

    direction = "Inbound" if str(p.get("direction", "Inbound")).lower() == "inbound" else "Outbound"
    access = "Allow" if str(p.get("access", "Allow")).lower() == "allow" else "Deny"
    return NsgRule(
        name=_name(res),
        priority=int(p.get("priority") or 4096),
        direction=direction,  # type: ignore[arg-type]
        access=access,  # type: ignore[arg-type]
        protocol=str(p.get("protocol") or "*"),
        source_prefixes=both("sourceAddressPrefix", "sourceAddressPrefixes")
        if not p.get("sourceApplicationSecurityGroups")
        else ("<asg>",),
        source_ports=both("sourcePortRange", "sourcePortRanges"),
        destination_prefixes=both("destinationAddressPrefix", "destinationAddressPrefixes")
        if not p.get("destinationApplicationSecurityGroups")
        else ("<asg>",),
        destination_ports=both("destinationPortRange", "destinationPortRanges"),
        uses_asgs=bool(p.get("sourceApplicationSecurityGroups") or p.get("destinationApplicationSecurityGroups")),
    )


def _rule(raw: Mapping[str, Any]) -> Rule:
    rt = str(raw.get("ruleType") or "NetworkRule")
    rule_type = rt if rt in ("NetworkRule", "ApplicationRule", "NatRule") else "NetworkRule"
    protocols = []
    for proto in raw.get("protocols") or []:
        if isinstance(proto, Mapping):
            try:
                protocols.append((str(proto.get("protocolType", "")), int(proto.get("port") or 0)))
            except (TypeError, ValueError):
                continue
        elif isinstance(proto, str):  # "Https:443"
            kind, _, port = proto.partition(":")
            if port.isdigit():
                protocols.append((kind, int(port)))
    translated_port = raw.get("translatedPort")
    return Rule(
        name=str(raw.get("name", "")),
        rule_type=rule_type,  # type: ignore[arg-type]
        source_addresses=_strs(raw.get("sourceAddresses")),
        source_ip_groups=_strs(raw.get("sourceIpGroups")),
        destination_addresses=_strs(raw.get("destinationAddresses")),
        destination_ip_groups=_strs(raw.get("destinationIpGroups")),
        destination_fqdns=_strs(raw.get("destinationFqdns")),
        destination_ports=_strs(raw.get("destinationPorts")),
        ip_protocols=_strs(raw.get("ipProtocols")),
        protocols=tuple(protocols),
        target_fqdns=_strs(raw.get("targetFqdns")),
        fqdn_tags=_strs(raw.get("fqdnTags")),
        target_urls=_strs(raw.get("targetUrls")),
        web_categories=_strs(raw.get("webCategories")),
        translated_address=raw.get("translatedAddress") if isinstance(raw.get("translatedAddress"), str) else None,
        translated_fqdn=raw.get("translatedFqdn") if isinstance(raw.get("translatedFqdn"), str) else None,
        translated_port=None if translated_port is None else str(translated_port),
    )


def _collection(raw: Mapping[str, Any]) -> RuleCollection:
    ctype = str(raw.get("ruleCollectionType") or "FirewallPolicyFilterRuleCollection")
    kind = "Nat" if "nat" in ctype.lower() else "Filter"
    action = str(_get(raw, "action.type") or ("DNAT" if kind == "Nat" else "Allow"))
    return RuleCollection(
        name=str(raw.get("name", "")),
        kind=kind,  # type: ignore[arg-type]
        action=action,
        priority=int(raw.get("priority") or 65000),
        rules=tuple(_rule(r) for r in raw.get("rules") or [] if isinstance(r, Mapping)),
    )


def _rcg(res: Mapping[str, Any]) -> RuleCollectionGroup:
    p = _props(res)
    return RuleCollectionGroup(
        id=str(res.get("id", "")),
        name=_name(res),
        priority=int(p.get("priority") or 65000),
        collections=tuple(_collection(c) for c in p.get("ruleCollections") or [] if isinstance(c, Mapping)),
    )


def _ip_list(p: Mapping[str, Any]) -> list[str]:
    ips: list[str] = []
    for cfg in p.get("customDnsConfigs") or []:
        ips.extend(_strs(_get(cfg, "ipAddresses")))
    for cfg in p.get("ipConfigurations") or []:
        ip = _get(cfg, "properties.privateIPAddress")
        if isinstance(ip, str):
            ips.append(ip)
    return ips


# --------------------------------------------------------------------------- assembly


def network_from_arm(resources: Iterable[Mapping[str, Any]], *, default_outbound_access: bool = False) -> Network:
    """Build the model from ARM REST JSON resources (see the module docstring).

    ``default_outbound_access``: what a subnet without ``properties.defaultOutboundAccess``
    gets. ``False`` (default) matches network api-version 2025-07-01 and later, where
    subnets are private unless they say otherwise; pass ``True`` for a network whose subnets
    were created with older api-versions (implicit outbound access, a bypass of the firewall
    wherever no route sends 0.0.0.0/0 elsewhere)."""
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for res in resources:
        if isinstance(res, Mapping):
            by_type.setdefault(_type(res), []).append(res)

    def of(t: str) -> list[Mapping[str, Any]]:
        return by_type.get(_NS + t.lower(), [])

    net = Network(default_outbound_access=default_outbound_access)

    # VNets, subnets, peerings
    sep_subnets: dict[str, Mapping[str, Any]] = {key(str(s.get("id", ""))): s for s in of("virtualNetworks/subnets")}
    sep_peerings: dict[str, list[Mapping[str, Any]]] = {}
    for p in of("virtualNetworks/virtualNetworkPeerings"):
        sep_peerings.setdefault(key(_parent(str(p.get("id", "")))), []).append(p)
    for res in of("virtualNetworks"):
        rid = str(res.get("id", ""))
        p = _props(res)
        peerings: dict[str, Peering] = {}
        for raw in p.get("virtualNetworkPeerings") or []:
            if isinstance(raw, Mapping):
                peerings[key(str(raw.get("id", _name(raw))))] = _peering(raw)
        for raw in sep_peerings.get(key(rid), []):
            peerings[key(str(raw.get("id", _name(raw))))] = _peering(raw)
        net.vnets[key(rid)] = Vnet(
            id=rid,
            name=_name(res),
            prefixes=_strs(_get(p, "addressSpace.addressPrefixes")),
            dns_servers=_strs(_get(p, "dhcpOptions.dnsServers")),
            peerings=tuple(peerings.values()),
            location=res.get("location") if isinstance(res.get("location"), str) else None,
        )
        for raw in p.get("subnets") or []:
            if isinstance(raw, Mapping) and raw.get("id"):
                sid = key(str(raw["id"]))
                net.subnets[sid] = _subnet(sep_subnets.pop(sid, raw), rid)
    for sid, raw in sep_subnets.items():
        net.subnets[sid] = _subnet(raw, _parent(str(raw.get("id", ""))))

    # route tables
    sep_routes: dict[str, list[Mapping[str, Any]]] = {}
    for r in of("routeTables/routes"):
        sep_routes.setdefault(key(_parent(str(r.get("id", "")))), []).append(r)
    for res in of("routeTables"):
        rid = str(res.get("id", ""))
        p = _props(res)
        routes = {key(str(r.get("id", _name(r)))): _route(r) for r in p.get("routes") or [] if isinstance(r, Mapping)}
        for r in sep_routes.pop(key(rid), []):
            routes[key(str(r.get("id", _name(r))))] = _route(r)
        net.route_tables[key(rid)] = RouteTable(
            rid, _name(res), tuple(routes.values()), bool(_bool(p.get("disableBgpRoutePropagation"), False))
        )

    # NSGs
    sep_rules: dict[str, list[Mapping[str, Any]]] = {}
    for r in of("networkSecurityGroups/securityRules"):
        sep_rules.setdefault(key(_parent(str(r.get("id", "")))), []).append(r)
    for res in of("networkSecurityGroups"):
        rid = str(res.get("id", ""))
        p = _props(res)
        rules = {
            key(str(r.get("id", _name(r)))): _nsg_rule(r)
            for r in p.get("securityRules") or []
            if isinstance(r, Mapping)
        }
        for r in sep_rules.pop(key(rid), []):
            rules[key(str(r.get("id", _name(r))))] = _nsg_rule(r)
        net.nsgs[key(rid)] = SecurityGroup(rid, _name(res), tuple(rules.values()))

    # IP groups and public IPs
    for res in of("ipGroups"):
        net.ip_groups[key(str(res.get("id", "")))] = _strs(_props(res).get("ipAddresses"))
    public_ips = {
        key(str(res.get("id", ""))): str(_props(res).get("ipAddress"))
        for res in of("publicIPAddresses")
        if _props(res).get("ipAddress")
    }

    # firewalls
    for res in of("azureFirewalls"):
        rid = str(res.get("id", ""))
        p = _props(res)
        configs = [c for c in p.get("ipConfigurations") or [] if isinstance(c, Mapping)]
        private_ip = _get(configs, "0.properties.privateIPAddress") or _get(p, "hubIPAddresses.privateIPAddress")
        subnet_id = next((_get(c, "properties.subnet.id") for c in configs if _get(c, "properties.subnet.id")), None)
        pips = []
        for c in configs:
            pip_id = _get(c, "properties.publicIPAddress.id")
            if isinstance(pip_id, str) and key(pip_id) in public_ips:
                pips.append(public_ips[key(pip_id)])
        pips += [
            str(_get(a, "address")) for a in _get(p, "hubIPAddresses.publicIPs.addresses", []) if _get(a, "address")
        ]
        net.firewalls[key(rid)] = Firewall(
            id=rid,
            name=_name(res),
            private_ip=private_ip if isinstance(private_ip, str) else None,
            policy_id=_id_of(p.get("firewallPolicy")),
            subnet_id=subnet_id if isinstance(subnet_id, str) else None,
            public_ips=tuple(pips),
        )

    # policies and their rule collection groups
    groups: dict[str, list[RuleCollectionGroup]] = {}
    for res in of("firewallPolicies/ruleCollectionGroups"):
        groups.setdefault(key(_parent(str(res.get("id", "")))), []).append(_rcg(res))
    for res in of("firewallPolicies"):
        rid = str(res.get("id", ""))
        p = _props(res)
        net.policies[key(rid)] = Policy(
            id=rid,
            name=_name(res),
            base_policy_id=_id_of(p.get("basePolicy")),
            dns_proxy=bool(_bool(_get(p, "dnsSettings.enableProxy"), False)),
            dns_servers=_strs(_get(p, "dnsSettings.servers")),
            groups=tuple(groups.pop(key(rid), [])),
        )
    for pid, orphan_groups in groups.items():  # groups passed without their policy
        net.policies[pid] = Policy(id=pid, name=pid.rsplit("/", 1)[-1], groups=tuple(orphan_groups))

    # private endpoints (IPs from the endpoint, its NICs or its ipConfigurations)
    nic_ips: dict[str, list[str]] = {}
    for res in of("networkInterfaces"):
        pe_id = _get(_props(res), "privateEndpoint.id")
        if isinstance(pe_id, str):
            nic_ips.setdefault(key(pe_id), []).extend(_ip_list(_props(res)))
    for res in of("privateEndpoints"):
        rid = str(res.get("id", ""))
        p = _props(res)
        pe_ips = _ip_list(p) + nic_ips.get(key(rid), [])
        conns = [*(p.get("privateLinkServiceConnections") or []), *(p.get("manualPrivateLinkServiceConnections") or [])]
        target = next(
            (_get(c, "properties.privateLinkServiceId") for c in conns if _get(c, "properties.privateLinkServiceId")),
            None,
        )
        group_ids: list[str] = []
        for c in conns:
            group_ids.extend(_strs(_get(c, "properties.groupIds")))
        net.private_endpoints[key(rid)] = PrivateEndpoint(
            id=rid,
            name=_name(res),
            subnet_id=_get(p, "subnet.id"),
            ips=tuple(dict.fromkeys(pe_ips)),
            target_id=target if isinstance(target, str) else None,
            group_ids=tuple(group_ids),
            location=res.get("location") if isinstance(res.get("location"), str) else None,
        )

    # private DNS zones, links, A records (read, then derived from zone groups)
    links: dict[str, dict[str, str]] = {}
    for res in by_type.get("microsoft.network/privatednszones/virtualnetworklinks", []):
        vnet_id = _get(_props(res), "virtualNetwork.id")
        if isinstance(vnet_id, str):
            policy = str(_props(res).get("resolutionPolicy") or "Default")
            links.setdefault(key(_parent(str(res.get("id", "")))), {})[vnet_id] = policy
    records: dict[str, dict[str, tuple[str, ...]]] = {}
    for res in by_type.get("microsoft.network/privatednszones/a", []):
        ips = tuple(str(_get(r, "ipv4Address")) for r in _props(res).get("aRecords") or [] if _get(r, "ipv4Address"))
        records.setdefault(key(_parent(str(res.get("id", "")))), {})[_name(res).lower()] = ips
    derived: dict[str, dict[str, tuple[str, ...]]] = {}
    for res in of("privateEndpoints/privateDnsZoneGroups"):
        pe = net.private_endpoints.get(key(_parent(str(res.get("id", "")))))
        for cfg in _props(res).get("privateDnsZoneConfigs") or []:
            zone_id = _get(cfg, "properties.privateDnsZoneId") or _get(cfg, "privateDnsZoneId")
            if not isinstance(zone_id, str):
                continue
            zone_records = derived.setdefault(key(zone_id), {})
            record_sets = _get(cfg, "properties.recordSets") or []
            if record_sets:
                for rs in record_sets:
                    name = _get(rs, "recordSetName")
                    if isinstance(name, str):
                        zone_records[name.lower()] = _strs(_get(rs, "ipAddresses")) or (pe.ips if pe else ())
            elif pe is not None and pe.ips:
                zone_name = zone_id.rstrip("/").rsplit("/", 1)[-1]
                for name in record_names_for_endpoint(pe, zone_name):
                    zone_records.setdefault(name.lower(), pe.ips)
    for res in by_type.get("microsoft.network/privatednszones", []):
        rid = str(res.get("id", ""))
        zone_records = dict(derived.get(key(rid), {}))
        zone_records.update(records.get(key(rid), {}))
        net.zones[key(rid)] = DnsZone(rid, _name(res).lower(), zone_records, links.get(key(rid), {}))
    return net
