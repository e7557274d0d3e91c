"""Azure's networking rules in the simulator, each shown rejecting a bad request with the right
status and ARM code and accepting the corrected one, through azure-mgmt-network."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient
from hubspoke_deploy.simulator import Simulator

LOC = "westeurope"


def vnet(prefix: str, subnets: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"location": LOC, "properties": {"addressSpace": {"addressPrefixes": [prefix]}}}
    if subnets is not None:
        body["properties"]["subnets"] = [{"name": n, "properties": {"addressPrefix": p}} for n, p in subnets]
    return body


def sn(prefix: str, **props: Any) -> dict[str, Any]:
    return {"properties": {"addressPrefix": prefix, **props}}


def pip(sku: str = "Standard", method: str = "Static") -> dict[str, Any]:
    return {"location": LOC, "sku": {"name": sku}, "properties": {"publicIPAllocationMethod": method}}


def code(exc: pytest.ExceptionInfo[HttpResponseError]) -> tuple[int | None, str | None]:
    return exc.value.status_code, exc.value.error.code if exc.value.error else None


def rejects(fn: Any, status: int, arm_code: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        fn()
    assert code(err) == (status, arm_code), str(err.value)


def nic(subnet_id: str) -> dict[str, Any]:
    return {
        "location": LOC,
        "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet_id}}}]},
    }


def test_vnet_put_without_subnets_keeps_them_and_inline_list_is_authoritative(
    network_client: NetworkManagementClient, rg: str
) -> None:
    nc = network_client
    nc.virtual_networks.begin_create_or_update(rg, "v", vnet("10.0.0.0/16", [("a", "10.0.1.0/24")])).result()
    nc.subnets.begin_create_or_update(rg, "v", "b", sn("10.0.2.0/24")).result()
    view = nc.virtual_networks.get(rg, "v")
    assert sorted(s.name for s in view.subnets) == ["a", "b"]  # subnet PUT shows in the vnet view
    nc.virtual_networks.begin_create_or_update(rg, "v", vnet("10.0.0.0/16")).result()  # no subnets property
    assert sorted(s.name for s in nc.subnets.list(rg, "v")) == ["a", "b"]
    nc.virtual_networks.begin_create_or_update(rg, "v", vnet("10.0.0.0/16", [("a", "10.0.1.0/24")])).result()
    assert [s.name for s in nc.subnets.list(rg, "v")] == ["a"]  # inline list removes b


def test_subnet_rules(network_client: NetworkManagementClient, rg: str) -> None:
    nc = network_client
    nc.virtual_networks.begin_create_or_update(rg, "v", vnet("10.0.0.0/16", [("a", "10.0.1.0/24")])).result()
    put = nc.subnets.begin_create_or_update
    rejects(lambda: put(rg, "v", "x", sn("10.1.0.0/24")).result(), 400, "NetcfgSubnetRangeOutsideVnet")
    rejects(lambda: put(rg, "v", "x", sn("10.0.1.128/25")).result(), 400, "NetcfgSubnetRangesOverlap")
    rejects(lambda: put(rg, "v", "x", sn("10.0.300.0/24")).result(), 400, "NetcfgInvalidSubnet")
    rejects(lambda: put(rg, "v", "AzureFirewallSubnet", sn("10.0.2.0/27")).result(), 400, "NetcfgInvalidSubnet")
    rejects(lambda: put(rg, "v", "AzureBastionSubnet", sn("10.0.3.0/27")).result(), 400, "NetcfgInvalidSubnet")
    put(rg, "v", "x", sn("10.0.4.0/24")).result()
    put(rg, "v", "AzureFirewallSubnet", sn("10.0.2.0/26")).result()
    put(rg, "v", "AzureBastionSubnet", sn("10.0.3.0/26")).result()
    # the same rules apply to subnets given inline in a VNet PUT
    rejects(
        lambda: nc.virtual_networks.begin_create_or_update(
            rg, "w", vnet("10.9.0.0/16", [("a", "10.9.1.0/24"), ("b", "10.9.1.0/25")])
        ).result(),
        400,
        "NetcfgSubnetRangesOverlap",
    )
    # shrinking the address space under existing subnets is refused
    rejects(
        lambda: nc.virtual_networks.begin_create_or_update(rg, "v", vnet("10.0.0.0/24")).result(),
        400,
        "NetcfgSubnetRangeOutsideVnet",
    )


def test_peering_state_and_overlap(network_client: NetworkManagementClient, rg: str) -> None:
    nc = network_client
    hub = nc.virtual_networks.begin_create_or_update(rg, "hub", vnet("10.0.0.0/16")).result()
    spoke = nc.virtual_networks.begin_create_or_update(rg, "spoke", vnet("10.1.0.0/16")).result()
    clash = nc.virtual_networks.begin_create_or_update(rg, "clash", vnet("10.0.128.0/17")).result()
    peer = nc.virtual_network_peerings.begin_create_or_update
    rejects(
        lambda: peer(rg, "hub", "to-clash", {"properties": {"remoteVirtualNetwork": {"id": clash.id}}}).result(),
        400,
        "VnetAddressSpacesOverlap",
    )
    one = peer(
        rg,
        "hub",
        "hub-to-spoke",
        {"properties": {"remoteVirtualNetwork": {"id": spoke.id}, "allowForwardedTraffic": True}},
    ).result()
    assert one.peering_state == "Initiated"
    two = peer(rg, "spoke", "spoke-to-hub", {"properties": {"remoteVirtualNetwork": {"id": hub.id}}}).result()
    assert two.peering_state == "Connected"
    assert nc.virtual_network_peerings.get(rg, "hub", "hub-to-spoke").peering_state == "Connected"
    assert nc.virtual_networks.get(rg, "hub").virtual_network_peerings[0].peering_state == "Connected"


def test_route_next_hop_rules(network_client: NetworkManagementClient, rg: str) -> None:
    nc = network_client
    nc.route_tables.begin_create_or_update(rg, "rt", {"location": LOC}).result()
    put = nc.routes.begin_create_or_update
    rejects(
        lambda: put(
            rg, "rt", "r", {"properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance"}}
        ).result(),
        400,
        "RouteTableInvalidNextHop",
    )
    rejects(
        lambda: put(
            rg,
            "rt",
            "r",
            {"properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "Internet", "nextHopIpAddress": "10.0.2.4"}},
        ).result(),
        400,
        "RouteTableInvalidNextHop",
    )
    r = put(
        rg,
        "rt",
        "r",
        {
            "properties": {
                "addressPrefix": "0.0.0.0/0",
                "nextHopType": "VirtualAppliance",
                "nextHopIpAddress": "10.0.2.4",
            }
        },
    ).result()
    assert r.next_hop_ip_address == "10.0.2.4"
    assert [x.name for x in nc.route_tables.get(rg, "rt").routes] == ["r"]


def test_references_must_exist_and_be_provisioned(
    sim: Simulator, network_client: NetworkManagementClient, rg: str, sub: str
) -> None:
    nc = network_client
    v = nc.virtual_networks.begin_create_or_update(rg, "v", vnet("10.0.0.0/16", [("a", "10.0.1.0/24")])).result()
    missing = f"{v.id}/subnets/nope"
    rejects(
        lambda: nc.network_interfaces.begin_create_or_update(rg, "n", nic(missing)).result(),
        400,
        "InvalidResourceReference",
    )
    n = nc.network_interfaces.begin_create_or_update(rg, "n", nic(f"{v.id}/subnets/a")).result()
    assert n.ip_configurations[0].private_ip_address == "10.0.1.4"  # Azure reserves .0-.3
    n2 = nc.network_interfaces.begin_create_or_update(rg, "n2", nic(f"{v.id}/subnets/a")).result()
    assert n2.ip_configurations[0].private_ip_address == "10.0.1.5"
    # a peering to a VNet that is Updating (a subnet operation runs) is refused
    w = nc.virtual_networks.begin_create_or_update(rg, "w", vnet("10.5.0.0/16")).result()
    sim.settings.time_scale = 0.2
    running = nc.subnets.begin_create_or_update(rg, "w", "s", sn("10.5.1.0/24"))
    rejects(
        lambda: nc.virtual_network_peerings.begin_create_or_update(
            rg, "v", "to-w", {"properties": {"remoteVirtualNetwork": {"id": w.id}}}
        ),
        400,
        "ReferencedResourceNotProvisioned",
    )
    running.result()
    sim.settings.time_scale = 0.0005
    nc.virtual_network_peerings.begin_create_or_update(
        rg, "v", "to-w", {"properties": {"remoteVirtualNetwork": {"id": w.id}}}
    ).result()


def test_delete_in_use_refused(network_client: NetworkManagementClient, rg: str) -> None:
    nc = network_client
    rt = nc.route_tables.begin_create_or_update(rg, "rt", {"location": LOC}).result()
    nsg = nc.network_security_groups.begin_create_or_update(rg, "nsg", {"location": LOC}).result()
    v = nc.virtual_networks.begin_create_or_update(rg, "v", vnet("10.0.0.0/16")).result()
    nc.subnets.begin_create_or_update(
        rg, "v", "a", sn("10.0.1.0/24", routeTable={"id": rt.id}, networkSecurityGroup={"id": nsg.id})
    ).result()
    nc.network_interfaces.begin_create_or_update(rg, "n", nic(f"{v.id}/subnets/a")).result()
    sub_view = nc.subnets.get(rg, "v", "a")
    assert sub_view.ip_configurations and sub_view.ip_configurations[0].id.endswith("/ipConfigurations/ipconfig1")
    assert nc.route_tables.get(rg, "rt").subnets[0].id == sub_view.id
    rejects(lambda: nc.subnets.begin_delete(rg, "v", "a").result(), 400, "InUseSubnetCannotBeDeleted")
    rejects(lambda: nc.virtual_networks.begin_delete(rg, "v").result(), 400, "InUseSubnetCannotBeDeleted")
    rejects(lambda: nc.route_tables.begin_delete(rg, "rt").result(), 400, "InUseRouteTableCannotBeDeleted")
    rejects(
        lambda: nc.network_security_groups.begin_delete(rg, "nsg").result(),
        400,
        "InUseNetworkSecurityGroupCannotBeDeleted",
    )
    nc.network_interfaces.begin_delete(rg, "n").result()
    nc.subnets.begin_create_or_update(rg, "v", "a", sn("10.0.1.0/24")).result()  # disassociate
    nc.route_tables.begin_delete(rg, "rt").result()
    nc.network_security_groups.begin_delete(rg, "nsg").result()
    nc.subnets.begin_delete(rg, "v", "a").result()
    assert list(nc.subnets.list(rg, "v")) == []


def test_firewall_rules_private_ip_and_public_ip_in_use(network_client: NetworkManagementClient, rg: str) -> None:
    nc = network_client
    v = nc.virtual_networks.begin_create_or_update(
        rg,
        "hub",
        vnet(
            "10.0.0.0/16",
            [
                ("AzureFirewallSubnet", "10.0.1.0/26"),
                ("AzureFirewallManagementSubnet", "10.0.2.0/26"),
                ("other", "10.0.3.0/24"),
            ],
        ),
    ).result()
    basic = nc.public_ip_addresses.begin_create_or_update(rg, "basic", pip("Basic", "Dynamic")).result()
    std = nc.public_ip_addresses.begin_create_or_update(rg, "std", pip()).result()
    mgmt = nc.public_ip_addresses.begin_create_or_update(rg, "mgmt", pip()).result()
    assert std.ip_address and std.ip_address != mgmt.ip_address
    rejects(
        lambda: nc.public_ip_addresses.begin_create_or_update(rg, "bad", pip("Standard", "Dynamic")).result(),
        400,
        "StandardSkuPublicIPAddressesMustBeStatic",
    )

    def fw(subnet: str, pip_id: str, tier: str = "Standard", with_mgmt: bool = False) -> dict[str, Any]:
        props: dict[str, Any] = {
            "sku": {"name": "AZFW_VNet", "tier": tier},
            "ipConfigurations": [
                {
                    "name": "cfg",
                    "properties": {"subnet": {"id": f"{v.id}/subnets/{subnet}"}, "publicIPAddress": {"id": pip_id}},
                }
            ],
        }
        if with_mgmt:
            props["managementIpConfiguration"] = {
                "name": "mgmt",
                "properties": {
                    "subnet": {"id": f"{v.id}/subnets/AzureFirewallManagementSubnet"},
                    "publicIPAddress": {"id": mgmt.id},
                },
            }
        return {"location": LOC, "properties": props}

    put = nc.azure_firewalls.begin_create_or_update
    rejects(lambda: put(rg, "fw", fw("other", std.id)).result(), 400, "AzureFirewallSubnetMissing")
    rejects(
        lambda: put(rg, "fw", fw("AzureFirewallSubnet", basic.id)).result(),
        400,
        "AzureFirewallPublicIpMustBeStandardStatic",
    )
    rejects(
        lambda: put(rg, "fw", fw("AzureFirewallSubnet", std.id, tier="Basic")).result(),
        400,
        "AzureFirewallManagementIpConfigurationMissing",
    )
    f = put(rg, "fw", fw("AzureFirewallSubnet", std.id, tier="Basic", with_mgmt=True)).result()
    assert f.ip_configurations[0].private_ip_address == "10.0.1.4"
    assert nc.public_ip_addresses.get(rg, "std").ip_configuration.id == f.ip_configurations[0].id
    rejects(lambda: nc.public_ip_addresses.begin_delete(rg, "std").result(), 400, "PublicIPAddressCannotBeDeleted")
    rejects(
        lambda: nc.subnets.begin_delete(rg, "hub", "AzureFirewallSubnet").result(), 400, "InUseSubnetCannotBeDeleted"
    )
    nc.azure_firewalls.begin_delete(rg, "fw").result()
    nc.public_ip_addresses.begin_delete(rg, "std").result()


def test_private_endpoint_ip_and_nic(sim: Simulator, network_client: NetworkManagementClient, rg: str) -> None:
    nc = network_client
    v = nc.virtual_networks.begin_create_or_update(rg, "v", vnet("10.0.0.0/16", [("pe", "10.0.5.0/24")])).result()
    target = v.id  # any existing resource works as a private link target for the core
    pe = nc.private_endpoints.begin_create_or_update(
        rg,
        "pe1",
        {
            "location": LOC,
            "properties": {
                "subnet": {"id": f"{v.id}/subnets/pe"},
                "privateLinkServiceConnections": [
                    {"name": "c", "properties": {"privateLinkServiceId": target, "groupIds": ["x"]}}
                ],
            },
        },
    ).result()
    assert pe.custom_dns_configs[0].ip_addresses == ["10.0.5.4"]
    assert nc.subnets.get(rg, "v", "pe").private_endpoints[0].id == pe.id
    rejects(lambda: nc.subnets.begin_delete(rg, "v", "pe").result(), 400, "InUseSubnetCannotBeDeleted")
    nic_id = pe.network_interfaces[0].id
    assert sim.get_resource(nic_id) is not None
    nc.private_endpoints.begin_delete(rg, "pe1").result()
    assert sim.get_resource(nic_id) is None
    nc.subnets.begin_delete(rg, "v", "pe").result()


def test_nsg_rule_priority(network_client: NetworkManagementClient, rg: str) -> None:
    nc = network_client
    nc.network_security_groups.begin_create_or_update(rg, "nsg", {"location": LOC}).result()
    rule = {
        "properties": {
            "priority": 50,
            "protocol": "*",
            "access": "Allow",
            "direction": "Inbound",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*",
            "sourcePortRange": "*",
            "destinationPortRange": "443",
        }
    }
    rejects(
        lambda: nc.security_rules.begin_create_or_update(rg, "nsg", "r", rule).result(),
        400,
        "SecurityRuleInvalidPriority",
    )
    rule["properties"]["priority"] = 100
    nc.security_rules.begin_create_or_update(rg, "nsg", "r", rule).result()
    assert [r.name for r in nc.network_security_groups.get(rg, "nsg").security_rules] == ["r"]
