"""Teardown that never deletes what it does not own, and drift detection (issue 7), on the simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hubspoke_deploy.config import load_config
from hubspoke_deploy.orchestrator.clients import Clients, to_json
from hubspoke_deploy.orchestrator.engine import RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import Simulator, SimulatorCredential

REPO = Path(__file__).resolve().parents[2]
PROD = REPO / "config" / "examples" / "prod.toml"
SCOPE = "https://management.azure.com/.default"
IN_USE = ("InUseSubnetCannotBeDeleted", "InUseRouteTableCannotBeDeleted", "PublicIPAddressCannotBeDeleted",
          "InUseNetworkSecurityGroupCannotBeDeleted")


def prod_cfg(sim: Simulator, tmp_path: Path) -> Any:
    env = {
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json"),
    }
    return load_config(PROD, env=env)


def clients(sim: Simulator, cfg: Any) -> Clients:
    return Clients(SimulatorCredential(), cfg.subscription_id, sim.endpoint, SCOPE, connection_verify=sim.ca_path,
                   polling_interval=0.01)


def up(cfg: Any) -> Any:
    with open_session(cfg, command="up") as s:
        return s.engine.up()


def test_down_deletes_only_what_it_owns(sim: Simulator, tmp_path: Path) -> None:
    cfg = prod_cfg(sim, tmp_path)
    assert up(cfg).status == RunStatus.SUCCEEDED
    c = clients(sim, cfg)
    net, rg = c.get("network"), cfg.resource_group
    spoke = cfg.cluster_spoke
    vnet = cfg.spoke_vnet_name(spoke)
    subnet = to_json(net.subnets.get(rg, vnet, "snet-system-nodes"))
    foreign_nic = net.network_interfaces.begin_create_or_update(rg, "nic-foreign-vm", {
        "location": cfg.location,
        "properties": {"ipConfigurations": [
            {"name": "ipconfig1", "properties": {"subnet": {"id": subnet["id"]},
                                                 "privateIPAllocationMethod": "Dynamic"}}]},
    }).result()
    foreign_pip = net.public_ip_addresses.begin_create_or_update(rg, "pip-foreign", {
        "location": cfg.location, "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static"},
    }).result()
    storage = c.get("storage")
    storage.storage_accounts.begin_create(rg, "stforeign001", {
        "location": cfg.location, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
    }).result()
    foreign_ids = {to_json(foreign_nic)["id"].lower(), to_json(foreign_pip)["id"].lower(),
                   f"/subscriptions/{cfg.subscription_id}/resourcegroups/{rg}/providers/microsoft.storage/"
                   f"storageaccounts/stforeign001".lower()}
    state = json.loads(Path(cfg.state_path).read_text())
    owned = {rec["resource_id"].lower() for rec in state["steps"].values() if rec.get("created")}

    with open_session(cfg, command="plan", lock=False) as s:
        destroy = s.engine.plan_destroy()
    kept_in_plan = {e.key for e in destroy.entries if e.action.value == "keep"}
    assert {"subnet.aks.system_nodes", "vnet.aks", "rg"} <= kept_in_plan
    sim.reset_stats()
    with open_session(cfg, command="down") as s:
        result = s.engine.down()
    assert result.status == RunStatus.SUCCEEDED, {k: str(o.error) for k, o in result.outcomes.items() if o.error}
    errors = sim.stats()["errors"]
    assert not any(code in errors for code in IN_USE), errors
    remaining = {r["id"].lower() for r in sim.resources() if "/roledefinitions/" not in r["id"].lower()}
    assert foreign_ids <= remaining
    kept = {o.resource_id.lower() for o in result.outcomes.values() if o.status == "kept" and o.resource_id}
    # Kept: the subnet the foreign NIC sits in, its VNet and the resource group (not empty).
    kept_keys = {k for k, o in result.outcomes.items() if o.status == "kept"}
    assert kept_keys == {"subnet.aks.system_nodes", "vnet.aks", "rg"}
    for rid in owned - kept:
        assert not any(r == rid or r.startswith(rid + "/") for r in remaining), f"{rid} survived down"
    # the kept subnet no longer routes through the deleted firewall's route table
    after = to_json(net.subnets.get(rg, vnet, "snet-system-nodes"))
    assert "routeTable" not in (after.get("properties") or {})
    kv_note = result.outcomes["kv"].note or ""
    assert "soft-deleted" in kv_note and cfg.keyvault_name in kv_note
    doc = json.loads(Path(cfg.state_path).read_text())
    assert doc["teardown"]["kept"] == ["rg", "subnet.aks.system_nodes", "vnet.aks"]

    # down again: idempotent, nothing more is written
    sim.reset_stats()
    with open_session(cfg, command="down") as s:
        again = s.engine.down()
    assert again.status == RunStatus.SUCCEEDED
    assert sim.stats()["methods"].get("DELETE", 0) == 0


def test_adopted_resource_is_kept(sim: Simulator, tmp_path: Path) -> None:
    """A resource group that existed before the deployment is adopted, never deleted."""
    cfg = prod_cfg(sim, tmp_path)
    c = clients(sim, cfg)
    c.get("resource").resource_groups.create_or_update(cfg.resource_group, {"location": cfg.location})
    assert up(cfg).status == RunStatus.SUCCEEDED
    with open_session(cfg, command="down") as s:
        result = s.engine.down()
    assert result.status == RunStatus.SUCCEEDED
    assert result.outcomes["rg"].status == "kept"
    assert "not created by this deployment" in (result.outcomes["rg"].note or "")
    assert c.get("resource").resource_groups.check_existence(cfg.resource_group)


def test_drift_is_reported_and_repaired_with_writes_to_those_resources_only(sim: Simulator, tmp_path: Path) -> None:
    cfg = prod_cfg(sim, tmp_path)
    assert up(cfg).status == RunStatus.SUCCEEDED
    c = clients(sim, cfg)
    net, rg = c.get("network"), cfg.resource_group
    # 1. threat intelligence turned down on the policy
    policy_name = next(r["name"] for r in sim.resources() if r["type"].lower() == "microsoft.network/firewallpolicies")
    policy = to_json(net.firewall_policies.get(rg, policy_name))
    policy["properties"]["threatIntelMode"] = "Alert"
    net.firewall_policies.begin_create_or_update(rg, policy_name, {
        "location": policy["location"], "tags": policy.get("tags"), "properties": {
            k: v for k, v in policy["properties"].items()
            if k not in ("provisioningState", "ruleCollectionGroups", "firewalls", "childPolicies")}}).result()
    # 2. BGP propagation turned on on a route table
    rt_name = next(r["name"] for r in sim.resources() if r["type"].lower() == "microsoft.network/routetables")
    rt = to_json(net.route_tables.get(rg, rt_name))
    rt["properties"]["disableBgpRoutePropagation"] = False
    net.route_tables.begin_create_or_update(rg, rt_name, {
        "location": rt["location"], "tags": rt.get("tags"), "properties": {
            "disableBgpRoutePropagation": False, "routes": rt["properties"]["routes"]}}).result()
    # 3. a tag changed on the workspace
    ws = to_json(c.get("loganalytics").workspaces.get(rg, cfg.workspace_name))
    ws_tags = dict(ws.get("tags") or {})
    ws_tags["managed-by"] = "portal-click-ops"
    c.get("loganalytics").workspaces.update(rg, cfg.workspace_name, {"tags": ws_tags})
    # 4. a DNS zone link deleted
    dns = c.get("privatedns")
    zone = "privatelink.azurecr.io"
    link = next(r["name"] for r in sim.resources()
                if r["type"].lower() == "microsoft.network/privatednszones/virtualnetworklinks"
                and f"/privatednszones/{zone}/" in r["id"].lower())
    dns.virtual_network_links.begin_delete(rg, zone, link).result()

    with open_session(cfg, command="plan", lock=False) as s:
        plan = s.engine.plan()
    drifted = {e.key: e for e in plan.entries if e.action.value != "no-op"}
    assert len(drifted) == 4, {k: [c.path for c in e.changes] for k, e in drifted.items()}
    by_path = {(k, ch.path): ch for k, e in drifted.items() for ch in e.changes}
    assert by_path[("fw.policy", "properties.threatIntelMode")].before == "Alert"
    assert by_path[("fw.policy", "properties.threatIntelMode")].after == "Deny"
    rt_key = next(k for k in drifted if k.startswith("rt."))
    assert by_path[(rt_key, "properties.disableBgpRoutePropagation")].before is False
    assert by_path[("log", "tags.managed-by")].before == "portal-click-ops"
    assert next(e for k, e in drifted.items() if k.startswith("dns.")).action.value == "create"

    with open_session(cfg, command="plan", lock=False) as s:
        refresh = s.engine.plan(refresh_only=True)
    assert {e.key for e in refresh.entries if e.changes} == set(drifted)

    sim.reset_stats()
    result = up(cfg)
    assert result.status == RunStatus.SUCCEEDED
    changed = {k for k, o in result.outcomes.items() if o.changed}
    assert changed == set(drifted)
    writes = sim.stats()["methods"]
    assert writes.get("PUT", 0) + writes.get("PATCH", 0) == 4
    assert writes.get("DELETE", 0) == 0
