"""Persistent simulator (``state_file``), seeding, resource-group delete cascades, computed
back-references, known principals and the request log -- through the real SDK clients."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from hubspoke_deploy.simulator import FaultSpec, Simulator, SimulatorStateError

from .conftest_providers import LOCATION, SUB, make_vnet, rg_id

NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def _stored(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def test_state_survives_restart_with_guids_and_port(tmp_path: Path, sim_client: Any) -> None:
    state = tmp_path / "sim.json"
    with Simulator(time_scale=0.0005, state_file=state) as s1:
        rc = sim_client(s1, ResourceManagementClient)
        rc.resource_groups.create_or_update("rg1", {"location": LOCATION})
        vnet = make_vnet(sim_client(s1, NetworkManagementClient), "rg1")
        first = sim_client(s1, ManagedServiceIdentityClient).user_assigned_identities.create_or_update(
            "rg1", "id1", {"location": LOCATION}
        )
        port = s1.port
        # written after each write, before stop
        assert vnet.id.lower() in _stored(state)["resources"]
    assert not list(tmp_path.glob("*.tmp"))
    old_guids = set(_GUID.findall(state.read_text()))
    with Simulator(time_scale=0.0005, state_file=state) as s2:
        assert s2.port == port  # the previous run's port: saved operation URLs still work
        net = sim_client(s2, NetworkManagementClient)
        again = net.virtual_networks.get("rg1", "vnet1")
        assert again.etag == vnet.etag and again.properties.subnets[0].name == "default"
        msi = sim_client(s2, ManagedServiceIdentityClient)
        assert msi.user_assigned_identities.get("rg1", "id1").principal_id == first.principal_id
        second = msi.user_assigned_identities.create_or_update("rg1", "id2", {"location": LOCATION})
        # the GUID generator continues where it stopped: no principal id is handed out twice
        assert second.principal_id not in old_guids and second.client_id not in old_guids


def test_operation_in_flight_resumes_after_a_kill(tmp_path: Path, sim_client: Any) -> None:
    live, killed = tmp_path / "live.json", tmp_path / "killed.json"
    # a VNet create takes ~1.2 s: long enough that the copy below is taken mid-operation even
    # on a loaded machine (the SDK's poller runs in the background from the first response)
    s1 = Simulator(time_scale=0.04, state_file=live).start()
    try:
        sim_client(s1, ResourceManagementClient).resource_groups.create_or_update("rg1", {"location": LOCATION})
        net = sim_client(s1, NetworkManagementClient)
        body = {"location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}}}
        poller = net.virtual_networks.begin_create_or_update("rg1", "vnet1", body)
        token = poller.continuation_token()
        shutil.copy(live, killed)  # the file as a SIGKILL right after the PUT would leave it
        doc = _stored(killed)
        assert [o["status"] for o in doc["operations"] if o["kind"] == "create"] == ["InProgress"]
        poller.result()
    finally:
        s1.stop()
    with Simulator(time_scale=0.04, state_file=killed) as s2:
        assert s2.port == s1.port
        net2 = sim_client(s2, NetworkManagementClient)
        # re-attach with the token saved before the "kill": the operation completes on schedule
        done = net2.virtual_networks.begin_create_or_update("rg1", "vnet1", None, continuation_token=token).result()
        assert done.provisioning_state == "Succeeded"
        assert net2.virtual_networks.get("rg1", "vnet1").provisioning_state == "Succeeded"
    assert [o["status"] for o in _stored(killed)["operations"] if o["kind"] == "create"] == ["Succeeded"]


def test_unusable_state_file_and_read_only(tmp_path: Path, sim_client: Any) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SimulatorStateError, match="not valid JSON"):
        Simulator(state_file=bad).start()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(SimulatorStateError, match="not an ARM simulator state file"):
        Simulator(state_file=other).start()
    state = tmp_path / "s.json"
    with Simulator(time_scale=0.0005, state_file=state) as s1:
        sim_client(s1, ResourceManagementClient).resource_groups.create_or_update("keep", {"location": LOCATION})
    before = state.read_bytes()
    with Simulator(time_scale=0.0005, state_file=state, state_read_only=True) as s2:
        rc = sim_client(s2, ResourceManagementClient)
        assert rc.resource_groups.check_existence("keep")
        rc.resource_groups.create_or_update("not-saved", {"location": LOCATION})
    assert state.read_bytes() == before


def test_builtin_role_definitions_seeded_before_any_write(sim: Simulator, client: Any) -> None:
    auth = client(AuthorizationManagementClient)
    # the very first request of the test (after reset) reads a built-in role
    role = auth.role_definitions.get(f"/subscriptions/{SUB}", NETWORK_CONTRIBUTOR)
    assert role.role_name == "Network Contributor"
    tenant = [r for r in sim.resources() if r["id"].lower().startswith("/providers/microsoft.authorization/")]
    assert tenant, "tenant-scoped built-in roles are seeded at start"


def test_resource_group_delete_runs_each_resource_delete_hook(sim: Simulator, client: Any, rg: str) -> None:
    kv = client(KeyVaultManagementClient)
    body = {"location": LOCATION, "properties": {"tenantId": TENANT, "sku": {"family": "A", "name": "standard"}}}
    kv.vaults.begin_create_or_update(rg, "kv-in-rg", body).result()
    rc = client(ResourceManagementClient)
    rc.resource_groups.begin_delete(rg).result()
    assert not rc.resource_groups.check_existence(rg)
    # the vault went the way a vault delete goes: soft-deleted, name still taken
    assert kv.vaults.get_deleted("kv-in-rg", LOCATION).name == "kv-in-rg"
    rc.resource_groups.create_or_update(rg, {"location": LOCATION})
    with pytest.raises(HttpResponseError) as err:
        kv.vaults.begin_create_or_update(rg, "kv-in-rg", body).result()
    assert err.value.status_code == 409 and err.value.error.code == "ConflictError"


def test_nic_virtual_machine_is_computed_and_survives_nic_put(
    sim: Simulator, client: Any, network_client: NetworkManagementClient, rg: str
) -> None:
    vnet = make_vnet(network_client, rg)
    nic_body: dict[str, Any] = {
        "location": LOCATION,
        "properties": {"ipConfigurations": [{"name": "ip1", "properties": {"subnet": {"id": vnet.subnets[0].id}}}]},
    }
    nic = network_client.network_interfaces.begin_create_or_update(rg, "nic1", nic_body).result()
    vm_body = {
        "location": LOCATION,
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "osProfile": {"computerName": "jump", "adminUsername": "azureuser", "adminPassword": "S3cret-P@ssw0rd!"},
            "networkProfile": {"networkInterfaces": [{"id": nic.id}]},
        },
    }
    compute = client(ComputeManagementClient)
    vm = compute.virtual_machines.begin_create_or_update(rg, "vm1", vm_body).result()
    # a later NIC PUT (tags) has no virtualMachine in its body: the back-reference stays
    updated = network_client.network_interfaces.begin_create_or_update(
        rg, "nic1", {**nic_body, "tags": {"x": "1"}}
    ).result()
    assert updated.properties.virtual_machine.id.lower() == vm.id.lower()
    assert network_client.network_interfaces.get(rg, "nic1").properties.virtual_machine.id.lower() == vm.id.lower()
    stored = sim.engine.get(nic.id)
    assert stored is not None and "virtualMachine" not in stored["properties"]
    compute.virtual_machines.begin_delete(rg, "vm1").result()
    assert network_client.network_interfaces.get(rg, "nic1").properties.virtual_machine is None


def test_known_principals(tmp_path: Path, sim_client: Any) -> None:
    outsider = str(uuid.uuid4())
    params = {
        "role_definition_id": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
        f"{NETWORK_CONTRIBUTOR}",
        "principal_id": outsider,
        "principal_type": "ServicePrincipal",  # users and groups are taken on trust anyway
    }
    with Simulator(time_scale=0.0005) as plain:
        sim_client(plain, ResourceManagementClient).resource_groups.create_or_update("rg1", {"location": LOCATION})
        with pytest.raises(HttpResponseError) as err:
            sim_client(plain, AuthorizationManagementClient).role_assignments.create(
                rg_id("rg1"), str(uuid.uuid4()), params
            )
        assert err.value.status_code == 400 and err.value.error.code == "PrincipalNotFound"
    with Simulator(time_scale=0.0005, known_principals=[outsider.upper()]) as known:
        sim_client(known, ResourceManagementClient).resource_groups.create_or_update("rg1", {"location": LOCATION})
        ra = sim_client(known, AuthorizationManagementClient).role_assignments.create(
            rg_id("rg1"), str(uuid.uuid4()), params
        )
        assert ra.principal_id == outsider


def test_request_log_fields(tmp_path: Path, sim_client: Any) -> None:
    log = tmp_path / "req.jsonl"
    with Simulator(time_scale=0.002, request_log=str(log)) as s:
        sim_client(s, ResourceManagementClient).resource_groups.create_or_update("Rg1", {"location": LOCATION})
        net = sim_client(s, NetworkManagementClient)
        vnet = make_vnet(net, "Rg1", "VNet1")
        make_vnet(net, "Rg1", "VNet1")  # an update: 200, not a create
        list(net.virtual_networks.list("Rg1"))
        s.set_faults(FaultSpec(p500=1.0))
        with pytest.raises(HttpResponseError):
            sim_client(s, NetworkManagementClient, retry_total=0).virtual_networks.get("Rg1", "VNet1")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    for ln in lines:
        assert {"time", "method", "path", "api_version", "status", "code", "resource_id", "kind", "created"} <= set(ln)
        assert "?" not in ln["path"] and ln["resource_id"] == ln["resource_id"].lower()
    vid = vnet.id.lower()
    puts = [ln for ln in lines if ln["method"] == "PUT" and ln["resource_id"] == vid]
    assert [ln["status"] for ln in puts] == [201, 200]  # creates are countable per resource
    assert [ln["created"] for ln in puts] == [True, False]
    polls = [ln for ln in lines if ln["kind"] == "poll"]
    assert polls and all(ln["resource_id"] == vid and ln["method"] == "GET" for ln in polls)
    listed = [ln for ln in lines if ln["path"].lower().endswith("/virtualnetworks") and ln["method"] == "GET"]
    assert listed and listed[0]["resource_id"] == listed[0]["path"].lower()
    injected = lines[-1]
    assert injected["status"] == 500 and injected["code"] == "InternalServerError" and injected["resource_id"] == vid
