"""Conformance of the operations and security providers (issue 17) through the real SDKs: action groups,
metric and activity log alerts, policy assignments, DDoS protection plans, the blob service's
diagnostic setting, and the Defender and TLS inspection rules."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.loganalytics import LogAnalyticsManagementClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.policy import PolicyClient
from azure.mgmt.storage import StorageManagementClient
from hubspoke_deploy.simulator import Simulator

from .conftest_providers import LOCATION, make_vnet, rg_id

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BASELINE = "/providers/Microsoft.Authorization/policySetDefinitions/a8640138-9b0a-4a28-b8cb-1666c838647d"


def _error(err: pytest.ExceptionInfo[HttpResponseError]) -> tuple[int | None, str | None]:
    return err.value.status_code, err.value.error.code if err.value.error else None


def _group(short: str = "ops", location: str = "Global", **props: Any) -> dict[str, Any]:
    return {"location": location, "properties": {
        "groupShortName": short, "enabled": True,
        "emailReceivers": [{"name": "oncall", "emailAddress": "oncall@example.com", "useCommonAlertSchema": True}],
        **props,
    }}


def _workspace(client: Any, rg: str) -> Any:
    la = client(LogAnalyticsManagementClient)
    return la.workspaces.begin_create_or_update(rg, "law1", {"location": LOCATION}).result()


def test_action_group_short_name_location_and_receivers(sim: Simulator, client: Any, rg: str) -> None:
    mon = client(MonitorManagementClient)
    group = mon.action_groups.create_or_update(rg, "ag1", _group())
    assert group.group_short_name == "ops" and group.email_receivers[0].status == "Enabled"
    for body, code in (
        (_group(short="thirteen-char"), "BadRequest"),  # > 12 characters
        (_group(location="westeurope"), "LocationNotAvailableForResourceType"),
        (_group(emailReceivers=[{"name": "a", "emailAddress": "not-an-address"}]), "BadRequest"),
        (_group(emailReceivers=[{"name": "a", "emailAddress": "a@x.io"}, {"name": "A", "emailAddress": "b@x.io"}]),
         "BadRequest"),
    ):
        with pytest.raises(HttpResponseError) as err:
            mon.action_groups.create_or_update(rg, "ag2", body)
        assert _error(err) == (400, code), body
    mon.action_groups.delete(rg, "ag1")
    assert [g.name for g in mon.action_groups.list_by_resource_group(rg)] == []


def _alert(scope: str, group: str, *, metric: str = "Availability", location: str = "global",
           odata: str = "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria", **extra: Any) -> dict[str, Any]:
    return {"location": location, "properties": {
        "severity": 1, "enabled": True, "scopes": [scope], "evaluationFrequency": "PT1M", "windowSize": "PT5M",
        "targetResourceType": "Microsoft.OperationalInsights/workspaces",
        "criteria": {"odata.type": odata, "allOf": [{
            "criterionType": "StaticThresholdCriterion", "name": "c1", "metricName": metric,
            "operator": "LessThan", "timeAggregation": "Average", "threshold": 99.0}]},
        "actions": [{"actionGroupId": group}], **extra,
    }}


def test_metric_alert_shape_location_and_references(sim: Simulator, client: Any, rg: str) -> None:
    mon = client(MonitorManagementClient)
    ws = _workspace(client, rg).id
    group = mon.action_groups.create_or_update(rg, "ag1", _group()).id
    alert = mon.metric_alerts.create_or_update(rg, "a1", _alert(ws, group))
    assert alert.criteria.all_of[0].metric_name == "Availability" and alert.scopes == [ws]
    assert mon.metric_alerts.get(rg, "a1").actions[0].action_group_id == group
    cases: list[tuple[dict[str, Any], int, str]] = [
        (_alert(ws, group, location="westeurope"), 400, "LocationNotAvailableForResourceType"),
        (_alert(ws, group, odata="Microsoft.Azure.Monitor.Nonsense"), 400, "BadRequest"),
        (_alert(ws, group, severity=7), 400, "BadRequest"),
        (_alert(ws, group, windowSize="PT2M"), 400, "BadRequest"),
        (_alert(ws, f"{rg_id(rg)}/providers/Microsoft.Insights/actionGroups/missing"), 400, "InvalidResourceReference"),
    ]
    for body, status, code in cases:
        with pytest.raises(HttpResponseError) as err:
            mon.metric_alerts.create_or_update(rg, "a2", body)
        assert _error(err) == (status, code), body


def test_metric_alert_metric_must_exist_for_the_target_type(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    mon = client(MonitorManagementClient)
    group = mon.action_groups.create_or_update(rg, "ag1", _group()).id
    nsg = network_client.network_security_groups.begin_create_or_update(rg, "nsg1", {"location": LOCATION}).result()
    vault_like = _alert(nsg.id, group, metric="NoSuchMetric")
    vault_like["properties"]["targetResourceType"] = "Microsoft.KeyVault/vaults"
    with pytest.raises(HttpResponseError) as err:  # the scope is not of the target type
        mon.metric_alerts.create_or_update(rg, "a1", vault_like)
    assert _error(err) == (400, "BadRequest")
    kv_id = client(KeyVaultManagementClient).vaults.begin_create_or_update(rg, "kv-ops-1", {
        "location": LOCATION,
        "properties": {"tenantId": TENANT, "sku": {"family": "A", "name": "standard"}, "accessPolicies": []},
    }).result().id
    body = _alert(kv_id, group, metric="NoSuchMetric")
    body["properties"]["targetResourceType"] = "Microsoft.KeyVault/vaults"
    with pytest.raises(HttpResponseError) as err:
        mon.metric_alerts.create_or_update(rg, "a1", body)
    assert _error(err) == (400, "BadRequest") and "NoSuchMetric" in str(err.value)
    body = _alert(kv_id, group)
    body["properties"]["targetResourceType"] = "Microsoft.KeyVault/vaults"
    assert mon.metric_alerts.create_or_update(rg, "a1", body).criteria.all_of[0].threshold == 99.0


def test_activity_log_alert_needs_a_category(sim: Simulator, client: Any, rg: str) -> None:
    mon = client(MonitorManagementClient)
    group = mon.action_groups.create_or_update(rg, "ag1", _group()).id
    body = {"location": "Global", "properties": {
        "scopes": [rg_id(rg)], "enabled": True,
        "condition": {"allOf": [{"field": "category", "equals": "ResourceHealth"}]},
        "actions": {"actionGroups": [{"actionGroupId": group}]},
    }}
    assert mon.activity_log_alerts.create_or_update(rg, "h1", body).enabled is True
    body["properties"]["condition"] = {"allOf": [{"field": "status", "equals": "Failed"}]}
    with pytest.raises(HttpResponseError) as err:
        mon.activity_log_alerts.create_or_update(rg, "h2", body)
    assert _error(err) == (400, "BadRequest")


def test_policy_assignment_definition_parameters_identity(sim: Simulator, client: Any, rg: str) -> None:
    pol = client(PolicyClient)
    scope = rg_id(rg)
    body: dict[str, Any] = {"properties": {"policyDefinitionId": BASELINE, "parameters": {"effect": {"value": "deny"}}}}
    created = pol.policy_assignments.create(scope, "pss", body)
    assert created.properties.enforcement_mode == "Default"
    # an update answers 201 too (the SDK accepts nothing else)
    assert pol.policy_assignments.create(scope, "pss", body).properties.parameters["effect"].value == "deny"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"properties": {"policyDefinitionId": BASELINE[:-4] + "ffff"}}, 404, "PolicySetDefinitionNotFound"),
        ({"properties": {"policyDefinitionId": BASELINE, "parameters": {"nope": {"value": 1}}}}, 400,
         "UndefinedPolicyParameter"),
        ({"properties": {"policyDefinitionId": BASELINE, "parameters": {"effect": {"value": "Block"}}}}, 400,
         "InvalidPolicyParameters"),
        ({"identity": {"type": "SystemAssigned"}, "properties": {"policyDefinitionId": BASELINE}}, 400,
         "LocationRequired"),
    ]
    for case, status, code in cases:
        with pytest.raises(HttpResponseError) as err:
            pol.policy_assignments.create(scope, "bad", case)
        assert _error(err) == (status, code), case
    with_identity = pol.policy_assignments.create(scope, "pss-mi", {
        "location": LOCATION, "identity": {"type": "SystemAssigned"}, "properties": {"policyDefinitionId": BASELINE}})
    assert with_identity.identity.principal_id
    deleted = pol.policy_assignments.delete(scope, "pss")
    assert deleted is not None and deleted.name == "pss"
    assert pol.policy_assignments.delete(scope, "pss") is None


def test_ddos_plan_on_a_vnet_and_in_use(sim: Simulator, network_client: NetworkManagementClient, rg: str) -> None:
    net = network_client
    plan = net.ddos_protection_plans.begin_create_or_update(rg, "ddos1", {"location": LOCATION}).result()
    vnet = make_vnet(net, rg)
    assert vnet.enable_ddos_protection is False
    body = {"location": LOCATION, "properties": {
        "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}, "enableDdosProtection": True}}
    with pytest.raises(HttpResponseError) as err:
        net.virtual_networks.begin_create_or_update(rg, "vnet1", body).result()
    assert _error(err) == (400, "DdosProtectionPlanRequired")
    body["properties"]["ddosProtectionPlan"] = {"id": plan.id}
    net.virtual_networks.begin_create_or_update(rg, "vnet1", body).result()
    assert [v.id for v in net.ddos_protection_plans.get(rg, "ddos1").virtual_networks] == [vnet.id]
    with pytest.raises(HttpResponseError) as err:
        net.ddos_protection_plans.begin_delete(rg, "ddos1").result()
    assert _error(err) == (400, "InUseDdosProtectionPlanCannotBeDeleted")
    body["properties"] = {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}}
    net.virtual_networks.begin_create_or_update(rg, "vnet1", body).result()
    net.ddos_protection_plans.begin_delete(rg, "ddos1").result()


def test_blob_service_exists_and_takes_blob_log_categories(sim: Simulator, client: Any, rg: str) -> None:
    st = client(StorageManagementClient)
    account = st.storage_accounts.begin_create(
        rg, "stops001", {"location": LOCATION, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}).result()
    blob = f"{account.id}/blobServices/default"
    assert sim.get_resource(blob) is not None
    ws = _workspace(client, rg).id
    mon = client(MonitorManagementClient)

    def diag(categories: list[str], target: str = blob) -> Any:
        return mon.diagnostic_settings.create_or_update(target.lstrip("/"), "d1", {"properties": {
            "workspaceId": ws, "logAnalyticsDestinationType": "Dedicated",
            "logs": [{"category": c, "enabled": True} for c in categories]}})

    assert {log.category for log in diag(["StorageRead", "StorageWrite", "StorageDelete"]).logs} == {
        "StorageRead", "StorageWrite", "StorageDelete"}
    for target in (blob, account.id):  # an account has no log categories of its own
        with pytest.raises(HttpResponseError) as err:
            diag(["AuditEvent"] if target == blob else ["StorageRead"], target)
        assert _error(err) == (400, "BadRequest")
    st.storage_accounts.delete(rg, "stops001")
    assert sim.get_resource(blob) is None


def test_defender_needs_the_workspace(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    vnet = make_vnet(network_client, rg)
    body: dict[str, Any] = {"location": LOCATION, "identity": {"type": "SystemAssigned"}, "properties": {
        "dnsPrefix": "aks1",
        "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 1, "vmSize": "Standard_D4s_v5",
                               "vnetSubnetID": vnet.subnets[0].id}],
        "networkProfile": {"networkPlugin": "azure", "serviceCidr": "172.16.0.0/16", "dnsServiceIP": "172.16.0.10"},
        "securityProfile": {"defender": {"securityMonitoring": {"enabled": True}}},
    }}
    aks = client(ContainerServiceClient)
    with pytest.raises(HttpResponseError) as err:
        aks.managed_clusters.begin_create_or_update(rg, "aks1", body).result()
    assert _error(err) == (400, "InvalidParameter")
    body["properties"]["securityProfile"]["defender"]["logAnalyticsWorkspaceResourceId"] = _workspace(client, rg).id
    cluster = aks.managed_clusters.begin_create_or_update(rg, "aks1", body).result()
    assert cluster.properties.security_profile.defender.security_monitoring.enabled is True


def test_tls_inspection_only_on_premium_with_an_identity(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    ca = {"certificateAuthority": {"name": "ca", "keyVaultSecretId": "https://kv1.vault.azure.net/secrets/ca"}}
    identity_id = client(ManagedServiceIdentityClient).user_assigned_identities.create_or_update(
        rg, "id1", {"location": LOCATION}).id
    identity = {"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}}
    for tier, ident, ok in (("Standard", identity, False), ("Premium", None, False), ("Premium", identity, True)):
        body: dict[str, Any] = {"location": LOCATION, "properties": {"sku": {"tier": tier}, "transportSecurity": ca}}
        if ident:
            body["identity"] = ident
        poller = lambda b=body: network_client.firewall_policies.begin_create_or_update(rg, "p1", b)  # noqa: E731
        if ok:
            assert poller().result().transport_security.certificate_authority.name == "ca"
        else:
            with pytest.raises(HttpResponseError) as err:
                poller().result()
            assert _error(err) == (400, "FirewallPolicyTransportSecurityInvalid"), tier
