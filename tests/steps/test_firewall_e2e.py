"""End to end: the network half (foundation + firewall steps) through the engine and the
real SDK clients against the ARM simulator; assertions read the simulator's final state."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from hubspoke_deploy.config import DeploymentConfig, load_config_dict
from hubspoke_deploy.orchestrator.engine import Action, RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.firewall import (
    AKS_FQDN_TAG,
    DIAGNOSTIC_LOG_CATEGORIES,
    dedicated_pip_key,
    firewall_steps,
    hub_firewall_subnet_kwargs,
)
from hubspoke_deploy.steps.network import HUB_SUBNET_NAMES, SubnetStep, foundation_steps

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
PROD = REPO / "config" / "examples" / "prod.toml"
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"


# sim, sim_module and env come from tests/conftest.py


def load(path: Path, env: dict[str, str], edit: Any = None) -> DeploymentConfig:
    data = tomllib.loads(path.read_text())
    if edit is not None:
        edit(data)
    return load_config_dict(data, env=env)


def network_steps(cfg: DeploymentConfig) -> list[Step]:
    """foundation_steps with AzureFirewallSubnet built as hub_firewall_subnet_kwargs says,
    plus firewall_steps (the lead wires the subnet kwargs into foundation_steps)."""
    steps: list[Step] = []
    fw_subnet = keys.subnet(keys.HUB, "firewall")
    for step in foundation_steps(cfg):
        if step.key == fw_subnet and cfg.firewall.nat_gateway:
            step = SubnetStep(
                fw_subnet, cfg, cfg.hub_vnet_name, HUB_SUBNET_NAMES["firewall"], cfg.hub.subnets.firewall,
                **hub_firewall_subnet_kwargs(cfg, (keys.vnet(keys.HUB),)),
            )
        steps.append(step)
    return [*steps, *firewall_steps(cfg)]


def up(cfg: DeploymentConfig, steps: list[Step]) -> Any:
    with open_session(cfg, command="up", steps=steps) as session:
        result = session.engine.up()
    assert result.status == RunStatus.SUCCEEDED, [(o.key, str(o.error)) for o in result.failures()]
    return result


def writes(sim: Simulator) -> int:
    methods = sim.stats()["methods"]
    return int(methods.get("PUT", 0) + methods.get("PATCH", 0) + methods.get("DELETE", 0))


def get(sim: Simulator, step: Step) -> dict[str, Any]:
    res = sim.get_resource(step.resource_id())
    assert res is not None, f"{step.key}: {step.resource_id()} missing"
    return res


def rules_of(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for c in res["properties"]["ruleCollections"] for r in c["rules"]}


def test_prod_plan_then_up_then_idempotent_then_one_group_rewrite(sim: Simulator, env: dict[str, str]) -> None:
    cfg = load(PROD, env)
    steps = network_steps(cfg)
    by = {s.key: s for s in steps}

    # plan before the first up: every resource, each to be created
    with open_session(cfg, command="plan", steps=steps, lock=False) as session:
        plan = session.engine.plan()
    assert {e.key for e in plan.entries} == set(by)
    assert all(e.action == Action.CREATE for e in plan.entries)
    assert writes(sim) == 0

    up(cfg, steps)

    # -- resources and properties, read back from the simulator
    policy = get(sim, by[keys.FIREWALL_POLICY])["properties"]
    assert policy["sku"]["tier"] == "Premium"
    assert policy["threatIntelMode"] == "Deny"
    assert policy["dnsSettings"]["enableProxy"] is True
    assert policy["intrusionDetection"]["mode"] == "Deny"

    pips = [s for k, s in by.items() if k.startswith("fw.pip.")]
    assert len(pips) == 22
    for step in pips:
        pip = get(sim, step)
        assert pip["sku"]["name"] == "Standard"
        assert pip["properties"]["publicIPAllocationMethod"] == "Static"
        assert sorted(pip["zones"]) == ["1", "2", "3"]
        assert pip["tags"]["managed-by"] == "hubspoke-deploy"

    fw = get(sim, by[keys.FIREWALL])
    fwp = fw["properties"]
    assert fwp["sku"] == {"name": "AZFW_VNet", "tier": "Premium"}
    assert sorted(fw["zones"]) == ["1", "2", "3"]
    assert fwp["firewallPolicy"]["id"].lower() == by[keys.FIREWALL_POLICY].resource_id().lower()
    assert len(fwp["ipConfigurations"]) == 22
    first = fwp["ipConfigurations"][0]["properties"]
    assert first["subnet"]["id"].lower() == by[keys.subnet(keys.HUB, "firewall")].resource_id().lower()
    private_ip = first["privateIPAddress"]
    assert private_ip

    groups = {k: get(sim, s) for k, s in by.items() if k.startswith("fw.rcg.")}
    assert len({g["properties"]["priority"] for g in groups.values()}) == 4
    aks = rules_of(groups["fw.rcg.aks-egress"])
    assert aks["aks-fqdn-tag"]["fqdnTags"] == [AKS_FQDN_TAG]
    assert aks["aks-fqdn-tag"]["sourceAddresses"] == ["10.1.0.0/24", "10.1.4.0/22"]
    assert aks["ntp"]["ipProtocols"] == ["UDP"] and aks["ntp"]["destinationPorts"] == ["123"]
    assert "apiserver-tunnel-udp" not in aks
    reg = rules_of(groups["fw.rcg.registries"])["container-registries"]
    assert f"{cfg.acr_name}.azurecr.io" in reg["targetFqdns"]
    assert f"{cfg.acr_name}.westeurope.data.azurecr.io" in reg["targetFqdns"]
    assert "mcr.microsoft.com" in reg["targetFqdns"]
    user = rules_of(groups["fw.rcg.user-egress"])
    assert user["allow-github"]["targetFqdns"] == ["github.com", "*.githubusercontent.com"]
    dnat = rules_of(groups["fw.rcg.dnat"])
    web_https_ip = get(sim, by[dedicated_pip_key("web-https")])["properties"]["ipAddress"]
    web_http_ip = get(sim, by[dedicated_pip_key("web-http")])["properties"]["ipAddress"]
    assert dnat["web-https"]["destinationAddresses"] == [web_https_ip]
    assert dnat["web-https"]["destinationPorts"] == ["443"] and dnat["web-https"]["translatedPort"] == "443"
    assert dnat["web-http"]["destinationAddresses"] == [web_http_ip]
    for group in groups.values():
        for rule in rules_of(group).values():
            assert "*" not in rule.get("destinationPorts", []) and "*" not in rule.get("targetFqdns", [])

    rt = get(sim, by["rt.aks"])["properties"]
    assert rt["disableBgpRoutePropagation"] is True
    routes = {r["properties"]["addressPrefix"]: r["properties"] for r in rt["routes"]}
    assert routes["0.0.0.0/0"]["nextHopType"] == "VirtualAppliance"
    assert routes["0.0.0.0/0"]["nextHopIpAddress"] == private_ip
    assert routes[f"{web_https_ip}/32"]["nextHopType"] == "Internet"
    assert routes[f"{web_http_ip}/32"]["nextHopType"] == "Internet"
    assert len(routes) == 3
    for field in ("system_nodes", "user_nodes"):
        sub = get(sim, by[keys.subnet("aks", field)])
        assert sub["properties"]["routeTable"]["id"].lower() == by["rt.aks"].resource_id().lower()

    diag = get(sim, by[keys.FIREWALL_DIAG])["properties"]
    assert diag["logAnalyticsDestinationType"] == "Dedicated"
    assert diag["workspaceId"].lower() == by[keys.WORKSPACE].resource_id().lower()
    assert {entry["category"] for entry in diag["logs"] if entry["enabled"]} == set(DIAGNOSTIC_LOG_CATEGORIES)

    for spoke in ("aks", "apps"):
        for key in (keys.peering(keys.HUB, spoke), keys.peering(spoke, keys.HUB)):
            peer = get(sim, by[key])["properties"]
            assert peer["allowVirtualNetworkAccess"] is True and peer["allowForwardedTraffic"] is True
            assert peer["allowGatewayTransit"] is False

    # -- a second up makes zero writes
    sim.reset_stats()
    second = up(cfg, steps)
    assert writes(sim) == 0
    assert all(o.action == Action.NOOP.value for o in second.outcomes.values())

    # -- changing one rule's FQDNs rewrites that one rule collection group only
    def edit(data: dict[str, Any]) -> None:
        data["firewall"]["application_rules"][0]["fqdns"] = ["github.com", "api.github.com"]

    changed = load(PROD, env, edit)
    sim.reset_stats()
    third = up(changed, network_steps(changed))
    assert [k for k, o in third.outcomes.items() if o.changed] == ["fw.rcg.user-egress"]
    assert writes(sim) == 1
    group = sim.get_resource(by["fw.rcg.user-egress"].resource_id())
    assert group is not None
    assert rules_of(group)["allow-github"]["targetFqdns"] == ["github.com", "api.github.com"]


def test_variants_basic_nat_gateway_spokes_tunnel_shared_dnat(sim: Simulator, env: dict[str, str]) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["hub"] = {"subnets": {"firewall": "10.0.0.0/26", "bastion": "10.0.0.64/26",
                                   "firewall_management": "10.0.0.128/26"}}
        data["firewall"] = {"tier": "Basic", "public_ip_count": 1, "nat_gateway": True, "dnat_rules": [
            {"name": "ssh", "public_port": 2222, "translated_address": "10.1.1.10", "translated_port": 22}]}
        data["aks"] = {**copy.deepcopy(data.get("aks", {})), "api_server_vnet_integration": False}
        data["spokes"].append({"name": "batch", "address_space": ["10.2.0.0/16"],
                               "subnets": {"user_nodes": "10.2.0.0/24"}})

    cfg = load(SANDBOX, env, edit)
    steps = network_steps(cfg)
    by = {s.key: s for s in steps}
    up(cfg, steps)

    # Basic: management subnet and IP
    fw = get(sim, by[keys.FIREWALL])["properties"]
    assert fw["sku"]["tier"] == "Basic"
    mgmt = fw["managementIpConfiguration"]["properties"]
    assert mgmt["subnet"]["id"].lower() == by[keys.subnet(keys.HUB, "firewall_management")].resource_id().lower()
    assert mgmt["publicIPAddress"]["id"].lower() == by[keys.FIREWALL_MGMT_PIP].resource_id().lower()
    assert get(sim, by[keys.FIREWALL_MGMT_PIP])["sku"]["name"] == "Standard"
    policy = get(sim, by[keys.FIREWALL_POLICY])["properties"]
    assert policy["sku"]["tier"] == "Basic" and policy["threatIntelMode"] == "Alert"

    # NAT gateway on AzureFirewallSubnet, with its own public IP
    ng = get(sim, by[keys.NAT_GATEWAY])
    assert ng["sku"]["name"] == "Standard"
    assert [p["id"].lower() for p in ng["properties"]["publicIpAddresses"]] == [
        by[keys.NAT_GATEWAY_PIP].resource_id().lower()]
    fw_subnet = get(sim, by[keys.subnet(keys.HUB, "firewall")])
    assert fw_subnet["properties"]["natGateway"]["id"].lower() == by[keys.NAT_GATEWAY].resource_id().lower()

    # API server VNet integration off: the tunnel rules
    aks = rules_of(get(sim, by["fw.rcg.aks-egress"]))
    assert aks["apiserver-tunnel-udp"]["destinationPorts"] == ["1194"]
    assert aks["apiserver-tunnel-tcp"]["destinationPorts"] == ["9000"]
    assert aks["apiserver-tunnel-tcp"]["destinationAddresses"] == ["AzureCloud.westeurope"]

    # several spokes: one route table each, the DNAT IP (shared, the first) gets its /32
    fw_ip = fw["ipConfigurations"][0]["properties"]["privateIPAddress"]
    pip1 = get(sim, by[keys.firewall_pip(1)])["properties"]["ipAddress"]
    for spoke, field in (("aks", "system_nodes"), ("batch", "user_nodes")):
        rt = get(sim, by[f"rt.{spoke}"])["properties"]
        routes = {r["properties"]["addressPrefix"]: r["properties"] for r in rt["routes"]}
        assert routes["0.0.0.0/0"]["nextHopIpAddress"] == fw_ip
        assert routes[f"{pip1}/32"]["nextHopType"] == "Internet"
        sub = get(sim, by[keys.subnet(spoke, field)])
        assert sub["properties"]["routeTable"]["id"].lower() == by[f"rt.{spoke}"].resource_id().lower()
    assert rules_of(get(sim, by["fw.rcg.dnat"]))["ssh"]["destinationAddresses"] == [pip1]

    sim.reset_stats()
    up(cfg, steps)
    assert writes(sim) == 0
