"""Ingress with a web application firewall (issue 17) end to end on the ARM simulator, through the
engine and the real SDK clients: the prod example deploys Application Gateway for Containers with
its WAF policy in Prevention mode, a variant deploys Application Gateway WAF_v2; the simulator's
final state is checked, a second ``up`` writes nothing, ``down`` removes everything, and switching
the kind plans the old gateway deleted and the new one created (and ``up`` converges to it)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hubspoke_deploy as hd
import pytest
from hubspoke_deploy.config import DeploymentConfig, load_config_dict
from hubspoke_deploy.orchestrator.engine import Plan, RunResult, RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps.identity import NETWORK_CONTRIBUTOR
from hubspoke_deploy.steps.ingress import AGC_CONFIGURATION_MANAGER, AGC_KEYS, ALB_SERVICE_ACCOUNT, APPGW_KEYS
from hubspoke_deploy.verification import verify

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PROD = Path(__file__).resolve().parents[2] / "config" / "examples" / "prod.toml"
SUB = "3f2a6c1e-8b4d-4e2a-9c7f-1a2b3c4d5e6f"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-aks-prod"
NET = f"{RG}/providers/Microsoft.Network"
SPOKE = f"{NET}/virtualNetworks/vnet-aks-prod-aks"
TC = f"{RG}/providers/Microsoft.ServiceNetworking/trafficControllers/agc-aks-prod"
RULE_SETS = [("Microsoft_DefaultRuleSet", "2.1"), ("Microsoft_BotManagerRuleSet", "1.1")]


@pytest.fixture(scope="module")
def sim_module() -> Iterator[Simulator]:
    with Simulator(time_scale=0.0005, seed=17) as sim:
        yield sim


def data(kind: str | None = None) -> dict[str, Any]:
    """The prod example (2 SNAT IPs instead of 20: the same shapes, fewer resources)."""
    d = tomllib.loads(PROD.read_text())
    d["firewall"]["public_ip_count"] = 2
    if kind:
        d["ingress"]["kind"] = kind
    return d


def config(d: dict[str, Any], env: dict[str, str]) -> DeploymentConfig:
    return load_config_dict(copy.deepcopy(d), env=env)


def run(cfg: DeploymentConfig, command: str) -> RunResult:
    with open_session(cfg, command=command) as session:
        result = session.engine.up() if command == "up" else session.engine.down()
    assert result.status == RunStatus.SUCCEEDED, [(o.key, str(o.error)) for o in result.failures]
    return result


def plan(cfg: DeploymentConfig) -> Plan:
    with open_session(cfg, command="plan", lock=False) as session:
        return session.engine.plan()


def writes(sim: Simulator) -> dict[str, int]:
    methods = sim.stats()["methods"]
    return {m: int(methods[m]) for m in ("PUT", "PATCH", "DELETE") if methods.get(m)}


def res(sim: Simulator, rid: str) -> dict[str, Any]:
    found = sim.get_resource(rid)
    assert found is not None, f"missing {rid}"
    return found


def ingress_ids(sim: Simulator) -> list[str]:
    kinds = ("microsoft.servicenetworking/", "applicationgateway", "federatedidentitycredentials")
    return sorted(str(r["id"]) for r in sim.resources() if any(k in str(r["type"]).lower() for k in kinds))


def assert_waf_policy(policy: dict[str, Any]) -> None:
    props = policy["properties"]
    assert props["policySettings"]["mode"] == "Prevention"
    assert props["policySettings"]["state"] == "Enabled"
    assert [(s["ruleSetType"], s["ruleSetVersion"]) for s in props["managedRules"]["managedRuleSets"]] == RULE_SETS


def diagnostics(sim: Simulator, target: str) -> list[str]:
    """The log categories the deployment's diagnostic setting on ``target`` sends to the workspace."""
    setting = res(sim, f"{target}/providers/Microsoft.Insights/diagnosticSettings/diag-log-aks-prod")["properties"]
    assert setting["workspaceId"].lower().endswith("/workspaces/log-aks-prod")
    return sorted(entry["category"] for entry in setting["logs"] if entry.get("enabled"))


def role_assignments(sim: Simulator, scope: str) -> list[tuple[str, str]]:
    prefix = f"{scope}/providers/Microsoft.Authorization/roleAssignments/".lower()
    return sorted((r["properties"]["roleDefinitionId"].rsplit("/", 1)[-1], r["properties"]["principalId"])
                  for r in sim.resources() if str(r["id"]).lower().startswith(prefix))


