"""Issue 18: SIGKILL the CLI at random points of a two-region deployment (config/examples/multi-region.toml),
run ``up`` again until it finishes: the end state is the uninterrupted run's, nothing is created twice and
every resource is owned by the checkpoint."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hubspoke_deploy.simulator import Simulator

S: ModuleType = sys.modules["hubspoke_reliability_support"]  # loaded by conftest.py
MULTI = S.REPO / "config" / "examples" / "multi-region.toml"
KILLS = int(os.environ.get("HUBSPOKE_MULTIREGION_KILLS", "3"))
SEED = int(os.environ.get("HUBSPOKE_RELIABILITY_SEED", "20240917"))


@pytest.fixture(scope="module")
def logged_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, Any]]:
    log = tmp_path_factory.mktemp("crash-mr") / "requests.jsonl"
    with Simulator(time_scale=0.002, seed=18, request_log=str(log)) as sim:
        yield sim, S.RequestLog(log)


def test_two_region_deploy_killed_at_random_points_resumes_to_the_same_end_state(
    logged_sim: tuple[Simulator, Any], tmp_path: Path
) -> None:
    sim, log = logged_sim
    rng = random.Random(SEED)
    sim.reset()
    preexisting = [r["id"] for r in sim.resources()]
    started = time.monotonic()
    ref = S.run_cli(S.cli_env(sim, tmp_path / "reference.json"), "up", "--yes", config=MULTI)
    full_s = time.monotonic() - started
    assert ref.returncode == 0, S.tail(ref.stderr)
    reference = S.final_state(sim)
    assert any("afw-multi-ne" in k for k in reference)

    sim.reset()
    state = tmp_path / "chain.json"
    env = S.cli_env(sim, state)
    chain_start = log.mark()
    kills = 0
    while True:
        proc = S.spawn_cli(env, "up", "--yes", config=MULTI)
        delay = rng.uniform(0.1, 0.7) * full_s if kills < KILLS else None
        try:
            _out, err = proc.communicate(timeout=delay if delay is not None else 300)
            finished = True
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL: no handler, no cleanup
            _out, err = proc.communicate()
            finished = proc.returncode == 0
        if finished:
            assert proc.returncode == 0, S.tail(err)
            break
        assert proc.returncode == -9
        kills += 1
    assert kills >= 1  # a resumed run may finish before its kill time (it has less left to do)
    doc = S.read_doc(state)
    assert doc is not None
    assert {k: r.get("status") for k, r in doc["steps"].items() if r.get("status") != "succeeded"} == {}
    assert S.state_diff(S.final_state(sim), reference) == []
    assert S.duplicate_creates(log.entries(chain_start)) == {}
    assert S.orphans(sim, doc, preexisting) == []
