"""Fault storms (issue 9): the engine issue's rates of 429s, 500s, dropped connections and failed
LROs on ``up`` and on ``down``; and a state blob whose lease is broken underneath a run."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient
from azure.storage.blob import BlobServiceClient
from hubspoke_deploy.orchestrator.stores import BlobStore
from hubspoke_deploy.orchestrator.stores.blob import JOURNAL_SUFFIX, read_blob_document
from hubspoke_deploy.simulator import FaultSpec, Simulator, SimulatorCredential

S: ModuleType = sys.modules["hubspoke_reliability_support"]  # loaded by conftest.py
SUB = "00000000-0000-0000-0000-000000000001"  # config/examples/sandbox.toml
RG = "rg-sandbox"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=23) as s:
        yield s


def _network(sim: Simulator) -> NetworkManagementClient:
    return NetworkManagementClient(SimulatorCredential(), SUB, base_url=sim.endpoint,
                                   credential_scopes=["https://management.azure.com/.default"],
                                   connection_verify=sim.ca_path, polling_interval=0.01)


def test_up_and_down_under_a_fault_storm(sim: Simulator, tmp_path: Path, report: Callable[[str], None]) -> None:
    sim.reset()
    sim.set_faults(FaultSpec())
    preexisting = {r["id"] for r in sim.resources()}
    env = S.cli_env(sim, tmp_path / "state.json")
    sim.set_faults(FaultSpec.parse(S.STORM))
    up = S.run_cli(env, "up", "--yes")
    injected_up = dict(sim.stats()["injected"])
    sim.set_faults(FaultSpec())
    assert up.returncode == 0, S.tail(up.stderr)
    assert sum(injected_up.values()) > 0, injected_up
    retries = sum(1 for line in up.stderr.splitlines() if '"event": "retry"' in line)
    doc = S.read_doc(tmp_path / "state.json")
    assert doc is not None and all(r["status"] == "succeeded" for r in doc["steps"].values())
    assert S.orphans(sim, doc, preexisting) == []
    sim.reset_stats()
    again = S.run_cli(env, "up", "--yes")
    assert again.returncode == 0, S.tail(again.stderr)
    noop_writes = sum(sim.stats()["methods"].get(m, 0) for m in S.WRITE_METHODS)
    assert noop_writes == 0  # the storm left nothing half-done

    # foreign resources the deployment does not own: a public IP in its resource group, and a
    # subnet someone added to its spoke VNet
    net = _network(sim)
    pip = net.public_ip_addresses.begin_create_or_update(
        RG, "pip-foreign", {"location": "westeurope", "sku": {"name": "Standard"},
                            "properties": {"publicIPAllocationMethod": "Static"}}).result()
    vnet = next(r for r in sim.resources() if r["type"].lower() == "microsoft.network/virtualnetworks"
                and r["name"].endswith("aks"))
    subnet = net.subnets.begin_create_or_update(RG, vnet["name"], "snet-foreign",
                                                {"properties": {"addressPrefix": "10.1.200.0/24"}}).result()
    foreign = [str(pip.id), str(subnet.id)]

    sim.reset_stats()
    sim.set_faults(FaultSpec.parse(S.STORM))
    down = S.run_cli(env, "down", "--yes")
    injected_down = dict(sim.stats()["injected"])
    sim.set_faults(FaultSpec())
    remaining = {r["id"].lower() for r in sim.resources()}
    kept = [rid for rid in foreign if rid.lower() in remaining]
    report(
        f"fault storm ({S.STORM}): up converged with {sum(injected_up.values())} injected faults "
        f"{injected_up}, {retries} step retries, 0 writes on re-run; down exit {down.returncode} with "
        f"{sum(injected_down.values())} injected faults, {len(kept)}/{len(foreign)} foreign resources kept"
    )
    assert down.returncode == 0, S.tail(down.stderr)
    assert sum(injected_down.values()) > 0
    assert kept == foreign, f"down deleted foreign resources: {sorted(set(foreign) - set(kept))}"
    owned_left = [rid for rid in (S.step_ids(doc, status="succeeded")) if rid.lower() in remaining]
    # what the deployment owns is gone, except the containers of foreign resources (resource group, VNet)
    assert all(rid.lower() in {f"/subscriptions/{SUB}/resourcegroups/{RG}".lower(), vnet["id"].lower()}
               for rid in owned_left), owned_left


def test_lease_broken_underneath_a_run_stops_it_without_corrupting_state(
    sim: Simulator, azurite: Any, tmp_path: Path, report: Callable[[str], None]
) -> None:
    sim.reset()
    sim.set_faults(FaultSpec())
    container = "rel" + uuid.uuid4().hex[:16]
    env = S.cli_env(sim, None, HUBSPOKE_STATE_BACKEND="blob", HUBSPOKE_STATE_CONNECTION_STRING_ENV="AZURITE_CONN",
                    AZURITE_CONN=azurite.connection_string, HUBSPOKE_STATE_CONTAINER=container,
                    HUBSPOKE_STATE_LEASE_SECONDS="15")
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    journal_blob = service.get_blob_client(container, "sandbox.state.json" + JOURNAL_SUFFIX)

    def document() -> dict[str, Any]:
        return read_blob_document(service, container, "sandbox.state.json") or {}

    def succeeded_steps() -> int:
        try:
            doc = document()
        except Exception:
            return 0
        return sum(1 for r in doc.get("steps", {}).values() if r.get("status") == "succeeded")

    def stored() -> tuple[bytes, bytes]:  # the document and its journal, as bytes
        return (service.get_blob_client(container, "sandbox.state.json").download_blob().readall(),
                journal_blob.download_blob().readall())

    proc = S.spawn_cli(env, "up", "--yes")
    try:
        assert S.wait_for(lambda: succeeded_steps() >= 5 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, "the run finished before the lease could be broken"
        # what `hubspoke-deploy unlock` does: break the state blob's lease and its journal's
        BlobStore(azurite.connection_string, container, "sandbox.state.json").break_lock()
        at_break = stored()
        doc_at_break = document()
        broke_at = time.monotonic()
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stopped_after = time.monotonic() - broke_at
    steps_at_break = sum(1 for r in doc_at_break["steps"].values() if r.get("status") == "succeeded")
    assert proc.returncode == 1, S.tail(err)
    assert "state changed underneath this run" in err, S.tail(err)
    assert stored() == at_break  # not one write (whole or journal entry) after the lock was broken
    json.loads(at_break[0])  # and what is there is a whole document

    resumed = S.run_cli(env, "up", "--yes")
    assert resumed.returncode == 0, S.tail(resumed.stderr)
    final = document()
    assert all(r["status"] == "succeeded" for r in final["steps"].values())
    report(
        f"lease broken: run stopped {stopped_after:.1f}s after the break with exit 1, 0 state writes after it "
        f"({steps_at_break} steps succeeded before), resume converged ({len(final['steps'])} steps)"
    )
