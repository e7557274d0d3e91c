"""Convergence (issue 12): after ``up``, Azure equals the config.

For each edit, ``up`` on config A then ``up`` on config B leaves the simulator with exactly
the resources of a fresh ``up`` of B (ids, and what decides where traffic goes: each
subnet's route table / NAT gateway / NSG, the firewall's public IPs, the routes, the
cluster's add-ons and pools), and a following ``plan`` is empty; then B back to A equals a
fresh A. Everything runs through the real SDK clients against the ARM simulator.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import DeploymentConfig, load_config_dict
from hubspoke_deploy.orchestrator.engine import Plan, RunResult, RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import FaultSpec, Simulator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
PROD = REPO / "config" / "examples" / "prod.toml"

Data = dict[str, Any]
Edit = Callable[[Data], None]


@pytest.fixture(scope="module")
def sim_module() -> Iterator[Simulator]:
    # a fast clock: every case runs four deployments of the prod example
    with Simulator(time_scale=0.0005, seed=11) as sim:
        yield sim


def base() -> Data:
    """The prod example with 2 SNAT public IPs instead of 20 (the same shapes, fewer resources)."""
    data = tomllib.loads(PROD.read_text())
    data["firewall"]["public_ip_count"] = 2
    return data


def config(data: Data, env: dict[str, str]) -> DeploymentConfig:
    return load_config_dict(copy.deepcopy(data), env=env)


def up(cfg: DeploymentConfig, **options: Any) -> RunResult:
    with open_session(cfg, command="up") as session:
        for name, value in options.items():
            setattr(session.engine.options, name, value)
        result = session.engine.up()
    assert result.status == RunStatus.SUCCEEDED, [(o.key, str(o.error)) for o in result.failures]
    return result


def plan(cfg: DeploymentConfig) -> Plan:
    with open_session(cfg, command="plan", lock=False) as session:
        return session.engine.plan()


def pending(p: Plan) -> list[tuple[str, str, Any]]:
    return [(e.key, e.action.value, [c.path for c in e.changes]) for e in p.entries
            if e.action.value not in ("no-op", "keep")]


def _ref(props: dict[str, Any], name: str) -> str | None:
    value = props.get(name)
    return str(value["id"]).lower() if isinstance(value, dict) and value.get("id") else None


def _norm(resource_id: str) -> str:
    """Lower case, GUIDs below the subscription replaced (they are random per create)."""
    sub, _, rest = resource_id.lower().partition("/resourcegroups/")
    return sub + _ + re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<guid>", rest)


def azure(sim: Simulator) -> dict[str, Any]:
    """What the deployment left in Azure: every resource id, plus the properties that decide
    where traffic goes and what runs."""
    result: dict[str, Any] = {}
    for res in sim.resources():
        # the NIC Azure names after the private endpoint and the API server's DNS record carry
        # random GUIDs
        rid = _norm(str(res["id"]))
        rtype = str(res["type"]).lower()
        props = res.get("properties") or {}
        detail: Any = None
        if rtype == "microsoft.network/virtualnetworks/subnets":
            detail = {k: _ref(props, k) for k in ("routeTable", "natGateway", "networkSecurityGroup")}
        elif rtype == "microsoft.network/azurefirewalls":
            detail = sorted(
                (c["name"], _ref(c.get("properties") or {}, "publicIPAddress"))
                for c in props.get("ipConfigurations") or []
            )
        elif rtype == "microsoft.network/routetables":
            detail = sorted((r["name"], (r.get("properties") or {}).get("nextHopType"))
                            for r in props.get("routes") or [])
        elif rtype == "microsoft.network/firewallpolicies/rulecollectiongroups":
            detail = sorted(r["name"] for c in props.get("ruleCollections") or [] for r in c.get("rules") or [])
        elif rtype == "microsoft.containerservice/managedclusters":
            detail = {name: bool((a or {}).get("enabled")) for name, a in (props.get("addonProfiles") or {}).items()}
        elif rtype == "microsoft.containerservice/managedclusters/agentpools":
            detail = sorted(props.get("nodeTaints") or [])
        elif rtype == "microsoft.network/publicipaddresses":
            detail = _ref(props, "publicIPPrefix")
        result[rid] = detail
    return result


def _remove_spoke(d: Data) -> None:
    d["spokes"] = [s for s in d["spokes"] if s["name"] != "apps"]


def _remove_app_rule(d: Data) -> None:
    d["firewall"]["application_rules"] = d["firewall"]["application_rules"][:1]


def _remove_network_rule(d: Data) -> None:
    d["firewall"]["network_rules"] = []


def _remove_dnat_rule(d: Data) -> None:
    d["firewall"]["dnat_rules"] = [r for r in d["firewall"]["dnat_rules"] if r["name"] != "web-http"]


def _lower_pip_count(d: Data) -> None:
    d["firewall"]["public_ip_count"] = 1


def _nat_gateway(d: Data) -> None:
    d["firewall"]["nat_gateway"] = True


def _prefix(d: Data) -> None:
    d["firewall"]["public_ip_prefix_length"] = 30


def _no_user_pool(d: Data) -> None:
    d["aks"]["user_pool"]["enabled"] = False


def _no_bastion(d: Data) -> None:
    d["bastion"] = {"enabled": False}


def _no_policy_addon(d: Data) -> None:
    d["aks"]["azure_policy"] = False


def _nothing(d: Data) -> None:
    return None


# (case, edit making config A, edit making config B)
CASES: list[tuple[str, Edit, Edit]] = [
    ("remove a spoke", _nothing, _remove_spoke),
    ("remove an application rule", _nothing, _remove_app_rule),
    ("remove a network rule", _nothing, _remove_network_rule),
    ("remove a DNAT rule with a dedicated IP", _nothing, _remove_dnat_rule),
    ("lower public_ip_count", _nothing, _lower_pip_count),
    ("NAT gateway on then off", _nat_gateway, _nothing),
    ("public IP prefix on then off", _prefix, _nothing),
    ("remove the user pool", _nothing, _no_user_pool),
    ("switch Bastion off", _nothing, _no_bastion),
    ("switch an AKS add-on off", _nothing, _no_policy_addon),
]


def _made(edit: Edit) -> Data:
    data = base()
    edit(data)
    return data


@pytest.mark.parametrize(("case", "make_a", "make_b"), CASES, ids=[c[0] for c in CASES])
def test_a_then_b_equals_fresh_b_and_back(
    case: str, make_a: Edit, make_b: Edit, sim: Simulator, tmp_path: Path
) -> None:
    def env(name: str) -> dict[str, str]:
        return {
            "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
            "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
            "HUBSPOKE_STATE_BACKEND": "file",
            "HUBSPOKE_STATE_PATH": str(tmp_path / f"{name}.json"),
        }

    a_data, b_data = _made(make_a), _made(make_b)
    a, b = config(a_data, env("a-then-b")), config(b_data, env("a-then-b"))
    assert a != b

    up(a)
    fresh_a = azure(sim)
    up(b)
    a_then_b = azure(sim)
    assert pending(plan(b)) == [], case
    up(a)
    b_back_to_a = azure(sim)
    assert pending(plan(a)) == [], case

    sim.reset()
    up(config(b_data, env("fresh-b")))
    fresh_b = azure(sim)

    assert fresh_a != fresh_b, f"{case}: the edit changes nothing in Azure"
    assert sorted(set(a_then_b) - set(fresh_b)) == [], f"{case}: left behind"
    assert sorted(set(fresh_b) - set(a_then_b)) == [], f"{case}: missing"
    assert a_then_b == fresh_b, case
    assert b_back_to_a == fresh_a, f"{case}: B back to A"


def test_plan_lists_orphans_distinctly_and_counts_them(sim: Simulator, env: dict[str, str]) -> None:
    data = base()
    up(config(data, env))
    _remove_dnat_rule(data)
    p = plan(config(data, env))
    orphans = [e for e in p.entries if e.orphan]
    assert sorted((e.key, e.action.value) for e in orphans) == [("fw.pip.dnat.web-http", "delete")]
    assert orphans[0].note == "no longer in the config"
    assert orphans[0].as_dict()["orphan"] is True
    assert p.counts()["delete"] == 1 and p.has_changes
    # the writes that stop referencing the IP are planned too
    assert {e.key for e in p.entries if e.action.value == "update"} >= {"fw", "fw.rcg.dnat", "rt.aks"}


def test_orphans_deleted_after_the_writes_that_release_them(sim: Simulator, env: dict[str, str]) -> None:
    data = base()
    up(config(data, env))
    _remove_dnat_rule(data)
    sim.reset_stats()
    log: list[tuple[str, str]] = []
    with open_session(config(data, env), command="up") as session:
        session.engine.on_event = lambda e: log.append((e["event"], str(e.get("step")))) if e[
            "event"] in ("step_applying", "step_finished") else None
        result = session.engine.up()
    assert result.status == RunStatus.SUCCEEDED
    finished = [step for event, step in log if event == "step_finished"]
    assert finished.index("fw.pip.dnat.web-http") > max(finished.index(k) for k in ("fw", "rt.aks", "fw.rcg.dnat"))
    assert result.outcomes["fw.pip.dnat.web-http"].status == "deleted"
    assert sim.stats()["methods"].get("DELETE") == 1


def test_a_foreign_resource_that_needs_replacing_stops_up_before_any_write(
    sim: Simulator, env: dict[str, str]
) -> None:
    """Another team's public IP with the name the config wants, in other zones: replacing it
    would delete it. Even with --allow-replace, up exits 2 and sends no write at all."""
    data = base()
    cfg = config(data, env)
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from hubspoke_deploy.simulator import SimulatorCredential

    kw: dict[str, Any] = {"base_url": sim.endpoint, "credential_scopes": ["https://management.azure.com/.default"]}
    ResourceManagementClient(SimulatorCredential(), cfg.subscription_id, **kw).resource_groups.create_or_update(
        cfg.resource_group, {"location": cfg.location, "tags": {"owner": "other-team"}})
    foreign = f"pip-fw-{cfg.name}-01"
    net = NetworkManagementClient(SimulatorCredential(), cfg.subscription_id, **kw)
    net.public_ip_addresses.begin_create_or_update(
        cfg.resource_group, foreign,
        {"location": cfg.location, "sku": {"name": "Standard"}, "zones": ["1"],
         "tags": {"owner": "other-team"}, "properties": {"publicIPAllocationMethod": "Static"}},
    ).result()
    sim.reset_stats()
    from hubspoke_deploy.errors import ReplacementsRefused

    for allow in (False, True):
        with pytest.raises(ReplacementsRefused) as refused:
            up(cfg, allow_replace=allow)
        assert refused.value.exit_code == 2
        [item] = refused.value.replacements
        assert item["step"] == "fw.pip.1" and item["resource_id"].endswith(f"/publicIPAddresses/{foreign}")
        assert item["forced_by"] == ["zones"]
        assert "not created by this deployment" in item["fix"]
    methods = sim.stats()["methods"]
    assert methods.get("PUT", 0) == methods.get("DELETE", 0) == methods.get("PATCH", 0) == 0
    assert sim.get_resource(
        f"/subscriptions/{cfg.subscription_id}/resourceGroups/{cfg.resource_group}"
        f"/providers/Microsoft.Network/publicIPAddresses/{foreign}")["zones"] == ["1"]


def test_adopted_resource_group_keeps_its_tags_and_survives_down(sim: Simulator, env: dict[str, str]) -> None:
    cfg = config(base(), env)
    from azure.mgmt.resource.resources import ResourceManagementClient
    from hubspoke_deploy.simulator import SimulatorCredential

    rm = ResourceManagementClient(SimulatorCredential(), cfg.subscription_id, base_url=sim.endpoint,
                                  credential_scopes=["https://management.azure.com/.default"])
    rm.resource_groups.create_or_update(cfg.resource_group,
                                        {"location": cfg.location, "tags": {"owner": "other-team", "app": "x"}})
    up(cfg)
    tags = rm.resource_groups.get(cfg.resource_group).tags
    assert tags["owner"] == "other-team" and tags["app"] == "x"  # theirs kept
    assert tags["costcenter"] == "cc-1234" and tags["managed-by"] == "hubspoke-deploy"  # ours merged in
    assert pending(plan(cfg)) == []
    with open_session(cfg, command="down") as session:
        result = session.engine.down()
    assert result.status == RunStatus.SUCCEEDED
    assert result.outcomes["rg"].status == "kept"
    assert rm.resource_groups.get(cfg.resource_group).tags["owner"] == "other-team"
    # everything the deployment created inside it is gone
    assert [r.id for r in rm.resources.list_by_resource_group(cfg.resource_group)] == []


def _foreign_ip(sim: Simulator, cfg: DeploymentConfig) -> str:
    from azure.mgmt.network import NetworkManagementClient
    from hubspoke_deploy.simulator import SimulatorCredential

    net = NetworkManagementClient(SimulatorCredential(), cfg.subscription_id, base_url=sim.endpoint,
                                  credential_scopes=["https://management.azure.com/.default"])
    return str(net.public_ip_addresses.begin_create_or_update(
        cfg.resource_group, "pip-someone-else",
        {"location": cfg.location, "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}},
    ).result().id)


def test_down_deletes_orphans_too(sim: Simulator, env: dict[str, str]) -> None:
    data = base()
    up(config(data, env))
    _remove_spoke(data)
    cfg = config(data, env)
    foreign = _foreign_ip(sim, cfg)
    with open_session(cfg, command="plan", lock=False) as session:
        preview = session.engine.plan_destroy()
    assert {e.key for e in preview.entries if e.orphan} >= {"vnet.apps", "peering.hub-to-apps", "subnet.apps.jumpbox"}
    with open_session(cfg, command="down") as session:
        result = session.engine.down()
    assert result.status == RunStatus.SUCCEEDED
    assert result.outcomes["vnet.apps"].status == "deleted"
    left = [rid for rid in azure(sim) if "/resourcegroups/rg-aks-prod/" in rid]
    assert left == [_norm(foreign)]  # the foreign IP, and nothing of the deployment


def test_orphan_deletion_resumes_after_a_fault_storm(sim: Simulator, env: dict[str, str]) -> None:
    data = base()
    up(config(data, env))
    _remove_spoke(data)
    cfg = config(data, env)
    foreign = _foreign_ip(sim, cfg)
    sim.set_faults(FaultSpec.parse("429=0.1,500=0.1,drop=0.05,lrofail=0.05"))
    for _ in range(6):
        with open_session(cfg, command="up") as session:
            result = session.engine.up()
        if result.status == RunStatus.SUCCEEDED:
            break
    sim.set_faults(FaultSpec())
    assert result.status == RunStatus.SUCCEEDED
    assert pending(plan(cfg)) == []
    assert not [r for r in azure(sim) if "vnet-aks-prod-apps" in r]
    assert sim.get_resource(foreign) is not None


def test_an_nsg_attached_out_of_band_to_an_owned_subnet_is_drift_and_up_removes_it(
    sim: Simulator, env: dict[str, str]
) -> None:
    cfg = config(base(), env)
    up(cfg)
    from azure.mgmt.network import NetworkManagementClient
    from hubspoke_deploy.simulator import SimulatorCredential

    net = NetworkManagementClient(SimulatorCredential(), cfg.subscription_id, base_url=sim.endpoint,
                                  credential_scopes=["https://management.azure.com/.default"])
    nsg = net.network_security_groups.begin_create_or_update(
        cfg.resource_group, "nsg-someone-else", {"location": cfg.location}).result()
    vnet = cfg.spoke_vnet_name("aks")
    subnet = net.subnets.get(cfg.resource_group, vnet, "snet-api-server")
    net.subnets.begin_create_or_update(cfg.resource_group, vnet, "snet-api-server", {
        "properties": {
            "addressPrefix": subnet.address_prefix,
            "defaultOutboundAccess": False,
            "delegations": [{"name": d.name, "properties": {"serviceName": d.service_name}}
                            for d in subnet.delegations or []],
            "serviceEndpoints": [{"service": "Microsoft.Storage"}],  # someone else's, not owned: kept
            "networkSecurityGroup": {"id": nsg.id},
        },
    }).result()

    with open_session(cfg, command="plan", lock=False) as session:
        drift = session.engine.plan(refresh_only=True)
    changed = {e.key: [c.path for c in e.changes] for e in drift.entries if e.changes}
    assert changed == {"subnet.aks.api_server": ["properties.networkSecurityGroup"]}

    sim.reset_stats()
    result = up(cfg)
    assert result.outcomes["subnet.aks.api_server"].action == "update"
    assert sim.stats()["methods"].get("PUT") == 1
    after = net.subnets.get(cfg.resource_group, vnet, "snet-api-server")
    assert after.network_security_group is None
    assert [e.service for e in after.service_endpoints or []] == ["Microsoft.Storage"]
    assert net.network_security_groups.get(cfg.resource_group, "nsg-someone-else") is not None
    assert pending(plan(cfg)) == []


def test_cli_up_lists_the_replacements_and_exits_2_before_writing(
    sim: Simulator, env: dict[str, str], tmp_path: Path
) -> None:
    import os
    import subprocess

    up(config(base(), env))
    data = base()
    data["aks"]["service_cidr"] = "172.18.0.0/16"
    data["aks"]["dns_service_ip"] = "172.18.0.10"
    data["firewall"]["public_ip_count"] = 1  # a pending update and an orphan: neither happens
    cfg_file = tmp_path / "changed.toml"
    cfg_file.write_text("\n".join(f"{k} = {json_value(v)}" for k, v in data.items()))
    sim.reset_stats()
    proc = subprocess.run(
        [sys.executable, "-m", "hubspoke_deploy.cli", "up", "--yes", "--config", str(cfg_file)],
        capture_output=True, text=True, timeout=180, env={**os.environ, **env},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "aks: /subscriptions/" in proc.stderr and "forced by: properties.networkProfile.serviceCidr" in proc.stderr
    assert "--allow-replace" in proc.stderr and "nothing was changed" in proc.stderr
    methods = sim.stats()["methods"]
    assert methods.get("PUT", 0) == methods.get("DELETE", 0) == 0


def json_value(value: Any) -> str:
    """An inline TOML value (JSON strings, numbers and arrays are TOML too)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {json_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(json_value(v) for v in value) + "]"
    return json.dumps(value)
