"""Issue 13 point 5: the route table's teardown disassociates each kept subnet under its own
LRO token slot, so a run killed during one subnet's disassociation resumes every subnet right.

On the simulator (real SDK clients over HTTPS): a route table associated with two subnets. The
first run is stopped right after the first subnet's PUT was accepted (its token is in the
checkpoint); that operation finishes while no run is alive; the resumed run must disassociate the
second subnet with its own PUT instead of re-attaching to the first subnet's finished operation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import load_config
from hubspoke_deploy.errors import Interrupted
from hubspoke_deploy.orchestrator.clients import to_json
from hubspoke_deploy.orchestrator.lro import LroRunner
from hubspoke_deploy.orchestrator.runner import Session, open_session
from hubspoke_deploy.orchestrator.step import OwnedIds, StepContext
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.firewall import RouteTableStep, route_table_name
from hubspoke_deploy.steps.network import ResourceGroupStep

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "examples" / "sandbox.toml"
STEP = "rt.test"


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    # a subnet PUT stays InProgress for ~1 s: long enough to stop the run in the middle
    with Simulator(time_scale=0.3, seed=5) as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
        yield sim


@pytest.fixture
def cfg(slow: Simulator, tmp_path: Path) -> Any:
    env = {"HUBSPOKE_AZURE_ENDPOINT": slow.endpoint, "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
           "HUBSPOKE_STATE_BACKEND": "file", "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json")}
    return load_config(SANDBOX, env=env)


def _ctx(session: Session, cancel: threading.Event) -> StepContext:
    return StepContext(clients=session.clients, lro=LroRunner(STEP, session.checkpoint, cancel),
                       subscription_id=session.cfg.subscription_id)


def test_each_subnet_resumes_under_its_own_slot(slow: Simulator, cfg: Any) -> None:
    rg, rt_name = cfg.resource_group, route_table_name(cfg, "spoke1")
    step = RouteTableStep(STEP, cfg, "spoke1", [])
    with open_session(cfg, command="down", steps=[ResourceGroupStep(keys.RG, cfg)]) as session:
        net = session.clients.get("network")
        session.clients.get("resource").resource_groups.create_or_update(rg, {"location": cfg.location})
        rt = net.route_tables.begin_create_or_update(rg, rt_name, {"location": cfg.location}).result()
        net.virtual_networks.begin_create_or_update(rg, "vnet-kept", {
            "location": cfg.location,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.50.0.0/16"]},
                "subnets": [
                    {"name": "a", "properties": {"addressPrefix": "10.50.1.0/24", "routeTable": {"id": rt.id}}},
                    {"name": "b", "properties": {"addressPrefix": "10.50.2.0/24", "routeTable": {"id": rt.id}}},
                ],
            },
        }).result()
        observed = to_json(net.route_tables.get(rg, rt_name))
        first, second = (str(s["id"]) for s in observed["properties"]["subnets"])

        # run 1: stopped as soon as the first subnet's operation is accepted and checkpointed
        stopped = threading.Event()
        stopped.set()
        with pytest.raises(Interrupted):
            step.prepare_delete(_ctx(session, stopped), observed, OwnedIds(set()))
        lro = session.checkpoint.record(STEP).get("lro") or {}
        assert lro.get("token"), "the first subnet's operation must be checkpointed before waiting"

    # the first subnet's operation completes while no run is alive
    sim_first = first.lower()
    for _ in range(600):
        view = slow.get_resource(sim_first)
        if view and view["properties"]["provisioningState"] == "Succeeded" and "routeTable" not in view["properties"]:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the first disassociation never finished on the simulator")

    # run 2 (a new process in effect: the checkpoint is loaded from the store)
    slow.reset_stats()
    with open_session(cfg, command="down", steps=[ResourceGroupStep(keys.RG, cfg)]) as session:
        net = session.clients.get("network")
        observed = to_json(net.route_tables.get(rg, rt_name))
        assert [str(s["id"]).lower() for s in observed["properties"].get("subnets") or []] == [second.lower()]
        ctx = _ctx(session, threading.Event())
        step.prepare_delete(ctx, observed, OwnedIds(set()))
    for sid in (first, second):
        view = slow.get_resource(sid.lower())
        assert view is not None and "routeTable" not in view["properties"], f"{sid} still routes through the table"
    assert ctx.lro.reattached == 0  # nothing of the second subnet was in flight
    assert slow.stats()["methods"].get("PUT", 0) == 1  # the second subnet's own disassociation, once
    # the slot the first run used was the first subnet's own
    assert lro.get("kind") == f"disassociate:{first.lower()}"
