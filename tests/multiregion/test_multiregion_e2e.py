"""Issue 18 end to end on the ARM simulator: config/examples/multi-region.toml (westeurope + northeurope)
deploys through the library and the real SDK clients; a firewall per region under one parent policy,
hubs peered both ways, the registry replicated, every zone linked to every VNet, the single-region
checks in each region; a second ``up`` writes nothing; ``down --region ne`` leaves westeurope working
(``verify`` passes on it); ``down`` removes everything. Also: a single-region config builds exactly the
steps it built before multi-region existed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy import library, regional
from hubspoke_deploy.config import DeploymentConfig, load_config, load_config_dict
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps.architecture import build_steps

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "config" / "examples"
MULTI = EXAMPLES / "multi-region.toml"
CAPTURED = Path(__file__).resolve().parent / "single_region_steps.json"


# --------------------------------------------------------------------------- offline


@pytest.mark.parametrize("name", ["sandbox", "prod"])
def test_single_region_step_keys_ids_and_requires_are_unchanged(name: str) -> None:
    """Captured from main before multi-region (tests/multiregion/single_region_steps.json): the same keys,
    resource ids and requires, so an existing checkpoint resumes without a single replacement."""
    expected = json.loads(CAPTURED.read_text())[name]
    cfg = load_config(EXAMPLES / f"{name}.toml")
    assert [[s.key, s.resource_id(), sorted(s.requires)] for s in build_steps(cfg)] == expected


def _multi(**change: Any) -> dict[str, Any]:
    data = tomllib.loads(MULTI.read_text())
    for path, value in change.items():
        node = data
        *head, last = path.split("__")
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    return data


def _problems(data: dict[str, Any]) -> dict[str, str]:
    from hubspoke_deploy.errors import ConfigError

    try:
        cfg = load_config_dict(data)
    except ConfigError as err:
        return {p.path: p.message for p in err.problems}
    return {p.path: p.message for p in cfg.warnings}


def test_offline_validation_of_regions() -> None:
    assert not [p for p in load_config(MULTI).warnings if p.path.startswith("regions")]
    overlap = _problems(_multi(regions__0__spokes__0__address_space=["10.1.128.0/17"]))
    assert "overlaps 10.1.0.0/16" in overlap["regions[0].spokes[0].address_space[0]"]
    typo = _problems(_multi(regions__0__location="northeuropa"))
    assert "did you mean 'northeurope'" in typo["regions[0].location"]
    same = _problems(_multi(regions__0__location="westeurope"))
    assert "already the region" in same["regions[0].location"]
    unpaired = _problems(_multi(regions__0__location="eastus"))
    assert "not the pair" in unpaired["regions[0].location"]
    premium = _multi()
    premium["regions"][0]["firewall"] = {"tier": "Premium", "public_ip_count": 2}
    assert "Premium parent" in _problems(premium)["regions[0].firewall.tier"]
    standard_acr = _multi(acr={"sku": "Standard", "zone_redundancy": False})
    assert "Premium" in _problems(standard_acr)["acr.sku"]


def test_region_steps_do_not_depend_on_another_region() -> None:
    """A failure in one region stops nothing of the other's: apart from the steps joining two regions
    (hub peerings, DNS links across regions), no step requires a step of another region."""
    cfg = load_config(MULTI)
    steps = build_steps(cfg)
    region = {s.key: getattr(s, "region", None) for s in steps}
    crossing = [
        (s.key, r) for s in steps for r in s.requires
        if region[r] not in (None, region[s.key]) and region[s.key] is not None
    ]
    assert crossing
    assert all(".link." in k or "hub-to-hub" in k for k, _ in crossing), crossing
    assert {region[k] for k in ("fw", "aks", "ne/fw", "ne/aks", "fw.parent", "acr")} == {"westeurope", "ne", None}


# --------------------------------------------------------------------------- on the simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=18) as simulator:
        yield simulator


@pytest.fixture
def cfg(sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DeploymentConfig:
    """The example on an empty simulator with a state of its own (each test deploys what it needs)."""
    sim.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
    env = {
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json"),
    }
    return load_config(MULTI, env=env)


def _of(sim: Simulator, type_name: str) -> list[dict[str, Any]]:
    return [r for r in sim.resources() if str(r.get("type", "")).lower() == type_name.lower()]


def _writes(sim: Simulator) -> int:
    methods = sim.stats()["methods"]
    return sum(int(methods.get(m, 0)) for m in ("PUT", "PATCH", "DELETE"))


def test_two_regions_deploy_and_converge(sim: Simulator, cfg: DeploymentConfig) -> None:
    result = library.up(cfg, raise_on_failure=False)
    assert result.ok, [f"{s.key}: {s.error}" for s in result.failures]

    # a firewall per region
    firewalls = {r["name"]: r["location"] for r in _of(sim, "Microsoft.Network/azureFirewalls")}
    assert firewalls == {"afw-multi": "westeurope", "afw-multi-ne": "northeurope"}
    # both regional policies under the same parent, which lists them
    policies = {r["name"]: r for r in _of(sim, "Microsoft.Network/firewallPolicies")}
    parent = policies["afwp-multi-parent"]
    for child in ("afwp-multi", "afwp-multi-ne"):
        assert policies[child]["properties"]["basePolicy"]["id"].lower() == parent["id"].lower()
    assert len(parent["properties"]["childPolicies"]) == 2
    # the organisation's rules are in the parent only; each child keeps its regional groups
    groups = {r["id"].split("/firewallPolicies/")[1].lower() for r in
              _of(sim, "Microsoft.Network/firewallPolicies/ruleCollectionGroups")}
    assert "afwp-multi-parent/rulecollectiongroups/org-egress" in groups
    assert not any(g.endswith("user-egress") for g in groups)
    assert {"afwp-multi/rulecollectiongroups/aks-egress", "afwp-multi-ne/rulecollectiongroups/aks-egress"} <= groups
    # the egress rules carry each region's own FQDNs (registry data endpoint of the region)
    registries = {r["id"].split("/firewallPolicies/")[1].split("/")[0].lower(): r for r in
                  _of(sim, "Microsoft.Network/firewallPolicies/ruleCollectionGroups") if r["name"] == "registries"}
    for policy, region in (("afwp-multi", "westeurope"), ("afwp-multi-ne", "northeurope")):
        fqdns = json.dumps(registries[policy]["properties"]["ruleCollections"])
        assert f"{cfg.acr_name}.{region}.data.azurecr.io" in fqdns

    # hubs peered both ways (global peering), connected
    peerings = {r["name"]: r for r in _of(sim, "Microsoft.Network/virtualNetworks/virtualNetworkPeerings")}
    for name in ("peer-vnet-hub-multi-to-vnet-hub-multi-ne", "peer-vnet-hub-multi-ne-to-vnet-hub-multi"):
        assert sim.get_resource(peerings[name]["id"])["properties"]["peeringState"] == "Connected"  # type: ignore[index]

    # the registry replicated to northeurope (its home is westeurope), zone redundant
    replicas = _of(sim, "Microsoft.ContainerRegistry/registries/replications")
    assert [(r["location"], r["properties"]["zoneRedundancy"]) for r in replicas] == [("northeurope", "Enabled")]
    # a private endpoint to the registry in each region
    endpoints = {r["location"] for r in _of(sim, "Microsoft.Network/privateEndpoints") if "registry" in r["name"]}
    assert endpoints == {"westeurope", "northeurope"}

    # every zone linked to every VNet
    vnets = {r["id"].lower() for r in _of(sim, "Microsoft.Network/virtualNetworks")}
    zones = {r["name"] for r in _of(sim, "Microsoft.Network/privateDnsZones")}
    assert {"privatelink.westeurope.azmk8s.io", "privatelink.northeurope.azmk8s.io", "privatelink.azurecr.io"} <= zones
    links = {(r["id"].split("/privateDnsZones/")[1].split("/")[0], r["properties"]["virtualNetwork"]["id"].lower())
             for r in _of(sim, "Microsoft.Network/privateDnsZones/virtualNetworkLinks")}
    assert len(vnets) == 4
    assert {(z, v) for z in zones for v in vnets} <= links

    # remote spokes routed to the local firewall; the firewall subnet to the remote firewall
    tables = {r["name"]: r for r in _of(sim, "Microsoft.Network/routeTables")}
    spoke_routes = {r["properties"]["addressPrefix"]: r["properties"].get("nextHopIpAddress")
                    for r in tables["rt-multi-ne-aks"]["properties"]["routes"]}
    assert spoke_routes["10.1.0.0/16"] == "10.10.0.4"
    hub_routes = {r["properties"]["addressPrefix"]: r["properties"].get("nextHopIpAddress")
                  for r in tables["rt-multi-hub-firewall"]["properties"]["routes"]}
    assert hub_routes == {"0.0.0.0/0": None, "10.11.0.0/16": "10.10.0.4"}

    # the single-region checks hold in each region: every required flow carried (verify)
    report = library.verify(cfg)
    assert report.ok, [(r.name, r.reason) for r in report.rows if not r.ok]
    names = {r.name.split(":", 1)[0] for r in report.rows}
    assert names == {"westeurope", "ne"}
    # status and outputs grouped by region
    assert set(library.status(cfg)["regions"]) == {"westeurope", "ne", "shared"}
    outs = library.outputs(cfg)["regions"]
    assert outs["ne"]["firewall_private_ip"] == "10.10.0.4" and outs["westeurope"]["firewall_private_ip"] == "10.0.0.4"

    # a second up writes nothing
    before = _writes(sim)
    again = library.up(cfg)
    assert again.ok and _writes(sim) == before
    assert again.changed == []


def test_down_one_region_keeps_the_other_working_then_down_removes_everything(
    sim: Simulator, cfg: DeploymentConfig
) -> None:
    assert library.up(cfg).ok
    result = regional.down_region(cfg, "northeurope")  # by location or name
    assert result.ok, [f"{s.key}: {s.error}" for s in result.failures]
    assert [r["name"] for r in _of(sim, "Microsoft.Network/azureFirewalls")] == ["afw-multi"]
    assert not [r for r in sim.resources() if "-ne" in r["id"].lower() or r.get("location") == "northeurope"]
    # the shared parts stay: registry (no replica left), parent policy with one child, zones
    assert _of(sim, "Microsoft.ContainerRegistry/registries") and not _of(
        sim, "Microsoft.ContainerRegistry/registries/replications")
    parent = [r for r in _of(sim, "Microsoft.Network/firewallPolicies") if r["name"] == "afwp-multi-parent"]
    assert len(parent[0]["properties"]["childPolicies"]) == 1
    # westeurope intact and working
    report = library.verify(cfg)
    assert report.rows and report.ok, [(r.name, r.reason) for r in report.rows if not r.ok]
    assert {r.name.split(":", 1)[0] for r in report.rows} == {"westeurope"}
    assert regional.region_remaining(cfg, "ne") == {"westeurope"}

    # down removes everything (down --region of the last region is down)
    gone = regional.down_region(cfg, "westeurope")
    assert gone.ok
    assert [r["id"] for r in sim.resources() if "/resourcegroups/rg-multi" in r["id"].lower()] == []


def test_up_one_region_builds_it_and_the_shared_parts_only(
    sim: Simulator, cfg: DeploymentConfig, tmp_path: Path
) -> None:
    sim.reset()
    state = {"HUBSPOKE_STATE_PATH": str(tmp_path / "one.json"), "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
             "HUBSPOKE_AZURE_CREDENTIAL": "simulator", "HUBSPOKE_STATE_BACKEND": "file"}
    one = load_config(MULTI, env=state)
    planned = regional.plan_region(one, "ne")  # what `up --region ne` shows before it asks
    assert {i.action for i in planned.items} == {"create"}
    assert "ne/fw" in {i.key for i in planned.items} and "fw" not in {i.key for i in planned.items}
    result = regional.up_region(one, "ne")
    assert result.ok, [f"{s.key}: {s.error}" for s in result.failures]
    assert [r["name"] for r in _of(sim, "Microsoft.Network/azureFirewalls")] == ["afw-multi-ne"]
    assert {r["name"] for r in _of(sim, "Microsoft.Network/firewallPolicies")} == {"afwp-multi-ne", "afwp-multi-parent"}
    assert _of(sim, "Microsoft.ContainerRegistry/registries/replications")
    assert all(k.startswith("ne/") or getattr(s, "region", None) is None for k, s in
               {s.key: s for s in regional.region_steps(one, "ne")}.items())
    # then the whole config: region #1 is added, nothing of ne is rewritten but the joins
    full = library.up(one)
    assert full.ok
    # region #1 is recorded now: the plan of one region neither deletes nor changes the other's
    again = regional.plan_region(one, "ne")
    assert not again.has_changes, [(i.key, i.action) for i in again.items if i.action != "no-op"]
    rewritten = [k for k in full.changed if k.startswith("ne/")]
    assert all("hub-to-hub" in k or ".link." in k or k in ("ne/rt.aks", "ne/rt.hub", "ne/subnet.hub.firewall")
               for k in rewritten), rewritten


def test_down_region_one_keeps_the_second_region_and_the_shared_parts(
    sim: Simulator, cfg: DeploymentConfig
) -> None:
    both = cfg
    assert library.up(both).ok
    result = regional.down_region(both, both.location)  # region #1, while ne is still deployed
    assert result.ok, [f"{s.key}: {s.error}" for s in result.failures]
    assert [r["name"] for r in _of(sim, "Microsoft.Network/azureFirewalls")] == ["afw-multi-ne"]
    assert _of(sim, "Microsoft.ContainerRegistry/registries") and _of(sim, "Microsoft.KeyVault/vaults")
    parent = [r for r in _of(sim, "Microsoft.Network/firewallPolicies") if r["name"] == "afwp-multi-parent"]
    assert parent and len(parent[0]["properties"]["childPolicies"]) == 1
    report = library.verify(both)
    assert report.rows and report.ok, [(r.name, r.reason) for r in report.rows if not r.ok]
    assert {r.name.split(":", 1)[0] for r in report.rows} == {"ne"}
    assert regional.region_remaining(both, both.location) == {"ne"}
