"""Orphan deletion under SIGKILL (issue 12): ``up`` of a config that dropped resources is
killed while it deletes the orphans (the kill lands when the checkpoint shows an orphan's
delete started, plus a random delay), resumed, killed again...; the last ``up`` finishes.
The result equals a fresh deployment of the new config, the orphans' records are gone, and a
foreign public IP planted in the resource group is untouched."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hubspoke_deploy.simulator import Simulator

S: ModuleType = sys.modules["hubspoke_reliability_support"]  # loaded by conftest.py
ORPHANS = ("fw.pip.2", "fw.natgw", "fw.natgw.pip")


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[Simulator]:
    # deletes long enough to be caught in flight by a polling test process
    with Simulator(time_scale=0.004, seed=5) as sim:
        yield sim


def _configs(tmp_path: Path) -> tuple[Path, Path]:
    a = S.load_sandbox()
    a["firewall"] = {**a["firewall"], "public_ip_count": 2, "nat_gateway": True}
    b = S.load_sandbox()
    b["firewall"] = {**b["firewall"], "public_ip_count": 1, "nat_gateway": False}
    return S.write_toml(a, tmp_path / "a.toml"), S.write_toml(b, tmp_path / "b.toml")


def _deleting(state: Path) -> bool:
    doc = S.read_doc(state) or {}
    steps = doc.get("steps") or {}
    return any((steps.get(k) or {}).get("status") == "running" for k in ORPHANS)


def _plant_foreign_ip(sim: Simulator) -> str:
    from azure.mgmt.network import NetworkManagementClient
    from hubspoke_deploy.simulator import SimulatorCredential

    sub = "00000000-0000-0000-0000-000000000001"
    net = NetworkManagementClient(SimulatorCredential(), sub, base_url=sim.endpoint,
                                  credential_scopes=["https://management.azure.com/.default"])
    net.public_ip_addresses.begin_create_or_update(
        "rg-sandbox", "pip-other-team",
        {"location": "westeurope", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}},
    ).result()
    return (f"/subscriptions/{sub}/resourceGroups/rg-sandbox/providers/Microsoft.Network"
            "/publicIPAddresses/pip-other-team")


def test_sigkill_while_deleting_orphans_then_up_finishes(
    slow_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = slow_sim
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
    rng = random.Random(1207)
    a, b = _configs(tmp_path)

    sim.reset()
    ref = S.run_cli(S.cli_env(sim, tmp_path / "fresh-b.json"), "up", "--yes", config=b)
    assert ref.returncode == 0, S.tail(ref.stderr)
    fresh_b = S.final_state(sim)

    sim.reset()
    state = tmp_path / "state.json"
    env = S.cli_env(sim, state)
    first = S.run_cli(env, "up", "--yes", config=a)
    assert first.returncode == 0, S.tail(first.stderr)
    foreign = _plant_foreign_ip(sim)

    kills = 0
    for _ in range(3):
        proc = S.spawn_cli(env, "up", "--yes", config=b)

        def deleting_or_done(proc: subprocess.Popen[str] = proc) -> bool:
            return _deleting(state) or proc.poll() is not None

        if not S.wait_for(deleting_or_done, timeout=120, interval=0.01):
            proc.kill()
            pytest.fail("no orphan delete started within 120 s")
        if proc.poll() is None:
            time.sleep(rng.uniform(0.0, 0.05))
            proc.kill()  # SIGKILL: no handler, no cleanup
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.communicate()
        if proc.returncode == -9:
            kills += 1
        else:
            assert proc.returncode == 0
            break
    assert kills >= 1, "no kill landed while orphans were being deleted"

    last = S.run_cli(env, "up", "--yes", config=b)
    assert last.returncode == 0, S.tail(last.stderr)
    doc: dict[str, Any] = S.read_doc(state) or {}
    assert not [k for k in doc.get("steps", {}) if k in ORPHANS]
    assert sim.get_resource(foreign) is not None
    final = S.final_state(sim)
    final.pop(S.normalize_id(foreign))
    assert S.state_diff(final, fresh_b) == []
    plan = S.run_cli(env, "plan", "--detailed-exitcode", config=b)
    assert plan.returncode == 0, plan.stdout[-2000:]
