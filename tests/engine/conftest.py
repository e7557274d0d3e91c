"""Fixtures for engine tests: an in-process ARM simulator over HTTPS and a sandbox config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import load_config
from hubspoke_deploy.simulator import Simulator

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"


@pytest.fixture(scope="module")
def sim_module() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=7) as sim:
        yield sim


@pytest.fixture
def sim(sim_module: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    from hubspoke_deploy.simulator import FaultSpec

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


@pytest.fixture
def cfg(env: dict[str, str]) -> Any:
    return load_config(SANDBOX, env=env)


def writes(sim: Simulator) -> int:
    methods = sim.stats()["methods"]
    return int(methods.get("PUT", 0) + methods.get("PATCH", 0) + methods.get("DELETE", 0))


def cli_env(env: dict[str, str], sim: Simulator) -> dict[str, str]:
    full = dict(os.environ)
    full.update(env)
    full["REQUESTS_CA_BUNDLE"] = sim.ca_path
    return full
