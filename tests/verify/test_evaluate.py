"""End-to-end evaluation on the hand-written hub-spoke ARM JSON of conftest.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hubspoke_deploy.verify import Flow, Verdict, evaluate, findings, network_from_arm

Arm = list[dict[str, Any]]
Find = Callable[[Arm, str], dict[str, Any]]

REGION = "westeurope"
SPOKE = "vnet-spoke"


def _one(arm: Arm, flow: Flow, **kw: Any) -> Verdict:
    return evaluate(network_from_arm(arm, **kw), [flow], region=REGION)[0]


def _id(arm: Arm, suffix: str) -> str:
    for res in arm:
        if res["id"].endswith(suffix):
            return str(res["id"])
        for sub in res.get("properties", {}).get("subnets", []):
            if sub["id"].endswith(suffix):
                return str(sub["id"])
    raise KeyError(suffix)


JUMPBOX_ENTRA = Flow("jumpbox-entra", "vnet-spoke/snet-jumpbox", "login.microsoftonline.com", 443, "https")
NODES_MCR = Flow("nodes-mcr", "vnet-spoke/snet-nodes", "mcr.microsoft.com", 443, "https")
NODES_ACR = Flow("nodes-acr", "vnet-spoke/snet-nodes", "acrhs.azurecr.io", 443, "https")


# --------------------------------------------------------------------------- positive


def test_jumpbox_reaches_entra_id_through_the_named_application_rule(arm: Arm) -> None:
    v = _one(arm, JUMPBOX_ENTRA)
    assert v.allowed, v.path
    assert v.rule == "jumpbox-egress/jumpbox/entra-id"
    assert v.crosses_firewall
    assert v.resolved == "public"
    kinds = [h.kind for h in v.hops]
    assert kinds == ["source", "dns", "route", "nsg-out", "firewall", "internet"]
    assert "DNS proxy" in v.hops[1].detail and "vnet-hub" in v.hops[1].detail
    assert "VirtualAppliance 10.0.0.4" in v.hops[2].detail


def test_nodes_reach_mcr_through_the_fqdn_tag_rule(arm: Arm) -> None:
    v = _one(arm, NODES_MCR)
    assert v.allowed, v.path
    assert v.rule == "aks-egress/aks-application/aks-fqdn-tag"


def test_nodes_reach_the_api_server_tunnel_fqdn_of_the_region_only(arm: Arm) -> None:
    net = network_from_arm(arm)
    here = Flow("hcp", "vnet-spoke/snet-nodes", "abc-1234.hcp.westeurope.azmk8s.io", 443, "https")
    there = Flow("hcp-other", "vnet-spoke/snet-nodes", "abc-1234.hcp.eastus.azmk8s.io", 443, "https")
    ok, ko = evaluate(net, [here, there], region=REGION)
    assert ok.allowed and ok.rule == "aks-egress/aks-application/aks-fqdn-tag"
    assert ko.status == "blocked" and ko.rule is None


@pytest.mark.parametrize("name", ["acrhs.azurecr.io", "acrhs.westeurope.data.azurecr.io"])
def test_acr_resolves_to_its_private_endpoint_and_does_not_cross_the_firewall(arm: Arm, name: str) -> None:
    v = _one(arm, Flow("acr", "vnet-spoke/snet-nodes", name, 443, "https"))
    assert v.allowed, v.path
    assert v.resolved == "10.1.10.4"
    assert not v.crosses_firewall
    assert "privatelink.azurecr.io" in v.hops[1].detail
    assert "VnetLocal" in v.hops[2].detail
    assert "does not cross the firewall" in v.path
    assert v.rule is None


def test_ntp_by_fqdn_network_rule_needs_the_dns_proxy(arm: Arm, arm_find: Find) -> None:
    ntp = Flow("ntp", "vnet-spoke/snet-nodes", "ntp.ubuntu.com", 123, "udp")
    assert _one(arm, ntp).rule == "aks-egress/aks-network/ntp"
    arm_find(arm, _id(arm, "firewallPolicies/afwp-hs"))["properties"]["dnsSettings"]["enableProxy"] = False
    arm_find(arm, _id(arm, "virtualNetworks/vnet-spoke"))["properties"]["dhcpOptions"]["dnsServers"] = []
    v = _one(arm, ntp)
    assert v.status == "blocked" and v.rule is None


def test_dnat_from_the_internet_reaches_the_jumpbox_through_the_firewall(arm: Arm) -> None:
    v = _one(arm, Flow("web-in", "203.0.113.9", "20.1.2.3", 443, "tcp"))
    # after DNAT the firewall SNATs to its private IP: the jump box NSG's AllowVnetInBound
    # (the hub is a peered VNet) admits it
    assert v.allowed, v.path
    assert v.rule == "dnat/dnat/web" and v.crosses_firewall
    assert any(h.kind == "firewall" and "translates to 10.1.9.10:8443" in h.detail for h in v.hops)
    assert any(h.kind == "nsg-in" and "AllowVnetInBound" in h.detail for h in v.hops)
    assert _one(arm, Flow("web-in-80", "203.0.113.9", "20.1.2.3", 80, "tcp")).status == "blocked"


# --------------------------------------------------------------------------- negative


def test_detached_route_table_drops_private_subnet_traffic_with_the_fix(arm: Arm, arm_find: Find) -> None:
    del arm_find(arm, _id(arm, "subnets/snet-jumpbox"))["properties"]["routeTable"]
    v = _one(arm, JUMPBOX_ENTRA)
    assert v.status == "dropped"
    assert "no outbound access" in v.reason
    assert v.fix == "associate a route table with 0.0.0.0/0 -> VirtualAppliance 10.0.0.4 to snet-jumpbox"


def test_detached_route_table_with_default_outbound_access_bypasses_the_firewall(arm: Arm, arm_find: Find) -> None:
    subnet = arm_find(arm, _id(arm, "subnets/snet-jumpbox"))
    del subnet["properties"]["routeTable"]
    del subnet["properties"]["defaultOutboundAccess"]  # an older api-version subnet
    v = _one(arm, JUMPBOX_ENTRA, default_outbound_access=True)
    assert v.status == "bypass" and not v.allowed
    assert "bypassing the firewall" in v.reason
    assert v.fix == "associate a route table with 0.0.0.0/0 -> VirtualAppliance 10.0.0.4 to snet-jumpbox"
    found = [f for f in findings(network_from_arm(arm, default_outbound_access=True)) if f.kind == "bypass"]
    assert [f.subject for f in found] == ["vnet-spoke/snet-jumpbox"]


def test_higher_priority_deny_collection_blocks_and_is_named(arm: Arm) -> None:
    policy = _id(arm, "firewallPolicies/afwp-hs")
    arm.append(
        {
            "id": f"{policy}/ruleCollectionGroups/lockdown",
            "name": "lockdown",
            "type": "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
            "properties": {
                "priority": 150,
                "ruleCollections": [
                    {
                        "ruleCollectionType": "FirewallPolicyFilterRuleCollection",
                        "name": "deny-web",
                        "priority": 100,
                        "action": {"type": "Deny"},
                        "rules": [
                            {
                                "ruleType": "ApplicationRule",
                                "name": "everything",
                                "sourceAddresses": ["*"],
                                "targetFqdns": ["*"],
                                "protocols": [{"protocolType": "Https", "port": 443}],
                            }
                        ],
                    }
                ],
            },
        }
    )
    v = _one(arm, JUMPBOX_ENTRA)
    assert v.status == "blocked"
    assert v.blocking_rule == "lockdown/deny-web/everything"
    assert v.fix is not None and "lockdown/deny-web" in v.fix
    # the private endpoint path is not affected
    assert _one(arm, NODES_ACR).allowed


def test_removed_fqdn_tag_rule_blocks_mcr_and_says_what_to_add(arm: Arm, arm_find: Find) -> None:
    group = arm_find(arm, _id(arm, "ruleCollectionGroups/aks-egress"))
    group["properties"]["ruleCollections"] = group["properties"]["ruleCollections"][:1]
    v = _one(arm, NODES_MCR)
    assert v.status == "blocked" and v.blocking_rule is None
    assert "denied by default" in v.reason
    assert v.fix == "an application rule allowing mcr.microsoft.com:443 (Https) from 10.1.0.0/22"


def test_zone_unlinked_from_the_hub_resolves_publicly(arm: Arm) -> None:
    arm[:] = [r for r in arm if not r["id"].endswith("virtualNetworkLinks/link-hub")]
    v = _one(arm, NODES_ACR)
    assert v.status == "unresolved" and v.resolved == "public"
    assert "not linked to vnet-hub" in v.reason
    # a name in the zone's namespace without a record is a foreign one: public is right
    assert _one(arm, Flow("x", "vnet-spoke/snet-nodes", "other.azurecr.io", 443, "https")).status == "blocked"
    assert v.fix == "link privatelink.azurecr.io to vnet-hub"


def test_spoke_dns_back_to_azure_uses_the_spoke_links(arm: Arm, arm_find: Find) -> None:
    arm_find(arm, _id(arm, "virtualNetworks/vnet-spoke"))["properties"]["dhcpOptions"]["dnsServers"] = []
    assert _one(arm, NODES_ACR).allowed
    arm[:] = [r for r in arm if not r["id"].endswith("virtualNetworkLinks/link-spoke")]
    v = _one(arm, NODES_ACR)
    assert v.status == "unresolved" and v.fix == "link privatelink.azurecr.io to vnet-spoke"


def test_unknown_registry_name_is_nxdomain(arm: Arm) -> None:
    v = _one(arm, Flow("other", "vnet-spoke/snet-nodes", "other.azurecr.io", 443, "https"))
    assert v.status == "unresolved" and v.resolved == "NXDOMAIN"
    assert v.fix == "add an A record for other.privatelink.azurecr.io to privatelink.azurecr.io " + (
        "(the private endpoint's DNS zone group)"
    )


def test_dns_proxy_off_while_spokes_use_the_firewall_fails_resolution(arm: Arm, arm_find: Find) -> None:
    arm_find(arm, _id(arm, "firewallPolicies/afwp-hs"))["properties"]["dnsSettings"]["enableProxy"] = False
    v = _one(arm, NODES_MCR)
    assert v.status == "unresolved"
    assert v.fix is not None and "DNS proxy" in v.fix


def test_nsg_outbound_deny_blocks_before_the_firewall(arm: Arm, arm_find: Find) -> None:
    nsg = arm_find(arm, _id(arm, "networkSecurityGroups/nsg-jumpbox"))
    nsg["properties"]["securityRules"].append(
        {
            "name": "deny-internet",
            "properties": {
                "priority": 4000,
                "direction": "Outbound",
                "access": "Deny",
                "protocol": "*",
                "sourceAddressPrefix": "*",
                "sourcePortRange": "*",
                "destinationAddressPrefix": "Internet",
                "destinationPortRange": "*",
            },
        }
    )
    v = _one(arm, JUMPBOX_ENTRA)
    assert v.status == "blocked" and v.blocking_rule == "nsg-jumpbox/deny-internet"
    assert v.fix is not None and "priority number below 4000" in v.fix


def test_evaluate_keeps_the_order_of_flows(arm: Arm) -> None:
    net = network_from_arm(arm)
    flows = [NODES_ACR, JUMPBOX_ENTRA, NODES_MCR]
    assert [v.flow.name for v in evaluate(net, flows, region=REGION)] == ["nodes-acr", "jumpbox-entra", "nodes-mcr"]


# --------------------------------------------------------------------------- findings


def test_findings_on_the_fixture_are_only_exemptions(arm: Arm) -> None:
    found = findings(network_from_arm(arm))
    assert {(f.kind, f.subject) for f in found} == {
        ("exempt", "vnet-hub/AzureFirewallSubnet"),
        ("exempt", "vnet-hub/AzureBastionSubnet"),
        ("exempt", "vnet-spoke/snet-apiserver"),
    }
    assert not any(f.problem for f in found)


def test_findings_catch_all_rules_and_wide_internet_udrs(arm: Arm, arm_find: Find) -> None:
    group = arm_find(arm, _id(arm, "ruleCollectionGroups/registries"))
    group["properties"]["ruleCollections"][0]["rules"] += [
        {
            "ruleType": "ApplicationRule",
            "name": "all-web",
            "sourceAddresses": ["10.1.0.0/22"],
            "targetFqdns": ["*"],
            "protocols": [{"protocolType": "Https", "port": 443}],
        },
        {
            "ruleType": "NetworkRule",
            "name": "any-any",
            "ipProtocols": ["Any"],
            "sourceAddresses": ["*"],
            "destinationAddresses": ["*"],
            "destinationPorts": ["*"],
        },
    ]
    rt = arm_find(arm, _id(arm, "routeTables/rt-spoke"))
    rt["properties"]["routes"].append(
        {"name": "azure-direct", "properties": {"addressPrefix": "20.0.0.0/8", "nextHopType": "Internet"}}
    )
    subnet = arm_find(arm, _id(arm, "subnets/snet-nodes"))
    subnet["properties"]["defaultOutboundAccess"] = True
    found = [f for f in findings(network_from_arm(arm)) if f.problem]
    assert {(f.kind, f.subject) for f in found} == {
        ("catch-all", "afwp-hs/registries/registries/all-web"),
        ("catch-all", "afwp-hs/registries/registries/any-any"),
        ("bypass", "vnet-spoke/snet-nodes"),
    }
    # the /32 route to the firewall's DNAT IP is not a finding
    assert not any("20.1.2.3/32" in f.detail for f in found)


def test_findings_report_subnets_without_egress(arm: Arm, arm_find: Find) -> None:
    del arm_find(arm, _id(arm, "subnets/snet-pe"))["properties"]["routeTable"]
    found = [f for f in findings(network_from_arm(arm)) if f.kind == "no-egress"]
    assert [f.subject for f in found] == ["vnet-spoke/snet-pe"]
    assert found[0].fix == "associate a route table with 0.0.0.0/0 -> VirtualAppliance 10.0.0.4 to snet-pe"


def test_aks_system_zone_linked_to_the_spoke_only_breaks_behind_the_dns_proxy(arm: Arm) -> None:
    """privateDNSZone = system: AKS links its zone to the cluster VNet only, the proxy resolves
    from the hub."""
    spoke, hub = _id(arm, "virtualNetworks/vnet-spoke"), _id(arm, "virtualNetworks/vnet-hub")
    zone = _id(arm, "privateDnsZones/privatelink.azurecr.io").replace(
        "privatelink.azurecr.io", "abcd1234.privatelink.westeurope.azmk8s.io"
    )
    arm += [
        {"id": zone, "type": "Microsoft.Network/privateDnsZones", "name": zone.rsplit("/", 1)[-1]},
        {"id": f"{zone}/virtualNetworkLinks/cluster", "properties": {"virtualNetwork": {"id": spoke}}},
        {"id": f"{zone}/A/aks-hs-x1", "properties": {"aRecords": [{"ipv4Address": "10.1.11.4"}]}},
    ]
    api = Flow("api", "vnet-spoke/snet-nodes", "aks-hs-x1.abcd1234.privatelink.westeurope.azmk8s.io", 443, "https")
    v = _one(arm, api)
    assert v.status == "unresolved"
    assert v.fix == "link abcd1234.privatelink.westeurope.azmk8s.io to vnet-hub"
    arm.append({"id": f"{zone}/virtualNetworkLinks/hub", "properties": {"virtualNetwork": {"id": hub}}})
    v = _one(arm, api)
    assert v.allowed and not v.crosses_firewall and v.resolved == "10.1.11.4"


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("mcr.microsoft.com:443", ("mcr.microsoft.com", 443, "https")),
        ("example.com:80", ("example.com", 80, "http")),
        ("10.1.10.4:5432", ("10.1.10.4", 5432, "tcp")),
        ("ntp.ubuntu.com:123/udp", ("ntp.ubuntu.com", 123, "udp")),
        ("acrhs.azurecr.io:443/TCP", ("acrhs.azurecr.io", 443, "tcp")),
    ],
)
def test_flow_parse(to: str, expected: tuple[str, int, str]) -> None:
    flow = Flow.parse("vnet-spoke/snet-jumpbox", to)
    assert (flow.destination, flow.port, flow.protocol) == expected


@pytest.mark.parametrize("to", ["mcr.microsoft.com", "mcr.microsoft.com:x", ":443", "a:443/icmp", "a:70000"])
def test_flow_parse_errors(to: str) -> None:
    with pytest.raises(ValueError, match="--to"):
        Flow.parse("snet-jumpbox", to)


def test_adhoc_flow_and_json(arm: Arm) -> None:
    v = _one(arm, Flow.parse("10.1.9.4", "login.microsoftonline.com:443"))
    assert v.allowed and v.rule == "jumpbox-egress/jumpbox/entra-id"  # a /32 inside the allowed /24
    data = json.loads(json.dumps(v.to_dict()))
    assert data["status"] == "allowed" and data["flow"]["port"] == 443 and data["hops"][0]["kind"] == "source"
    assert all(json.dumps(f.to_dict()) for f in findings(network_from_arm(arm)))
