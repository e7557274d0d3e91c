"""End to end on the ARM simulator (issue 6): ``up`` of the prod example through the engine and the
real SDK clients, then a conformance check of the simulator's final state, a second ``up`` with zero
writes, a pool change that is one agent-pool PUT, and an immutable change refused by ``up``."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import DeploymentConfig, load_config, load_config_dict
from hubspoke_deploy.errors import ReplacementsRefused
from hubspoke_deploy.orchestrator.engine import RunResult, RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps.aks import cluster_id
from hubspoke_deploy.steps.identity import ACR_PULL, MANAGED_IDENTITY_OPERATOR, NETWORK_CONTRIBUTOR
from hubspoke_deploy.steps.paas import acr_id, keyvault_id, storage_id

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PROD = Path(__file__).resolve().parents[2] / "config" / "examples" / "prod.toml"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=11) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def env(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(tmp_path_factory.mktemp("state") / "state.json"),
    }


@pytest.fixture(scope="module")
def ca(sim: Simulator) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
    yield
    mp.undo()


def prod_with(env: dict[str, str], **aks: Any) -> DeploymentConfig:
    with PROD.open("rb") as fh:
        data = tomllib.load(fh)
    data = copy.deepcopy(data)
    for key, value in aks.items():
        if isinstance(value, dict):
            data["aks"].setdefault(key, {}).update(value)
        else:
            data["aks"][key] = value
    return load_config_dict(data, env=env, source=str(PROD))


def up(cfg: DeploymentConfig, env: dict[str, str]) -> RunResult:
    with open_session(cfg, command="up", env=env) as session:
        return session.engine.up()


def writes(sim: Simulator) -> dict[str, int]:
    methods = sim.stats()["methods"]
    return {m: int(methods.get(m, 0)) for m in ("PUT", "PATCH", "DELETE") if methods.get(m)}


def failures(result: RunResult) -> list[str]:
    return [f"{o.key}: {o.status} {getattr(o, 'error', '')}" for o in result.outcomes.values()
            if o.status != "succeeded"]


@pytest.fixture(scope="module")
def deployed(sim: Simulator, env: dict[str, str], ca: None) -> DeploymentConfig:
    cfg = load_config(PROD, env=env)
    result = up(cfg, env)
    assert result.status == RunStatus.SUCCEEDED, failures(result)
    return cfg


@pytest.fixture
def baseline(sim: Simulator, env: dict[str, str], deployed: DeploymentConfig) -> DeploymentConfig:
    """The deployment as the prod example describes it, whatever an earlier test (in any order)
    changed: one converging ``up`` before the test looks."""
    result = up(deployed, env)
    assert result.status == RunStatus.SUCCEEDED, failures(result)
    return deployed


def res(sim: Simulator, rid: str) -> dict[str, Any]:
    found = sim.get_resource(rid)
    assert found is not None, f"missing {rid}"
    return found


def test_conformance_of_the_final_state(sim: Simulator, baseline: DeploymentConfig) -> None:
    cfg = baseline
    rg = f"/subscriptions/{cfg.subscription_id}/resourceGroups/{cfg.resource_group}"
    resources = sim.resources()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_type.setdefault(str(r["type"]).lower(), []).append(r)

    # identities
    ids = {r["name"] for r in by_type["microsoft.managedidentity/userassignedidentities"]}
    assert {"id-aks-prod-aks", "id-aks-prod-kubelet"} <= ids

    # storage
    st = res(sim, storage_id(cfg))
    p = st["properties"]
    assert st["kind"] == "StorageV2"
    assert p["publicNetworkAccess"] == "Disabled" and p["supportsHttpsTrafficOnly"] is True
    assert p["minimumTlsVersion"] == "TLS1_2" and p["allowBlobPublicAccess"] is False

    # registry
    acr = res(sim, acr_id(cfg))
    assert acr["sku"]["name"] == "Premium"
    assert acr["properties"]["adminUserEnabled"] is False
    assert acr["properties"]["publicNetworkAccess"] == "Disabled"
    assert acr["properties"]["anonymousPullEnabled"] is False
    assert acr["properties"]["zoneRedundancy"] == "Enabled"

    # key vault
    kv = res(sim, keyvault_id(cfg))["properties"]
    assert kv["enableRbacAuthorization"] is True and kv["enablePurgeProtection"] is True
    assert kv["enableSoftDelete"] is True and kv["publicNetworkAccess"] == "Disabled"
    assert kv["networkAcls"]["defaultAction"] == "Deny" and kv["networkAcls"]["bypass"] == "AzureServices"

    # DNS zones linked to the hub and every spoke, registration off
    vnets = {f"{rg}/providers/Microsoft.Network/virtualNetworks/{v}".lower()
             for v in (cfg.hub_vnet_name, *(cfg.spoke_vnet_name(s) for s in cfg.spokes))}
    for zone in ("privatelink.azurecr.io", "privatelink.vaultcore.azure.net", "privatelink.blob.core.windows.net"):
        zone_id = f"{rg}/providers/Microsoft.Network/privateDnsZones/{zone}"
        assert res(sim, zone_id)["location"] == "global"
        links = [r for r in by_type["microsoft.network/privatednszones/virtualnetworklinks"]
                 if str(r["id"]).lower().startswith(zone_id.lower() + "/")]
        assert {str(link["properties"]["virtualNetwork"]["id"]).lower() for link in links} == vnets
        assert all(link["properties"]["registrationEnabled"] is False for link in links)

    # private endpoints with their zone groups
    pes = {str(r["name"]): r for r in by_type["microsoft.network/privateendpoints"]}
    targets = {acr_id(cfg).lower(): "registry", keyvault_id(cfg).lower(): "vault", storage_id(cfg).lower(): "blob"}
    seen = {}
    for pe in pes.values():
        (conn,) = pe["properties"]["privateLinkServiceConnections"]
        seen[str(conn["properties"]["privateLinkServiceId"]).lower()] = conn["properties"]["groupIds"]
        assert str(pe["properties"]["subnet"]["id"]).endswith("/subnets/snet-jumpbox")
        group = res(sim, f"{pe['id']}/privateDnsZoneGroups/default")
        assert group["properties"]["privateDnsZoneConfigs"]
    assert seen == {k: [v] for k, v in targets.items()}

    # bastion
    (bastion,) = by_type["microsoft.network/bastionhosts"]
    assert bastion["sku"]["name"] == "Standard" and bastion["properties"]["enableTunneling"] is True
    assert str(bastion["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"]).endswith(
        "/subnets/AzureBastionSubnet")

    # jump box: no public IP, SSH key only, boot diagnostics, NSG on the NIC
    (vm,) = by_type["microsoft.compute/virtualmachines"]
    linux = vm["properties"]["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True and linux["ssh"]["publicKeys"]
    assert vm["properties"]["diagnosticsProfile"]["bootDiagnostics"]["enabled"] is True
    nic = res(sim, vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"])
    assert all("publicIPAddress" not in ipc["properties"] for ipc in nic["properties"]["ipConfigurations"])
    nsg = res(sim, nic["properties"]["networkSecurityGroup"]["id"])
    allow = [r for r in nsg["properties"]["securityRules"] if r["properties"]["access"] == "Allow"]
    assert [r["properties"]["sourceAddressPrefix"] for r in allow] == [cfg.hub.subnets.bastion]

    # cluster
    aks = res(sim, cluster_id(cfg))
    cp = aks["properties"]
    assert cp["apiServerAccessProfile"]["enablePrivateCluster"] is True
    assert cp["apiServerAccessProfile"]["enableVnetIntegration"] is True
    assert cp["networkProfile"]["outboundType"] == "userDefinedRouting"
    assert cp["networkProfile"]["networkPluginMode"] == "overlay"
    assert cp["networkProfile"]["networkDataplane"] == "cilium"
    assert cp["disableLocalAccounts"] is True and cp["aadProfile"]["enableAzureRBAC"] is True
    assert cp["oidcIssuerProfile"]["enabled"] is True
    assert cp["securityProfile"]["workloadIdentity"]["enabled"] is True
    assert cp["addonProfiles"]["azureKeyvaultSecretsProvider"]["enabled"] is True
    pools = {str(r["name"]): r for r in by_type["microsoft.containerservice/managedclusters/agentpools"]}
    assert set(pools) >= {"system", "user"}
    assert pools["system"]["properties"]["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    diag = res(sim, f"{cluster_id(cfg)}/providers/Microsoft.Insights/diagnosticSettings/diag-{cfg.workspace_name}")
    assert {"kube-audit-admin", "kube-apiserver", "guard"} <= {log["category"] for log in diag["properties"]["logs"]}

    # role assignments: principalType set, never at resource-group scope
    assignments = by_type["microsoft.authorization/roleassignments"]
    roles = {str(a["properties"]["roleDefinitionId"]).rsplit("/", 1)[-1] for a in assignments}
    assert {NETWORK_CONTRIBUTOR, ACR_PULL, MANAGED_IDENTITY_OPERATOR} <= roles
    for a in assignments:
        assert a["properties"]["principalType"] == "ServicePrincipal"
        assert str(a["id"]).lower().split("/providers/microsoft.authorization/")[0] != rg.lower()


def test_second_up_makes_zero_writes(sim: Simulator, env: dict[str, str], baseline: DeploymentConfig) -> None:
    sim.reset_stats()
    result = up(baseline, env)
    assert result.status == RunStatus.SUCCEEDED, failures(result)
    assert writes(sim) == {}
    assert all(o.action == "no-op" for o in result.outcomes.values())


def test_user_pool_max_count_change_updates_the_agent_pool_only(
    sim: Simulator, env: dict[str, str], baseline: DeploymentConfig
) -> None:
    cfg = prod_with(env, user_pool={"max_count": 25})
    sim.reset_stats()
    result = up(cfg, env)
    assert result.status == RunStatus.SUCCEEDED, failures(result)
    changed = {o.key: o.action for o in result.outcomes.values() if o.action != "no-op"}
    assert changed == {"aks.pool.user": "update"}
    assert writes(sim) == {"PUT": 1}
    pool = res(sim, f"{cluster_id(cfg)}/agentPools/user")
    assert pool["properties"]["maxCount"] == 25


def test_immutable_change_is_a_replacement_in_plan_and_refused_by_up(
    sim: Simulator, env: dict[str, str], baseline: DeploymentConfig
) -> None:
    cfg = prod_with(env, service_cidr="172.18.0.0/16", dns_service_ip="172.18.0.10", user_pool={"max_count": 25})
    with open_session(cfg, command="plan", env=env) as session:
        plan = session.engine.plan()
    entry = next(e for e in plan.entries if e.key == "aks")
    assert entry.action.value == "replace"
    assert any(c.path == "properties.networkProfile.serviceCidr" and c.replace for c in entry.changes)
    sim.reset_stats()
    # known before the first write: up stops there (exit 2), the pool change is not applied either
    with pytest.raises(ReplacementsRefused) as refused:
        up(cfg, env)
    assert refused.value.exit_code == 2
    assert [(r["step"], r["forced_by"]) for r in refused.value.replacements] == [
        ("aks", ["properties.networkProfile.serviceCidr", "properties.networkProfile.dnsServiceIP"])]
    assert "--allow-replace" in str(refused.value)
    assert writes(sim) == {}
    assert res(sim, cluster_id(cfg))["properties"]["networkProfile"]["serviceCidr"] == "172.16.0.0/16"
