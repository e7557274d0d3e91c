"""Issue 13.4: server delays are capped, every retry wait is cancellable, and a 429 is retried
by one layer only (azure-core's, inside the SDK clients), counted from the simulator's log."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import load_config
from hubspoke_deploy.errors import Interrupted
from hubspoke_deploy.orchestrator.clients import Clients, RetrySettings
from hubspoke_deploy.orchestrator.engine import EngineOptions, RunStatus
from hubspoke_deploy.orchestrator.retry import RetryPolicy
from hubspoke_deploy.orchestrator.runner import ARM_SCOPE, open_session
from hubspoke_deploy.simulator import FaultSpec, Simulator, SimulatorCredential
from hubspoke_deploy.steps.network import foundation_steps

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "examples" / "sandbox.toml"
SUB = "00000000-0000-0000-0000-000000000013"
# what a generous bound looks like next to Retry-After: 3600 on a loaded 2-core machine
BOUND_S = 120.0
THROTTLE_S = 6.0


@pytest.fixture
def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, Path]]:
    log = tmp_path / "requests.jsonl"
    with Simulator(time_scale=0.002, seed=4, request_log=str(log)) as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.ca_path)
        yield sim, log


def _entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as err:
            box["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_retry_after_3600_waits_at_most_max_delay_and_one_layer_retries(
    logged: tuple[Simulator, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim, log = logged
    cfg = load_config(SANDBOX, env={"HUBSPOKE_AZURE_ENDPOINT": sim.endpoint, "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
                                    "HUBSPOKE_STATE_BACKEND": "file", "HUBSPOKE_STATE_PATH": str(tmp_path / "s.json")})
    rg = foundation_steps(cfg)[0]
    sim.set_faults(FaultSpec(p429=1.0, retry_after=3600))  # a subscription throttled for an hour
    events: list[dict[str, Any]] = []

    def up() -> Any:
        # a 429 may be waited out for THROTTLE_S per request (the default: 900 s on Azure, 120 s here)
        with open_session(cfg, command="up", steps=[rg], on_event=events.append,
                          options=EngineOptions(throttle_wait_s=THROTTLE_S)) as session:
            assert session.clients.retry.backoff_max == 1.0 and session.clients.retry.throttle_s == THROTTLE_S
            return session.engine.up()

    caplog.set_level(logging.WARNING, logger="hubspoke_deploy.orchestrator.retry")
    started = time.monotonic()
    thread, box = _in_thread(up)
    thread.join(BOUND_S)
    assert not thread.is_alive(), "the step waited out Retry-After: 3600"
    elapsed = time.monotonic() - started
    assert "error" not in box, box.get("error")
    result = box["result"]
    assert result.status == RunStatus.FAILED
    assert result.outcomes[rg.key].error is not None and result.outcomes[rg.key].error.code == "TooManyRequests"

    attempts = [e for e in _entries(log) if e["resource_id"] == rg.resource_id().lower()]
    assert all(e["status"] == 429 for e in attempts)
    # one layer's budget: azure-core's throttling budget (THROTTLE_S of waits capped at 1 s each);
    # tenacity adds none (the group is not in up's up-front read: nothing can need a replacement)
    assert THROTTLE_S - 1 <= len(attempts) <= THROTTLE_S + 2, len(attempts)
    assert not [e for e in events if e["event"] == "retry"]  # the step layer never retried the 429
    capped = [r for r in caplog.records if "asked to wait 3600.0s" in r.getMessage()]
    assert len(capped) == len(attempts) - 1 and all("max_delay 1.0s" in r.getMessage() for r in capped)
    assert elapsed < BOUND_S


def test_cancel_during_an_http_retry_wait_returns_promptly(logged: tuple[Simulator, Path]) -> None:
    sim, log = logged
    sim.set_faults(FaultSpec(p429=1.0, retry_after=3600))
    cancel = threading.Event()
    # a cap far above the test's patience: only the cancel can end this wait early
    clients = Clients(credential=SimulatorCredential(), subscription_id=SUB, base_url=sim.endpoint,
                      credential_scope=ARM_SCOPE, connection_verify=sim.ca_path,
                      retry=RetrySettings(total=3, backoff_factor=0.01, backoff_max=3600.0), cancel=cancel)
    try:
        thread, box = _in_thread(lambda: clients.get("resource").resource_groups.get("rg-cancel"))
        deadline = time.monotonic() + BOUND_S
        while not _entries(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _entries(log), "no request reached the simulator"
        cancel.set()
        cancelled_at = time.monotonic()
        thread.join(BOUND_S)
        assert not thread.is_alive()
        assert isinstance(box.get("error"), Interrupted), box
        assert time.monotonic() - cancelled_at < 30.0  # vs 3600 s asked for; ~0 in practice
        assert len(_entries(log)) == 1  # no retry after the cancel
    finally:
        clients.close()


class _Busy(Exception):
    """An ARM error with a retryable code and a server delay (what azure-core raises, reduced)."""

    def __init__(self, retry_after: str) -> None:
        super().__init__("busy")
        self.status_code = 409
        self.error = None
        self.response = _Resp({"Retry-After": retry_after})


class _Resp:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def json(self) -> dict[str, Any]:
        return {"error": {"code": "AnotherOperationInProgress", "message": "busy"}}


def test_step_retry_caps_server_delay_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    delays: list[float] = []

    def busy() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _Busy("3600")
        return "ok"

    caplog.set_level(logging.WARNING, logger="hubspoke_deploy.orchestrator.retry")
    policy = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)
    slept: list[float] = []
    assert policy.call(busy, on_retry=lambda e, n, d: delays.append(d), sleep=slept.append) == "ok"
    assert len(calls) == 3 and delays == slept and all(d <= 0.05 for d in delays)
    assert sum("asked to wait 3600" in r.getMessage() and "max_delay" in r.getMessage() for r in caplog.records) == 2


def test_cancel_during_a_step_retry_wait_returns_promptly() -> None:
    cancel = threading.Event()
    calls: list[int] = []

    def busy() -> None:
        calls.append(1)
        raise _Busy("600")

    policy = RetryPolicy(attempts=5, base_delay=0.01, max_delay=3600.0)
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Interrupted):
        policy.call(busy, cancel=cancel)
    assert time.monotonic() - started < 30.0  # vs 600 s asked for
    assert len(calls) == 1
