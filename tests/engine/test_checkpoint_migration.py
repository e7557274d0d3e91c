"""A checkpoint written by schema version 1 (checked in: a sandbox deployment with the NAT
gateway on, as the previous version recorded it) loads, plans nothing, and converges: its
records lack ``requires``/``lock_keys``/``taggable``, yet switching the NAT gateway off
deletes the gateway and its IP in a safe order; the first run that holds the lock saves the
document as version 2."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from hubspoke_deploy.config import load_config_dict
from hubspoke_deploy.orchestrator.checkpoint import SCHEMA_VERSION
from hubspoke_deploy.orchestrator.engine import RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import Simulator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
V1 = Path(__file__).resolve().parent / "data" / "checkpoint-v1-sandbox-natgw.json"


def _sandbox(nat_gateway: bool, env: dict[str, str]) -> Any:
    data = tomllib.loads((REPO / "config" / "examples" / "sandbox.toml").read_text())
    data["firewall"]["nat_gateway"] = nat_gateway
    return load_config_dict(data, env=env)


def _ids(sim: Simulator) -> set[str]:
    guid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    return {guid.sub("<guid>", str(r["id"]).lower()) for r in sim.resources()}


def test_a_version_1_checkpoint_loads_plans_nothing_and_converges(
    sim: Simulator, env: dict[str, str], tmp_path: Path
) -> None:
    assert json.loads(V1.read_text())["schema_version"] == 1
    fresh_env = {**env, "HUBSPOKE_STATE_PATH": str(tmp_path / "fresh-b.json")}
    with open_session(_sandbox(False, fresh_env), command="up") as session:
        assert session.engine.up().status == RunStatus.SUCCEEDED
    fresh_b = _ids(sim)
    sim.reset()

    # Azure as the old version left it, and its checkpoint
    scratch = {**env, "HUBSPOKE_STATE_PATH": str(tmp_path / "scratch.json")}
    with open_session(_sandbox(True, scratch), command="up") as session:
        assert session.engine.up().status == RunStatus.SUCCEEDED
    state = Path(env["HUBSPOKE_STATE_PATH"])
    shutil.copy(V1, state)

    with open_session(_sandbox(True, env), command="plan", lock=False) as session:
        plan = session.engine.plan()
    assert [(e.key, e.action.value) for e in plan.entries if e.action.value != "no-op"] == []
    assert json.loads(state.read_text())["schema_version"] == 1  # a plan never rewrites the state

    with open_session(_sandbox(False, env), command="up") as session:
        result = session.engine.up()
    assert result.status == RunStatus.SUCCEEDED, [(o.key, str(o.error)) for o in result.failures]
    assert {k: o.status for k, o in result.outcomes.items() if o.status != "succeeded"} == {
        "fw.natgw": "deleted", "fw.natgw.pip": "deleted"}
    doc = json.loads(state.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert [(m["from"], m["to"]) for m in doc["migrations"]] == [(1, 2)]
    assert "fw.natgw" not in doc["steps"]
    rec = doc["steps"]["subnet.hub.firewall"]
    assert rec["resource_type"] == "Microsoft.Network/virtualNetworks/subnets"
    assert rec["requires"] == ["vnet.hub"] and rec["lock_keys"] and rec["taggable"] is False
    assert _ids(sim) == fresh_b
