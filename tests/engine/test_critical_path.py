"""The critical path (issue 15): only policy -> the AKS rule group -> firewall -> cluster is
serial. The route table, the workload subnets and their role assignments do not wait for the
firewall (the next hop is the address Azure gives it, checked afterwards); the cluster still
starts only once the firewall and every rule it needs exist; the other rule groups follow the
firewall. Asserted on ordering facts from the simulator's request log, not on durations."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.orchestrator.engine import RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps.architecture import build_steps


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, Path]]:
    log = tmp_path_factory.mktemp("critical") / "requests.jsonl"
    # the firewall takes 6 s at this clock: wide enough for the ordering facts on a loaded machine
    with Simulator(time_scale=0.01, seed=3, request_log=str(log)) as sim:
        yield sim, log


SANDBOX = Path(__file__).resolve().parents[2] / "config" / "examples" / "sandbox.toml"


def _cfg(sim: Simulator, tmp_path: Path) -> Any:
    from hubspoke_deploy.config import load_config

    return load_config(SANDBOX, env={
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint, "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file", "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json"),
    })


def _lines(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _puts(log: Path, resource_id: str, since: int) -> list[float]:
    """Accepted PUTs to the resource logged after line ``since`` (this test's own requests)."""
    rid = resource_id.lower()
    out = []
    for line in log.read_text().splitlines()[since:]:
        e = json.loads(line)
        if e["method"] == "PUT" and e["resource_id"] == rid and int(e["status"]) < 400:
            out.append(float(e["time"]))
    return out


def test_route_table_before_the_firewall_completes_and_the_cluster_after_its_rules(
    logged: tuple[Simulator, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, log = logged
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
    sim.reset()
    cfg = _cfg(sim, tmp_path)
    start = _lines(log)
    finished: dict[str, float] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "step_finished":
            finished[str(event["step"])] = time.time()

    steps = {s.key: s for s in build_steps(cfg)}
    with open_session(cfg, command="up", on_event=on_event) as session:
        result = session.engine.up()
    assert result.status == RunStatus.SUCCEEDED

    [rt_put] = _puts(log, steps["rt.aks"].resource_id(), start)
    [subnet_put] = _puts(log, steps["subnet.aks.system_nodes"].resource_id(), start)
    [aks_put] = _puts(log, steps["aks"].resource_id(), start)
    assert rt_put < finished["fw"], "the route table waited for the firewall"
    assert subnet_put < finished["fw"], "the node subnet waited for the firewall"
    assert aks_put > finished["fw"] and aks_put > finished["fw.rcg.aks-egress"]
    # the other groups follow the firewall (they are not on its path)
    for group in ("fw.rcg.registries",):
        assert min(_puts(log, steps[group].resource_id(), start)) > finished["fw"]
    # the next hop Azure gave the firewall is the one the route was created with: no repair write
    assert _puts(log, steps["rt.aks.next-hop"].resource_id(), start) == []
    route = sim.get_resource(steps["rt.aks"].resource_id())
    assert route is not None
    fw = sim.get_resource(steps["fw"].resource_id())
    assert fw is not None
    fw_ip = fw["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
    hops = {r["name"]: r["properties"].get("nextHopIpAddress") for r in route["properties"]["routes"]}
    assert hops["default-via-firewall"] == fw_ip


def test_a_wrong_next_hop_is_repaired_by_the_check_step(
    logged: tuple[Simulator, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, _log = logged
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
    sim.reset()
    cfg = _cfg(sim, tmp_path)
    with open_session(cfg, command="up") as session:
        assert session.engine.up().status == RunStatus.SUCCEEDED
    steps = {s.key: s for s in build_steps(cfg)}
    from azure.mgmt.network import NetworkManagementClient
    from hubspoke_deploy.simulator import SimulatorCredential

    net = NetworkManagementClient(SimulatorCredential(), cfg.subscription_id, base_url=sim.endpoint,
                                  credential_scopes=["https://management.azure.com/.default"])
    rt_name = steps["rt.aks"].resource_id().rsplit("/", 1)[-1]
    net.routes.begin_create_or_update(cfg.resource_group, rt_name, "default-via-firewall", {"properties": {
        "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.0.0.99"}}).result()
    with open_session(cfg, command="up") as session:
        result = session.engine.up()
    assert result.outcomes["rt.aks.next-hop"].action == "update"
    assert result.outcomes["rt.aks"].action == "no-op"  # the table carries over the next hop, no flip-flop
    fw = sim.get_resource(steps["fw"].resource_id())
    assert fw is not None
    route = net.routes.get(cfg.resource_group, rt_name, "default-via-firewall")
    assert route.next_hop_ip_address == fw["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]


def _gets(log: Path, resource_id: str, since: int) -> int:
    rid = resource_id.lower()
    return sum(1 for line in log.read_text().splitlines()[since:]
               if (e := json.loads(line))["method"] == "GET" and e["resource_id"] == rid and e["kind"] == "read")


@pytest.mark.parametrize("fresh_s", [2.0, 0.0])
def test_a_fresh_not_found_is_not_read_again_a_stale_one_is(
    logged: tuple[Simulator, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_s: float
) -> None:
    """On a fresh deploy up's up-front read finds the resource group missing (one read answers for
    everything in it); the group's step, starting a moment later, creates it without reading it
    again. With a zero freshness window every step reads again before it writes."""
    from hubspoke_deploy.orchestrator import engine as engine_mod

    sim, log = logged
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
    monkeypatch.setattr(engine_mod, "ABSENT_FRESH_S", fresh_s)
    sim.reset()
    cfg = _cfg(sim, tmp_path)
    start = _lines(log)
    steps = {s.key: s for s in build_steps(cfg)}
    with open_session(cfg, command="up") as session:
        assert session.engine.up().status == RunStatus.SUCCEEDED
    rg = steps["rg"].resource_id()
    policy = steps["fw.policy"].resource_id()
    if fresh_s:
        assert _gets(log, rg, start) == 1  # the up-front read, and no second one before the PUT
        assert _gets(log, policy, start) == 1  # after its create only (the read that settles it)
    else:
        assert _gets(log, rg, start) == 2
        assert _gets(log, policy, start) == 2
    assert len(_puts(log, rg, start)) == 1 and len(_puts(log, policy, start)) == 1
