"""scripts/runbook_example.py, run as Azure Automation would run it, against the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hubspoke_deploy.simulator import Simulator

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "scripts" / "runbook_example.py"
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"


def run(env: dict[str, str], sim: Simulator, *args: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.update(env)
    full["REQUESTS_CA_BUNDLE"] = sim.ca_path
    return subprocess.run([sys.executable, str(RUNBOOK), *args], capture_output=True, text=True, env=full,
                          timeout=240, cwd=REPO)


def last_json(stdout: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def test_runbook_deploys_then_finds_nothing_to_change(sim: Simulator, env: dict[str, str]) -> None:
    up = run(env, sim, str(SANDBOX))
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    summary = last_json(up.stdout)
    assert summary["action"] == "up" and summary["status"] == "succeeded"
    total = sum(summary["summary"].values())
    assert summary["summary"] == {"succeeded": total} and total > 40
    assert summary["outputs"]["aks_private_fqdn"] and summary["outputs"]["keyvault_uri"]
    # one log line per finished step, from the event callback
    step_lines = [line for line in up.stdout.splitlines() if " INFO succeeded " in line]
    assert len(step_lines) == total
    assert "credential: simulator" in up.stdout
    assert sim.get_resource("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-sandbox") \
        is not None

    again = run(env, sim, str(SANDBOX), "--action", "plan")
    assert again.returncode == 0, again.stderr[-2000:]
    assert last_json(again.stdout)["plan"] == {"no-op": total}


def test_runbook_reports_config_errors_with_exit_2(sim: Simulator, env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SANDBOX.read_text().replace('tier = "Standard"', 'tier = "Gold"'))
    proc = run(env, sim, str(bad))
    assert proc.returncode == 2
    assert last_json(proc.stdout) == {"action": "up", "status": "error", "error": "ConfigError"}
    assert "firewall.tier" in proc.stdout
    assert sim.stats()["total"] == 0
