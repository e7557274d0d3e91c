"""Issue 18 on the simulator, through the real SDKs: firewall policy inheritance (basePolicy), registry
geo-replications (Premium only) and global VNet peering."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.network import NetworkManagementClient
from hubspoke_deploy.simulator import Simulator

from .conftest_providers import LOCATION, make_vnet


def _policy(net: NetworkManagementClient, rg: str, name: str, tier: str, base: str | None = None) -> Any:
    props: dict[str, Any] = {"sku": {"tier": tier}, "threatIntelMode": "Deny"}
    if base:
        props["basePolicy"] = {"id": base}
    return net.firewall_policies.begin_create_or_update(rg, name, {"location": LOCATION, "properties": props}).result()


def test_child_policy_names_its_parent_which_lists_it(sim: Simulator, network_client: NetworkManagementClient,
                                                      rg: str) -> None:
    parent = _policy(network_client, rg, "parent", "Premium")
    a = _policy(network_client, rg, "child-a", "Premium", parent.id)
    _policy(network_client, rg, "child-b", "Standard", parent.id)
    assert a.base_policy.id.lower() == parent.id.lower()
    listed = network_client.firewall_policies.get(rg, "parent")
    assert sorted(c.id.rsplit("/", 1)[-1] for c in listed.child_policies) == ["child-a", "child-b"]


def test_premium_child_needs_premium_parent(sim: Simulator, network_client: NetworkManagementClient, rg: str) -> None:
    parent = _policy(network_client, rg, "parent", "Standard")
    with pytest.raises(HttpResponseError) as err:
        _policy(network_client, rg, "child", "Premium", parent.id)
    assert err.value.status_code == 400
    assert err.value.error is not None and err.value.error.code == "FirewallPolicyParentTierMismatch"
    # a Standard child of the same Standard parent is fine
    assert _policy(network_client, rg, "child", "Standard", parent.id).base_policy is not None


def test_base_policy_must_be_an_existing_firewall_policy(sim: Simulator, network_client: NetworkManagementClient,
                                                         rg: str) -> None:
    vnet = make_vnet(network_client, rg)
    missing = vnet.id.rsplit("/providers/", 1)[0] + "/providers/Microsoft.Network/firewallPolicies/nope"
    for base in (vnet.id, missing):
        with pytest.raises(HttpResponseError) as err:
            _policy(network_client, rg, "child", "Standard", base)
        assert err.value.status_code in (400, 404), base


def test_a_parent_cannot_be_deleted_while_a_child_references_it(
    sim: Simulator, network_client: NetworkManagementClient, rg: str
) -> None:
    parent = _policy(network_client, rg, "parent", "Standard")
    _policy(network_client, rg, "child", "Standard", parent.id)
    with pytest.raises(HttpResponseError) as err:
        network_client.firewall_policies.begin_delete(rg, "parent").result()
    assert err.value.status_code == 400
    assert err.value.error is not None and err.value.error.code == "FirewallPolicyIsReferencedByChildPolicies"
    # once the child no longer inherits, the parent goes
    _policy(network_client, rg, "child", "Standard")
    network_client.firewall_policies.begin_delete(rg, "parent").result()
    with pytest.raises(HttpResponseError):
        network_client.firewall_policies.get(rg, "parent")


def _registry(client: Any, rg: str, name: str, sku: str) -> Any:
    acr = client(ContainerRegistryManagementClient)
    return acr.registries.begin_create(rg, name, {"location": LOCATION, "sku": {"name": sku}}).result()


def test_replications_premium_only_and_zone_redundancy_fixed(sim: Simulator, client: Any, rg: str) -> None:
    acr = client(ContainerRegistryManagementClient)
    _registry(client, rg, "acrprem01", "Premium")
    body = {"location": "northeurope", "properties": {"zoneRedundancy": "Enabled"}}
    replica = acr.replications.begin_create(rg, "acrprem01", "northeurope", body).result()
    assert replica.location == "northeurope"
    assert replica.zone_redundancy == "Enabled"
    assert [r.name for r in acr.replications.list(rg, "acrprem01")] == ["northeurope"]
    with pytest.raises(HttpResponseError) as err:
        other = {"location": "northeurope", "properties": {"zoneRedundancy": "Disabled"}}
        acr.replications.begin_create(rg, "acrprem01", "northeurope", other).result()
    assert err.value.status_code == 400
    _registry(client, rg, "acrstd01", "Standard")
    with pytest.raises(HttpResponseError) as err:
        acr.replications.begin_create(rg, "acrstd01", "northeurope", body).result()
    assert err.value.status_code == 400
    assert err.value.error is not None and err.value.error.code == "RegistrySkuNotSupported"


def test_global_peering_connects_vnets_of_two_regions(
    sim: Simulator, network_client: NetworkManagementClient, rg: str
) -> None:
    net = network_client
    west = make_vnet(net, rg, "vnet-we", "10.1.0.0/16")
    body: dict[str, Any] = {
        "location": "northeurope",
        "properties": {"addressSpace": {"addressPrefixes": ["10.2.0.0/16"]}, "subnets": []},
    }
    north = net.virtual_networks.begin_create_or_update(rg, "vnet-ne", body).result()
    assert (west.location, north.location) == ("westeurope", "northeurope")

    def peer(local: str, remote: Any) -> Any:
        props = {"remoteVirtualNetwork": {"id": remote.id}, "allowVirtualNetworkAccess": True,
                 "allowForwardedTraffic": True}
        return net.virtual_network_peerings.begin_create_or_update(
            rg, local, f"to-{remote.name}", {"properties": props}).result()

    assert peer("vnet-we", north).peering_state == "Initiated"
    back = peer("vnet-ne", west)
    assert back.peering_state == "Connected"
    assert net.virtual_network_peerings.get(rg, "vnet-we", "to-vnet-ne").peering_state == "Connected"
    assert back.remote_address_space.address_prefixes == ["10.1.0.0/16"]
