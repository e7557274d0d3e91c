"""Shared fixtures: an in-process ARM simulator (one per test module, reset per test) and the
HUBSPOKE_* environment overrides that point a config at it. Test modules that need a different
simulator (slower clock, request log) define their own ``sim``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hubspoke_deploy.simulator import FaultSpec, Simulator


@pytest.fixture(scope="module")
def sim_module() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=7) as sim:
        yield sim


@pytest.fixture
def sim(sim_module: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    sim_module.reset()
    sim_module.set_faults(FaultSpec())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim_module.ca_path)
    return sim_module


@pytest.fixture
def env(sim: Simulator, tmp_path: Path) -> dict[str, str]:
    return {
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json"),
    }
