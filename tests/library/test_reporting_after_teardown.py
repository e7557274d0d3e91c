"""What ``down``, ``status`` and the step log say (issue 13, point 11): the Key Vault note follows
the vault's purge protection and the real purge date; after an interrupted ``up`` that follows a
teardown, ``status`` no longer reports the teardown nor marks pending steps deleted; an
interrupted step's action is ``interrupted``; ``status | head`` ends without a traceback."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import hubspoke_deploy as hd
import pytest
from hubspoke_deploy.cli import main
from hubspoke_deploy.config import DeploymentConfig, load_config_dict
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.identity import ID_CONTROL_PLANE, UserAssignedIdentityStep
from hubspoke_deploy.steps.network import ResourceGroupStep
from hubspoke_deploy.steps.paas import KEYVAULT, KeyVaultStep

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"


def sandbox(env: dict[str, str], **keyvault: Any) -> DeploymentConfig:
    with SANDBOX.open("rb") as fh:
        data = tomllib.load(fh)
    data.setdefault("keyvault", {}).update(keyvault)
    return load_config_dict(data, env=env, source=str(SANDBOX))


def vault_steps(cfg: DeploymentConfig) -> list[Step]:
    return [ResourceGroupStep(keys.RG, cfg), UserAssignedIdentityStep(ID_CONTROL_PLANE, cfg, "aks"),
            KeyVaultStep(KEYVAULT, cfg)]


def vault_note_after_down(cfg: DeploymentConfig, env: dict[str, str]) -> str:
    with open_session(cfg, command="up", steps=vault_steps(cfg), env=env) as session:
        assert session.engine.up().status.value == "succeeded"
    with open_session(cfg, command="down", steps=vault_steps(cfg), env=env) as session:
        result = session.engine.down()
    assert result.status.value == "succeeded"
    note = result.outcomes[KEYVAULT].note
    assert note
    return note


def purge_day(note: str) -> dt.date:
    found = re.search(r"until (\d{4}-\d{2}-\d{2})", note)
    assert found, note
    return dt.date.fromisoformat(found.group(1))


@pytest.mark.parametrize("protected", [False, True])
def test_key_vault_note_follows_purge_protection_and_the_real_purge_date(
    sim: Simulator, env: dict[str, str], protected: bool
) -> None:
    cfg = sandbox(env, purge_protection=protected, soft_delete_retention_days=7)
    note = vault_note_after_down(cfg, env)
    assert ("with purge protection" in note) is protected, note
    if not protected:
        assert "az keyvault purge" in note
    expected = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=7)
    assert abs((purge_day(note) - expected).days) <= 1, note


def test_status_after_an_interrupted_up_that_follows_a_teardown(
    sim: Simulator, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = sandbox(env)
    hd.up(cfg)
    hd.down(cfg)
    assert hd.status(cfg)["teardown"] is not None

    cancel = threading.Event()
    finished: dict[str, dict[str, Any]] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "step_applying" and event["step"] == "fw":
            cancel.set()  # stop while the firewall create (the longest operation here) is in flight
        if event["event"] == "step_finished":
            finished[event["step"]] = event

    result = hd.up(cfg, cancel=cancel, on_event=on_event, raise_on_failure=False)
    assert result.status == hd.RunStatus.INTERRUPTED
    fw = result.steps["fw"]
    assert fw.status == "interrupted" and fw.action == "interrupted"
    assert finished["fw"]["action"] == "interrupted"

    st = hd.status(cfg)
    assert st["last_run"]["command"] == "up"
    assert st["teardown"] is None
    shown = {k: v["status"] for k, v in st["steps"].items()}
    assert "deleted" not in shown.values(), shown
    assert "pending" in shown.values(), "steps the interrupted run did not reach are pending again"

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["status", "--config", str(SANDBOX)]) == 0
    out = capsys.readouterr().out
    assert "torn down" not in out and " deleted " not in out, out


def test_interrupted_step_log_line_says_interrupted(capsys: pytest.CaptureFixture[str]) -> None:
    from hubspoke_deploy.live import RunView

    lines: list[dict[str, Any]] = []

    class Log:
        def info(self, event: str, **fields: Any) -> None:
            lines.append({"event": event, **fields})

        error = warning = info

    progress = RunView(Log(), tty=False, total=1)
    # what the engine of commit 6789ae9 sent for an interrupted step
    progress({"event": "step_finished", "step": "fw", "status": "interrupted", "action": "no-op",
              "changed": False, "duration_s": 1.5, "attempts": 0, "resource_id": "/x/fw"})
    progress.stop()
    (line,) = lines
    assert line["action"] == "interrupted" and line["status"] == "interrupted"
    assert "attempts" not in line and "changed" not in line


def test_status_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSPOKE_")}
    env.update({"HUBSPOKE_STATE_BACKEND": "file", "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json")})
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`head`) is gone before status writes its first line
    try:
        proc = subprocess.run([sys.executable, "-m", "hubspoke_deploy.cli", "status", "--config", str(SANDBOX)],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.stderr == ""
    assert proc.returncode == hd.EXIT_PIPE == 141
