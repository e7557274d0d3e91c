"""The orphan machinery (orchestrator.prune): ids to types, the api-version table checked
against the api-versions the steps' own SDK calls send, and the teardown order of orphans
with and without recorded requirements."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import load_config_dict
from hubspoke_deploy.orchestrator.engine import RunStatus
from hubspoke_deploy.orchestrator.graph import reverse_order
from hubspoke_deploy.orchestrator.prune import (
    API_VERSIONS,
    find_orphans,
    orphan_key,
    orphan_steps,
    parent_id,
    resource_type_of,
)
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps.architecture import build_steps

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
G = "/subscriptions/s/resourceGroups/g"


@pytest.mark.parametrize(("rid", "rtype", "parent"), [
    (G, "Microsoft.Resources/resourceGroups", None),
    (f"{G}/providers/Microsoft.Network/virtualNetworks/v", "Microsoft.Network/virtualNetworks", None),
    (f"{G}/providers/Microsoft.Network/virtualNetworks/v/subnets/s", "Microsoft.Network/virtualNetworks/subnets",
     f"{G}/providers/Microsoft.Network/virtualNetworks/v"),
    (f"{G}/providers/Microsoft.Network/azureFirewalls/f/providers/Microsoft.Insights/diagnosticSettings/d",
     "Microsoft.Insights/diagnosticSettings", None),
    (f"{G}/providers/Microsoft.ContainerService/managedClusters/c/agentPools/user",
     "Microsoft.ContainerService/managedClusters/agentPools",
     f"{G}/providers/Microsoft.ContainerService/managedClusters/c"),
])
def test_type_and_parent_of_an_id(rid: str, rtype: str, parent: str | None) -> None:
    assert resource_type_of(rid) == rtype
    assert parent_id(rid) == parent


def _rec(rid: str, status: str = "succeeded", **extra: Any) -> dict[str, Any]:
    return {"resource_id": rid, "status": status, "created": True, **extra}


def test_orphans_are_records_the_config_no_longer_produces() -> None:
    cfg = load_config_dict(tomllib.loads((REPO / "config" / "examples" / "sandbox.toml").read_text()))
    steps = {s.key: s for s in build_steps(cfg)}
    vnet = steps["vnet.aks"].resource_id()
    records = {
        "vnet.aks": _rec(vnet),                                            # still produced
        "aks": _rec(f"{G}/providers/Microsoft.ContainerService/managedClusters/old-name"),  # key reused
        "vnet.gone": _rec(f"{G}/providers/Microsoft.Network/virtualNetworks/gone"),
        "subnet.gone.a": _rec(f"{G}/providers/Microsoft.Network/virtualNetworks/gone/subnets/a",
                              requires=["vnet.gone"]),
        "never.created": {"status": "pending"},
        # deleted, but its record outlived it (a kill before the record was dropped): read, then dropped
        "already.deleted": _rec(f"{G}/providers/Microsoft.Network/publicIPAddresses/p", status="deleted"),
        # deleted by down, and the config still has it: the step's own record, not an orphan
        "fw": _rec(steps["fw"].resource_id(), status="deleted"),
    }
    found = find_orphans(records, steps)
    old_aks = orphan_key("aks", records["aks"]["resource_id"])
    assert sorted(found) == sorted([old_aks, "vnet.gone", "subnet.gone.a", "already.deleted"])
    assert found[old_aks].reason.startswith("replaced: aks now names ")
    assert found["vnet.gone"].reason == "no longer in the config"
    assert found["subnet.gone.a"].lock_keys == [f"{G}/providers/microsoft.network/virtualnetworks/gone".lower()]
    orphan = orphan_steps(found, {})
    assert reverse_order(orphan).index("subnet.gone.a") < reverse_order(orphan).index("vnet.gone")


def test_orphans_without_recorded_requires_are_ordered_by_type_and_containment() -> None:
    ids = {
        "pip": f"{G}/providers/Microsoft.Network/publicIPAddresses/ng-pip",
        "natgw": f"{G}/providers/Microsoft.Network/natGateways/ng",
        "vnet": f"{G}/providers/Microsoft.Network/virtualNetworks/v",
        "subnet": f"{G}/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
        "peering": f"{G}/providers/Microsoft.Network/virtualNetworks/v/virtualNetworkPeerings/p",
        "fw": f"{G}/providers/Microsoft.Network/azureFirewalls/f",
    }
    found = find_orphans({k: _rec(v) for k, v in ids.items()}, {})
    order = reverse_order(orphan_steps(found, {}))
    before = [("natgw", "pip"), ("fw", "pip"), ("subnet", "vnet"), ("peering", "vnet"), ("fw", "subnet")]
    for first, then in before:
        assert order.index(first) < order.index(then), (first, then, order)


@pytest.fixture(scope="module")
def sim_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    log = tmp_path_factory.mktemp("prune") / "requests.jsonl"
    with Simulator(time_scale=0.0005, seed=3, request_log=str(log)) as sim:
        yield sim


def test_api_versions_are_the_ones_the_steps_send(sim: Simulator, env: dict[str, str]) -> None:
    """Every resource type a deployment writes (prod, plus the NAT gateway, IP prefix, DDoS / TLS
    inspection, Basic tier and global entry variants) is in API_VERSIONS with the api-version its own
    SDK call carried."""
    prod = tomllib.loads((REPO / "config" / "examples" / "prod.toml").read_text())
    prod["firewall"]["public_ip_count"] = 2
    variants: list[dict[str, Any]] = [prod]
    for change in ({"nat_gateway": True}, {"public_ip_prefix_length": 30}):
        data = json.loads(json.dumps(prod))
        data["firewall"].update(change)
        variants.append(data)
    # DDoS protection plan and TLS inspection (identity, role assignment, policy with a CA)
    protected = json.loads(json.dumps(prod))
    protected["hub"]["ddos_protection"] = True
    kv = load_config_dict(prod, env=env).keyvault_name
    protected["firewall"]["tls_inspection"] = {"key_vault_secret_id": f"https://{kv}.vault.azure.net/secrets/ca"}
    variants.append(protected)
    basic = json.loads(json.dumps(prod))
    basic["firewall"] = {"tier": "Basic", "public_ip_count": 1}
    variants.append(basic)
    # [global_entry]: Front Door Premium with its WAF policy, and Traffic Manager
    for kind in ("front-door", "traffic-manager"):
        entry = json.loads(json.dumps(prod))
        entry["global_entry"] = {"kind": kind, "origin_host_header": "app.contoso.com"}
        variants.append(entry)
    # multi-region (issue 18): parent policy, global peerings, registry replications
    multi = tomllib.loads((REPO / "config" / "examples" / "multi-region.toml").read_text())
    multi["deployment"].update(name=prod["deployment"]["name"], subscription_id=prod["deployment"]["subscription_id"])
    variants.append(multi)
    appgw = json.loads(json.dumps(prod))  # the other ingress kind
    appgw["ingress"]["kind"] = "application-gateway-waf"
    variants.append(appgw)
    assert sim._request_log is not None
    log = Path(sim._request_log)
    start = len(log.read_text().splitlines()) if log.exists() else 0
    for data in variants:
        sim.reset()
        with open_session(load_config_dict(data, env=env), command="up") as session:
            assert session.engine.up().status == RunStatus.SUCCEEDED
    sent: dict[str, set[str]] = {}
    for line in log.read_text().splitlines()[start:]:
        entry = json.loads(line)
        if entry["method"] == "PUT":
            sent.setdefault(resource_type_of(entry["path"]).lower(), set()).add(entry["api_version"])
    assert len(sent) >= 25
    assert {"microsoft.servicenetworking/trafficcontrollers/associations", "microsoft.network/applicationgateways",
            "microsoft.network/applicationgatewaywebapplicationfirewallpolicies"} <= set(sent)
    assert {t: v for t, v in sent.items() if {API_VERSIONS.get(t)} != v} == {}
