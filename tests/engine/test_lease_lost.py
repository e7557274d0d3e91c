"""Issue 13.7: when the run dies (its state lock is lost), leaving the worker pool does not wait
for the in-flight steps' operations: they are already checkpointed, the run stops promptly.

The file store's ``break_lock`` (what ``hubspoke-deploy unlock`` does) is the file-state
equivalent of a lost blob lease: the holder's next save raises ``StateConflict``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import load_config
from hubspoke_deploy.errors import StateConflict
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.orchestrator.stores import FileStore, read_document
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.network import PublicIpStep, foundation_steps

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "examples" / "sandbox.toml"
# A public IP takes 3 s in Azure; at this clock 300 s: far longer than the test's patience.
SLOW_CLOCK = 100.0
BOUND_S = 60.0


def _saved_token(state: Path, step: str) -> bool:
    """Whether the state file on disk holds ``step``'s operation token."""
    try:
        doc = read_document(state) or {}  # base + journal: what a resume would load
    except (OSError, ValueError):
        return False
    return bool(((doc.get("steps") or {}).get(step) or {}).get("lro"))


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with Simulator(time_scale=SLOW_CLOCK, seed=7) as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
        yield sim


def test_lost_lock_stops_the_run_without_waiting_for_in_flight_operations(slow: Simulator, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    cfg = load_config(SANDBOX, env={"HUBSPOKE_AZURE_ENDPOINT": slow.endpoint, "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
                                    "HUBSPOKE_STATE_BACKEND": "file", "HUBSPOKE_STATE_PATH": str(state)})
    steps: list[Step] = [
        foundation_steps(cfg)[0],
        PublicIpStep("pip.inflight", cfg, "pip-inflight", requires=(keys.RG,)),
        PublicIpStep("pip.victim", cfg, "pip-victim", requires=(keys.RG,)),
    ]
    cancel = threading.Event()
    broken = threading.Event()

    def on_event(e: dict[str, Any]) -> None:
        # When pip.victim starts its write, pip.inflight's operation is checkpointed and in
        # flight; then the lock is broken, so pip.victim's next save finds it lost.
        if e["event"] == "step_applying" and e["step"] == "pip.victim":
            deadline = time.monotonic() + BOUND_S
            while not _saved_token(state, "pip.inflight") and time.monotonic() < deadline:
                time.sleep(0.02)
            FileStore(state).break_lock()
            broken.set()

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            with open_session(cfg, command="up", steps=steps, cancel=cancel, on_event=on_event) as session:
                box["result"] = session.engine.up()
        except BaseException as err:
            box["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND_S)
    stuck = thread.is_alive()
    if stuck:  # today's behaviour: the pool waits for pip.inflight; release it before failing
        cancel.set()
        thread.join(BOUND_S)
    assert broken.is_set()
    assert not stuck, "leaving the worker pool waited for the in-flight operation"
    assert isinstance(box.get("error"), StateConflict), box
    # the in-flight operation stays checkpointed: the next run re-attaches to it
    doc = read_document(state) or {}  # base + journal: what the next run loads
    assert doc["steps"]["pip.inflight"]["lro"]["kind"] == "put"
    pip = slow.get_resource(steps[1].resource_id())
    assert pip is not None and pip["properties"]["provisioningState"] != "Succeeded"  # really still in flight