def test_prod_deploys_application_gateway_for_containers_with_its_waf_in_prevention(
    sim: Simulator, env: dict[str, str]
) -> None:
    cfg = config(data(), env)
    result = run(cfg, "up")

    # the association sits in the delegated /24 of the cluster spoke, which keeps no route to the firewall
    subnet = res(sim, f"{SPOKE}/subnets/snet-agc")["properties"]
    assert subnet["addressPrefix"] == "10.1.11.0/24"
    assert [d["properties"]["serviceName"] for d in subnet["delegations"]] == [
        "Microsoft.ServiceNetworking/trafficControllers"]
    assert subnet.get("routeTable") is None and subnet["defaultOutboundAccess"] is False
    tc = res(sim, TC)
    assert tc["tags"]["managed-by"] == "hubspoke-deploy" and tc["location"] == "westeurope"
    assoc = res(sim, f"{TC}/associations/association")["properties"]
    assert assoc["associationType"] == "subnets"
    assert assoc["subnet"]["id"].lower() == f"{SPOKE}/subnets/snet-agc".lower()
    assert res(sim, f"{TC}/frontends/frontend")["properties"]["fqdn"].endswith(".alb.azure.com")
    waf_id = f"{NET}/ApplicationGatewayWebApplicationFirewallPolicies/waf-agc-aks-prod"
    assert res(sim, f"{TC}/securityPolicies/waf")["properties"]["wafPolicy"]["id"].lower() == waf_id.lower()
    assert_waf_policy(res(sim, waf_id))
    assert diagnostics(sim, TC) == ["TrafficControllerAccessLog"]

    # the ALB controller's identity: federated with the cluster's issuer, the roles BYO needs
    identity = res(sim, f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-aks-prod-alb")
    principal = identity["properties"]["principalId"]
    fic = res(sim, f"{identity['id']}/federatedIdentityCredentials/alb-controller")["properties"]
    cluster = res(sim, f"{RG}/providers/Microsoft.ContainerService/managedClusters/aks-aks-prod")
    assert fic["issuer"] == cluster["properties"]["oidcIssuerProfile"]["issuerURL"]
    assert fic["subject"] == ALB_SERVICE_ACCOUNT and fic["audiences"] == ["api://AzureADTokenExchange"]
    assert role_assignments(sim, TC) == [(AGC_CONFIGURATION_MANAGER, principal)]
    assert role_assignments(sim, f"{SPOKE}/subnets/snet-agc") == [(NETWORK_CONTRIBUTOR, principal)]
    assert role_assignments(sim, waf_id) == [(NETWORK_CONTRIBUTOR, principal)]
    assert not [k for k in APPGW_KEYS if k in result.outcomes]

    outputs = hd.outputs(cfg)  # from the checkpoint, as `hubspoke-deploy outputs` prints them
    assert outputs["ingress_kind"] == "application-gateway-for-containers"
    assert outputs["agc_id"].lower() == TC.lower()
    assert identity["properties"]["clientId"] in outputs["ingress_next_step"]
    assert "helm install alb-controller" in outputs["ingress_next_step"]

    report = verify(cfg)  # the traffic-flow check: every flow carried, the gateway's path off the firewall
    assert report.ok
    [row] = [r for r in report.rows if r.name.startswith("ingress:")]
    assert row.ok and not row.crosses_firewall and row.source.endswith("/snet-agc")

    sim.reset_stats()
    run(cfg, "up")
    assert writes(sim) == {}, "a second up writes nothing"

    run(cfg, "down")
    assert ingress_ids(sim) == []
    assert [r["id"] for r in sim.resources() if str(r["id"]).lower().startswith(RG.lower())] == []


def test_a_variant_deploys_application_gateway_waf_v2_in_its_own_subnet(sim: Simulator, env: dict[str, str]) -> None:
    cfg = config(data("application-gateway-waf"), env)
    run(cfg, "up")
    gw = res(sim, f"{NET}/applicationGateways/agw-aks-prod")
    props = gw["properties"]
    assert props["sku"] == {"name": "WAF_v2", "tier": "WAF_v2"}
    assert sorted(gw["zones"]) == ["1", "2", "3"]
    assert props["autoscaleConfiguration"] == {"minCapacity": 2, "maxCapacity": 10}
    waf_id = f"{NET}/ApplicationGatewayWebApplicationFirewallPolicies/waf-agw-aks-prod"
    assert props["firewallPolicy"]["id"].lower() == waf_id.lower()
    assert_waf_policy(res(sim, waf_id))
    assert diagnostics(sim, gw["id"]) == [
        "ApplicationGatewayAccessLog", "ApplicationGatewayFirewallLog", "ApplicationGatewayPerformanceLog"]
    frontends = {fe["name"]: fe["properties"] for fe in props["frontendIPConfigurations"]}
    assert frontends["private"]["privateIPAddress"] == "10.1.10.254"
    pip = res(sim, frontends["public"]["publicIPAddress"]["id"])
    assert pip["sku"]["name"] == "Standard" and pip["properties"]["publicIPAllocationMethod"] == "Static"
    subnet = sim.get_resource(f"{SPOKE}/subnets/snet-appgw")
    assert subnet is not None and subnet["properties"].get("routeTable") is None
    assert [r["ruleType"] for r in (rr["properties"] for rr in props["requestRoutingRules"])] == ["Basic"]
    # AGC's own subnet stays reserved (and delegated), with nothing in it
    assert ingress_ids(sim) == sorted([gw["id"], waf_id])

    report = verify(cfg)
    assert report.ok
    [row] = [r for r in report.rows if r.name.startswith("ingress:")]
    assert row.ok and not row.crosses_firewall and row.source.endswith("/snet-appgw")

    sim.reset_stats()
    run(cfg, "up")
    assert writes(sim) == {}

    run(cfg, "down")
    assert [r["id"] for r in sim.resources() if str(r["id"]).lower().startswith(RG.lower())] == []


def test_switching_the_kind_plans_the_old_ingress_deleted_and_the_new_created(
    sim: Simulator, env: dict[str, str]
) -> None:
    agc, appgw = config(data(), env), config(data("application-gateway-waf"), env)
    run(agc, "up")

    p = plan(appgw)
    actions = {e.key: (e.action.value, e.orphan) for e in p.entries}
    agc_keys = [k for k in actions if k in AGC_KEYS or k.startswith("ra.agc.identity.")]
    assert sorted(agc_keys) == sorted([*AGC_KEYS, "ra.agc.identity.agc-config-manager.agc",
                                       "ra.agc.identity.netcontrib.aks.app_gateway_for_containers",
                                       "ra.agc.identity.netcontrib.waf"])
    assert {actions[k] for k in agc_keys} == {("delete", True)}
    assert {k: actions[k] for k in APPGW_KEYS} == {k: ("create", False) for k in APPGW_KEYS}

    run(appgw, "up")  # the new gateway first, then the old one's resources
    assert [e for e in plan(appgw).entries if e.action.value not in ("no-op", "keep")] == []
    ids = ingress_ids(sim)
    assert not [i for i in ids if "servicenetworking" in i.lower() or "federated" in i.lower()]
    assert f"{NET}/applicationGateways/agw-aks-prod" in ids
    assert sim.get_resource(f"{SPOKE}/subnets/snet-agc") is not None  # the reserved subnets stay

    p = plan(agc)  # and back
    assert {e.key for e in p.entries if e.orphan} == {*APPGW_KEYS, "ingress.appgw.diag"}
    run(agc, "up")
    assert sim.get_resource(f"{NET}/applicationGateways/agw-aks-prod") is None
    assert sim.get_resource(TC) is not None


def test_down_keeps_a_traffic_controller_holding_someone_elses_frontend_and_its_group(
    sim: Simulator, env: dict[str, str]
) -> None:
    from azure.mgmt.servicenetworking import ServiceNetworkingMgmtClient
    from hubspoke_deploy.simulator import SimulatorCredential

    cfg = config(data(), env)
    run(cfg, "up")
    sn = ServiceNetworkingMgmtClient(SimulatorCredential(), SUB, base_url=sim.endpoint,
                                     credential_scopes=["https://management.azure.com/.default"])
    foreign = sn.frontends_interface.begin_create_or_update(
        "rg-aks-prod", "agc-aks-prod", "team-b", {"location": "westeurope", "properties": {}}).result()
    result = run(cfg, "down")
    assert result.outcomes["ingress.agc"].status == "kept"
    assert result.outcomes["rg"].status == "kept"  # deleting the group would take the frontend with it
    assert result.outcomes["ingress.agc.frontend"].status == "deleted"  # ours goes
    assert sim.get_resource(foreign["id"]) is not None and sim.get_resource(TC) is not None
    assert sim.get_resource(f"{TC}/associations/association") is None
