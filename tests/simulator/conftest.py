"""Fixtures for simulator tests: one HTTPS simulator per session, reset before each test,
and factories for real SDK clients pointed at it (no mocks)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from hubspoke_deploy.simulator import FaultSpec, Simulator, SimulatorCredential

SUB = "00000000-0000-0000-0000-00000000c0de"
LOCATION = "westeurope"
TIME_SCALE = 0.0005


@pytest.fixture(scope="session")
def _sim_server() -> Iterator[Simulator]:
    sim = Simulator(time_scale=TIME_SCALE, seed=1)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(_sim_server: Simulator) -> Simulator:
    _sim_server.set_faults(FaultSpec())
    _sim_server.reset()
    _sim_server.settings.time_scale = TIME_SCALE
    return _sim_server


def make_client(sim: Simulator, cls: type[Any], **kwargs: Any) -> Any:
    opts: dict[str, Any] = {
        "base_url": sim.endpoint,
        "credential_scopes": ["https://management.azure.com/.default"],
        "connection_verify": sim.ca_path,
        "polling_interval": 0.01,
        "retry_backoff_factor": 0.01,
        "retry_backoff_max": 0.05,
    }
    opts.update(kwargs)
    return cls(SimulatorCredential(), SUB, **opts)


@pytest.fixture
def client(sim: Simulator) -> Callable[..., Any]:
    """``client(ComputeManagementClient, retry_total=3)`` -> a real SDK client on the simulator."""

    def factory(cls: type[Any], **kwargs: Any) -> Any:
        return make_client(sim, cls, **kwargs)

    return factory


@pytest.fixture
def sub() -> str:
    """The subscription id the client fixtures use."""
    return SUB


@pytest.fixture
def sim_client() -> Callable[..., Any]:
    """``sim_client(other_simulator, NetworkManagementClient)`` for a simulator of your own."""
    return make_client


@pytest.fixture
def network_client(sim: Simulator) -> NetworkManagementClient:
    return make_client(sim, NetworkManagementClient)  # type: ignore[no-any-return]


@pytest.fixture
def resource_client(sim: Simulator) -> ResourceManagementClient:
    return make_client(sim, ResourceManagementClient)  # type: ignore[no-any-return]


@pytest.fixture
def rg(resource_client: ResourceManagementClient) -> str:
    resource_client.resource_groups.create_or_update("rg1", {"location": LOCATION})
    return "rg1"
