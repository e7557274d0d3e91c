"""Offline rehearsal: ``[azure] endpoint = "simulator"`` keeps its simulated Azure in a file, so
``up``, ``plan``, ``status``, ``down`` and a resume after a SIGKILL -- each a separate process --
see one Azure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]
RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/rg-sandbox"


def _env(tmp: Path, time_scale: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSPOKE_")}
    env.update(
        {
            "HUBSPOKE_STATE_BACKEND": "file",
            "HUBSPOKE_STATE_PATH": str(tmp / "state.json"),
            "HUBSPOKE_SIMULATOR_TIME_SCALE": time_scale,
        }
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, "--config", str(SANDBOX)], capture_output=True, text=True, env=env, timeout=240, cwd=REPO
    )


def _sim_state(tmp: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((tmp / "sandbox.simulator.json").read_text())
    return doc


def _in_rg(doc: dict[str, Any]) -> list[str]:
    return [k for k in doc["resources"] if k == RG or k.startswith(RG + "/")]


def test_up_plan_status_down_in_separate_processes(tmp_path: Path) -> None:
    env = _env(tmp_path, "0.001")
    in_repo = REPO / ".hubspoke" / "sandbox.simulator.json"  # e.g. left by the README's Quick start
    before = in_repo.stat().st_mtime_ns if in_repo.exists() else None
    up = _cli(env, "up", "--yes")
    assert up.returncode == 0, up.stderr[-3000:]
    # the simulator's file sits next to the checkpoint, nothing is written in the repository
    deployed = _in_rg(_sim_state(tmp_path))
    assert len(deployed) > 40
    assert (in_repo.stat().st_mtime_ns if in_repo.exists() else None) == before

    plan = _cli(env, "plan", "--detailed-exitcode", "--output", "json")
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-2000:]  # 0 = nothing to change
    items = json.loads(plan.stdout)["items"]
    assert items and all(i["action"] == "no-op" for i in items)

    status = _cli(env, "status", "--output", "json")
    assert status.returncode == 0, status.stderr
    steps = json.loads(status.stdout)["steps"]
    assert steps and all(v["status"] == "succeeded" for v in steps.values())

    down = _cli(env, "down", "--yes")
    assert down.returncode == 0, down.stderr[-3000:]
    doc = _sim_state(tmp_path)
    assert _in_rg(doc) == []
    # the Key Vault went into the soft-deleted state, as in Azure
    assert any("/deletedvaults/" in k for k in doc["resources"])


def test_sigkill_during_up_then_up_converges(tmp_path: Path) -> None:
    env = _env(tmp_path, "0.002")
    sim_file = tmp_path / "sandbox.simulator.json"
    proc = subprocess.Popen(
        [*CLI, "up", "--yes", "--config", str(SANDBOX)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        killed_at = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
            try:
                seen = _sim_state(tmp_path)
            except (FileNotFoundError, ValueError):
                continue  # not written yet
            count = len(_in_rg(seen))
            running = [o for o in seen["operations"] if o["status"] == "InProgress"]
            if count >= 10 and running:  # mid-way, with operations in flight
                proc.send_signal(signal.SIGKILL)
                killed_at = count
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "up finished before it could be killed mid-way"
    # the file written before the kill is whole (temp file + rename) and holds the partial deployment
    partial = _sim_state(tmp_path)
    assert killed_at <= len(_in_rg(partial)) < 45
    assert sim_file.exists() and partial["format"] == "hubspoke-arm-simulator-state"

    again = _cli(env, "up", "--yes")
    assert again.returncode == 0, again.stderr[-3000:]
    plan = _cli(env, "plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-2000:]
    assert len(_in_rg(_sim_state(tmp_path))) > 40


def test_damaged_simulator_file_is_reported_in_plain_words(tmp_path: Path) -> None:
    env = _env(tmp_path, "0.001")
    env["HUBSPOKE_SIMULATOR_STATE"] = str(tmp_path / "elsewhere" / "sim.json")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "sim.json").write_text("{torn")
    plan = _cli(env, "plan")
    assert plan.returncode != 0
    text = plan.stdout + plan.stderr
    assert "sim.json" in text and "not valid JSON" in text and "Traceback" not in text
    assert not (tmp_path / "sandbox.simulator.json").exists()  # the override was used
