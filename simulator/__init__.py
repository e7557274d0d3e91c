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

import importlib
from typing import TYPE_CHECKING, Any

from hubspoke_deploy.simulator.credential import SIMULATOR_TOKEN, SimulatorCredential

if TYPE_CHECKING:
    from hubspoke_deploy.simulator.faults import FaultSpec
    from hubspoke_deploy.simulator.providers.base import ArmError, latency_table
    from hubspoke_deploy.simulator.server import Simulator, main
    from hubspoke_deploy.simulator.store import SimulatorStateError

    #: ``{full resource type: create latency in real-world seconds}`` for every registered type.
    LATENCY_S: dict[str, float]

# The server and its providers are imported on first use (PEP 562): a CLI run against Azure, or
# one that only needs the development credential, does not pay for them before its first request.
_LAZY = {
    "FaultSpec": "hubspoke_deploy.simulator.faults",
    "ArmError": "hubspoke_deploy.simulator.providers.base",
    "latency_table": "hubspoke_deploy.simulator.providers.base",
    "load_providers": "hubspoke_deploy.simulator.providers.base",
    "Simulator": "hubspoke_deploy.simulator.server",
    "main": "hubspoke_deploy.simulator.server",
    "SimulatorStateError": "hubspoke_deploy.simulator.store",
}


def __getattr__(name: str) -> Any:
    if name == "LATENCY_S":
        from hubspoke_deploy.simulator.providers.base import latency_table, load_providers

        load_providers()
        value: Any = latency_table()
    elif name in _LAZY:
        from hubspoke_deploy.simulator.providers.base import load_providers

        load_providers()
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


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
