"""ARM REST JSON -> model: inline and separate child resources, liberal parsing."""

from __future__ import annotations

from typing import Any

from hubspoke_deploy.verify import network_from_arm
from hubspoke_deploy.verify.model import key

Arm = list[dict[str, Any]]
NET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network"


def test_fixture_builds(arm: Arm) -> None:
    net = network_from_arm(arm)
    assert {v.name for v in net.vnets.values()} == {"vnet-hub", "vnet-spoke"}
    assert len(net.subnets) == 6
    fw = next(iter(net.firewalls.values()))
    assert (fw.private_ip, fw.public_ips) == ("10.0.0.4", ("20.1.2.3",))
    assert fw.subnet_id is not None and fw.subnet_id.endswith("AzureFirewallSubnet")
    policy = net.policy(fw.policy_id)
    assert policy is not None and policy.dns_proxy
    assert sorted(g.name for g in policy.groups) == ["aks-egress", "dnat", "jumpbox-egress", "registries"]
    spoke = next(v for v in net.vnets.values() if v.name == "vnet-spoke")
    assert spoke.dns_servers == ("10.0.0.4",)
    assert [(p.state, p.remote_prefixes) for p in spoke.peerings] == [("Connected", ("10.0.0.0/16",))]
    zone = next(iter(net.zones.values()))
    assert dict(zone.a_records) == {"acrhs": ("10.1.10.4",), "acrhs.westeurope.data": ("10.1.10.4",)}
    assert len(zone.linked_vnet_ids) == 2
    api = net.subnet_by_name("snet-apiserver")
    assert api is not None and api.delegations == ("Microsoft.ContainerService/managedClusters",)


def test_separate_child_resources_and_types_from_ids() -> None:
    vnet = f"{NET}/virtualNetworks/v"
    rt = f"{NET}/routeTables/rt"
    nsg = f"{NET}/networkSecurityGroups/nsg"
    policy = f"{NET}/firewallPolicies/p"
    resources: Arm = [
        {
            "id": vnet,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.5.0.0/16"]},
                "subnets": [{"id": f"{vnet}/subnets/a", "properties": {"addressPrefix": "10.5.1.0/24"}}],
            },
        },
        # a separate subnet resource replaces the inline one
        {
            "id": f"{vnet}/subnets/a",
            "properties": {
                "addressPrefixes": ["10.5.1.0/24", "10.5.2.0/24"],
                "routeTable": {"id": rt.upper()},
                "networkSecurityGroup": {"id": nsg},
            },
        },
        {"id": f"{vnet}/subnets/b", "properties": {"addressPrefix": "10.5.3.0/24"}},
        {
            "id": f"{vnet}/virtualNetworkPeerings/p1",
            "properties": {"remoteVirtualNetwork": {"id": "/x"}, "peeringState": "Initiated"},
        },
        {"id": rt, "properties": {}},
        {
            "id": f"{rt}/routes/r1",
            "properties": {
                "addressPrefix": "0.0.0.0/0",
                "nextHopType": "VirtualAppliance",
                "nextHopIpAddress": "10.0.0.4",
            },
        },
        {"id": nsg},
        {
            "id": f"{nsg}/securityRules/deny",
            "properties": {
                "priority": 100,
                "direction": "Outbound",
                "access": "Deny",
                "protocol": "Tcp",
                "destinationPortRanges": ["22", "3389"],
                "sourceAddressPrefixes": ["10.0.0.0/8"],
            },
        },
        {
            "id": f"{policy}/ruleCollectionGroups/g",
            "properties": {
                "priority": 100,
                "ruleCollections": [
                    {
                        "ruleCollectionType": "FirewallPolicyFilterRuleCollection",
                        "name": "c",
                        "priority": 100,
                        "action": {"type": "Deny"},
                        "rules": [
                            {
                                "ruleType": "ApplicationRule",
                                "name": "r",
                                "protocols": [{"protocolType": "Https", "port": 443}],
                                "targetFqdns": ["*.example.com"],
                            }
                        ],
                    }
                ],
            },
        },
        {"id": policy, "properties": {"basePolicy": {"id": f"{NET}/firewallPolicies/base"}}},
        {"id": f"{NET}/ipGroups/ipg", "properties": {"ipAddresses": ["10.5.0.0/16"]}},
        {"type": "Microsoft.Unknown/things", "id": "/whatever"},
    ]
    net = network_from_arm(resources)
    a = net.subnet(f"{vnet}/subnets/A")
    assert a is not None and a.prefixes == ("10.5.1.0/24", "10.5.2.0/24")
    table = net.route_table(a)
    assert table is not None and [(r.name, r.next_hop_ip) for r in table.routes] == [("r1", "10.0.0.4")]
    group = net.nsg(a)
    assert group is not None
    assert [(r.name, r.destination_ports, r.source_prefixes) for r in group.rules] == [
        ("deny", ("22", "3389"), ("10.0.0.0/8",))
    ]
    assert net.subnet(f"{vnet}/subnets/b") is not None
    assert net.vnets[key(vnet)].peerings[0].state == "Initiated"
    p = net.policy(policy)
    assert p is not None and p.base_policy_id is not None and p.base_policy_id.endswith("/base")
    assert not p.dns_proxy
    (g,) = p.groups
    assert g.collections[0].action == "Deny" and g.collections[0].rules[0].protocols == (("Https", 443),)
    assert net.ip_groups[key(f"{NET}/ipGroups/ipg")] == ("10.5.0.0/16",)


