"""Issue 13.1: an operation Azure no longer knows (expired, forgotten) is not a failed step.

The simulator's ``forget`` fault makes an operation's status URLs answer 404 ``OperationNotFound``
while the operation itself carries on. A run interrupted during the firewall create leaves the
operation's continuation token in the checkpoint; the re-run re-attaches, finds the operation
gone, follows the firewall resource itself until it is provisioned, and never sends its PUT again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import load_config
from hubspoke_deploy.orchestrator.engine import RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.simulator import FaultSpec, Simulator
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.firewall import firewall_steps
from hubspoke_deploy.steps.network import PublicIpStep, foundation_steps

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "examples" / "sandbox.toml"


@pytest.fixture
def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, Path]]:
    log = tmp_path / "requests.jsonl"
    # A slower clock than the shared fixture's: the firewall create takes ~12 s here, so the
    # interrupted run stops while it is in flight.
    with Simulator(time_scale=0.02, seed=13, request_log=str(log)) as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
        yield sim, log


def _cfg(sim: Simulator, state: Path) -> Any:
    return load_config(SANDBOX, env={"HUBSPOKE_AZURE_ENDPOINT": sim.endpoint, "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
                                     "HUBSPOKE_STATE_BACKEND": "file", "HUBSPOKE_STATE_PATH": str(state)})


def _closure(steps: list[Step], key: str) -> list[Step]:
    by_key = {s.key: s for s in steps}
    wanted: set[str] = set()
    todo = [key]
    while todo:
        k = todo.pop()
        if k not in wanted:
            wanted.add(k)
            todo.extend(by_key[k].requires)
    return [s for s in steps if s.key in wanted]


def _entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _puts(log: Path, resource_id: str) -> list[dict[str, Any]]:
    """The PUTs ARM accepted (a 409 AnotherOperationInProgress wrote nothing: the simulator's
    operation on a resource deleted out of band may still be finishing)."""
    rid = resource_id.lower()
    return [e for e in _entries(log) if e["method"] == "PUT" and e["kind"] != "poll" and e["resource_id"] == rid
            and int(e["status"]) < 400]


def _gone_polls(log: Path, resource_id: str) -> list[dict[str, Any]]:
    rid = resource_id.lower()
    return [e for e in _entries(log)
            if e["kind"] == "poll" and e["resource_id"] == rid
            and e["status"] == 404 and e["code"] == "OperationNotFound"]


def _interrupt_when_applying(steps: list[Step], cfg: Any, key: str) -> Any:
    """Run up and cancel it the moment ``key`` starts its write: the PUT is sent, its token is
    checkpointed, and the run stops while the operation is in flight (a SIGKILL's state)."""
    cancel = threading.Event()

    def on_event(e: dict[str, Any]) -> None:
        if e["event"] == "step_applying" and e["step"] == key:
            cancel.set()

    with open_session(cfg, command="up", steps=steps, cancel=cancel, on_event=on_event) as session:
        return session.engine.up()


def test_forgotten_firewall_operation_resumes_with_exactly_one_put(
    logged: tuple[Simulator, Path], tmp_path: Path
) -> None:
    sim, log = logged
    state = tmp_path / "state.json"
    cfg = _cfg(sim, state)
    steps = _closure([*foundation_steps(cfg), *firewall_steps(cfg)], keys.FIREWALL)
    fw = next(s for s in steps if s.key == keys.FIREWALL)

    first = _interrupt_when_applying(steps, cfg, keys.FIREWALL)
    assert first.status == RunStatus.INTERRUPTED
    doc = json.loads(state.read_text())
    assert doc["steps"][keys.FIREWALL]["lro"]["kind"] == "put"  # checkpointed before waiting
    assert len(_puts(log, fw.resource_id())) == 1
    observed = sim.get_resource(fw.resource_id())
    assert observed is not None and observed["properties"]["provisioningState"] != "Succeeded"  # mid-flight

    # Azure forgets the operation: its status URLs answer 404 OperationNotFound from now on.
    sim.set_faults(FaultSpec(forget=1.0))
    with open_session(cfg, command="up", steps=steps) as session:
        second = session.engine.up()
    assert second.status == RunStatus.SUCCEEDED, {k: o.as_dict() for k, o in second.outcomes.items()
                                                  if o.status != "succeeded"}
    assert _gone_polls(log, fw.resource_id()), "the re-run never met the forgotten operation"
    assert len(_puts(log, fw.resource_id())) == 1  # exactly one PUT over both runs: nothing re-sent
    final = sim.get_resource(fw.resource_id())
    assert final is not None and final["properties"]["provisioningState"] == "Succeeded"
    assert "lro" not in json.loads(state.read_text())["steps"][keys.FIREWALL]


def test_forgotten_operation_of_a_missing_resource_writes_it_once_more(
    logged: tuple[Simulator, Path], tmp_path: Path
) -> None:
    """Only a resource that is missing is written again: the operation is gone and so is the
    resource (deleted out of band), so exactly one more PUT creates it."""
    sim, log = logged
    state = tmp_path / "state.json"
    cfg = _cfg(sim, state)
    steps: list[Step] = [foundation_steps(cfg)[0], PublicIpStep("pip.gone", cfg, "pip-gone", requires=(keys.RG,))]
    pip = steps[1]
    assert _interrupt_when_applying(steps, cfg, "pip.gone").status == RunStatus.INTERRUPTED
    assert len(_puts(log, pip.resource_id())) == 1
    sim.engine.delete(pip.resource_id())  # the resource is gone too (someone deleted it)
    assert sim.get_resource(pip.resource_id()) is None
    sim.set_faults(FaultSpec(forget=1.0))
    with open_session(cfg, command="up", steps=steps) as session:
        result = session.engine.up()
    assert result.status == RunStatus.SUCCEEDED, result.outcomes["pip.gone"].as_dict()
    assert _gone_polls(log, pip.resource_id())
    assert len(_puts(log, pip.resource_id())) == 2
    final = sim.get_resource(pip.resource_id())
    assert final is not None and final["properties"]["provisioningState"] == "Succeeded"
