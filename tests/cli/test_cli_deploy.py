"""The sandbox deployment through the CLI, as a user types it, against a standalone simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.simulator import Simulator

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=3) as s:
        yield s


@pytest.fixture
def env(sim: Simulator, tmp_path: Path) -> dict[str, str]:
    sim.reset()
    full = dict(os.environ)
    full.update(
        {
            "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
            "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
            "HUBSPOKE_STATE_BACKEND": "file",
            "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json"),
            "REQUESTS_CA_BUNDLE": sim.ca_path,
        }
    )
    return full


def cli(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args, "--config", str(SANDBOX)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)


def writes(sim: Simulator) -> int:
    m = sim.stats()["methods"]
    return int(m.get("PUT", 0) + m.get("PATCH", 0) + m.get("DELETE", 0))


def test_sandbox_lifecycle(sim: Simulator, env: dict[str, str]) -> None:
    # plan before anything exists: every resource listed as a create, exit 4 with --detailed-exitcode
    plan = cli(env, "plan", "--output", "json", "--detailed-exitcode")
    assert plan.returncode == 4, plan.stderr
    items = json.loads(plan.stdout)["items"]
    assert items and all(i["action"] == "create" for i in items)
    assert writes(sim) == 0

    up = cli(env, "up", "--yes", "--log-format", "json")
    assert up.returncode == 0, up.stderr[-3000:]
    lines = [json.loads(line) for line in up.stderr.splitlines() if line.startswith("{")]
    step_lines = [line for line in lines if line.get("event") == "step"]
    assert len(step_lines) == len(items)
    assert all({"step", "action", "changed", "duration_s"} <= set(line) for line in step_lines)

    sim.reset_stats()
    again = cli(env, "up", "--yes")
    assert again.returncode == 0, again.stderr[-2000:]
    assert writes(sim) == 0
    assert sim.stats()["methods"].get("GET", 0) <= len(items) + 5

    assert cli(env, "plan", "--detailed-exitcode").returncode == 0

    status = json.loads(cli(env, "status", "--output", "json").stdout)
    assert all(v["status"] == "succeeded" for v in status["steps"].values())

    out = cli(env, "outputs", "--output", "json")
    assert out.returncode == 0, out.stderr
    outputs: dict[str, Any] = json.loads(out.stdout)
    assert outputs["firewall_private_ip"]
    text = json.dumps(outputs)
    for secret_marker in ("client-key-data", "AccountKey=", "Bearer ", "password"):
        assert secret_marker not in text



def test_locked_state_exits_3_naming_the_holder_and_unlock_frees_it(sim: Simulator, env: dict[str, str]) -> None:
    from hubspoke_deploy.orchestrator.stores import FileStore, LockInfo

    holder = FileStore(Path(env["HUBSPOKE_STATE_PATH"]))
    holder.acquire(LockInfo(host="build-agent-7", pid=4242, started_at="2026-11-26T05:00:00Z", command="up",
                            run_id="abc123"))
    try:
        blocked = cli(env, "up", "--yes")
        assert blocked.returncode == 3
        assert "build-agent-7" in blocked.stderr and "4242" in blocked.stderr
        assert writes(sim) == 0
        assert "hubspoke-deploy unlock abc123" in blocked.stderr
        refused = cli(env, "unlock", "abc123")  # no TTY and no --yes: refused, lock kept
        assert refused.returncode == 2
        assert cli(env, "up", "--yes").returncode == 3
        freed = cli(env, "unlock", "abc123", "--yes")
        assert freed.returncode == 0, freed.stderr
        assert "build-agent-7" in freed.stdout
        assert cli(env, "up", "--yes").returncode == 0
    finally:
        holder.release()
