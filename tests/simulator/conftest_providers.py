"""Helpers shared by the non-network provider tests (imported explicitly by the test modules;
the fixtures themselves come from ``conftest.py``)."""

from __future__ import annotations

from typing import Any

from azure.mgmt.network import NetworkManagementClient

SUB = "00000000-0000-0000-0000-00000000c0de"
LOCATION = "westeurope"


def rg_id(rg: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}"


def make_vnet(
    net: NetworkManagementClient,
    rg: str,
    name: str = "vnet1",
    space: str = "10.1.0.0/16",
    subnets: list[dict[str, Any]] | None = None,
) -> Any:
    # azure-mgmt-network is a TypeSpec SDK: dict bodies go on the wire as-is (REST shape).
    body: dict[str, Any] = {
        "location": LOCATION,
        "properties": {
            "addressSpace": {"addressPrefixes": [space]},
            "subnets": subnets
            if subnets is not None
            else [{"name": "default", "properties": {"addressPrefix": "10.1.0.0/24"}}],
        },
    }
    return net.virtual_networks.begin_create_or_update(rg, name, body).result()


def make_route_table(net: NetworkManagementClient, rg: str, name: str, next_hop: str = "VirtualAppliance") -> Any:
    route: dict[str, Any] = {"addressPrefix": "0.0.0.0/0", "nextHopType": next_hop}
    if next_hop == "VirtualAppliance":
        route["nextHopIpAddress"] = "10.0.1.4"
    body = {"location": LOCATION, "properties": {"routes": [{"name": "default", "properties": route}]}}
    return net.route_tables.begin_create_or_update(rg, name, body).result()
