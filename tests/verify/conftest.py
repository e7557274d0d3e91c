"""A small hand-written hub-spoke deployment as ARM REST JSON (the shape ARM and the
simulator return), for the evaluator's end-to-end tests.

Hub 10.0.0.0/16: AzureFirewallSubnet (firewall 10.0.0.4, public IP 20.1.2.3), AzureBastionSubnet.
Spoke 10.1.0.0/16, DNS servers = the firewall (DNS proxy on): snet-nodes 10.1.0.0/22,
snet-jumpbox 10.1.9.0/24 (NSG), snet-pe 10.1.10.0/24 (ACR private endpoint 10.1.10.4), all
routed 0.0.0.0/0 -> 10.0.0.4; snet-apiserver 10.1.11.0/28 delegated to AKS.
Policy groups as steps/firewall.py writes them (aks-egress, registries) plus a jump box group
and a DNAT group; privatelink.azurecr.io linked to hub and spoke, its A records come from the
private endpoint's DNS zone group (as on the simulator, which writes no record sets).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-hs"
NET = f"{SUB}/providers/Microsoft.Network"
HUB = f"{NET}/virtualNetworks/vnet-hub"
SPOKE = f"{NET}/virtualNetworks/vnet-spoke"
RT = f"{NET}/routeTables/rt-spoke"
NSG_JB = f"{NET}/networkSecurityGroups/nsg-jumpbox"
FW = f"{NET}/azureFirewalls/afw-hs"
PIP = f"{NET}/publicIPAddresses/pip-fw-hs-01"
POLICY = f"{NET}/firewallPolicies/afwp-hs"
ZONE = f"{NET}/privateDnsZones/privatelink.azurecr.io"
PE = f"{NET}/privateEndpoints/pe-acr"
ACR = f"{SUB}/providers/Microsoft.ContainerRegistry/registries/acrhs"
NODES = f"{SPOKE}/subnets/snet-nodes"
JUMPBOX = f"{SPOKE}/subnets/snet-jumpbox"
PE_SUBNET = f"{SPOKE}/subnets/snet-pe"
APISERVER = f"{SPOKE}/subnets/snet-apiserver"
FW_SUBNET = f"{HUB}/subnets/AzureFirewallSubnet"
REGION = "westeurope"


def _subnet(vnet: str, name: str, prefix: str, **props: Any) -> dict[str, Any]:
    return {
        "id": f"{vnet}/subnets/{name}",
        "name": name,
        "type": "Microsoft.Network/virtualNetworks/subnets",
        "properties": {"addressPrefix": prefix, "defaultOutboundAccess": False, **props},
    }


def _peering(vnet: str, name: str, remote: str, prefixes: list[str]) -> dict[str, Any]:
    return {
        "id": f"{vnet}/virtualNetworkPeerings/{name}",
        "name": name,
        "properties": {
            "remoteVirtualNetwork": {"id": remote},
            "allowForwardedTraffic": True,
            "peeringState": "Connected",
            "remoteAddressSpace": {"addressPrefixes": prefixes},
        },
    }


def _rcg(name: str, priority: int, collections: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"{POLICY}/ruleCollectionGroups/{name}",
        "name": name,
        "type": "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
        "properties": {"priority": priority, "ruleCollections": collections},
    }


def _filter(name: str, priority: int, rules: list[dict[str, Any]], action: str = "Allow") -> dict[str, Any]:
    return {
        "ruleCollectionType": "FirewallPolicyFilterRuleCollection",
        "name": name,
        "priority": priority,
        "action": {"type": action},
        "rules": rules,
    }


def hub_spoke() -> list[dict[str, Any]]:
    rt_ref = {"id": RT}
    return [
        {
            "id": HUB,
            "name": "vnet-hub",
            "type": "Microsoft.Network/virtualNetworks",
            "location": REGION,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [
                    _subnet(HUB, "AzureFirewallSubnet", "10.0.0.0/26"),
                    _subnet(HUB, "AzureBastionSubnet", "10.0.1.0/26"),
                ],
                "virtualNetworkPeerings": [_peering(HUB, "hub-to-spoke", SPOKE, ["10.1.0.0/16"])],
            },
        },
        {
            "id": SPOKE,
            "name": "vnet-spoke",
            "type": "Microsoft.Network/virtualNetworks",
            "location": REGION,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
                "dhcpOptions": {"dnsServers": ["10.0.0.4"]},
                "subnets": [
                    _subnet(SPOKE, "snet-nodes", "10.1.0.0/22", routeTable=rt_ref),
                    _subnet(
                        SPOKE, "snet-jumpbox", "10.1.9.0/24", routeTable=rt_ref, networkSecurityGroup={"id": NSG_JB}
                    ),
                    _subnet(SPOKE, "snet-pe", "10.1.10.0/24", routeTable=rt_ref),
                    _subnet(
                        SPOKE,
                        "snet-apiserver",
                        "10.1.11.0/28",
                        delegations=[
                            {"name": "aks", "properties": {"serviceName": "Microsoft.ContainerService/managedClusters"}}
                        ],
                    ),
                ],
                "virtualNetworkPeerings": [_peering(SPOKE, "spoke-to-hub", HUB, ["10.0.0.0/16"])],
            },
        },
        {
            "id": RT,
            "name": "rt-spoke",
            "type": "Microsoft.Network/routeTables",
            "properties": {
                "disableBgpRoutePropagation": True,
                "routes": [
                    {
                        "name": "default-via-firewall",
                        "properties": {
                            "addressPrefix": "0.0.0.0/0",
                            "nextHopType": "VirtualAppliance",
                            "nextHopIpAddress": "10.0.0.4",
                        },
                    },
                    {
                        "name": "internet-fw-pip-1",
                        "properties": {"addressPrefix": "20.1.2.3/32", "nextHopType": "Internet"},
                    },
                ],
            },
        },
        {
            "id": NSG_JB,
            "name": "nsg-jumpbox",
            "type": "Microsoft.Network/networkSecurityGroups",
            "properties": {
                "securityRules": [
                    {
                        "name": "allow-ssh-from-bastion",
                        "properties": {
                            "priority": 100,
                            "direction": "Inbound",
                            "access": "Allow",
                            "protocol": "Tcp",
                            "sourceAddressPrefix": "10.0.1.0/26",
                            "sourcePortRange": "*",
                            "destinationAddressPrefix": "*",
                            "destinationPortRange": "22",
                        },
                    }
                ]
            },
        },
        {
            "id": PIP,
            "name": "pip-fw-hs-01",
            "type": "Microsoft.Network/publicIPAddresses",
            "properties": {"ipAddress": "20.1.2.3"},
        },
        {
            "id": FW,
            "name": "afw-hs",
            "type": "Microsoft.Network/azureFirewalls",
            "properties": {
                "ipConfigurations": [
                    {
                        "name": "ipconfig-01",
                        "properties": {
                            "privateIPAddress": "10.0.0.4",
                            "subnet": {"id": FW_SUBNET},
                            "publicIPAddress": {"id": PIP},
                        },
                    }
                ],
                "firewallPolicy": {"id": POLICY},
            },
        },
        {
            "id": POLICY,
            "name": "afwp-hs",
            "type": "Microsoft.Network/firewallPolicies",
            "properties": {"sku": {"tier": "Premium"}, "dnsSettings": {"enableProxy": True}},
        },
        _rcg(
            "aks-egress",
            200,
            [
                _filter(
                    "aks-network",
                    100,
                    [
                        {
                            "ruleType": "NetworkRule",
                            "name": "ntp",
                            "ipProtocols": ["UDP"],
                            "sourceAddresses": ["10.1.0.0/22"],
                            "destinationFqdns": ["ntp.ubuntu.com"],
                            "destinationPorts": ["123"],
                        }
                    ],
                ),
                _filter(
                    "aks-application",
                    200,
                    [
                        {
                            "ruleType": "ApplicationRule",
                            "name": "aks-fqdn-tag",
                            "sourceAddresses": ["10.1.0.0/22"],
                            "fqdnTags": ["AzureKubernetesService"],
                            "protocols": [{"protocolType": "Http", "port": 80}, {"protocolType": "Https", "port": 443}],
                        }
                    ],
                ),
            ],
        ),
        _rcg(
            "registries",
            300,
            [
                _filter(
                    "registries",
                    100,
                    [
                        {
                            "ruleType": "ApplicationRule",
                            "name": "container-registries",
                            "sourceAddresses": ["10.1.0.0/22"],
                            "targetFqdns": ["acrhs.azurecr.io", "acrhs.westeurope.data.azurecr.io"],
                            "protocols": [{"protocolType": "Https", "port": 443}],
                        }
                    ],
                )
            ],
        ),
        _rcg(
            "jumpbox-egress",
            500,
            [
                _filter(
                    "jumpbox",
                    100,
                    [
                        {
                            "ruleType": "ApplicationRule",
                            "name": "entra-id",
                            "sourceAddresses": ["10.1.9.0/24"],
                            "targetFqdns": ["login.microsoftonline.com", "management.azure.com"],
                            "protocols": [{"protocolType": "Https", "port": 443}],
                        }
                    ],
                )
            ],
        ),
        _rcg(
            "dnat",
            100,
            [
                {
                    "ruleCollectionType": "FirewallPolicyNatRuleCollection",
                    "name": "dnat",
                    "priority": 100,
                    "action": {"type": "DNAT"},
                    "rules": [
                        {
                            "ruleType": "NatRule",
                            "name": "web",
                            "ipProtocols": ["TCP"],
                            "sourceAddresses": ["*"],
                            "destinationAddresses": ["20.1.2.3"],
                            "destinationPorts": ["443"],
                            "translatedAddress": "10.1.9.10",
                            "translatedPort": "8443",
                        }
                    ],
                }
            ],
        ),
        {
            "id": ZONE,
            "name": "privatelink.azurecr.io",
            "type": "Microsoft.Network/privateDnsZones",
            "location": "global",
            "properties": {},
        },
        {
            "id": f"{ZONE}/virtualNetworkLinks/link-hub",
            "name": "link-hub",
            "type": "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
            "properties": {"virtualNetwork": {"id": HUB}, "registrationEnabled": False},
        },
        {
            "id": f"{ZONE}/virtualNetworkLinks/link-spoke",
            "name": "link-spoke",
            "type": "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
            "properties": {"virtualNetwork": {"id": SPOKE}, "registrationEnabled": False},
        },
        {
            "id": PE,
            "name": "pe-acr",
            "type": "Microsoft.Network/privateEndpoints",
            "location": REGION,
            "properties": {
                "subnet": {"id": PE_SUBNET},
                "privateLinkServiceConnections": [
                    {"name": "acr", "properties": {"privateLinkServiceId": ACR, "groupIds": ["registry"]}}
                ],
                "customDnsConfigs": [{"fqdn": "pe-acr.privatelink.local", "ipAddresses": ["10.1.10.4"]}],
            },
        },
        {
            "id": f"{PE}/privateDnsZoneGroups/default",
            "name": "default",
            "type": "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
            "properties": {"privateDnsZoneConfigs": [{"name": "acr", "properties": {"privateDnsZoneId": ZONE}}]},
        },
    ]


def find(resources: list[dict[str, Any]], rid: str) -> dict[str, Any]:
    """The resource (or inline subnet) with id ``rid`` (case-insensitive), to mutate in tests."""
    for res in resources:
        if res.get("id", "").lower() == rid.lower():
            return res
        for sub in res.get("properties", {}).get("subnets", []):
            if sub.get("id", "").lower() == rid.lower():
                return sub  # type: ignore[no-any-return]
    raise KeyError(rid)


@pytest.fixture
def arm() -> list[dict[str, Any]]:
    """A fresh deep copy of the hub-spoke ARM JSON, free to mutate."""
    return copy.deepcopy(hub_spoke())


@pytest.fixture
def arm_find() -> Callable[[list[dict[str, Any]], str], dict[str, Any]]:
    return find
