"""Interrupts and killed teardowns through the CLI, against a standalone simulator.

SIGINT: the run stops starting steps, keeps in-flight operations in the checkpoint and exits 130;
the next ``up`` re-attaches. ``down`` killed with SIGKILL at random points converges when re-run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import load_config
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.orchestrator.stores import read_document
from hubspoke_deploy.simulator import Simulator

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]
KILLS = int(os.environ.get("HUBSPOKE_DOWN_KILLS", "10"))


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=11) as s:
        yield s


def env_for(sim: Simulator, state: Path) -> dict[str, str]:
    full = dict(os.environ)
    full.update({
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(state),
        "REQUESTS_CA_BUNDLE": sim.ca_path,
    })
    return full


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args, "--config", str(SANDBOX)], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def owned_remaining(sim: Simulator, rg: str) -> list[str]:
    return sorted(r["id"] for r in sim.resources() if f"/resourcegroups/{rg.lower()}" in r["id"].lower())


def test_sigint_checkpoints_in_flight_operations_and_up_resumes(tmp_path: Path) -> None:
    # A slower clock than the module's: the firewall create takes ~6 s here, so the interrupt
    # lands while it is in flight however loaded the machine is.
    with Simulator(time_scale=0.01, seed=12) as sim:
        _sigint_then_resume(sim, tmp_path)


def _sigint_then_resume(sim: Simulator, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    env = env_for(sim, state)
    proc = spawn(env, "up", "--yes", "--log-format", "json")
    # wait until the firewall (the longest operation before the cluster) is in flight
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if state.exists():
            try:
                doc = read_document(state) or {}  # base + journal
            except ValueError:
                doc = {}
            if ((doc.get("steps", {}).get("fw") or {}).get("lro") or {}).get("token"):
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    doc = json.loads(state.read_text())
    in_flight = {k for k, rec in doc["steps"].items() if rec.get("lro")}
    assert in_flight, "an interrupted run keeps its in-flight operations in the checkpoint"
    assert doc["runs"][-1]["status"] == "interrupted"
    status = subprocess.run([*CLI, "status", "--output", "json", "--config", str(SANDBOX)], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0
    assert {k for k, v in json.loads(status.stdout)["steps"].items() if v["in_flight"]} == in_flight

    resumed = subprocess.run([*CLI, "up", "--yes", "--log-format", "json", "--config", str(SANDBOX)], env=env,
                             cwd=REPO, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    events = [json.loads(line) for line in resumed.stderr.splitlines() if line.startswith("{")]
    reattached = {e["step"] for e in events if e.get("event") == "lro_reattached"}
    assert "fw" in in_flight and "fw" in reattached, (reattached, in_flight)


def read_doc(state: Path) -> dict[str, Any]:
    try:
        doc = read_document(state) or {}  # base + journal
    except (OSError, ValueError):  # not written yet, or read between two writes on a slow disk
        return {}
    return doc if isinstance(doc, dict) else {}


def teardown_progress(doc: dict[str, Any]) -> int | None:
    """Steps deleted so far by a ``down`` that began and has not finished, else None."""
    runs = doc.get("runs") or []
    if not runs or runs[-1].get("command") != "down" or "finished_at" in runs[-1]:
        return None
    return sum(1 for rec in (doc.get("steps") or {}).values() if rec.get("status") == "deleted")


def test_down_killed_at_random_points_converges(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(20261126)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
    landed: list[int] = []
    for trial in range(KILLS):
        sim.reset()
        state = tmp_path / f"state-{trial}.json"
        env = env_for(sim, state)
        cfg = load_config(SANDBOX, env={k: env[k] for k in env if k.startswith("HUBSPOKE_")})
        with open_session(cfg, command="up") as session:
            assert session.engine.up().status.value == "succeeded"
        steps = len(read_doc(state)["steps"])
        # Kill once the teardown has deleted a random number of steps (0: as soon as it began),
        # at most half of them: the resource group, deleted last, is then still there.
        target = rng.randint(0, steps // 2)
        proc = spawn(env, "down", "--yes")
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            progress = teardown_progress(read_doc(state))
            if progress is not None and progress >= target:
                break
            time.sleep(0.01)
        proc.kill()
        proc.communicate(timeout=30)
        # The kill landed mid-teardown: it killed the process, the down run never finished,
        # and resources this deployment owns are still there for the next down to delete.
        assert proc.returncode == -9, f"trial {trial}: down ended by itself before the kill"
        at_kill = teardown_progress(read_doc(state))
        assert at_kill is not None and at_kill >= target, (trial, at_kill, target)
        assert owned_remaining(sim, cfg.resource_group), f"trial {trial}: nothing left to tear down"
        landed.append(at_kill)
        final = subprocess.run([*CLI, "down", "--yes", "--config", str(SANDBOX)], env=env, cwd=REPO,
                               capture_output=True, text=True, timeout=240)
        assert final.returncode == 0, final.stderr[-2000:]
        remaining = owned_remaining(sim, cfg.resource_group)
        assert remaining == [], remaining[:5]
        in_use = [c for c in sim.stats()["errors"] if "InUse" in c or "CannotBeDeleted" in c]
        assert in_use == []
    assert len(landed) == KILLS
    print(f"down-kill: {KILLS}/{KILLS} kills landed mid-teardown (after {sorted(landed)} steps deleted), "
          "all converged")
