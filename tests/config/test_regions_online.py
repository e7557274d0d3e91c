"""The subscription's own region list (``GET /subscriptions/{id}/locations``), read through the SDK's ARM
pipeline from the simulator, and the simulator refusing a resource group in a region Azure lacks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hubspoke_deploy.config as config_pkg
import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.resources import ResourceManagementClient
from hubspoke_deploy.config import load_config_dict
from hubspoke_deploy.errors import ConfigError
from hubspoke_deploy.regions import REGIONS, check_location_online, fetch_subscription_locations
from hubspoke_deploy.simulator import Simulator, SimulatorCredential

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

SUB = "00000000-0000-0000-0000-0000000000ab"
SCOPE = "https://management.azure.com/.default"


def _cfg(location: str) -> Any:
    with (Path(config_pkg.__file__).parent / "examples" / "sandbox.toml").open("rb") as fh:
        data = tomllib.load(fh)
    data["deployment"]["subscription_id"] = SUB
    cfg = load_config_dict(data, env={})
    # a region this release does not know but is well formed: offline validate lets it through
    return cfg.model_copy(update={"deployment": cfg.deployment.model_copy(update={"location": location})})


def test_the_subscription_lists_its_regions(sim: Simulator) -> None:
    names = fetch_subscription_locations(SimulatorCredential(), SUB, sim.endpoint, credential_scope=SCOPE,
                                         connection_verify=sim.ca_path)
    assert names == REGIONS["public"]
    assert "westeurope" in names and "global" not in names


def test_a_location_the_subscription_lacks_is_refused_before_any_write(sim: Simulator) -> None:
    check_location_online(_cfg("westeurope"), SimulatorCredential(), sim.endpoint, credential_scope=SCOPE,
                          connection_verify=sim.ca_path)  # offered: no error
    with pytest.raises(ConfigError) as info:
        check_location_online(_cfg("swedencentrall"), SimulatorCredential(), sim.endpoint,
                              credential_scope=SCOPE, connection_verify=sim.ca_path)
    (problem,) = info.value.problems
    assert problem.path == "deployment.location"
    assert f"subscription {SUB} does not offer it" in problem.message
    assert "did you mean 'swedencentral'?" in problem.message
    assert [r for r in sim.resources() if "resourceGroups" in str(r["id"])] == []


def test_the_simulator_refuses_a_resource_group_in_an_unknown_region(sim: Simulator) -> None:
    client = ResourceManagementClient(SimulatorCredential(), SUB, base_url=sim.endpoint,
                                      connection_verify=sim.ca_path, credential_scopes=[SCOPE])
    with pytest.raises(HttpResponseError) as info:
        client.resource_groups.create_or_update("rg-typo", {"location": "westeurop"})
    assert info.value.status_code == 400
    assert info.value.error is not None and info.value.error.code == "LocationNotAvailableForResourceGroup"
    assert "'westeurop' is not available for resource group" in str(info.value)
    assert client.resource_groups.create_or_update("rg-ok", {"location": "West Europe"}).location == "westeurope"
