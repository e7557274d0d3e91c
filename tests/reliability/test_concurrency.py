"""Concurrency (issue 9): simultaneous ``up`` on one blob state on Azurite.

Exactly one run proceeds; the others exit 3 naming the holder (host and pid). A run killed
while holding the lease blocks the next run until the lease (``lease_seconds = 15``) expires;
then the next run proceeds and finishes the deployment.
"""

from __future__ import annotations

import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from hubspoke_deploy.orchestrator.stores.blob import read_blob_document
from hubspoke_deploy.simulator import Simulator

S: ModuleType = sys.modules["hubspoke_reliability_support"]  # loaded by conftest.py
LEASE_SECONDS = 15


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=31) as s:
        yield s


def _blob_env(sim: Simulator, azurite: Any, container: str) -> dict[str, str]:
    env: dict[str, str] = S.cli_env(
        sim, None, HUBSPOKE_STATE_BACKEND="blob", HUBSPOKE_STATE_CONNECTION_STRING_ENV="AZURITE_CONN",
        AZURITE_CONN=azurite.connection_string, HUBSPOKE_STATE_CONTAINER=container,
        HUBSPOKE_STATE_LEASE_SECONDS=str(LEASE_SECONDS))
    return env


def _holder_named(err: str, pid: int) -> bool:
    return f"pid {pid}" in err and socket.gethostname() in err


def test_two_simultaneous_runs_one_proceeds_the_other_exits_3_naming_the_holder(
    sim: Simulator, azurite: Any, report: Callable[[str], None]
) -> None:
    sim.reset()
    env = _blob_env(sim, azurite, "conc" + uuid.uuid4().hex[:16])
    procs = [S.spawn_cli(env, "up", "--yes") for _ in range(2)]
    results = []
    for p in procs:
        _out, err = p.communicate(timeout=240)
        results.append((p.pid, p.returncode, err))
    winners = [r for r in results if r[1] == 0]
    losers = [r for r in results if r[1] != 0]
    assert len(winners) == 1, [(pid, rc, S.tail(err, 600)) for pid, rc, err in results]
    assert [rc for _pid, rc, _err in losers] == [3], [S.tail(err, 600) for _pid, _rc, err in losers]
    named = [err for _pid, _rc, err in losers if _holder_named(err, winners[0][0])]
    report(f"concurrency x2: 1 proceeded to the end (exit 0), 1 exited 3, {len(named)}/1 named the holder "
           f"({socket.gethostname()} pid {winners[0][0]})")
    assert len(named) == 1


def test_five_simultaneous_runs_then_the_killed_holder_blocks_until_its_lease_expires(
    sim: Simulator, azurite: Any, report: Callable[[str], None]
) -> None:
    sim.reset()
    container = "kill" + uuid.uuid4().hex[:16]
    env = _blob_env(sim, azurite, container)
    blob = BlobServiceClient.from_connection_string(azurite.connection_string).get_blob_client(
        container, "sandbox.state.json")

    def leased() -> bool:
        try:
            return bool(blob.get_blob_properties().lease.state == "leased")
        except Exception:
            return False

    service = BlobServiceClient.from_connection_string(azurite.connection_string)

    def document() -> dict[str, Any]:
        return read_blob_document(service, container, "sandbox.state.json") or {}

    def succeeded_steps() -> int:
        try:
            doc = document()
        except Exception:
            return 0
        return sum(1 for r in doc.get("steps", {}).values() if r.get("status") == "succeeded")

    procs = [S.spawn_cli(env, "up", "--yes") for _ in range(5)]
    try:
        # four runs give up at once; the fifth holds the lease and proceeds
        assert S.wait_for(lambda: sum(p.poll() is not None for p in procs) >= 4, timeout=120, interval=0.1)
        running = [p for p in procs if p.poll() is None]
        assert len(running) == 1, [p.returncode for p in procs]
        holder = running[0]
        losers = [(p.returncode, p.communicate()[1]) for p in procs if p is not holder]
        assert [rc for rc, _ in losers] == [3, 3, 3, 3], [S.tail(err, 600) for _, err in losers]
        named = sum(1 for _, err in losers if _holder_named(err, holder.pid))
        assert named == 4, [S.tail(err, 600) for _, err in losers]
        assert S.wait_for(lambda: succeeded_steps() >= 3, timeout=60)  # it really proceeds
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()  # SIGKILL the holder: its lease is never released
            p.communicate()
    killed_at = time.monotonic()
    assert leased()
    blocked = S.run_cli(env, "up", "--yes")
    assert blocked.returncode == 3, S.tail(blocked.stderr)
    assert _holder_named(blocked.stderr, holder.pid), S.tail(blocked.stderr)
    # the dead run's lease is not renewed: it expires by itself
    assert S.wait_for(lambda: not leased(), timeout=LEASE_SECONDS + 10, interval=0.25)
    expired_after = time.monotonic() - killed_at
    assert expired_after <= LEASE_SECONDS + 5
    nxt = S.run_cli(env, "up", "--yes")
    assert nxt.returncode == 0, S.tail(nxt.stderr)
    final = document()
    assert all(r["status"] == "succeeded" for r in final["steps"].values())
    report(f"concurrency x5: 1 proceeded, 4 exited 3 naming the holder (pid {holder.pid}); after SIGKILL of the "
           f"holder the next run exited 3, the lease expired {expired_after:.1f}s after the kill "
           f"(lease_seconds={LEASE_SECONDS}) and the following run resumed and converged (exit 0)")
