"""privateDnsZones (+ links, zone groups), diagnosticSettings and virtualMachines through the real SDKs."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.loganalytics import LogAnalyticsManagementClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient
from hubspoke_deploy.simulator import Simulator

from .conftest_providers import LOCATION, make_vnet

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def _zone(client: Any, rg: str, name: str) -> Any:
    return (
        client(PrivateDnsManagementClient)
        .private_zones.begin_create_or_update(rg, name, {"location": "global"})
        .result()
    )


def _link(client: Any, rg: str, zone: str, name: str, vnet_id: str, registration: bool = False) -> Any:
    body = {
        "location": "global",
        "properties": {"virtualNetwork": {"id": vnet_id}, "registrationEnabled": registration},
    }
    return (
        client(PrivateDnsManagementClient).virtual_network_links.begin_create_or_update(rg, zone, name, body).result()
    )


def test_private_dns_zone_and_links(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    vnet = make_vnet(network_client, rg)
    zone = _zone(client, rg, "privatelink.azurecr.io")
    assert zone.location == "global"
    link = _link(client, rg, "privatelink.azurecr.io", "hub", vnet.id)
    assert link.properties.virtual_network_link_state == "Completed"
    assert link.properties.registration_enabled is False
    got = client(PrivateDnsManagementClient).private_zones.get(rg, "privatelink.azurecr.io")
    assert got.properties.number_of_virtual_network_links == 1
    with pytest.raises(HttpResponseError) as err:  # the same VNet twice in one zone
        _link(client, rg, "privatelink.azurecr.io", "hub2", vnet.id)
    assert err.value.status_code == 409
    with pytest.raises(HttpResponseError) as err:  # the VNet must exist
        _link(client, rg, "privatelink.azurecr.io", "ghost", vnet.id.replace("vnet1", "ghost"))
    assert err.value.status_code == 400
    with pytest.raises(HttpResponseError) as err:  # zones are global
        client(PrivateDnsManagementClient).private_zones.begin_create_or_update(
            rg, "privatelink.vaultcore.azure.net", {"location": LOCATION}
        ).result()
    assert err.value.status_code == 400


def test_zone_group_zone_must_match_group_id(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    vnet = make_vnet(network_client, rg)
    kv = (
        client(KeyVaultManagementClient)
        .vaults.begin_create_or_update(
            rg,
            "kvzone",
            {"location": LOCATION, "properties": {"tenantId": TENANT, "sku": {"family": "A", "name": "standard"}}},
        )
        .result()
    )
    pe_body = {
        "location": LOCATION,
        "properties": {
            "subnet": {"id": vnet.subnets[0].id},
            "privateLinkServiceConnections": [
                {"name": "c", "properties": {"privateLinkServiceId": kv.id, "groupIds": ["vault"]}}
            ],
        },
    }
    network_client.private_endpoints.begin_create_or_update(rg, "pe-kv", pe_body).result()
    wrong = _zone(client, rg, "privatelink.azurecr.io")
    right = _zone(client, rg, "privatelink.vaultcore.azure.net")

    def group(zone_id: str) -> Any:
        body = {"properties": {"privateDnsZoneConfigs": [{"name": "z", "properties": {"privateDnsZoneId": zone_id}}]}}
        return network_client.private_dns_zone_groups.begin_create_or_update(rg, "pe-kv", "default", body).result()

    with pytest.raises(HttpResponseError) as err:
        group(wrong.id)
    assert err.value.status_code == 400 and "privatelink.vaultcore.azure.net" in str(err.value)
    assert group(right.id).provisioning_state == "Succeeded"


def _workspace(client: Any, rg: str) -> Any:
    return (
        client(LogAnalyticsManagementClient)
        .workspaces.begin_create_or_update(rg, "law1", {"location": LOCATION, "properties": {"retentionInDays": 30}})
        .result()
    )


def test_diagnostic_settings_categories(sim: Simulator, client: Any, rg: str) -> None:
    ws = _workspace(client, rg)
    kv = (
        client(KeyVaultManagementClient)
        .vaults.begin_create_or_update(
            rg,
            "kvdiag",
            {"location": LOCATION, "properties": {"tenantId": TENANT, "sku": {"family": "A", "name": "standard"}}},
        )
        .result()
    )
    mon = client(MonitorManagementClient)
    ok = {
        "workspace_id": ws.id,
        "log_analytics_destination_type": "Dedicated",
        "logs": [{"category": "AuditEvent", "enabled": True}],
        "metrics": [{"category": "AllMetrics", "enabled": True}],
    }
    ds = mon.diagnostic_settings.create_or_update(kv.id, "to-law", ok)
    assert ds.workspace_id.lower() == ws.id.lower() and ds.log_analytics_destination_type == "Dedicated"
    assert mon.diagnostic_settings.get(kv.id, "to-law").logs[0].category == "AuditEvent"
    bad = {**ok, "logs": [{"category": "kube-audit", "enabled": True}]}
    with pytest.raises(HttpResponseError) as err:
        mon.diagnostic_settings.create_or_update(kv.id, "bad", bad)
    assert err.value.status_code == 400 and "kube-audit" in str(err.value)
    missing_ws = {**ok, "workspace_id": ws.id.replace("law1", "nope")}
    with pytest.raises(HttpResponseError) as err:
        mon.diagnostic_settings.create_or_update(kv.id, "bad", missing_ws)
    assert err.value.status_code == 400


def test_diagnostic_settings_firewall_categories(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    # the category table is per type: AKS categories are accepted on a cluster-typed resource id,
    # firewall ones are refused there.
    from hubspoke_deploy.simulator.providers.insights import CATEGORIES

    fw_logs = CATEGORIES["microsoft.network/azurefirewalls"][0]
    assert "AZFWApplicationRule" in fw_logs and "AZFWFlowTrace" in fw_logs
    ws = _workspace(client, rg)
    la = client(LogAnalyticsManagementClient)
    mon = client(MonitorManagementClient)
    # a workspace's own categories: Audit accepted, AZFW refused
    mon.diagnostic_settings.create_or_update(
        ws.id, "self", {"workspace_id": ws.id, "logs": [{"category": "Audit", "enabled": True}]}
    )
    with pytest.raises(HttpResponseError) as err:
        mon.diagnostic_settings.create_or_update(
            ws.id, "self2", {"workspace_id": ws.id, "logs": [{"category": "AZFWNetworkRule", "enabled": True}]}
        )
    assert err.value.status_code == 400 and err.value.error.code == "BadRequest"
    assert la.workspaces.get(rg, "law1").customer_id == ws.customer_id
    # a type whose categories are not modelled accepts any category
    rt = network_client.route_tables.begin_create_or_update(rg, "rt1", {"location": LOCATION}).result()
    ds = mon.diagnostic_settings.create_or_update(
        rt.id, "any", {"workspace_id": ws.id, "logs": [{"category": "Whatever", "enabled": True}]}
    )
    assert ds.name == "any"


def _nic(net: NetworkManagementClient, rg: str, vnet: Any, name: str) -> Any:
    body = {
        "location": LOCATION,
        "properties": {"ipConfigurations": [{"name": "ip1", "properties": {"subnet": {"id": vnet.subnets[0].id}}}]},
    }
    return net.network_interfaces.begin_create_or_update(rg, name, body).result()


def _vm_body(nic_id: str, **os_profile: Any) -> dict[str, Any]:
    return {
        "location": LOCATION,
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "storageProfile": {
                "imageReference": {
                    "publisher": "Canonical",
                    "offer": "ubuntu-24_04-lts",
                    "sku": "server",
                    "version": "latest",
                }
            },
            "osProfile": {"computerName": "jump", "adminUsername": "azureuser", **os_profile},
            "networkProfile": {"networkInterfaces": [{"id": nic_id}]},
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
        },
    }


def test_virtual_machine(sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str) -> None:
    vnet = make_vnet(network_client, rg)
    nic = _nic(network_client, rg, vnet, "nic1")
    compute = client(ComputeManagementClient)
    no_key = _vm_body(nic.id, linuxConfiguration={"disablePasswordAuthentication": True})
    with pytest.raises(HttpResponseError) as err:
        compute.virtual_machines.begin_create_or_update(rg, "vm1", no_key).result()
    assert err.value.status_code == 400 and err.value.error.code == "InvalidParameter"
    vm = compute.virtual_machines.begin_create_or_update(
        rg, "vm1", _vm_body(nic.id, adminPassword="S3cret-P@ssw0rd!")
    ).result()
    assert vm.properties.vm_id and vm.properties.provisioning_state == "Succeeded"
    got = compute.virtual_machines.get(rg, "vm1")
    assert got.properties.os_profile.admin_password is None  # secrets never returned
    assert "S3cret" not in str(got.as_dict())
    attached = network_client.network_interfaces.get(rg, "nic1")
    assert attached.properties.virtual_machine.id.lower() == vm.id.lower()
    with pytest.raises(HttpResponseError) as err:  # a NIC belongs to one VM
        compute.virtual_machines.begin_create_or_update(rg, "vm2", _vm_body(nic.id, adminPassword="x")).result()
    assert err.value.status_code == 409 and err.value.error.code == "NicInUse"
    with pytest.raises(HttpResponseError) as err:  # the NIC must exist
        compute.virtual_machines.begin_create_or_update(
            rg, "vm3", _vm_body(nic.id.replace("nic1", "ghost"), adminPassword="x")
        ).result()
    assert err.value.status_code == 400
