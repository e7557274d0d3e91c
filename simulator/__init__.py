"""hubspoke_deploy.simulator: an Azure Resource Manager simulator over real HTTPS.

The official SDK clients run unchanged against it::

    from hubspoke_deploy.simulator import Simulator, SimulatorCredential
    with Simulator(time_scale=0.002) as sim:
        client = NetworkManagementClient(SimulatorCredential(), SUB, base_url=sim.endpoint,
                                         credential_scopes=["https://management.azure.com/.default"],
                                         connection_verify=sim.ca_path)

``LATENCY_S`` is the per-type create latency table (real-world seconds) of the
registered providers; see ``simulator/PROVIDERS.md`` to add a resource type.
"""

from __future__ import annotations

from hubspoke_deploy.simulator.credential import SIMULATOR_TOKEN, SimulatorCredential
from hubspoke_deploy.simulator.faults import FaultSpec
from hubspoke_deploy.simulator.providers.base import ArmError, latency_table, load_providers
from hubspoke_deploy.simulator.server import Simulator, main
from hubspoke_deploy.simulator.store import SimulatorStateError

load_providers()

#: ``{full resource type: create latency in real-world seconds}`` for every registered type.
LATENCY_S: dict[str, float] = latency_table()

__all__ = [
    "LATENCY_S",
    "SIMULATOR_TOKEN",
    "ArmError",
    "FaultSpec",
    "Simulator",
    "SimulatorCredential",
    "SimulatorStateError",
    "latency_table",
    "main",
]
