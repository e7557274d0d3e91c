"""storageAccounts, vaults (soft delete), registries and workspaces through the real SDK clients."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.loganalytics import LogAnalyticsManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.storage import StorageManagementClient
from hubspoke_deploy.simulator import Simulator

from .conftest_providers import LOCATION, make_vnet

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def _storage(client: Any, rg: str, name: str) -> Any:
    body = {"location": LOCATION, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
    return client(StorageManagementClient).storage_accounts.begin_create(rg, name, body).result()


def test_storage_account_lro_and_endpoints(sim: Simulator, client: Any, rg: str) -> None:
    acct = _storage(client, rg, "stsim001")
    assert acct.provisioning_state == "Succeeded"
    assert acct.primary_endpoints.blob == "https://stsim001.blob.core.windows.net/"
    st = client(StorageManagementClient)
    # delete is synchronous in the SDK (200/204)
    st.storage_accounts.delete(rg, "stsim001")
    with pytest.raises(HttpResponseError) as err:
        st.storage_accounts.get_properties(rg, "stsim001")
    assert err.value.status_code == 404


@pytest.mark.parametrize("name", ["ab", "UpperCase1", "has-hyphen", "x" * 25])
def test_storage_account_name_invalid(sim: Simulator, client: Any, rg: str, name: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        _storage(client, rg, name)
    assert err.value.status_code == 400 and err.value.error.code == "AccountNameInvalid"


def test_storage_account_name_globally_unique(sim: Simulator, client: Any, resource_client: Any, rg: str) -> None:
    _storage(client, rg, "stshared01")
    resource_client.resource_groups.create_or_update("rg2", {"location": LOCATION})
    with pytest.raises(HttpResponseError) as err:
        _storage(client, "rg2", "stshared01")
    assert err.value.status_code == 409 and err.value.error.code == "StorageAccountAlreadyTaken"


def _vault_body(**props: Any) -> dict[str, Any]:
    # TypeSpec SDKs (keyvault, containerregistry, loganalytics, storage) send dict bodies as-is:
    # REST shape, camelCase.
    return {
        "location": LOCATION,
        "properties": {"tenantId": TENANT, "sku": {"family": "A", "name": "standard"}, **props},
    }


def test_vault_uri_and_name_rules(sim: Simulator, client: Any, rg: str) -> None:
    kv = client(KeyVaultManagementClient)
    vault = kv.vaults.begin_create_or_update(rg, "kv-sim-01", _vault_body()).result()
    assert vault.properties.vault_uri == "https://kv-sim-01.vault.azure.net/"
    assert vault.properties.enable_soft_delete is True
    for bad in ("1kv", "kv--double", "kv-", "k" * 25):
        with pytest.raises(HttpResponseError) as err:
            kv.vaults.begin_create_or_update(rg, bad, _vault_body()).result()
        assert err.value.status_code == 400 and err.value.error.code == "VaultNameNotValid", bad


def test_vault_soft_delete_recover_and_purge(sim: Simulator, client: Any, rg: str) -> None:
    kv = client(KeyVaultManagementClient)
    kv.vaults.begin_create_or_update(rg, "kvsoft", _vault_body(enableRbacAuthorization=True)).result()
    kv.vaults.delete(rg, "kvsoft")  # synchronous in the SDK
    deleted = kv.vaults.get_deleted("kvsoft", LOCATION)
    assert deleted.name == "kvsoft"
    assert deleted.properties.vault_id.lower().endswith("/vaults/kvsoft")
    assert [d.name for d in kv.vaults.list_deleted()] == ["kvsoft"]
    with pytest.raises(HttpResponseError) as err:
        kv.vaults.begin_create_or_update(rg, "kvsoft", _vault_body()).result()
    assert err.value.status_code == 409 and err.value.error.code == "ConflictError"
    assert "recover or purge" in str(err.value)
    recovered = kv.vaults.begin_create_or_update(rg, "kvsoft", _vault_body(createMode="recover")).result()
    assert recovered.properties.enable_rbac_authorization is True  # restored from the deleted vault
    assert list(kv.vaults.list_deleted()) == []
    kv.vaults.delete(rg, "kvsoft")
    kv.vaults.begin_purge_deleted("kvsoft", LOCATION).result()
    with pytest.raises(HttpResponseError) as err:
        kv.vaults.get_deleted("kvsoft", LOCATION)
    assert err.value.status_code == 404
    kv.vaults.begin_create_or_update(rg, "kvsoft", _vault_body()).result()  # name free again


def test_vault_purge_protection(sim: Simulator, client: Any, rg: str) -> None:
    kv = client(KeyVaultManagementClient)
    kv.vaults.begin_create_or_update(rg, "kvprot", _vault_body(enablePurgeProtection=True)).result()
    with pytest.raises(HttpResponseError) as err:
        kv.vaults.begin_create_or_update(rg, "kvprot", _vault_body(enablePurgeProtection=False)).result()
    assert err.value.status_code == 400 and "irreversible" in str(err.value)
    kv.vaults.delete(rg, "kvprot")
    with pytest.raises(HttpResponseError) as err:
        kv.vaults.begin_purge_deleted("kvprot", LOCATION).result()
    assert err.value.status_code == 409
    assert kv.vaults.get_deleted("kvprot", LOCATION).properties.purge_protection_enabled is True


def _registry(client: Any, rg: str, name: str, sku: str = "Premium", **props: Any) -> Any:
    acr = client(ContainerRegistryManagementClient)
    body = {"location": LOCATION, "sku": {"name": sku}, "properties": props}
    return acr.registries.begin_create(rg, name, body).result()


def test_registry_login_server_and_name(sim: Simulator, client: Any, rg: str) -> None:
    reg = _registry(client, rg, "AcrSim01")
    assert reg.login_server == "acrsim01.azurecr.io"
    for bad in ("acr", "acr-with-hyphen"):
        with pytest.raises(HttpResponseError) as err:
            _registry(client, rg, bad)
        assert err.value.status_code == 400, bad


def test_registry_premium_only_features(sim: Simulator, client: Any, rg: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        _registry(client, rg, "acrbasic1", "Basic", publicNetworkAccess="Disabled")
    assert err.value.error.code == "DisablingPublicNetworkAccessNotSupported"
    with pytest.raises(HttpResponseError) as err:
        _registry(client, rg, "acrbasic2", "Standard", zoneRedundancy="Enabled")
    assert err.value.status_code == 400
    reg = _registry(client, rg, "acrprem1", "Premium", publicNetworkAccess="Disabled", zoneRedundancy="Enabled")
    assert reg.public_network_access == "Disabled"


def test_private_endpoint_to_registry_needs_premium(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    vnet = make_vnet(network_client, rg)
    std = _registry(client, rg, "acrstd01", "Standard")
    prem = _registry(client, rg, "acrprem01", "Premium")

    def pe(name: str, target: str) -> Any:
        body = {
            "location": LOCATION,
            "properties": {
                "subnet": {"id": vnet.subnets[0].id},
                "privateLinkServiceConnections": [
                    {"name": "c", "properties": {"privateLinkServiceId": target, "groupIds": ["registry"]}}
                ],
            },
        }
        return network_client.private_endpoints.begin_create_or_update(rg, name, body).result()

    with pytest.raises(HttpResponseError) as err:
        pe("pe-std", std.id)
    assert err.value.status_code == 400 and "Premium" in str(err.value)
    assert pe("pe-prem", prem.id).provisioning_state == "Succeeded"


def test_workspace_customer_id_and_retention(sim: Simulator, client: Any, rg: str) -> None:
    la = client(LogAnalyticsManagementClient)
    ws = la.workspaces.begin_create_or_update(
        rg, "law1", {"location": LOCATION, "properties": {"retentionInDays": 30}}
    ).result()
    uuid.UUID(ws.customer_id)
    again = la.workspaces.begin_create_or_update(
        rg, "law1", {"location": LOCATION, "properties": {"retentionInDays": 90}}
    ).result()
    assert again.customer_id == ws.customer_id and again.retention_in_days == 90
    for bad in (10, 731):
        with pytest.raises(HttpResponseError) as err:
            la.workspaces.begin_create_or_update(
                rg, "law2", {"location": LOCATION, "properties": {"retentionInDays": bad}}
            ).result()
        assert err.value.status_code == 400, bad
