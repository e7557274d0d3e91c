"""managedClusters / agentPools through azure-mgmt-containerservice (TypeSpec SDK: REST-shaped dicts)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from hubspoke_deploy.simulator import Simulator

from .conftest_providers import LOCATION, make_route_table, make_vnet

AKS_DELEGATION = "Microsoft.ContainerService/managedClusters"


def _spoke(net: NetworkManagementClient, rg: str, route_table_id: str | None = None) -> Any:
    nodes: dict[str, Any] = {"addressPrefix": "10.1.0.0/24"}
    if route_table_id:
        nodes["routeTable"] = {"id": route_table_id}
    api = {
        "addressPrefix": "10.1.1.0/28",
        "delegations": [{"name": "aks", "properties": {"serviceName": AKS_DELEGATION}}],
    }
    return make_vnet(
        net,
        rg,
        "spoke",
        "10.1.0.0/16",
        [{"name": "nodes", "properties": nodes}, {"name": "apiserver", "properties": api}],
    )


def _subnet(vnet: Any, name: str) -> str:
    return next(s.id for s in vnet.subnets if s.name == name)


def _cluster_body(nodes_subnet: str, **props: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "location": LOCATION,
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "dnsPrefix": "aks1",
            "agentPoolProfiles": [
                {
                    "name": "system",
                    "mode": "System",
                    "count": 2,
                    "vmSize": "Standard_D4s_v5",
                    "vnetSubnetID": nodes_subnet,
                }
            ],
            "networkProfile": {"networkPlugin": "azure", "serviceCidr": "172.16.0.0/16", "dnsServiceIP": "172.16.0.10"},
            **props,
        },
    }
    return body


def test_cluster_server_assigned_values_and_node_rg(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    vnet = _spoke(network_client, rg)
    aks = client(ContainerServiceClient)
    body = _cluster_body(
        _subnet(vnet, "nodes"),
        apiServerAccessProfile={"enablePrivateCluster": True},
        oidcIssuerProfile={"enabled": True},
    )
    mc = aks.managed_clusters.begin_create_or_update(rg, "aks1", body).result()
    p = mc.properties
    assert p.provisioning_state == "Succeeded"
    assert p.private_fqdn.startswith("aks1-") and p.private_fqdn.endswith(".privatelink.westeurope.azmk8s.io")
    assert p.node_resource_group == "MC_rg1_aks1_westeurope"
    assert p.oidc_issuer_profile.issuer_url.startswith("https://westeurope.oic.prod-aks.azure.com/")
    assert p.power_state.code == "Running" and p.current_kubernetes_version
    assert p.azure_portal_fqdn
    kub = p.identity_profile["kubeletidentity"]
    assert (
        kub.resource_id.startswith("/subscriptions/") and "/resourceGroups/MC_rg1_aks1_westeurope/" in kub.resource_id
    )
    assert mc.identity.principal_id
    # the node resource group and the kubelet identity are real resources
    rc = client(ResourceManagementClient)
    assert rc.resource_groups.get("MC_rg1_aks1_westeurope").managed_by.lower() == mc.id.lower()
    msi = client(ManagedServiceIdentityClient)
    ident = msi.user_assigned_identities.get("MC_rg1_aks1_westeurope", "aks1-agentpool")
    assert ident.principal_id == kub.object_id
    # inline profiles <-> agentPools children, both ways
    assert [pool.name for pool in aks.agent_pools.list(rg, "aks1")] == ["system"]
    assert aks.agent_pools.get(rg, "aks1", "system").properties.count == 2
    user_pool = {
        "properties": {"mode": "User", "count": 1, "vmSize": "Standard_D4s_v5", "vnetSubnetID": _subnet(vnet, "nodes")}
    }
    aks.agent_pools.begin_create_or_update(rg, "aks1", "user1", user_pool).result()
    names = sorted(ap.name for ap in aks.managed_clusters.get(rg, "aks1").properties.agent_pool_profiles)
    assert names == ["system", "user1"]
    # deleting the cluster deletes its node resource group
    aks.managed_clusters.begin_delete(rg, "aks1").result()
    assert not rc.resource_groups.check_existence("MC_rg1_aks1_westeurope")


def test_udr_requires_route_table_with_default_route(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    aks = client(ContainerServiceClient)
    udr = {
        "networkPlugin": "azure",
        "outboundType": "userDefinedRouting",
        "serviceCidr": "172.16.0.0/16",
        "dnsServiceIP": "172.16.0.10",
    }
    vnet = _spoke(network_client, rg)
    with pytest.raises(HttpResponseError) as err:
        aks.managed_clusters.begin_create_or_update(
            rg, "aks1", _cluster_body(_subnet(vnet, "nodes"), networkProfile=udr)
        ).result()
    assert err.value.status_code == 400 and err.value.error.code == "ExistingRouteTableNotAssociatedWithSubnet"
    internet = make_route_table(network_client, rg, "rt-internet", next_hop="Internet")
    vnet = _spoke(network_client, rg, internet.id)
    with pytest.raises(HttpResponseError) as err:
        aks.managed_clusters.begin_create_or_update(
            rg, "aks1", _cluster_body(_subnet(vnet, "nodes"), networkProfile=udr)
        ).result()
    assert err.value.error.code == "RouteTableInvalidNextHop"
    firewall = make_route_table(network_client, rg, "rt-fw")
    vnet = _spoke(network_client, rg, firewall.id)
    mc = aks.managed_clusters.begin_create_or_update(
        rg, "aks1", _cluster_body(_subnet(vnet, "nodes"), networkProfile=udr)
    ).result()
    assert mc.properties.network_profile.outbound_type == "userDefinedRouting"


def test_service_cidr_overlap_and_missing_subnet(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    aks = client(ContainerServiceClient)
    vnet = _spoke(network_client, rg)
    overlap = {"networkPlugin": "azure", "serviceCidr": "10.1.0.0/16", "dnsServiceIP": "10.1.0.10"}
    with pytest.raises(HttpResponseError) as err:
        aks.managed_clusters.begin_create_or_update(
            rg, "aks1", _cluster_body(_subnet(vnet, "nodes"), networkProfile=overlap)
        ).result()
    assert err.value.error.code == "ServiceCidrOverlapExistingSubnetsCidr"
    with pytest.raises(HttpResponseError) as err:
        aks.managed_clusters.begin_create_or_update(rg, "aks1", _cluster_body(vnet.id + "/subnets/missing")).result()
    assert err.value.status_code == 400
    # a delegated subnet cannot host nodes
    with pytest.raises(HttpResponseError) as err:
        aks.managed_clusters.begin_create_or_update(rg, "aks1", _cluster_body(_subnet(vnet, "apiserver"))).result()
    assert err.value.error.code == "SubnetIsDelegated"


def test_api_server_vnet_integration_needs_delegated_subnet(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    aks = client(ContainerServiceClient)
    vnet = make_vnet(
        network_client,
        rg,
        "spoke",
        "10.1.0.0/16",
        [
            {"name": "nodes", "properties": {"addressPrefix": "10.1.0.0/24"}},
            {"name": "plain", "properties": {"addressPrefix": "10.1.2.0/28"}},
        ],
    )
    access = {"enableVnetIntegration": True, "subnetId": _subnet(vnet, "plain")}
    with pytest.raises(HttpResponseError) as err:
        aks.managed_clusters.begin_create_or_update(
            rg, "aks1", _cluster_body(_subnet(vnet, "nodes"), apiServerAccessProfile=access)
        ).result()
    assert err.value.status_code == 400 and AKS_DELEGATION in str(err.value)
    vnet = _spoke(network_client, rg)
    access = {"enableVnetIntegration": True, "subnetId": _subnet(vnet, "apiserver")}
    mc = aks.managed_clusters.begin_create_or_update(
        rg, "aks1", _cluster_body(_subnet(vnet, "nodes"), apiServerAccessProfile=access)
    ).result()
    assert mc.properties.api_server_access_profile.enable_vnet_integration is True


def test_immutable_properties_and_credentials(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    aks = client(ContainerServiceClient)
    vnet = _spoke(network_client, rg)
    body = _cluster_body(_subnet(vnet, "nodes"))
    aks.managed_clusters.begin_create_or_update(rg, "aks1", body).result()
    changed = _cluster_body(_subnet(vnet, "nodes"))
    changed["properties"]["networkProfile"]["serviceCidr"] = "172.17.0.0/16"
    changed["properties"]["networkProfile"]["dnsServiceIP"] = "172.17.0.10"
    with pytest.raises(HttpResponseError) as err:
        aks.managed_clusters.begin_create_or_update(rg, "aks1", changed).result()
    assert err.value.error.code == "PropertyChangeNotAllowed" and "serviceCidr" in str(err.value)
    creds = aks.managed_clusters.list_cluster_admin_credentials(rg, "aks1")
    value = creds.kubeconfigs[0].value  # the SDK base64-decodes the "value" bytes
    kubeconfig = (bytes(value) if not isinstance(value, str) else base64.b64decode(value)).decode()
    assert "server: https://aks1-" in kubeconfig and "kind: Config" in kubeconfig
    user = aks.managed_clusters.list_cluster_user_credentials(rg, "aks1")
    assert user.kubeconfigs[0].name == "clusterUser"
    locked = _cluster_body(_subnet(vnet, "nodes"), disableLocalAccounts=True)
    aks.managed_clusters.begin_create_or_update(rg, "aks1", locked).result()
    with pytest.raises(HttpResponseError) as err:
        aks.managed_clusters.list_cluster_admin_credentials(rg, "aks1")
    assert err.value.status_code == 400 and err.value.error.code == "BadRequest"


def test_agent_pool_write_while_cluster_updating(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    aks = client(ContainerServiceClient)
    vnet = _spoke(network_client, rg)
    aks.managed_clusters.begin_create_or_update(rg, "aks1", _cluster_body(_subnet(vnet, "nodes"))).result()
    sim.settings.time_scale = 0.004  # the cluster update takes 1.2 s of wall time
    poller = aks.managed_clusters.begin_create_or_update(rg, "aks1", _cluster_body(_subnet(vnet, "nodes")))
    with pytest.raises(HttpResponseError) as err:
        aks.agent_pools.begin_create_or_update(rg, "aks1", "user1", {"properties": {"count": 1}}).result()
    assert err.value.status_code == 409 and err.value.error.code == "AnotherOperationInProgress"
    sim.settings.time_scale = 0.0005
    poller.result()


def test_user_assigned_identity_must_exist(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    aks = client(ContainerServiceClient)
    vnet = _spoke(network_client, rg)
    body = _cluster_body(_subnet(vnet, "nodes"))
    missing = (
        f"/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/{rg}/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/nope"
    )
    body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {missing: {}}}
    with pytest.raises(HttpResponseError) as err:
        aks.managed_clusters.begin_create_or_update(rg, "aks1", body).result()
    assert err.value.status_code == 400
    ident = client(ManagedServiceIdentityClient).user_assigned_identities.create_or_update(
        rg, "aks-cp", {"location": LOCATION}
    )
    body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {ident.id: {}}}
    mc = aks.managed_clusters.begin_create_or_update(rg, "aks1", body).result()
    assert mc.identity.user_assigned_identities[ident.id].principal_id == ident.principal_id
