"""Issue 16, the plan a reviewer can approve: grouped by action, key properties of creates in text,
every desired property in JSON (no secret), no-op rows hidden; a saved plan (`plan -out FILE`)
that `up FILE` applies only when the config, the state and Azure are as they were.

The plan runs in-process (`cli.main`, the simulator of tests/conftest.py); `up` runs as a user
types it, in a subprocess against the same simulator.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.cli import main
from hubspoke_deploy.library import PlanItem, PlanResult, load_config, plan_item, up
from hubspoke_deploy.orchestrator.diff import UNKNOWN, Change
from hubspoke_deploy.orchestrator.redact import find_secrets
from hubspoke_deploy.orchestrator.results import Action, PlanEntry
from hubspoke_deploy.planview import key_properties, plan_lines
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps.architecture import build_steps

REPO = Path(__file__).resolve().parents[2]
PROD = REPO / "config" / "examples" / "prod.toml"
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]
SUMMARY = re.compile(r"^Plan: \d+ to create, \d+ to update, \d+ to replace, \d+ to delete(; .*)?\.$")


@pytest.fixture
def cli_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The simulator overrides in os.environ (for in-process `main`) and as a full env (subprocesses)."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("HUBSPOKE_CONFIG", raising=False)
    return dict(os.environ)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=240, cwd=REPO)


def writes(sim: Simulator) -> int:
    m = sim.stats()["methods"]
    return int(m.get("PUT", 0) + m.get("PATCH", 0) + m.get("DELETE", 0))


def row_with_properties(lines: list[str], key: str) -> str:
    """The row of step ``key`` and the property lines under it, as one text."""
    start = next(n for n, line in enumerate(lines) if re.match(rf"^\s+\+ {re.escape(key)}\s", line))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("        "):
            break
        block.append(line)
    return "\n".join(block)


# -- text --------------------------------------------------------------------------------------
def test_creates_show_key_properties_hub_address_space_and_firewall_tier(
        sim: Simulator, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run_main(capsys, "plan", "-c", str(PROD))
    assert code == 0
    # one summary line at the top and the same at the bottom
    assert SUMMARY.match(lines[0]), lines[0]
    first = re.match(r"Plan: (\d+) to create, 0 to update, 0 to replace, 0 to delete\.", lines[0])
    assert lines[-1] == lines[0] and first is not None and int(first.group(1)) >= 90, lines[0]
    assert "address space 10.0.0.0/22" in row_with_properties(lines, "vnet.hub")
    fw = row_with_properties(lines, "fw")
    assert "tier Premium" in fw and "zones 1, 2, 3" in fw and "public IPs 22" in fw
    assert "tier Premium; threat intel Deny; IDPS Deny" in row_with_properties(lines, "fw.policy")
    assert "prefix 10.1.4.0/22; route table rt-aks-prod-aks" in row_with_properties(lines, "subnet.aks.user_nodes")
    aks = row_with_properties(lines, "aks")
    assert "node pool: user (User): Standard_D8ds_v5 x 3, autoscale 3-20, zones 1, 2, 3" in aks
    # rule names and targets, DNAT mappings (the public IP is known after apply)
    user = row_with_properties(lines, "fw.rcg.user-egress")
    assert "rule: allow-github: 10.1.0.0/24, 10.1.4.0/22 -> github.com, *.githubusercontent.com Https:443" in user
    assert f"rule: web-https: TCP {UNKNOWN}:443 -> 10.1.4.250:443" in row_with_properties(lines, "fw.rcg.dnat")
    # the firewall's 20 alike public IPs are one row
    assert any("fw.pip.1 ... fw.pip.20" in line and "20 x publicIPAddresses" in line for line in lines)
    assert not any("no-op" in line for line in lines)


def test_no_change_plan_is_at_most_three_lines_and_lists_no_ops_with_v(
        sim: Simulator, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(SANDBOX)
    up(cfg)
    total = len(build_steps(cfg))
    code, lines, _ = run_main(capsys, "plan", "-c", str(SANDBOX), "--detailed-exitcode")
    assert code == 0
    assert 1 <= len(lines) <= 3, lines
    assert lines[0] == f"Plan: no changes; {total} resource(s) match the config."
    code, verbose, _ = run_main(capsys, "plan", "-c", str(SANDBOX), "-v")
    assert code == 0 and f"No change ({total})" in verbose
    assert any(re.match(r"^\s+vnet\.hub\s+virtualNetworks vnet-hub-sandbox$", line) for line in verbose)


def _item(key: str, action: str, rtype: str, changes: list[dict[str, Any]] | None = None, *,
          desired: dict[str, Any] | None = None, orphan: bool = False, note: str | None = None) -> PlanItem:
    name = key.replace(".", "-")
    return PlanItem(key, f"/subscriptions/s/resourceGroups/rg/providers/{rtype}/{name}", action, changes or [], note,
                    rtype, desired, orphan)


def test_text_groups_by_action_replacements_and_orphans_stand_out() -> None:
    vnet = "Microsoft.Network/virtualNetworks"
    items = [
        _item("vnet.new", "create", vnet,
              desired={"properties": {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}}}),
        _item("rt.aks", "no-op", "Microsoft.Network/routeTables"),
        _item("fw", "update", "Microsoft.Network/azureFirewalls",
              [{"path": "properties.sku.tier", "before": "Standard", "after": "Premium", "replace": False}]),
        _item("aks", "replace", "Microsoft.ContainerService/managedClusters",
              [{"path": "properties.apiServerAccessProfile.privateDNSZone", "before": "system", "after": "/x/zone",
                "replace": True}]),
        _item("vnet.old", "delete", vnet, [{"path": "(resource)", "before": "exists", "after": "deleted",
                                            "replace": False}], orphan=True, note="no longer in the config"),
    ]
    plan = PlanResult(items)
    lines = plan_lines(plan)
    summary = "Plan: 1 to create, 1 to update, 1 to replace, 1 to delete; 1 unchanged."
    assert lines[0] == summary and lines[-1] == summary
    headings = [line.split(" (")[0] for line in lines if line and not line.startswith((" ", "Plan:"))]
    assert headings == ["Replace", "Delete", "Update in place", "Create"]
    replace_row = next(line for line in lines if " aks " in line)
    assert replace_row.lstrip().startswith("-/+") and "forced by properties.apiServerAccessProfile.privateDNSZone" \
        in replace_row
    assert any("(forces replacement)" in line for line in lines)
    orphan_row = next(line for line in lines if "vnet.old" in line)
    assert orphan_row.lstrip().startswith("- ") and "no longer in the config" in orphan_row
    assert any('properties.sku.tier: "Standard" -> "Premium"' in line for line in lines)
    assert not any("rt.aks" in line for line in lines)  # the no-op row: only with -v
    assert any("rt.aks" in line for line in plan_lines(plan, verbose=1))


def test_kept_orphans_are_listed_even_when_nothing_changes() -> None:
    items = [_item("rg", "no-op", "Microsoft.Resources/resourceGroups"),
             _item("vnet.old", "keep", "Microsoft.Network/virtualNetworks", orphan=True,
                   note="no longer in the config; kept: not created by this deployment (pre-existing or adopted)")]
    lines = plan_lines(PlanResult(items))
    assert lines[0] == "Plan: no changes; 1 resource(s) match the config; 1 kept."
    row = next(line for line in lines if "vnet.old" in line)
    assert row.lstrip().startswith("= ") and "kept: not created by this deployment" in row
    assert len(plan_lines(PlanResult(items[:1]))) == 1


def test_alike_rows_are_one_row_unless_verbose() -> None:
    tag = [{"path": "tags.owner", "before": "a", "after": "b", "replace": False}]
    pip = "Microsoft.Network/publicIPAddresses"
    body = {"sku": {"name": "Standard"}, "zones": ["1", "2", "3"]}
    items = [_item(f"fw.pip.{n}", "create", pip, desired=body) for n in (1, 2, 10)]
    items += [_item(k, "update", "Microsoft.Network/virtualNetworks", tag) for k in ("vnet.a", "vnet.b", "vnet.c")]
    items.append(_item("vnet.d", "update", "Microsoft.Network/virtualNetworks",
                       [{"path": "tags.owner", "before": "a", "after": "c", "replace": False}]))
    lines = plan_lines(PlanResult(items))
    assert any("fw.pip.1 ... fw.pip.10" in line and "3 x publicIPAddresses fw-pip-1 ... fw-pip-10" in line
               for line in lines)
    assert lines.count("        sku Standard; zones 1, 2, 3") == 1
    assert "    ~ 3 resources, each with the same change:" in lines
    assert "        vnet.a, vnet.b, vnet.c" in lines
    assert any(line.startswith("    ~ vnet.d ") for line in lines)  # another change: a row of its own
    verbose = plan_lines(PlanResult(items), verbose=1)
    assert sum(1 for line in verbose if "sku Standard" in line) == 3


def test_changed_list_items_read_as_added_and_removed_rules() -> None:
    rule = {"ruleType": "ApplicationRule", "name": "allow-pypi", "sourceAddresses": ["10.1.0.0/24"],
            "protocols": [{"protocolType": "Https", "port": 443}], "targetFqdns": ["pypi.org"]}
    path = "properties.ruleCollections[user-application].rules[allow-pypi]"
    added = _item("fw.rcg.user-egress", "update", "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
                  [{"path": path, "before": None, "after": rule, "replace": False}])
    removed = _item("fw.rcg.other", "update", "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
                    [{"path": path, "before": rule, "after": None, "replace": False}])
    lines = plan_lines(PlanResult([added, removed]))
    assert f"        {path}: added allow-pypi: 10.1.0.0/24 -> pypi.org Https:443" in lines
    assert f"        {path}: removed allow-pypi: 10.1.0.0/24 -> pypi.org Https:443" in lines
    # -v: the values as JSON, whole
    assert any(line.endswith(f'{path}: null -> {json.dumps(rule)}') for line in plan_lines(
        PlanResult([added]), verbose=1))
    ra = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/snet-nodes" \
         "/providers/Microsoft.Authorization/roleAssignments/1234"
    body = {"properties": {"roleDefinitionId": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/"
                                               "4d97b98b-1d4f-4787-a291-c67834d212e7"}}
    assert key_properties("Microsoft.Authorization/roleAssignments", body, ra) == [
        "role Network Contributor; on snet-nodes"]


def test_key_properties_table_handles_missing_and_unknown_values() -> None:
    pool = {"properties": {"agentPoolProfiles": [{"name": "sys", "mode": "System", "vmSize": "Standard_D4ds_v5",
                                                  "count": 2}]}}
    lines = key_properties("Microsoft.ContainerService/managedClusters", pool)
    # autoscale and zones are left out when the pool has neither
    assert lines == ["node pool: sys (System): Standard_D4ds_v5 x 2"]
    assert key_properties("microsoft.network/routetables/routes", {"properties": {
        "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": UNKNOWN}}) == [
        f"route 0.0.0.0/0; next hop VirtualAppliance; via {UNKNOWN}"]
    assert key_properties("Microsoft.Unknown/things", {"properties": {"x": 1}}) == []


# -- JSON --------------------------------------------------------------------------------------
def test_json_plan_carries_every_desired_property_and_no_secret(
        sim: Simulator, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run_main(capsys, "plan", "-c", str(PROD), "-o", "json")
    assert code == 0
    doc = json.loads("\n".join(lines))
    items = {i["step"]: i for i in doc["items"]}
    assert doc["summary"].startswith(f"Plan: {len(items)} to create")
    assert items["vnet.hub"]["desired"]["properties"]["addressSpace"]["addressPrefixes"] == ["10.0.0.0/22"]
    fw = items["fw"]["desired"]
    assert fw["properties"]["sku"]["tier"] == "Premium" and fw["zones"] == ["1", "2", "3"]
    assert len(fw["properties"]["ipConfigurations"]) == 22
    assert items["aks"]["desired"]["properties"]["agentPoolProfiles"][1]["maxCount"] == 20
    assert items["kv"]["desired"]["properties"]["enableRbacAuthorization"] is True  # a flag is not a secret
    assert items["vnet.hub"]["resource_type"] == "Microsoft.Network/virtualNetworks"
    assert all(i["desired"] for i in doc["items"])
    assert find_secrets(doc) == []


def test_plan_items_redact_secrets_in_desired_properties() -> None:
    desired = {"location": "westeurope", "properties": {"osProfile": {"adminUsername": "azureuser",
                                                                       "adminPassword": "Sup3r-secret!"},
                                                        "connectionString": "AccountKey=abc123;x=y"}}
    entry = PlanEntry("vm", "/subscriptions/s/vm", Action.CREATE, [], desired=desired,
                      resource_type="Microsoft.Compute/virtualMachines")
    item = plan_item(entry).as_dict()
    text = json.dumps(item)
    assert "Sup3r-secret!" not in text and "abc123" not in text
    assert item["desired"]["properties"]["osProfile"] == {"adminUsername": "azureuser", "adminPassword": "***"}
    assert find_secrets(item) == []
    assert desired["properties"]["osProfile"]["adminPassword"] == "Sup3r-secret!"  # the engine's copy untouched
    change = PlanEntry("vm", "/x", Action.UPDATE, [Change("properties.adminPassword", "a", "b")], desired=desired)
    assert "Sup3r-secret!" not in json.dumps(plan_item(change).as_dict())


# -- saved plans -------------------------------------------------------------------------------
def test_saved_plan_is_applied_when_nothing_changed(sim: Simulator, cli_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    saved = tmp_path / "sandbox.plan.json"
    res = run_cli(cli_env, "plan", "-c", str(SANDBOX), "-out", str(saved))
    assert res.returncode == 0, res.stderr
    assert writes(sim) == 0
    doc = json.loads(saved.read_text())
    assert doc["format"] == "hubspoke-deploy/plan" and doc["tool_version"]
    assert len(doc["config_hash"]) == 64 and doc["state"]["records_digest"]
    assert doc["summary"] == res.stdout.splitlines()[0]
    assert all(i["action"] == "create" and i["desired"] for i in doc["items"])
    assert find_secrets(doc) == []
    # applied without --yes and without --config: the saved plan names its config
    applied = run_cli(cli_env, "up", str(saved))
    assert applied.returncode == 0, applied.stderr[-3000:]
    assert writes(sim) > 0
    again = run_cli(cli_env, "plan", "-c", str(SANDBOX), "--detailed-exitcode")
    assert again.returncode == 0 and again.stdout.startswith("Plan: no changes"), again.stdout
    # the plan was for an empty deployment: once applied, the state changed and it is refused
    sim.reset_stats()
    stale = run_cli(cli_env, "up", "-c", str(SANDBOX), "--plan", str(saved))
    assert stale.returncode == 2
    assert "Saved plan is stale" in stale.stderr and "the state changed" in stale.stderr
    assert writes(sim) == 0


def test_saved_plan_is_refused_when_the_config_changed(sim: Simulator, cli_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    config = tmp_path / "sandbox.toml"
    config.write_text(SANDBOX.read_text())
    saved = tmp_path / "p.json"
    assert run_cli(cli_env, "plan", "-c", str(config), "-out", str(saved)).returncode == 0
    edited = SANDBOX.read_text().replace('tags = { owner = "platform-team" }', 'tags = { owner = "team-b" }')
    assert edited != SANDBOX.read_text()
    config.write_text(edited)
    res = run_cli(cli_env, "up", str(saved), "-c", str(config))
    assert res.returncode == 2, res.stderr
    assert "Saved plan is stale" in res.stderr and "the config changed since the plan was saved" in res.stderr
    assert "Nothing was changed" in res.stderr
    assert writes(sim) == 0
    assert not Path(cli_env["HUBSPOKE_STATE_PATH"]).exists() or json.loads(
        Path(cli_env["HUBSPOKE_STATE_PATH"]).read_text()).get("steps", {}) == {}


def test_saved_plan_is_refused_when_azure_changed_out_of_band(sim: Simulator, cli_env: dict[str, str],
                                                               tmp_path: Path) -> None:
    cfg = load_config(SANDBOX)
    up(cfg)
    saved = tmp_path / "p.json"
    assert run_cli(cli_env, "plan", "-c", str(SANDBOX), "-out", str(saved)).returncode == 0
    assert json.loads(saved.read_text())["has_changes"] is False
    # someone adds a tag to the hub VNet in the portal: the plan's diff ignores foreign tags, but
    # the saved plan was made from the VNet as it was
    from azure.mgmt.network import NetworkManagementClient
    from hubspoke_deploy.simulator import SimulatorCredential

    net = NetworkManagementClient(SimulatorCredential(), cfg.subscription_id, base_url=sim.endpoint,
                                  credential_scopes=["https://management.azure.com/.default"])
    vnet = next(v for v in net.virtual_networks.list(cfg.resource_group) if "hub" in str(v.name))
    net.virtual_networks.update_tags(cfg.resource_group, vnet.name, {"tags": {**(vnet.tags or {}), "cost": "x"}})
    sim.reset_stats()
    res = run_cli(cli_env, "up", str(saved), "-c", str(SANDBOX))
    assert res.returncode == 2, res.stderr
    assert "Saved plan is stale" in res.stderr
    assert re.search(r"vnet\.hub: the resource in Azure was changed since the plan was saved", res.stderr)
    assert writes(sim) == 0
    assert net.virtual_networks.get(cfg.resource_group, vnet.name).tags["cost"] == "x"


def test_saved_plan_file_errors_are_usage_errors(sim: Simulator, cli_env: dict[str, str], tmp_path: Path) -> None:
    missing = run_cli(cli_env, "up", str(tmp_path / "nope.json"), "-c", str(SANDBOX))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"items": []}')
    res = run_cli(cli_env, "up", str(bogus), "-c", str(SANDBOX))
    assert res.returncode == 2 and "is not a saved plan" in res.stderr
    res = run_cli(cli_env, "plan", "-c", str(SANDBOX), "--destroy", "-out", str(tmp_path / "x.json"))
    assert res.returncode == 2 and "does not go with --destroy" in res.stderr
    assert writes(sim) == 0
