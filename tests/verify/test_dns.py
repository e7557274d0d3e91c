"""Name resolution: DNS proxy (hub links) vs Azure DNS (own links), custom servers,
NXDOMAIN, NxDomainRedirect, the privatelink alias table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hubspoke_deploy.verify.build import network_from_arm
from hubspoke_deploy.verify.dns import privatelink_alias, resolve
from hubspoke_deploy.verify.model import Network, Vnet

Arm = list[dict[str, Any]]
Find = Callable[[Arm, str], dict[str, Any]]


def _res(arm: Arm, suffix: str) -> dict[str, Any]:
    return next(r for r in arm if r["id"].endswith(suffix))


def _spoke(net: Network) -> Vnet:
    return next(v for v in net.vnets.values() if v.name == "vnet-spoke")


def _drop(arm: Arm, suffix: str) -> None:
    arm[:] = [r for r in arm if not r["id"].endswith(suffix)]


ALIASES = [
    ("myacr.azurecr.io", ("myacr.privatelink.azurecr.io", "privatelink.azurecr.io")),
    ("myacr.westeurope.data.azurecr.io", ("myacr.westeurope.data.privatelink.azurecr.io", "privatelink.azurecr.io")),
    ("kv1.vault.azure.net", ("kv1.privatelink.vaultcore.azure.net", "privatelink.vaultcore.azure.net")),
    ("st1.blob.core.windows.net", ("st1.privatelink.blob.core.windows.net", "privatelink.blob.core.windows.net")),
    (
        "aks-1.abcd.westeurope.azmk8s.io",
        ("aks-1.abcd.privatelink.westeurope.azmk8s.io", "privatelink.westeurope.azmk8s.io"),
    ),
    ("aks-1.hcp.westeurope.azmk8s.io", None),  # public API server of a public cluster
    ("aks-1.privatelink.westeurope.azmk8s.io", None),  # already private
    ("myacr.privatelink.azurecr.io", None),
    ("login.microsoftonline.com", None),
]


@pytest.mark.parametrize(("fqdn", "expected"), ALIASES)
def test_privatelink_alias(fqdn: str, expected: tuple[str, str] | None) -> None:
    assert privatelink_alias(fqdn) == expected


def test_via_dns_proxy_the_hub_links_answer(arm: Arm) -> None:
    _drop(arm, "virtualNetworkLinks/link-spoke")
    net = network_from_arm(arm)
    answer = resolve(net, "ACRHS.azurecr.io.", _spoke(net))
    assert (answer.status, answer.ip, answer.zone) == ("private", "10.1.10.4", "privatelink.azurecr.io")
    assert answer.queried == "acrhs.privatelink.azurecr.io"
    assert answer.resolver.via_firewall is not None and "vnet-hub" in answer.resolver.text


def test_with_azure_dns_the_vnets_own_links_answer(arm: Arm, arm_find: Find) -> None:
    arm_find(arm, _res(arm, "virtualNetworks/vnet-spoke")["id"])["properties"]["dhcpOptions"]["dnsServers"] = []
    _drop(arm, "virtualNetworkLinks/link-hub")
    net = network_from_arm(arm)
    answer = resolve(net, "acrhs.azurecr.io", _spoke(net))
    assert answer.status == "private" and "vnet-spoke" in answer.resolver.text
    _drop(arm, "virtualNetworkLinks/link-spoke")
    net = network_from_arm(arm)
    answer = resolve(net, "acrhs.azurecr.io", _spoke(net))
    assert answer.status == "public" and answer.unlinked_zone == "privatelink.azurecr.io"
    assert answer.note == "zone privatelink.azurecr.io has the record but is not linked to vnet-spoke"


def test_168_63_129_16_is_azure_dns(arm: Arm) -> None:
    _res(arm, "virtualNetworks/vnet-spoke")["properties"]["dhcpOptions"]["dnsServers"] = ["168.63.129.16"]
    net = network_from_arm(arm)
    assert resolve(net, "acrhs.azurecr.io", _spoke(net)).resolver.text.startswith("Azure DNS with vnet-spoke")


def test_linked_zone_without_the_record_is_nxdomain(arm: Arm) -> None:
    net = network_from_arm(arm)
    answer = resolve(net, "missing.azurecr.io", _spoke(net))
    assert (answer.status, answer.zone, answer.queried) == (
        "nxdomain",
        "privatelink.azurecr.io",
        "missing.privatelink.azurecr.io",
    )


def test_nxdomain_redirect_falls_back_to_public(arm: Arm) -> None:
    _res(arm, "virtualNetworkLinks/link-hub")["properties"]["resolutionPolicy"] = "NxDomainRedirect"
    net = network_from_arm(arm)
    assert resolve(net, "missing.azurecr.io", _spoke(net)).status == "public"


def test_custom_dns_server_is_treated_as_public_and_says_so(arm: Arm) -> None:
    _res(arm, "virtualNetworks/vnet-spoke")["properties"]["dhcpOptions"]["dnsServers"] = ["10.0.5.4"]
    net = network_from_arm(arm)
    answer = resolve(net, "acrhs.azurecr.io", _spoke(net))
    assert answer.status == "public" and "custom DNS server 10.0.5.4" in answer.describe()


def test_proxy_with_custom_upstream_is_unknown(arm: Arm) -> None:
    _res(arm, "firewallPolicies/afwp-hs")["properties"]["dnsSettings"]["servers"] = ["10.9.9.9"]
    net = network_from_arm(arm)
    answer = resolve(net, "acrhs.azurecr.io", _spoke(net))
    assert answer.status == "public" and "10.9.9.9" in answer.resolver.text


def test_firewall_as_dns_server_without_proxy_fails(arm: Arm) -> None:
    _res(arm, "firewallPolicies/afwp-hs")["properties"]["dnsSettings"]["enableProxy"] = False
    net = network_from_arm(arm)
    assert resolve(net, "acrhs.azurecr.io", _spoke(net)).status == "failed"


def test_explicit_a_record_and_apex(arm: Arm) -> None:
    zone = _res(arm, "privateDnsZones/privatelink.azurecr.io")["id"]
    arm += [
        {
            "id": f"{zone}/A/acrhs",
            "type": "Microsoft.Network/privateDnsZones/A",
            "name": "acrhs",
            "properties": {"aRecords": [{"ipv4Address": "10.1.10.99"}]},
        },
        {
            "id": f"{zone}/A/@",
            "type": "Microsoft.Network/privateDnsZones/A",
            "name": "@",
            "properties": {"aRecords": [{"ipv4Address": "10.1.10.1"}]},
        },
    ]
    net = network_from_arm(arm)
    assert resolve(net, "acrhs.azurecr.io", _spoke(net)).ip == "10.1.10.99"  # record sets win over derived
    assert resolve(net, "privatelink.azurecr.io", _spoke(net)).ip == "10.1.10.1"
    # the derived data endpoint record is still there
    assert resolve(net, "acrhs.westeurope.data.azurecr.io", _spoke(net)).ip == "10.1.10.4"


def test_most_specific_linked_zone_answers(arm: Arm) -> None:
    hub = _res(arm, "virtualNetworks/vnet-hub")["id"]
    base = _res(arm, "privateDnsZones/privatelink.azurecr.io")["id"].rsplit("/", 1)[0]
    for zone, ip in (("corp.example", "10.9.0.1"), ("app.corp.example", "10.9.0.2")):
        arm += [
            {"id": f"{base}/{zone}", "type": "Microsoft.Network/privateDnsZones", "name": zone},
            {"id": f"{base}/{zone}/virtualNetworkLinks/hub", "properties": {"virtualNetwork": {"id": hub}}},
            {"id": f"{base}/{zone}/A/www", "properties": {"aRecords": [{"ipv4Address": ip}]}},
        ]
    net = network_from_arm(arm)
    assert resolve(net, "www.app.corp.example", _spoke(net)).ip == "10.9.0.2"
    assert resolve(net, "www.corp.example", _spoke(net)).ip == "10.9.0.1"
