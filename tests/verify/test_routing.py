"""Effective next hop: longest prefix, UDR vs system route, peering, reserved prefixes,
default outbound access, service tag routes."""

from __future__ import annotations

import pytest
from hubspoke_deploy.verify.model import Network, Peering, Route, RouteTable, Subnet, Vnet
from hubspoke_deploy.verify.routing import effective_routes, next_hop

SPOKE = "/vnets/spoke"
HUB = "/vnets/hub"
RT = "/rt/spoke"
FW = "10.0.0.4"


def build(
    routes: tuple[Route, ...] | None = None,
    *,
    peering_state: str = "Connected",
    outbound: bool | None = False,
    nat: bool = False,
    default_outbound: bool = False,
    spoke_prefixes: tuple[str, ...] = ("10.1.0.0/16",),
) -> tuple[Network, Subnet]:
    n = Network(default_outbound_access=default_outbound)
    n.vnets[HUB] = Vnet(HUB, "hub", ("10.0.0.0/16",), peerings=(Peering("to-spoke", SPOKE, peering_state),))
    n.vnets[SPOKE] = Vnet(SPOKE, "spoke", spoke_prefixes, peerings=(Peering("to-hub", HUB, peering_state),))
    subnet = Subnet(
        f"{SPOKE}/subnets/app",
        "app",
        SPOKE,
        ("10.1.1.0/24",),
        route_table_id=RT if routes is not None else None,
        nat_gateway_id="/ng" if nat else None,
        default_outbound_access=outbound,
    )
    n.subnets[subnet.id] = subnet
    if routes is not None:
        n.route_tables[RT] = RouteTable(RT, "rt", routes)
    return n, subnet


TO_FW = Route("default", "0.0.0.0/0", "VirtualAppliance", FW)

CASES = [
    # (id, routes, build kwargs, destination, service tags, expected type, expected next hop ip)
    ("own vnet", None, {}, "10.1.2.5", (), "VnetLocal", None),
    ("peered vnet", None, {}, "10.0.0.10", (), "VNetPeering", None),
    ("peering not connected: reserved 10/8 drops", None, {"peering_state": "Initiated"}, "10.0.0.10", (), "None", None),
    ("unknown 10.x drops (reserved prefix)", None, {}, "10.50.0.4", (), "None", None),
    ("UDR 0/0 removes the reserved None routes", (TO_FW,), {}, "10.50.0.4", (), "VirtualAppliance", FW),
    ("UDR 0/0 for a public address", (TO_FW,), {}, None, (), "VirtualAppliance", FW),
    ("more specific system route wins over UDR 0/0", (TO_FW,), {}, "10.1.2.5", (), "VnetLocal", None),
    ("peering /16 wins over UDR 0/0", (TO_FW,), {}, "10.0.0.10", (), "VNetPeering", None),
    (
        "UDR replaces the system route of the same prefix",
        (Route("vnet-via-fw", "10.1.0.0/16", "VirtualAppliance", FW),),
        {},
        "10.1.2.5",
        (),
        "VirtualAppliance",
        FW,
    ),
    (
        "UDR to the peered prefix replaces the peering route",
        (Route("hub-drop", "10.0.0.0/16", "None"),),
        {},
        "10.0.0.10",
        (),
        "None",
        None,
    ),
    (
        "longer UDR inside the VNet wins",
        (TO_FW, Route("subnet-local", "10.1.2.0/24", "VnetLocal")),
        {},
        "10.1.2.5",
        (),
        "VnetLocal",
        None,
    ),
    (
        "/32 Internet UDR for a DNAT IP",
        (TO_FW, Route("dnat", "20.1.2.3/32", "Internet")),
        {"outbound": True},
        "20.1.2.3",
        (),
        "Internet",
        None,
    ),
    ("no UDR, default outbound access on", None, {"outbound": True}, None, (), "Internet", None),
    ("no UDR, private subnet (api-version 2025-07-01)", None, {"outbound": False}, None, (), "None", None),
    (
        "no UDR, absent flag, network default True",
        None,
        {"outbound": None, "default_outbound": True},
        None,
        (),
        "Internet",
        None,
    ),
    ("no UDR, absent flag, network default False", None, {"outbound": None}, None, (), "None", None),
    ("NAT gateway gives outbound access", None, {"nat": True}, None, (), "Internet", None),
    (
        "service tag route beats 0/0 for a tagged destination",
        (TO_FW, Route("monitor", "AzureMonitor", "Internet")),
        {"outbound": True},
        None,
        ("AzureMonitor",),
        "Internet",
        None,
    ),
    (
        "service tag route ignored for other destinations",
        (TO_FW, Route("monitor", "AzureMonitor", "Internet")),
        {"outbound": True},
        None,
        ("Storage.westeurope",),
        "VirtualAppliance",
        FW,
    ),
    (
        "regional tag beats AzureCloud",
        (Route("cloud", "AzureCloud", "VirtualAppliance", FW), Route("st", "Storage.westeurope", "Internet")),
        {"outbound": True},
        None,
        ("Storage.westeurope", "AzureCloud.westeurope"),
        "Internet",
        None,
    ),
    (
        "address space that includes 10/8 replaces the reserved route",
        None,
        {"spoke_prefixes": ("10.0.0.0/7",)},
        "10.50.0.4",
        (),
        "VnetLocal",
        None,
    ),
]


@pytest.mark.parametrize(
    ("routes", "kwargs", "dest", "tags", "kind", "ip"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_next_hop(
    routes: tuple[Route, ...] | None,
    kwargs: dict[str, object],
    dest: str | None,
    tags: tuple[str, ...],
    kind: str,
    ip: str | None,
) -> None:
    network, subnet = build(routes, **kwargs)  # type: ignore[arg-type]
    hop = next_hop(network, subnet, dest, service_tags=tags)
    assert (hop.type, hop.ip) == (kind, ip), hop.reason


def test_private_subnet_reason_names_default_outbound_access() -> None:
    network, subnet = build(None, outbound=False)
    hop = next_hop(network, subnet, None)
    assert hop.route is not None and hop.route.prefix == "0.0.0.0/0"
    assert "no outbound access" in hop.reason


def test_effective_routes_mark_user_and_system_routes() -> None:
    network, subnet = build((TO_FW,))
    routes = {(r.prefix, r.next_hop_type, r.source) for r in effective_routes(network, subnet)}
    assert ("0.0.0.0/0", "VirtualAppliance", "User") in routes
    assert ("0.0.0.0/0", "Internet", "Default") not in routes
    assert ("10.1.0.0/16", "VnetLocal", "Default") in routes
    assert ("10.0.0.0/16", "VNetPeering", "Default") in routes
    assert not any(r[0] == "10.0.0.0/8" for r in routes)
    network, subnet = build(None)
    assert ("10.0.0.0/8", "None", "Default") in {
        (r.prefix, r.next_hop_type, r.source) for r in effective_routes(network, subnet)
    }
