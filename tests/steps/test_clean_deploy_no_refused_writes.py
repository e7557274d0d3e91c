"""Issue 13 point 6: a clean ``up`` of the prod example sends no write that Azure refuses.

A write that references a resource whose child is being written at that moment is refused by
Azure (400 ``ReferencedResourceNotProvisioned``: the parent shows ``Updating`` during the child's
operation, https://github.com/Azure-Samples/azuresandbox/issues/25). The simulator models that
rule; VNet links (they reference a VNet whose subnets and peerings are written) and private
endpoint DNS zone groups (they reference a zone whose links are written) met it on clean runs and
only got through by retrying. The steps now hold the referenced parent's lock instead.

Two checks: the deploy itself, on a clock slow enough that these writes overlap (the request log
must hold no write answered 4xx and the engine must report no retry), and the graph rule behind
it, checked for every step pair without depending on timing."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import load_config
from hubspoke_deploy.orchestrator.engine import RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.simulator import Simulator

PROD = Path(__file__).resolve().parents[2] / "config" / "examples" / "prod.toml"


@dataclass
class Deployed:
    log: list[dict[str, Any]]
    events: list[dict[str, Any]]
    steps: dict[str, Step]
    outputs: dict[str, Mapping[str, Any]]
    cfg: Any
    status: RunStatus


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    root = tmp_path_factory.mktemp("clean-deploy")
    log_path = root / "requests.jsonl"
    mp = pytest.MonkeyPatch()
    # time_scale 0.01: operations last long enough for the DNS writes to meet the VNets' and
    # zones' child writes (at 0.002 they only sometimes do)
    with Simulator(time_scale=0.01, seed=11, request_log=str(log_path)) as sim:
        mp.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
        env = {"HUBSPOKE_AZURE_ENDPOINT": sim.endpoint, "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
               "HUBSPOKE_STATE_BACKEND": "file", "HUBSPOKE_STATE_PATH": str(root / "state.json")}
        cfg = load_config(PROD, env=env)
        events: list[dict[str, Any]] = []
        try:
            with open_session(cfg, command="up", env=env, on_event=events.append) as session:
                result = session.engine.up()
                steps = dict(session.engine.steps)
                outputs = {k: dict(session.checkpoint.record(k).get("outputs") or {}) for k in steps}
        finally:
            mp.undo()
    log = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    yield Deployed(log, events, steps, outputs, cfg, result.status)


def test_clean_up_sends_no_write_azure_refuses(deployed: Deployed) -> None:
    assert deployed.status == RunStatus.SUCCEEDED
    writes = [e for e in deployed.log if e["kind"] in ("write", "delete")]
    assert writes, "the request log must hold the deploy's writes"
    refused = sorted({f'{e["status"]} {e["code"]} {e["method"]} {e["resource_id"]}' for e in writes
                      if e["status"] >= 400})
    assert refused == []
    retries = sorted({f'{e["step"]} {e.get("code")}' for e in deployed.events if e.get("event") == "retry"})
    assert retries == []


def _ids(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _ids(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _ids(v, path)
    elif isinstance(value, str) and value.lower().startswith("/subscriptions/"):
        yield path, value.lower().rstrip("/")


def _ancestors(steps: Mapping[str, Step], key: str) -> set[str]:
    seen: set[str] = set()
    todo = list(steps[key].requires)
    while todo:
        k = todo.pop()
        if k not in seen and k in steps:
            seen.add(k)
            todo.extend(steps[k].requires)
    return seen


def test_a_write_never_overlaps_a_child_write_of_what_it_references(deployed: Deployed) -> None:
    """For every step A whose body references R, every step B that writes a child of R (its
    operation shows R Updating) either runs strictly before or after A (``requires``) or shares
    a lock key with A (never at the same time)."""
    steps = deployed.steps
    ancestors = {k: _ancestors(steps, k) for k in steps}
    problems: list[str] = []
    for a_key, a in steps.items():
        upstream = {dep: deployed.outputs.get(dep, {}) for dep in a.requires}
        own = a.resource_id().lower()
        for path, ref in _ids(a.desired(deployed.cfg, upstream)):
            if not path.startswith("properties") or ref == own or ref.startswith(own + "/"):
                continue
            for b_key, b in steps.items():
                child = b.resource_id().lower()
                if b_key == a_key or not child.startswith(ref + "/") or "/providers/" in child[len(ref):]:
                    continue
                if b_key in ancestors[a_key] or a_key in ancestors[b_key]:
                    continue
                if {k.lower() for k in a.lock_keys()} & {k.lower() for k in b.lock_keys()}:
                    continue
                problems.append(f"{a_key} ({path} -> {ref.rsplit('/', 1)[-1]}) may run with {b_key}")
    assert problems == []
