"""``verify`` on the live (simulated) deployment (issue 14): after ``up`` of each example every
required flow is carried; Azure changed out of band (a rule removed, a route table detached, a
Deny collection above the AKS rules, a zone unlinked from the hub, a spoke's DNS set back to
Azure's) makes ``verify`` fail naming the broken flow and the fix, and ``up`` repairs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import DeploymentConfig, load_config_dict
from hubspoke_deploy.orchestrator.engine import RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import Simulator, SimulatorCredential
from hubspoke_deploy.verification import VerifyReport, VerifyRow, verify

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "config" / "examples"
SCOPE = ["https://management.azure.com/.default"]


@pytest.fixture(scope="module")
def sim_module() -> Iterator[Simulator]:
    with Simulator(time_scale=0.0005, seed=5) as sim:
        yield sim


def _config(name: str, env: dict[str, str]) -> DeploymentConfig:
    data = tomllib.loads((EXAMPLES / f"{name}.toml").read_text())
    if name == "prod":
        data["firewall"]["public_ip_count"] = 2
    return load_config_dict(data, env=env)


def _up(cfg: DeploymentConfig) -> None:
    with open_session(cfg, command="up") as session:
        result = session.engine.up()
    assert result.status == RunStatus.SUCCEEDED, [(o.key, str(o.error)) for o in result.failures]


def _row(report: VerifyReport, name: str) -> VerifyRow:
    return next(r for r in report.rows if r.name == name)


@pytest.mark.parametrize("example", ["sandbox", "prod"])
def test_every_required_flow_is_carried_after_up(example: str, sim: Simulator, env: dict[str, str]) -> None:
    cfg = _config(example, env)
    _up(cfg)
    report = verify(cfg)
    assert [(r.name, r.status, r.reason) for r in report.rows if not r.ok] == []
    assert [f for f in report.findings if f["problem"]] == []
    assert report.ok

    jumpbox = _row(report, "jumpbox: jumpbox-entra-arm")
    assert (jumpbox.destination, jumpbox.port) == ("login.microsoftonline.com", 443)
    assert jumpbox.crosses_firewall and jumpbox.rule == "aks-egress/jumpbox/jumpbox-entra-arm"
    nodes = _row(report, "nodes: aks-fqdn-tag")
    assert (nodes.destination, nodes.rule) == ("mcr.microsoft.com", "aks-egress/aks-application/aks-fqdn-tag")
    for source in ("nodes", "jumpbox"):
        acr = _row(report, f"{source}: registry (private)")
        assert acr.destination == f"{cfg.acr_name.lower()}.azurecr.io"
        assert acr.status == "allowed" and not acr.crosses_firewall
        assert acr.resolved is not None and acr.resolved.startswith("10.1.")  # its private endpoint
    api = _row(report, "jumpbox: api-server (private)")
    assert api.destination.endswith(f".privatelink.{cfg.location}.azmk8s.io") and api.ok
    if example == "prod":
        other = _row(report, "apps/jumpbox: registry (private)")  # across the hub: via the firewall
        assert other.ok and other.crosses_firewall
        assert other.rule == "aks-egress/aks-network/spokes-to-private-endpoints"
        assert {"nodes: azure-policy", "nodes: container-insights"} <= {r.name for r in report.rows}


def _clients(sim: Simulator, cfg: DeploymentConfig) -> tuple[Any, Any]:
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.privatedns import PrivateDnsManagementClient

    kw: dict[str, Any] = {"base_url": sim.endpoint, "credential_scopes": SCOPE}
    return (NetworkManagementClient(SimulatorCredential(), cfg.subscription_id, **kw),
            PrivateDnsManagementClient(SimulatorCredential(), cfg.subscription_id, **kw))


def _remove_fqdn_tag_rule(sim: Simulator, cfg: DeploymentConfig) -> None:
    net, _ = _clients(sim, cfg)
    policy = f"afwp-{cfg.name}"
    group = _rest(net, cfg, policy, "aks-egress")["properties"]
    body = {"properties": {"priority": group["priority"], "ruleCollections": [
        c for c in group["ruleCollections"] if c["name"] != "aks-application"]}}
    net.firewall_policy_rule_collection_groups.begin_create_or_update(
        cfg.resource_group, policy, "aks-egress", body).result()


def _rest(net: Any, cfg: DeploymentConfig, policy: str, group: str) -> dict[str, Any]:
    from hubspoke_deploy.orchestrator.clients import to_json

    value = to_json(net.firewall_policy_rule_collection_groups.get(cfg.resource_group, policy, group))
    assert isinstance(value, dict)
    return value


def _detach_route_table(sim: Simulator, cfg: DeploymentConfig) -> None:
    net, _ = _clients(sim, cfg)
    vnet = cfg.spoke_vnet_name("aks")
    subnet = net.subnets.get(cfg.resource_group, vnet, "snet-jumpbox")
    net.subnets.begin_create_or_update(cfg.resource_group, vnet, "snet-jumpbox", {"properties": {
        "addressPrefix": subnet.address_prefix, "defaultOutboundAccess": False,
        "privateEndpointNetworkPolicies": "Enabled"}}).result()


def _deny_above(sim: Simulator, cfg: DeploymentConfig) -> None:
    net, _ = _clients(sim, cfg)
    net.firewall_policy_rule_collection_groups.begin_create_or_update(
        cfg.resource_group, f"afwp-{cfg.name}", "someone-elses", {"properties": {"priority": 50, "ruleCollections": [{
            "ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": "deny-microsoft",
            "priority": 100, "action": {"type": "Deny"},
            "rules": [{"ruleType": "ApplicationRule", "name": "no-login", "sourceAddresses": ["*"],
                       "targetFqdns": ["login.microsoftonline.com"],
                       "protocols": [{"protocolType": "Https", "port": 443}]}],
        }]}}).result()


def _unlink_registry_zone_from_hub(sim: Simulator, cfg: DeploymentConfig) -> None:
    _, dns = _clients(sim, cfg)
    dns.virtual_network_links.begin_delete(
        cfg.resource_group, "privatelink.azurecr.io", f"link-{cfg.hub_vnet_name}").result()


def _spoke_dns_back_to_azure(sim: Simulator, cfg: DeploymentConfig) -> None:
    net, _ = _clients(sim, cfg)
    vnet = net.virtual_networks.get(cfg.resource_group, cfg.spoke_vnet_name("aks"))
    net.virtual_networks.begin_create_or_update(cfg.resource_group, vnet.name, {
        "location": vnet.location, "tags": vnet.tags,
        "properties": {"addressSpace": {"addressPrefixes": vnet.address_space.address_prefixes}}}).result()


# (out-of-band change, the flow that must fail, words its reason or fix must carry)
BREAKS: list[tuple[str, Callable[[Simulator, DeploymentConfig], None], str, str]] = [
    ("remove the FQDN-tag rule", _remove_fqdn_tag_rule, "nodes: aks-fqdn-tag (management.azure.com)",
     "application rule allowing"),
    ("detach a route table", _detach_route_table, "jumpbox: jumpbox-entra-arm", "associate a route table"),
    ("a higher-priority Deny collection", _deny_above, "jumpbox: jumpbox-entra-arm", "someone-elses"),
    ("unlink a DNS zone from the hub", _unlink_registry_zone_from_hub, "jumpbox: registry (private)", "link"),
    ("spoke DNS back to Azure's", _spoke_dns_back_to_azure, "nodes: ntp", "DNS"),
]


@pytest.mark.parametrize(("case", "change", "flow", "words"), BREAKS, ids=[b[0] for b in BREAKS])
def test_an_out_of_band_change_fails_verify_naming_the_flow_and_the_fix_and_up_repairs_it(
    case: str, change: Callable[[Simulator, DeploymentConfig], None], flow: str, words: str,
    sim: Simulator, env: dict[str, str],
) -> None:
    cfg = _config("sandbox", env)
    _up(cfg)
    assert verify(cfg).ok
    change(sim, cfg)
    report = verify(cfg)
    assert not report.ok, case
    broken = _row(report, flow)
    assert not broken.ok, (case, broken)
    text = " ".join(str(x) for x in (broken.reason, broken.fix, broken.path, broken.rule))
    assert words.lower() in text.lower(), (case, text)
    if case != "a higher-priority Deny collection":  # a group the deployment does not own stays
        _up(cfg)
        assert verify(cfg).ok, case


def test_cli_verify_json_and_one_flow(sim: Simulator, env: dict[str, str], tmp_path: Path) -> None:
    cfg = _config("sandbox", env)
    _up(cfg)
    cli = [sys.executable, "-m", "hubspoke_deploy.cli"]
    config = str(EXAMPLES / "sandbox.toml")
    run_env = {**os.environ, **env}
    ok = subprocess.run([*cli, "verify", "--config", config, "-o", "json"], capture_output=True, text=True,
                        env=run_env, timeout=120)
    assert ok.returncode == 0, ok.stderr[-2000:]
    doc = json.loads(ok.stdout)
    assert doc["ok"] is True and {f["name"] for f in doc["flows"]} >= {"jumpbox: jumpbox-entra-arm"}
    one = subprocess.run([*cli, "verify", "--config", config, "--from", "snet-jumpbox", "--to", "example.com:443"],
                         capture_output=True, text=True, env=run_env, timeout=120)
    assert one.returncode == 1
    assert "FAIL" in one.stdout and "fix:  an application rule allowing example.com:443" in one.stdout
    usage = subprocess.run([*cli, "verify", "--config", config, "--from", "snet-jumpbox"],
                           capture_output=True, text=True, env=run_env, timeout=120)
    assert usage.returncode == 2 and "--from and --to go together" in usage.stderr


def test_plan_evaluates_the_planned_network_before_anything_is_written(sim: Simulator, env: dict[str, str]) -> None:
    """Before the first write (nothing exists: ids, the firewall's IP and the policy are only
    planned), the egress flows of the planned state are evaluated; a planned state without the
    FQDN-tag rule or without a subnet's route table is reported with the flow and the fix."""
    import copy

    from hubspoke_deploy.verification import check_desired

    cfg = _config("sandbox", env)
    with open_session(cfg, command="plan", lock=False) as session:
        planned = session.engine.plan()
    assert {e.action.value for e in planned.entries} == {"create"}
    assert sim.stats()["methods"].get("PUT", 0) == 0
    report = check_desired(cfg, planned.desired)
    assert report.ok and len(report.rows) >= 6 and not any(r.private for r in report.rows)

    no_tag = copy.deepcopy(planned.desired)
    for res in no_tag:
        if res["id"].endswith("/ruleCollectionGroups/aks-egress"):
            res["properties"]["ruleCollections"] = [
                c for c in res["properties"]["ruleCollections"] if c["name"] != "aks-application"]
    broken = _row(check_desired(cfg, no_tag), "nodes: aks-fqdn-tag (management.azure.com)")
    assert not broken.ok and "application rule allowing management.azure.com" in str(broken.fix)

    no_route = copy.deepcopy(planned.desired)
    for res in no_route:
        if res["id"].endswith("/subnets/snet-jumpbox"):
            res["properties"].pop("routeTable")
    broken = _row(check_desired(cfg, no_route), "jumpbox: jumpbox-entra-arm")
    assert not broken.ok and "associate a route table" in str(broken.fix)

    import hubspoke_deploy as hd

    assert hd.plan(cfg).flow_problems == []  # the library's plan runs the same check
