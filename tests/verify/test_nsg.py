"""NSG evaluation: priorities, default rules, tags, port ranges and lists."""

from __future__ import annotations

from typing import Literal

import pytest
from hubspoke_deploy.verify.addresses import Endpoint
from hubspoke_deploy.verify.model import (
    Network,
    NsgRule,
    Peering,
    Protocol,
    Route,
    RouteTable,
    SecurityGroup,
    Subnet,
    Vnet,
)
from hubspoke_deploy.verify.nsg import DEFAULT_RULES, evaluate_nsg

SPOKE = "/vnets/spoke"
HUB = "/vnets/hub"


def rule(
    name: str,
    priority: int,
    direction: Literal["Inbound", "Outbound"],
    access: Literal["Allow", "Deny"],
    *,
    proto: str = "*",
    src: tuple[str, ...] = ("*",),
    dst: tuple[str, ...] = ("*",),
    ports: tuple[str, ...] = ("*",),
    sports: tuple[str, ...] = ("*",),
) -> NsgRule:
    return NsgRule(name, priority, direction, access, proto, src, sports, dst, ports)


def build(*rules: NsgRule, udr: bool = False) -> tuple[Network, Subnet]:
    n = Network()
    n.vnets[HUB] = Vnet(HUB, "hub", ("10.0.0.0/16",), peerings=(Peering("to-spoke", SPOKE),))
    n.vnets[SPOKE] = Vnet(SPOKE, "spoke", ("10.1.0.0/16",), peerings=(Peering("to-hub", HUB),))
    n.nsgs["/nsg"] = SecurityGroup("/nsg", "nsg-app", rules)
    if udr:
        n.route_tables["/rt"] = RouteTable(
            "/rt", "rt", (Route("default", "0.0.0.0/0", "VirtualAppliance", "10.0.0.4"),)
        )
    subnet = Subnet(
        f"{SPOKE}/subnets/app", "app", SPOKE, ("10.1.1.0/24",), route_table_id="/rt" if udr else None, nsg_id="/nsg"
    )
    n.subnets[subnet.id] = subnet
    return n, subnet


APP = Endpoint.of(["10.1.1.0/24"])
HUB_HOST = Endpoint.of(["10.0.0.10"])
PUBLIC = Endpoint.public()
OUTSIDE = Endpoint.of(["203.0.113.9"])
LB = Endpoint.of(["168.63.129.16"])

