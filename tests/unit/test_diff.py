"""Table-driven tests of the Azure-normalised diff."""

from __future__ import annotations

from typing import Any

import pytest
from hubspoke_deploy.orchestrator.diff import UNKNOWN, diff

SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"

CASES: list[tuple[str, Any, Any, list[str], dict[str, Any]]] = [
    ("equal scalars", {"a": 1}, {"a": 1}, [], {}),
    ("changed scalar", {"a": 1}, {"a": 2}, ["a"], {}),
    ("missing observed key", {"a": 1}, {}, ["a"], {}),
    ("server-assigned extras ignored", {"a": 1}, {"a": 1, "etag": "x", "properties": {"ipAddress": "1.2.3.4"}}, [], {}),
    ("location spelling", {"location": "westeurope"}, {"location": "West Europe"}, [], {}),
    ("location differs", {"location": "westeurope"}, {"location": "northeurope"}, ["location"], {}),
    ("ids case-insensitive", {"p": {"id": f"{SUB}/resourceGroups/RG/x"}},
     {"p": {"id": f"{SUB}/resourcegroups/rg/X"}}, [], {}),
    ("names case-insensitive", {"name": "AzureFirewallSubnet"}, {"name": "azurefirewallsubnet"}, [], {}),
    ("other strings case-sensitive", {"sku": {"tier": "Premium"}}, {"sku": {"tier": "premium"}}, ["sku.tier"], {}),
    ("named list order-insensitive",
     {"r": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]},
     {"r": [{"name": "B", "v": 2}, {"name": "a", "v": 1}]}, [], {}),
    ("named list item changed",
     {"r": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]},
     {"r": [{"name": "a", "v": 1}, {"name": "b", "v": 3}]}, ["r[b].v"], {}),
    ("named list extra observed item", {"r": [{"name": "a"}]}, {"r": [{"name": "a"}, {"name": "z"}]}, ["r[z]"], {}),
    ("named list missing item", {"r": [{"name": "a"}, {"name": "b"}]}, {"r": [{"name": "a"}]}, ["r[b]"], {}),
    ("scalar list ordered", {"z": ["1", "2"]}, {"z": ["2", "1"]}, ["z"], {}),
    ("scalar list unordered", {"z": ["1", "2"]}, {"z": ["2", "1"]}, [], {"unordered": ["z"]}),
    ("unknown placeholder ignored", {"p": {"ip": UNKNOWN}}, {"p": {"ip": "10.0.0.4"}}, [], {}),
    ("bool vs string differs", {"a": True}, {"a": False}, ["a"], {}),
    ("int vs float equal", {"n": 30}, {"n": 30.0}, [], {}),
    ("tags subset: foreign tags kept", {"tags": {"deployment": "x"}},
     {"tags": {"deployment": "x", "cost": "y"}}, [], {}),
    ("None means unset", {"p": None}, {"p": {"id": "x"}}, ["p"], {}),
    ("None matches absent", {"p": None}, {}, [], {}),
    ("nested object missing", {"properties": {"a": {"b": 1}}}, {"properties": {}}, ["properties.a"], {}),
]


@pytest.mark.parametrize(("spec", "observed", "paths", "kw"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_diff_table(spec: Any, observed: Any, paths: list[str], kw: dict[str, Any]) -> None:
    assert [c.path for c in diff(spec, observed, **kw)] == paths


def test_immutable_paths_flag_replacement() -> None:
    changes = diff(
        {"properties": {"networkProfile": {"serviceCidr": "10.0.0.0/16"}, "kubernetesVersion": "1.33"}},
        {"properties": {"networkProfile": {"serviceCidr": "172.16.0.0/16"}, "kubernetesVersion": "1.32"}},
        immutable=["properties.networkProfile.serviceCidr"],
    )
    by_path = {c.path: c for c in changes}
    assert by_path["properties.networkProfile.serviceCidr"].replace is True
    assert by_path["properties.kubernetesVersion"].replace is False
    assert by_path["properties.networkProfile.serviceCidr"].before == "172.16.0.0/16"
    assert by_path["properties.networkProfile.serviceCidr"].after == "10.0.0.0/16"
