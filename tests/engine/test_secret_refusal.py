"""Issue 13 point 2: a secret refused by the checkpoint is never written, and fails only its step.

The checkpoint checks a change *before* it touches the record; the refusal is a ``StepFailed``
(``SecretInOutputs``) that names the JSON path and never the value. The engine's failure path
writes the step's error redacted, so a failing step whose message carries a credential cannot
bring down the scheduler. Every assertion on "nothing written" reads the store's bytes."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.errors import StepFailed
from hubspoke_deploy.orchestrator.checkpoint import FAILED, RUNNING, SUCCEEDED, Checkpoint
from hubspoke_deploy.orchestrator.engine import RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.orchestrator.step import Spec, StepContext
from hubspoke_deploy.orchestrator.stores import FileStore, LockInfo
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.network import PublicIpStep, ResourceGroupStep

SECRET = "c2VjcmV0LXN0b3JhZ2Uta2V5LXZhbHVl"  # what must never reach the store
SAS = f"https://st1.blob.core.windows.net/c/b?sv=2022-11-02&sig={SECRET}"


def store_bytes(root: Path) -> bytes:
    """Everything the file store wrote: the document, its kept versions, the lock."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.fixture
def checkpoint(tmp_path: Path) -> Checkpoint:
    store = FileStore(tmp_path / "state" / "state.json")
    store.acquire(LockInfo.current("up", "run-secret-test"))
    cp = Checkpoint(store, "dep", "digest")
    cp.load()
    cp.begin_run("up", "run-secret-test")
    return cp


@pytest.mark.parametrize(
    "outputs",
    [
        {"id": "/x", "adminPassword": SECRET},
        {"id": "/x", "keys": [{"keyName": "key1", "value": SECRET, "permissions": "FULL"}]},
        {"id": "/x", "blob_url": SAS},
    ],
    ids=["secret-key", "storage-keys", "sas-url"],
)
def test_refused_outputs_leave_the_record_untouched(checkpoint: Checkpoint, outputs: dict[str, Any]) -> None:
    checkpoint.update("st", status=RUNNING, resource_id="/x")
    before = checkpoint.record("st")
    with pytest.raises(StepFailed) as refused:
        checkpoint.update("st", status=SUCCEEDED, outputs=outputs)
    err = refused.value
    assert err.code == "SecretInOutputs" and err.step == "st"
    assert "$.steps.st.outputs." in err.message
    assert SECRET not in str(err)
    # the record is exactly what it was: no status change, no outputs
    assert checkpoint.record("st") == before


def test_a_refused_secret_never_reaches_the_store(checkpoint: Checkpoint, tmp_path: Path) -> None:
    checkpoint.update("st", status=RUNNING)
    with contextlib.suppress(Exception):
        checkpoint.update("st", status=SUCCEEDED, outputs={"id": "/x", "connection_string": SECRET})
    # later changes (this step failing, another step succeeding) save the whole document
    checkpoint.update("st", status=FAILED, last_error={"code": "SecretInOutputs", "message": "refused"})
    checkpoint.update("other", status=SUCCEEDED, outputs={"id": "/y"})
    checkpoint.end_run("failed", {"failed": 1})
    data = store_bytes(tmp_path / "state")
    assert b'"other"' in data  # the saves did happen
    assert SECRET.encode() not in data


class _LeakyFailure(PublicIpStep):
    """A step that fails with a message quoting a credential (as an Azure error text could)."""

    def apply(self, ctx: StepContext, spec: Spec, observed: Spec | None) -> Spec:
        raise StepFailed(step=self.key, code="Conflict", message=f"the write was refused: {SAS}")


def test_a_failure_message_with_a_secret_fails_that_step_only(sim: Simulator, cfg: Any, tmp_path: Path) -> None:
    steps = [
        ResourceGroupStep(keys.RG, cfg),
        PublicIpStep("pip.ok", cfg, "pip-ok"),
        _LeakyFailure("pip.leaky", cfg, "pip-leaky"),
        PublicIpStep("pip.after", cfg, "pip-after", requires=("pip.leaky",)),
    ]
    with open_session(cfg, command="up", steps=steps) as session:
        result = session.engine.up()  # today: the scheduler dies on the checkpoint's refusal
    assert result.status == RunStatus.FAILED
    assert result.outcomes["pip.ok"].status == SUCCEEDED
    assert result.outcomes["pip.leaky"].status == FAILED
    assert result.outcomes["pip.after"].status == "not_started"
    state_dir = Path(cfg.state_path).parent
    data = store_bytes(state_dir)
    assert b'"pip.leaky"' in data
    assert SECRET.encode() not in data
