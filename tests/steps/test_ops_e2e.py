"""Operations and security end to end on the ARM simulator (issue 17): the prod example's
diagnostic settings on every service, its alert rules and their action group, the Defender
profile and the policy assignment; a second ``up`` writes nothing; a rule removed from the
config is deleted; DDoS protection and TLS inspection switched on and off; ``down`` removes it all."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import DeploymentConfig, load_config_dict
from hubspoke_deploy.config.ops import POLICY_INITIATIVES
from hubspoke_deploy.orchestrator.engine import RunResult, RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps.aks import cluster_id
from hubspoke_deploy.steps.security import KEY_VAULT_SECRETS_USER

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PROD = Path(__file__).resolve().parents[2] / "config" / "examples" / "prod.toml"
DIAG = "providers/Microsoft.Insights/diagnosticSettings"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.0005, seed=17) as simulator:
        mp = pytest.MonkeyPatch()
        mp.setenv("REQUESTS_CA_BUNDLE", simulator.ca_path)
        yield simulator
        mp.undo()


@pytest.fixture(scope="module")
def env(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _env(sim, tmp_path_factory.mktemp("state") / "state.json")


def _env(sim: Simulator, state: Path) -> dict[str, str]:
    return {
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(state),
    }


def prod_data() -> dict[str, Any]:
    with PROD.open("rb") as fh:
        return copy.deepcopy(tomllib.load(fh))


def load(data: dict[str, Any], env: dict[str, str]) -> DeploymentConfig:
    return load_config_dict(data, env=env, source=str(PROD))


def run(cfg: DeploymentConfig, env: dict[str, str], command: str = "up") -> RunResult:
    with open_session(cfg, command=command, env=env) as session:
        result = session.engine.up() if command == "up" else session.engine.down()
    failed = [f"{o.key}: {o.status} {getattr(o, 'error', '')}" for o in result.outcomes.values()
              if o.status not in ("succeeded", "deleted")]
    assert result.status == RunStatus.SUCCEEDED, failed
    return result


def writes(sim: Simulator) -> dict[str, int]:
    methods = sim.stats()["methods"]
    return {m: int(methods.get(m, 0)) for m in ("PUT", "PATCH", "DELETE") if methods.get(m)}


@pytest.fixture
def baseline(sim: Simulator, env: dict[str, str]) -> DeploymentConfig:
    """The prod example as it is, whatever an earlier test (in any order) changed."""
    cfg = load(prod_data(), env)
    run(cfg, env)
    return cfg


def _by_type(sim: Simulator) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {}
    for r in sim.resources():
        result.setdefault(str(r["type"]).lower(), []).append(r)
    return result


def _diag_of(sim: Simulator, target: str, cfg: DeploymentConfig) -> dict[str, Any]:
    found = sim.get_resource(f"{target}/{DIAG}/diag-{cfg.workspace_name}")
    assert found is not None, f"no diagnostic setting on {target}"
    return found


def test_final_state_has_diagnostics_alerts_defender_and_policy(sim: Simulator, baseline: DeploymentConfig) -> None:
    cfg = baseline
    by_type = _by_type(sim)
    workspace = by_type["microsoft.operationalinsights/workspaces"][0]["id"]

    # diagnostic settings on every listed type, to the workspace, resource-specific where the type has tables
    expected = {
        "microsoft.containerregistry/registries": ({"ContainerRegistryRepositoryEvents"}, "Dedicated", ""),
        "microsoft.keyvault/vaults": ({"AuditEvent"}, "Dedicated", ""),
        "microsoft.storage/storageaccounts": ({"StorageRead", "StorageWrite", "StorageDelete"}, "Dedicated",
                                              "/blobServices/default"),
        "microsoft.network/bastionhosts": ({"BastionAuditLogs"}, "Dedicated", ""),
        "microsoft.network/networksecuritygroups": ({"NetworkSecurityGroupEvent"}, None, ""),
    }
    for rtype, (categories, destination, sub) in expected.items():
        assert by_type[rtype], rtype
        for resource in by_type[rtype]:
            diag = _diag_of(sim, str(resource["id"]) + sub, cfg)["properties"]
            assert str(diag["workspaceId"]).lower() == str(workspace).lower()
            assert diag["logAnalyticsDestinationType"] == destination, rtype
            assert categories <= {log["category"] for log in diag["logs"] if log["enabled"]}, rtype

    # the action group and the alert rules that page it
    (group,) = by_type["microsoft.insights/actiongroups"]
    assert group["location"].lower() == "global"
    assert group["properties"]["groupShortName"] == "aks-prod"
    assert [r["emailAddress"] for r in group["properties"]["emailReceivers"]] == ["platform-oncall@example.com"]
    metric = {str(r["name"]): r for r in by_type["microsoft.insights/metricalerts"]}
    criteria = {
        c["metricName"]: (c["operator"], c["threshold"], r["properties"]["scopes"][0])
        for r in metric.values() for c in r["properties"]["criteria"]["allOf"]
    }
    fw = by_type["microsoft.network/azurefirewalls"][0]["id"]
    assert criteria["SNATPortUtilization"] == ("GreaterThan", 80.0, fw)
    assert criteria["FirewallHealth"] == ("LessThan", 90.0, fw)
    assert criteria["kube_node_status_condition"][2] == cluster_id(cfg)
    assert criteria["Availability"][0] == "LessThan"
    for rule in [*metric.values(), *by_type["microsoft.insights/activitylogalerts"]]:
        actions = rule["properties"]["actions"]
        groups = actions["actionGroups"] if isinstance(actions, dict) else actions
        assert [a["actionGroupId"] for a in groups] == [group["id"]]
    (health,) = by_type["microsoft.insights/activitylogalerts"]
    assert health["properties"]["scopes"] == [by_type["microsoft.containerregistry/registries"][0]["id"]]
    assert health["properties"]["condition"]["allOf"][0] == {"field": "category", "equals": "ResourceHealth"}

    # Defender profile with the workspace
    cluster = sim.get_resource(cluster_id(cfg))
    assert cluster is not None
    defender = cluster["properties"]["securityProfile"]["defender"]
    assert defender["securityMonitoring"]["enabled"] is True
    assert str(defender["logAnalyticsWorkspaceResourceId"]).lower() == str(workspace).lower()

    # the pod security baseline initiative, in deny mode, at the cluster's scope, without an identity
    (assignment,) = by_type["microsoft.authorization/policyassignments"]
    assert str(assignment["id"]).lower().startswith(cluster_id(cfg).lower() + "/providers/")
    assert assignment["properties"]["policyDefinitionId"] == POLICY_INITIATIVES["pod-security-baseline"]
    assert assignment["properties"]["parameters"] == {"effect": {"value": "deny"}}
    assert "identity" not in assignment


def test_second_up_writes_nothing(sim: Simulator, env: dict[str, str], baseline: DeploymentConfig) -> None:
    sim.reset_stats()
    result = run(baseline, env)
    assert writes(sim) == {}
    assert not [o.key for o in result.outcomes.values() if o.changed]


def test_removing_an_alert_rule_deletes_it(sim: Simulator, env: dict[str, str], baseline: DeploymentConfig) -> None:
    rule_id = (f"/subscriptions/{baseline.subscription_id}/resourceGroups/{baseline.resource_group}"
               "/providers/Microsoft.Insights/metricAlerts/alert-aks-prod-firewall-health")
    assert sim.get_resource(rule_id) is not None
    data = prod_data()
    data["alerts"]["rules"] = ["firewall-snat-ports", "aks-nodes-not-ready", "keyvault-availability"]
    sim.reset_stats()
    run(load(data, env), env)
    assert sim.get_resource(rule_id) is None
    assert writes(sim) == {"DELETE": 2}  # the firewall health rule and the ACR Resource Health rule
    types = _by_type(sim)
    assert len(types["microsoft.insights/metricalerts"]) == 3
    assert "microsoft.insights/activitylogalerts" not in types


def test_ddos_protection_and_tls_inspection_on_and_off(
    sim: Simulator, env: dict[str, str], baseline: DeploymentConfig
) -> None:
    data = prod_data()
    data["hub"]["ddos_protection"] = True
    secret = f"https://{baseline.keyvault_name}.vault.azure.net/secrets/fw-intermediate-ca"
    data["firewall"]["tls_inspection"] = {"key_vault_secret_id": secret}
    cfg = load(data, env)
    run(cfg, env)
    rg = f"/subscriptions/{cfg.subscription_id}/resourceGroups/{cfg.resource_group}/providers"
    hub = sim.get_resource(f"{rg}/Microsoft.Network/virtualNetworks/{cfg.hub_vnet_name}")
    plan_id = f"{rg}/Microsoft.Network/ddosProtectionPlans/ddos-{cfg.name}"
    assert hub is not None and hub["properties"]["enableDdosProtection"] is True
    assert hub["properties"]["ddosProtectionPlan"]["id"] == plan_id
    policy = sim.get_resource(f"{rg}/Microsoft.Network/firewallPolicies/afwp-{cfg.name}")
    assert policy is not None
    assert policy["properties"]["transportSecurity"]["certificateAuthority"]["keyVaultSecretId"] == secret
    (identity,) = policy["identity"]["userAssignedIdentities"]
    assert identity.lower().endswith("/id-aks-prod-fwpolicy")
    roles = [a for a in _by_type(sim)["microsoft.authorization/roleassignments"]
             if str(a["properties"]["roleDefinitionId"]).endswith(KEY_VAULT_SECRETS_USER)]
    assert [str(a["id"]).split("/providers/Microsoft.Authorization")[0].lower() for a in roles] == [
        f"{rg}/Microsoft.KeyVault/vaults/{cfg.keyvault_name}".lower()
    ]

    sim.reset_stats()
    run(cfg, env)
    assert writes(sim) == {}

    # both off again: the VNet and the policy drop them, then the plan, identity and role go
    run(load(prod_data(), env), env)
    hub = sim.get_resource(f"{rg}/Microsoft.Network/virtualNetworks/{cfg.hub_vnet_name}")
    assert hub is not None and hub["properties"]["enableDdosProtection"] is False
    assert "ddosProtectionPlan" not in hub["properties"]
    assert sim.get_resource(plan_id) is None
    policy = sim.get_resource(f"{rg}/Microsoft.Network/firewallPolicies/afwp-{cfg.name}")
    assert policy is not None and "transportSecurity" not in policy["properties"]
    assert sim.get_resource(f"{rg}/Microsoft.ManagedIdentity/userAssignedIdentities/id-aks-prod-fwpolicy") is None


def test_down_removes_all_of_it(tmp_path: Path) -> None:
    with Simulator(time_scale=0.0005, seed=18) as other:
        previous = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = other.ca_path
        try:
            env = _env(other, tmp_path / "state.json")
            cfg = load(prod_data(), env)
            run(cfg, env)
            kinds = set(_by_type(other))
            assert {"microsoft.insights/metricalerts", "microsoft.insights/actiongroups",
                    "microsoft.authorization/policyassignments", "microsoft.insights/diagnosticsettings"} <= kinds
            run(cfg, env, command="down")
            left = {str(r["type"]) for r in other.resources()
                    if str(r["id"]).lower().startswith(f"/subscriptions/{cfg.subscription_id}/resourcegroups/")}
            assert left == set()
        finally:
            if previous is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = previous