def test_missing_optional_fields_are_fine() -> None:
    net = network_from_arm(
        [
            {"id": f"{NET}/virtualNetworks/v", "type": "Microsoft.Network/virtualNetworks"},
            {"id": f"{NET}/azureFirewalls/f", "type": "Microsoft.Network/azureFirewalls"},
            {"id": f"{NET}/privateEndpoints/pe", "type": "Microsoft.Network/privateEndpoints"},
            {"id": f"{NET}/privateDnsZones/z", "type": "Microsoft.Network/privateDnsZones"},
        ]
    )
    assert net.vnets[key(f"{NET}/virtualNetworks/v")].prefixes == ()
    fw = net.firewalls[key(f"{NET}/azureFirewalls/f")]
    assert fw.private_ip is None and fw.policy_id is None


def test_default_outbound_access_parameter() -> None:
    vnet = f"{NET}/virtualNetworks/v"
    res = [
        {
            "id": vnet,
            "properties": {
                "subnets": [
                    {"id": f"{vnet}/subnets/old", "properties": {"addressPrefix": "10.0.0.0/24"}},
                    {
                        "id": f"{vnet}/subnets/off",
                        "properties": {"addressPrefix": "10.0.1.0/24", "defaultOutboundAccess": False},
                    },
                ]
            },
        }
    ]
    for default in (True, False):
        net = network_from_arm(res, default_outbound_access=default)
        old, off = net.subnet(f"{vnet}/subnets/old"), net.subnet(f"{vnet}/subnets/off")
        assert old is not None and off is not None
        assert old.default_outbound_access is None
        assert net.has_outbound_access(old) is default
        assert net.has_outbound_access(off) is False


def test_zone_group_record_sets_reported_by_arm_are_used() -> None:
    zone = f"{NET}/privateDnsZones/privatelink.vaultcore.azure.net"
    pe = f"{NET}/privateEndpoints/pe-kv"
    net = network_from_arm(
        [
            {"id": zone, "type": "Microsoft.Network/privateDnsZones", "name": "privatelink.vaultcore.azure.net"},
            {"id": pe, "properties": {"ipConfigurations": [{"properties": {"privateIPAddress": "10.1.10.7"}}]}},
            {
                "id": f"{pe}/privateDnsZoneGroups/default",
                "properties": {
                    "privateDnsZoneConfigs": [
                        {
                            "properties": {
                                "privateDnsZoneId": zone,
                                "recordSets": [{"recordSetName": "kv-hs", "ipAddresses": ["10.1.10.7"]}],
                            }
                        }
                    ]
                },
            },
        ]
    )
    assert dict(net.zones[key(zone)].a_records) == {"kv-hs": ("10.1.10.7",)}


def test_private_endpoint_ips_from_its_nic() -> None:
    pe = f"{NET}/privateEndpoints/pe"
    net = network_from_arm(
        [
            {"id": pe, "properties": {"networkInterfaces": [{"id": f"{NET}/networkInterfaces/pe.nic.1"}]}},
            {
                "id": f"{NET}/networkInterfaces/pe.nic.1",
                "properties": {
                    "privateEndpoint": {"id": pe},
                    "ipConfigurations": [{"properties": {"privateIPAddress": "10.1.10.5"}}],
                },
            },
        ]
    )
    assert net.private_endpoints[key(pe)].ips == ("10.1.10.5",)