CASES = [
    # (id, rules, direction, source, destination, port, protocol, allowed, deciding rule, udr)
    (
        "default AllowVnetOutBound to a peered VNet",
        (),
        "Outbound",
        APP,
        HUB_HOST,
        443,
        "tcp",
        True,
        "AllowVnetOutBound",
        False,
    ),
    ("default AllowInternetOutBound", (), "Outbound", APP, PUBLIC, 443, "https", True, "AllowInternetOutBound", False),
    (
        "UDR 0/0 makes a public address VirtualNetwork",
        (),
        "Outbound",
        APP,
        PUBLIC,
        443,
        "https",
        True,
        "AllowVnetOutBound",
        True,
    ),
    (
        "default DenyAllInBound from the Internet",
        (),
        "Inbound",
        OUTSIDE,
        APP,
        22,
        "tcp",
        False,
        "DenyAllInBound",
        False,
    ),
    (
        "default AllowVnetInBound from the peered hub",
        (),
        "Inbound",
        HUB_HOST,
        APP,
        22,
        "tcp",
        True,
        "AllowVnetInBound",
        False,
    ),
    (
        "default AllowAzureLoadBalancerInBound",
        (),
        "Inbound",
        LB,
        APP,
        80,
        "tcp",
        True,
        "AllowAzureLoadBalancerInBound",
        False,
    ),
    (
        "lower priority number wins (Deny 100 over Allow 200)",
        (rule("allow", 200, "Outbound", "Allow"), rule("deny", 100, "Outbound", "Deny")),
        "Outbound",
        APP,
        PUBLIC,
        443,
        "https",
        False,
        "deny",
        False,
    ),
    (
        "custom Deny Internet (4000) before AllowVnetOutBound (65000) even with a 0/0 UDR",
        (rule("deny-internet", 4000, "Outbound", "Deny", dst=("Internet",)),),
        "Outbound",
        APP,
        PUBLIC,
        443,
        "https",
        False,
        "deny-internet",
        True,
    ),
    (
        "port range 80-443",
        (rule("web", 100, "Inbound", "Allow", ports=("80-443",)), rule("deny", 200, "Inbound", "Deny")),
        "Inbound",
        HUB_HOST,
        APP,
        443,
        "tcp",
        True,
        "web",
        False,
    ),
    (
        "outside the port range",
        (rule("web", 100, "Inbound", "Allow", ports=("80-443",)), rule("deny", 200, "Inbound", "Deny")),
        "Inbound",
        HUB_HOST,
        APP,
        8443,
        "tcp",
        False,
        "deny",
        False,
    ),
    (
        "destinationPortRanges list",
        (rule("multi", 100, "Inbound", "Deny", ports=("22", "3389")),),
        "Inbound",
        HUB_HOST,
        APP,
        3389,
        "tcp",
        False,
        "multi",
        False,
    ),
    (
        "sourceAddressPrefixes list",
        (rule("from-lists", 100, "Inbound", "Deny", src=("192.168.0.0/16", "10.0.0.0/24")),),
        "Inbound",
        HUB_HOST,
        APP,
        22,
        "tcp",
        False,
        "from-lists",
        False,
    ),
    (
        "source prefix must cover the whole source",
        (rule("half", 100, "Outbound", "Deny", src=("10.1.1.0/25",)),),
        "Outbound",
        APP,
        HUB_HOST,
        22,
        "tcp",
        True,
        "AllowVnetOutBound",
        False,
    ),
    (
        "Udp rule does not match a TCP flow",
        (rule("udp", 100, "Outbound", "Deny", proto="Udp"),),
        "Outbound",
        APP,
        HUB_HOST,
        53,
        "tcp",
        True,
        "AllowVnetOutBound",
        False,
    ),
    (
        "Tcp rule matches an https flow",
        (rule("tcp", 100, "Outbound", "Deny", proto="Tcp", ports=("443",)),),
        "Outbound",
        APP,
        PUBLIC,
        443,
        "https",
        False,
        "tcp",
        False,
    ),
    (
        "service tag destination from the flow's tags",
        (rule("no-storage", 100, "Outbound", "Deny", dst=("Storage",)),),
        "Outbound",
        APP,
        Endpoint.public(("Storage.westeurope",)),
        443,
        "https",
        False,
        "no-storage",
        False,
    ),
    (
        "fixed source port never matches an ephemeral client port",
        (rule("sport", 100, "Outbound", "Deny", sports=("53",)),),
        "Outbound",
        APP,
        HUB_HOST,
        53,
        "udp",
        True,
        "AllowVnetOutBound",
        False,
    ),
    (
        "inbound rules do not apply outbound",
        (rule("in", 100, "Inbound", "Deny"),),
        "Outbound",
        APP,
        HUB_HOST,
        22,
        "tcp",
        True,
        "AllowVnetOutBound",
        False,
    ),
]


@pytest.mark.parametrize(
    ("rules", "direction", "src", "dst", "port", "protocol", "allowed", "deciding", "udr"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_nsg(
    rules: tuple[NsgRule, ...],
    direction: Literal["Inbound", "Outbound"],
    src: Endpoint,
    dst: Endpoint,
    port: int,
    protocol: Protocol,
    allowed: bool,
    deciding: str,
    udr: bool,
) -> None:
    network, subnet = build(*rules, udr=udr)
    decision = evaluate_nsg(network, subnet, direction, src, dst, port, protocol)
    assert (decision.allowed, decision.rule.name if decision.rule else None) == (allowed, deciding), decision.text


def test_no_nsg_allows() -> None:
    network, subnet = build()
    bare = Subnet(subnet.id, subnet.name, subnet.vnet_id, subnet.prefixes)
    assert evaluate_nsg(network, bare, "Inbound", OUTSIDE, APP, 22, "tcp").allowed


def test_default_rules_table() -> None:
    assert [(r.name, r.priority, r.direction, r.access) for r in DEFAULT_RULES] == [
        ("AllowVnetInBound", 65000, "Inbound", "Allow"),
        ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow"),
        ("DenyAllInBound", 65500, "Inbound", "Deny"),
        ("AllowVnetOutBound", 65000, "Outbound", "Allow"),
        ("AllowInternetOutBound", 65001, "Outbound", "Allow"),
        ("DenyAllOutBound", 65500, "Outbound", "Deny"),
    ]
