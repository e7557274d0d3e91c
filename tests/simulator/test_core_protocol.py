"""ARM protocol of the simulator, through the real SDK clients (azure-mgmt-network / -resource)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from hubspoke_deploy.simulator import LATENCY_S, FaultSpec, Simulator

SUB = "00000000-0000-0000-0000-00000000c0de"  # as in conftest.py
LOCATION = "westeurope"

VNET_BODY: dict[str, Any] = {"location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}


ROLE_DEFS = "Microsoft.Authorization/roleDefinitions"  # built-ins the authorization provider may seed


def _mine(sim: Simulator) -> list[Any]:
    return [r for r in sim.resources() if r["type"] != ROLE_DEFS]


def _subnet(prefix: str) -> dict[str, Any]:
    return {"properties": {"addressPrefix": prefix}}


def _arm_error(exc: pytest.ExceptionInfo[HttpResponseError]) -> tuple[int | None, str | None]:
    return exc.value.status_code, exc.value.error.code if exc.value.error else None


def test_lro_put_shows_creating_then_succeeded_and_continuation_token(
    sim: Simulator, network_client: NetworkManagementClient, rg: str
) -> None:
    sim.settings.time_scale = 0.05  # vnet 5 s -> 0.25 s, long enough to observe
    poller = network_client.virtual_networks.begin_create_or_update(rg, "vnet1", VNET_BODY)
    assert network_client.virtual_networks.get(rg, "vnet1").provisioning_state == "Creating"
    token = poller.continuation_token()
    resumed = network_client.virtual_networks.begin_create_or_update(rg, "vnet1", VNET_BODY, continuation_token=token)
    result = resumed.result()
    assert result.provisioning_state == "Succeeded"
    assert result.resource_guid
    assert network_client.virtual_networks.get(rg, "vnet1").provisioning_state == "Succeeded"
    assert sim.stats()["polls"] >= 1


def test_async_headers_and_operation_status(sim: Simulator, network_client: NetworkManagementClient, rg: str) -> None:
    sim.settings.time_scale = 0.05
    req = HttpRequest(
        "PUT",
        f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/v2?api-version=2024-05-01",
        json=VNET_BODY,
    )
    resp = network_client.send_request(req)
    assert resp.status_code == 201
    assert resp.json()["properties"]["provisioningState"] == "Creating"
    status_url = resp.headers["Azure-AsyncOperation"]
    assert "Location" in resp.headers and int(resp.headers["retry-after-ms"]) > 0
    assert "Retry-After" not in resp.headers  # sub-second interval: only retry-after-ms (see _retry_headers)
    first = network_client.send_request(HttpRequest("GET", status_url)).json()
    assert first["status"] == "InProgress"
    time.sleep(0.3)
    done = network_client.send_request(HttpRequest("GET", status_url)).json()
    assert done["status"] == "Succeeded" and "endTime" in done
    # a second PUT replaces: 200
    again = network_client.send_request(req)
    assert again.status_code == 200


def test_not_found_codes(network_client: NetworkManagementClient, rg: str) -> None:
    with pytest.raises(ResourceNotFoundError) as e1:
        network_client.virtual_networks.get(rg, "nope")
    assert _arm_error(e1) == (404, "ResourceNotFound")
    with pytest.raises(ResourceNotFoundError) as e2:
        network_client.virtual_networks.get("missing-rg", "nope")
    assert _arm_error(e2) == (404, "ResourceGroupNotFound")
    with pytest.raises(ResourceNotFoundError) as e3:
        network_client.subnets.get(rg, "nope", "s1")
    assert _arm_error(e3) == (404, "ParentResourceNotFound")
    with pytest.raises(HttpResponseError) as e4:
        network_client.subnets.begin_create_or_update(rg, "nope", "s1", _subnet("10.0.0.0/24")).result()
    assert _arm_error(e4) == (404, "ParentResourceNotFound")
    with pytest.raises(HttpResponseError) as e5:
        network_client.virtual_networks.begin_create_or_update("missing-rg", "v", VNET_BODY).result()
    assert _arm_error(e5) == (404, "ResourceGroupNotFound")


def test_missing_api_version_and_malformed_json(network_client: NetworkManagementClient, rg: str) -> None:
    base = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/v1"
    resp = network_client.send_request(HttpRequest("GET", base))
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "MissingApiVersionParameter"
    bad = network_client.send_request(
        HttpRequest(
            "PUT", base + "?api-version=2024-05-01", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidRequestContent"
    # wrong property type through the SDK: addressPrefixes must be a list of strings
    with pytest.raises(HttpResponseError) as err:
        network_client.virtual_networks.begin_create_or_update(
            rg, "v1", {"location": LOCATION, "properties": {"addressSpace": {"addressPrefixes": "10.0.0.0/16"}}}
        ).result()
    assert _arm_error(err) == (400, "InvalidRequestContent")
    network_client.virtual_networks.begin_create_or_update(rg, "v1", VNET_BODY).result()


def test_missing_bearer_is_401(sim: Simulator) -> None:
    r = requests.get(
        f"{sim.endpoint}/subscriptions/{SUB}/resourcegroups?api-version=2022-09-01", verify=sim.ca_path, timeout=5
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"


def test_delete_lro_and_absent_delete(sim: Simulator, network_client: NetworkManagementClient, rg: str) -> None:
    network_client.virtual_networks.begin_create_or_update(rg, "v1", VNET_BODY).result()
    network_client.virtual_networks.begin_delete(rg, "v1").result()
    assert (
        sim.get_resource(f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/v1")
        is None
    )
    resp = network_client.send_request(
        HttpRequest(
            "DELETE",
            f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/v1"
            "?api-version=2024-05-01",
        )
    )
    assert resp.status_code == 204
    network_client.virtual_networks.begin_delete(rg, "v1").result()  # absent: no error
    assert sim.stats()["deletes"] >= 3


def test_case_insensitive_ids_keep_create_casing(
    sim: Simulator, network_client: NetworkManagementClient, rg: str
) -> None:
    network_client.virtual_networks.begin_create_or_update(rg, "MyVNet", VNET_BODY).result()
    got = network_client.virtual_networks.get(rg.upper(), "myvnet")
    assert got.name == "MyVNet" and got.id.endswith("/virtualNetworks/MyVNet")
    assert sim.get_resource(got.id.lower()) is not None


def test_patch_tags_changes_etag(network_client: NetworkManagementClient, rg: str) -> None:
    v = network_client.virtual_networks.begin_create_or_update(rg, "v1", VNET_BODY).result()
    t = network_client.virtual_networks.update_tags(rg, "v1", {"tags": {"owner": "hubspoke"}})
    assert t.tags == {"owner": "hubspoke"} and t.etag != v.etag
    assert network_client.virtual_networks.get(rg, "v1").address_space.address_prefixes == ["10.0.0.0/16"]


def test_concurrent_writes_in_one_vnet_conflict(
    sim: Simulator, network_client: NetworkManagementClient, rg: str
) -> None:
    network_client.virtual_networks.begin_create_or_update(rg, "v1", VNET_BODY).result()
    sim.settings.time_scale = 0.2  # subnet 3 s -> 0.6 s
    first = network_client.subnets.begin_create_or_update(rg, "v1", "a", _subnet("10.0.1.0/24"))
    with pytest.raises(HttpResponseError) as err:
        network_client.subnets.begin_create_or_update(rg, "v1", "b", _subnet("10.0.2.0/24"))
    assert _arm_error(err) == (409, "AnotherOperationInProgress")
    with pytest.raises(HttpResponseError) as err2:  # the parent is locked too
        network_client.virtual_networks.begin_create_or_update(rg, "v1", VNET_BODY)
    assert _arm_error(err2) == (409, "AnotherOperationInProgress")
    # while the subnet is created the VNet shows Updating (as Azure does)
    assert network_client.virtual_networks.get(rg, "v1").provisioning_state == "Updating"
    first.result()
    network_client.subnets.begin_create_or_update(rg, "v1", "b", _subnet("10.0.2.0/24")).result()
    assert {s.name for s in network_client.subnets.list(rg, "v1")} == {"a", "b"}


def test_lro_failure_fault_then_retry(sim: Simulator, network_client: NetworkManagementClient, rg: str) -> None:
    sim.set_faults(FaultSpec(lrofail=1.0))
    with pytest.raises(HttpResponseError) as err:
        network_client.virtual_networks.begin_create_or_update(rg, "v1", VNET_BODY).result()
    assert err.value.error is not None and err.value.error.code == "RetryableError"
    assert network_client.virtual_networks.get(rg, "v1").provisioning_state == "Failed"
    sim.set_faults(FaultSpec())
    assert (
        network_client.virtual_networks.begin_create_or_update(rg, "v1", VNET_BODY).result().provisioning_state
        == "Succeeded"
    )


def test_faults_survived_by_sdk_retry_policy(sim: Simulator, client: Any, rg: str) -> None:
    nc = client(NetworkManagementClient, retry_total=30, retry_status=30, retry_read=30, retry_connect=30)
    sim.set_faults(FaultSpec.parse("429=0.2,500=0.15,drop=0.1"))
    nc.virtual_networks.begin_create_or_update(rg, "v1", VNET_BODY).result()
    for i in range(8):
        nc.subnets.begin_create_or_update(rg, "v1", f"s{i}", _subnet(f"10.0.{i}.0/24")).result()
    sim.set_faults(FaultSpec())
    assert len(list(nc.subnets.list(rg, "v1"))) == 8
    stats = sim.stats()
    assert stats["injected"].get("429", 0) > 0 and stats["injected"].get("500", 0) > 0
    assert stats["injected"].get("drop", 0) > 0
    assert stats["throttled"] >= stats["injected"]["429"]
    assert stats["errors"].get("InternalServerError", 0) == stats["injected"]["500"]


def test_faults_deterministic_for_seed() -> None:
    from hubspoke_deploy.simulator.faults import FaultInjector

    spec = FaultSpec.parse("429=0.3,500=0.1,drop=0.1")
    a = [FaultInjector(spec, 7).decide().kind for _ in range(1)]
    inj1, inj2 = FaultInjector(spec, 7), FaultInjector(spec, 7)
    seq1 = [inj1.decide().kind for _ in range(50)]
    seq2 = [inj2.decide().kind for _ in range(50)]
    assert seq1 == seq2 and set(seq1) >= {"", "429"} and a[0] == seq1[0]


def test_faultspec_parse() -> None:
    s = FaultSpec.parse("429=0.1,500=0.05,drop=0.02,lrofail=0.05,throttle=on")
    assert (s.p429, s.p500, s.drop, s.lrofail, s.throttle) == (0.1, 0.05, 0.02, 0.05, True)
    assert FaultSpec.parse(s.to_string()) == s
    with pytest.raises(ValueError):
        FaultSpec.parse("429=2")
    with pytest.raises(ValueError):
        FaultSpec.parse("bogus=1")


def test_throttle_token_bucket(sim: Simulator, client: Any, rg: str) -> None:
    sim.set_faults(FaultSpec(throttle=True, write_bucket=2, write_refill=5))
    strict = client(NetworkManagementClient, retry_total=0)
    codes = []
    for i in range(4):
        try:
            strict.public_ip_addresses.begin_create_or_update(
                rg,
                f"p{i}",
                {
                    "location": LOCATION,
                    "sku": {"name": "Standard"},
                    "properties": {"publicIPAllocationMethod": "Static"},
                },
                polling=False,
            )
            codes.append(200)
        except HttpResponseError as err:
            codes.append(err.status_code)
            assert err.error is not None and err.error.code == "TooManyRequests"
    assert 429 in codes
    patient = client(NetworkManagementClient)  # default retry policy honours retry-after-ms
    for i in range(4):
        patient.public_ip_addresses.begin_create_or_update(
            rg,
            f"q{i}",
            {"location": LOCATION, "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}},
        ).result()
    assert sim.stats()["throttled"] >= 1


def test_ratelimit_headers_count_down(network_client: NetworkManagementClient, rg: str) -> None:
    url = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks?api-version=2024-05-01"
    r1 = network_client.send_request(HttpRequest("GET", url))
    r2 = network_client.send_request(HttpRequest("GET", url))
    a = int(r1.headers["x-ms-ratelimit-remaining-subscription-reads"])
    b = int(r2.headers["x-ms-ratelimit-remaining-subscription-reads"])
    assert b <= a and r1.json() == {"value": []}


def test_generic_unknown_type_and_rg_listing(
    sim: Simulator, resource_client: ResourceManagementClient, rg: str
) -> None:
    rid = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Foo/bars/b1"
    res = resource_client.resources.begin_create_or_update_by_id(
        rid, {"location": LOCATION, "properties": {"size": 3}}, api_version="2023-01-01"
    ).result()
    assert res.properties["size"] == 3 and res.properties["provisioningState"] == "Succeeded"
    got = resource_client.resources.get_by_id(
        rid.upper().replace("SUBSCRIPTIONS", "subscriptions"), api_version="2023-01-01"
    )
    assert got.name == "b1" and got.type == "Microsoft.Foo/bars"
    names = [r.name for r in resource_client.resources.list_by_resource_group(rg)]
    assert names == ["b1"]
    assert [g.name for g in resource_client.resource_groups.list()] == ["rg1"]


def test_resource_group_delete_cascades_including_extensions(
    sim: Simulator, resource_client: ResourceManagementClient, network_client: NetworkManagementClient, rg: str
) -> None:
    network_client.virtual_networks.begin_create_or_update(rg, "v1", VNET_BODY).result()
    vnet_id = network_client.virtual_networks.get(rg, "v1").id
    ext = f"{vnet_id}/providers/Microsoft.Foo/notes/n1"
    resource_client.resources.begin_create_or_update_by_id(ext, {"properties": {}}, api_version="2023-01-01").result()
    assert sim.get_resource(ext) is not None
    assert resource_client.resource_groups.check_existence(rg) is True
    resource_client.resource_groups.begin_delete(rg).result()
    assert resource_client.resource_groups.check_existence(rg) is False
    assert _mine(sim) == []


def test_admin_endpoints(sim: Simulator, network_client: NetworkManagementClient, rg: str) -> None:
    network_client.virtual_networks.begin_create_or_update(rg, "v1", VNET_BODY).result()
    state = requests.get(f"{sim.endpoint}/_sim/state", verify=sim.ca_path, timeout=5).json()
    assert {r["name"] for r in state["resources"] if r["type"] != ROLE_DEFS} == {"rg1", "v1"}
    stats = requests.get(f"{sim.endpoint}/_sim/stats", verify=sim.ca_path, timeout=5).json()
    assert stats["writes"] >= 2 and stats["methods"]["PUT"] >= 2
    r = requests.post(f"{sim.endpoint}/_sim/faults", json={"spec": "500=1"}, verify=sim.ca_path, timeout=5)
    assert r.json()["spec"] == "500=1.0" and sim.faults.p500 == 1.0
    assert requests.get(f"{sim.endpoint}/_sim/stats", verify=sim.ca_path, timeout=5).status_code == 200
    bad = requests.post(f"{sim.endpoint}/_sim/faults", json={"spec": "500=9"}, verify=sim.ca_path, timeout=5)
    assert bad.status_code == 400
    requests.post(f"{sim.endpoint}/_sim/reset", verify=sim.ca_path, timeout=5)
    sim.set_faults(FaultSpec())
    assert _mine(sim) == [] and sim.stats()["total"] == 0


def test_request_log_and_latency_table(tmp_path: Any, sim_client: Any) -> None:
    log = tmp_path / "req.jsonl"
    with Simulator(time_scale=0.0001, request_log=str(log)) as s2:
        rc = sim_client(s2, ResourceManagementClient)
        rc.resource_groups.create_or_update("x", {"location": LOCATION})
        with pytest.raises(ResourceNotFoundError):
            rc.resource_groups.get("y")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [ln["status"] for ln in lines] == [201, 404]
    assert lines[1]["code"] == "ResourceGroupNotFound" and lines[0]["api_version"]
    assert LATENCY_S["Microsoft.Network/azureFirewalls"] == 600.0
    assert LATENCY_S["Microsoft.Network/bastionHosts"] == 420.0
    assert LATENCY_S["Microsoft.Network/privateEndpoints"] == 60.0


def test_keep_alive_parallel_clients(sim: Simulator, client: Any, rg: str) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            nc = client(NetworkManagementClient)
            nc.route_tables.begin_create_or_update(rg, f"rt{i}", {"location": LOCATION}).result()
            for _ in range(5):
                nc.route_tables.get(rg, f"rt{i}")
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len([r for r in sim.resources() if r["type"] == "Microsoft.Network/routeTables"]) == 6
