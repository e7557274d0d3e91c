"""Crash-resume (issues 4 and 9): SIGKILL the CLI at random points of a deployment, run ``up`` again.

Kills are chained: a deployment is killed, resumed, the resume may be killed again, and so on,
until ``HUBSPOKE_RELIABILITY_KILLS`` (default 20) kills have landed; then a last ``up`` runs to
the end. After every kill the checkpoint (as the dead process left it) is read, and the next run's
slice of the simulator's request log is checked:

* no step recorded ``succeeded`` at kill time is written again (no PUT/PATCH to its resource);
* no step with an LRO continuation token at kill time is re-sent (it is re-attached);
* over the whole chain no resource is answered ``201 Created`` twice;
* the final state equals an uninterrupted run's, and every resource is owned by the checkpoint.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hubspoke_deploy.simulator import Simulator

S: ModuleType = sys.modules["hubspoke_reliability_support"]  # loaded by conftest.py
KILLS = int(os.environ.get("HUBSPOKE_RELIABILITY_KILLS", "20"))
SEED = int(os.environ.get("HUBSPOKE_RELIABILITY_SEED", "20240917"))


@pytest.fixture(scope="module")
def logged_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, Any]]:
    log = tmp_path_factory.mktemp("crash") / "requests.jsonl"
    with Simulator(time_scale=0.002, seed=11, request_log=str(log)) as sim:
        yield sim, S.RequestLog(log)


def test_sigkill_at_random_points_converges_without_duplicates_or_orphans(
    logged_sim: tuple[Simulator, Any], tmp_path: Path, report: Callable[[str], None]
) -> None:
    assert KILLS >= 1
    sim, log = logged_sim
    rng = random.Random(SEED)

    # the uninterrupted reference run
    sim.reset()
    preexisting = [r["id"] for r in sim.resources()]
    env = S.cli_env(sim, tmp_path / "reference.json")
    started = time.monotonic()
    ref = S.run_cli(env, "up", "--yes")
    full_s = time.monotonic() - started
    assert ref.returncode == 0, S.tail(ref.stderr)
    reference = S.final_state(sim)
    assert reference

    kills = 0
    chains = 0
    resumed_ok = 0
    duplicates: dict[str, int] = {}
    rewritten: list[str] = []
    resent: list[str] = []
    orphaned: list[str] = []
    in_flight_at_kill = 0
    succeeded_at_kill = 0
    while kills < KILLS:
        chains += 1
        sim.reset()
        state = tmp_path / f"chain-{chains}.json"
        env = S.cli_env(sim, state)
        chain_start = log.mark()
        pending: tuple[set[str], set[str]] | None = None  # (succeeded ids, in-flight ids) at the last kill
        while True:
            run_start = log.mark()
            proc = S.spawn_cli(env, "up", "--yes")
            # a random point of the deployment (CLI start-up included), drawn from the reference makespan
            delay = rng.uniform(0.06, 0.42) * full_s if kills < KILLS else None
            try:
                _out, err = proc.communicate(timeout=delay if delay is not None else 240)
                finished = True
            except subprocess.TimeoutExpired:
                proc.kill()  # SIGKILL: no handler, no cleanup
                _out, err = proc.communicate()
                # the run may have finished between the timeout and the kill: then it is not a kill
                finished = proc.returncode == 0
            time.sleep(0.05)  # requests the server was answering when the client died get logged
            run_entries = log.entries(run_start)
            if pending is not None:
                rewritten += S.writes_to(run_entries, pending[0])
                resent += S.writes_to(run_entries, pending[1])
                resumed_ok += 1
            if finished:
                assert proc.returncode == 0, S.tail(err)
                break
            assert proc.returncode == -9
            kills += 1
            doc = S.read_doc(state)  # None when killed before the first checkpoint write
            done = S.step_ids(doc, status="succeeded")
            flying = S.step_ids(doc, lro=True)
            succeeded_at_kill += len(done)
            in_flight_at_kill += len(flying)
            pending = (done, flying)
        chain_entries = log.entries(chain_start)
        for path, n in S.duplicate_creates(chain_entries).items():
            duplicates[path] = n
        final_doc = S.read_doc(state)
        assert final_doc is not None
        not_done = {k: r.get("status") for k, r in final_doc["steps"].items() if r.get("status") != "succeeded"}
        assert not not_done, not_done
        assert S.state_diff(S.final_state(sim), reference) == []
        orphaned += S.orphans(sim, final_doc, preexisting)

    report(
        f"crash-resume: {kills}/{KILLS} kills in {chains} chain(s), {chains}/{chains} converged to the reference "
        f"state, {resumed_ok} resumed runs checked, {succeeded_at_kill} succeeded and {in_flight_at_kill} in-flight "
        f"steps at kill time, {len(rewritten)} rewrites, {len(resent)} re-sent operations, "
        f"{len(duplicates)} duplicates, {len(orphaned)} orphans (seed {SEED})"
    )
    assert kills >= KILLS
    assert rewritten == [], rewritten
    assert resent == [], resent
    assert duplicates == {}, duplicates
    assert orphaned == [], orphaned
