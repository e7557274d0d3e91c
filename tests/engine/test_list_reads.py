"""Bulk reads (issue 15, plan time at scale): the resources of one list group (the VNets of the
resource group, the peerings of one VNet, the links of one private DNS zone) are read by one list
request, with exactly what a GET of each returns; a failed list falls back to one GET each."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hubspoke_deploy.config import load_config_dict
from hubspoke_deploy.orchestrator.engine import Action, RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.orchestrator.step import Spec, Step, StepContext
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps.architecture import build_steps
from hubspoke_deploy.steps.network import PeeringStep

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "examples" / "sandbox.toml"


def spokes_cfg(env: dict[str, str], n: int) -> Any:
    with SANDBOX.open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    data = copy.deepcopy(data)
    for i in range(1, n):
        data["spokes"].append({"name": f"app{i:03d}", "address_space": [f"10.{i + 1}.0.0/16"]})
    return load_config_dict(data, env=env)


def gets(sim: Simulator) -> int:
    st = sim.stats()
    return int(st["methods"].get("GET", 0)) - int(st["polls"])


def test_list_groups_read_what_a_get_reads_with_fewer_requests(sim: Simulator, env: dict[str, str]) -> None:
    cfg = spokes_cfg(env, 4)
    steps = build_steps(cfg)
    grouped = [s for s in steps if s.list_group() is not None]
    assert {type(s).__name__ for s in grouped} >= {"VnetStep", "PeeringStep", "PrivateDnsLinkStep"}

    with open_session(cfg, command="plan", lock=False) as session:  # nothing exists yet
        fresh = session.engine.plan()
    assert {e.action for e in fresh.entries} == {Action.CREATE}
    assert gets(sim) < len(steps)  # the absent children of one parent: one request, not one each

    with open_session(cfg, command="up") as session:
        assert session.engine.up().status == RunStatus.SUCCEEDED
        for step in grouped:
            ctx = session.engine._ctx(step)
            assert step.read_from_list(ctx, step.read_listed(ctx)) == step.read(ctx), step.key

    sim.reset_stats()
    with open_session(cfg, command="up") as session:
        again = session.engine.up()
    assert again.status == RunStatus.SUCCEEDED
    assert all(o.action == "no-op" for o in again.outcomes.values())
    methods = sim.stats()["methods"]
    assert methods.get("PUT", 0) == methods.get("PATCH", 0) == methods.get("DELETE", 0) == 0
    assert gets(sim) < len(steps)


class _ListFails(PeeringStep):
    """A peering whose group's list request fails (its reads must still be right)."""

    def read_listed(self, ctx: StepContext) -> dict[str, Spec]:
        raise RuntimeError("list refused")


def test_a_failed_list_falls_back_to_one_get_each(sim: Simulator, env: dict[str, str]) -> None:
    cfg = spokes_cfg(env, 3)
    steps = build_steps(cfg)
    with open_session(cfg, command="up", steps=steps) as session:
        assert session.engine.up().status == RunStatus.SUCCEEDED
    # the hub's peerings (one per spoke) form one list group; its list now fails
    swapped: list[Step] = []
    for s in steps:
        if isinstance(s, PeeringStep) and s.local_vnet == cfg.hub_vnet_name:
            swapped.append(_ListFails(s.key, cfg, s.local_vnet, s.remote_vnet, s.requires,
                                      allow_gateway_transit=s.allow_gateway_transit,
                                      use_remote_gateways=s.use_remote_gateways))
        else:
            swapped.append(s)
    assert sum(isinstance(s, _ListFails) for s in swapped) == 3
    with open_session(cfg, command="plan", steps=swapped, lock=False) as session:
        plan = session.engine.plan()
    assert {e.action for e in plan.entries} == {Action.NOOP}, [(e.key, e.action) for e in plan.entries]


def test_nothing_is_read_inside_a_resource_group_that_does_not_exist(sim: Simulator, env: dict[str, str]) -> None:
    """A fresh deploy: one read per resource group tells that none of its resources exists."""
    cfg = spokes_cfg(env, 3)
    steps = build_steps(cfg)
    groups = {s.resource_id().lower() for s in steps if s.resource_type == "Microsoft.Resources/resourceGroups"}
    assert len(groups) >= 1
    with open_session(cfg, command="plan", lock=False) as session:
        fresh = session.engine.plan()
    assert {e.action for e in fresh.entries} == {Action.CREATE}
    assert gets(sim) == len(groups), sim.stats()["methods"]

    with open_session(cfg, command="up") as session:
        assert session.engine.up().status == RunStatus.SUCCEEDED
    sim.reset_stats()
    with open_session(cfg, command="plan", lock=False) as session:  # the groups exist: everything is read
        again = session.engine.plan()
    assert {e.action for e in again.entries} == {Action.NOOP}
    assert gets(sim) > len(groups)
