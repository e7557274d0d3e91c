"""Validation reports every problem in one run: the model's (types, unknown and missing keys) and the
semantic checks of whatever parsed, together; regions are checked against Azure's names; keys the
config ignores draw warnings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hubspoke_deploy.config as config_pkg
import pytest
from hubspoke_deploy.config import load_config, load_config_dict
from hubspoke_deploy.errors import ConfigError, Problem
from hubspoke_deploy.regions import REGIONS, closest_region, regions_for

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

EXAMPLES = Path(config_pkg.__file__).parent / "examples"

# 6 problems the model finds (types, an enum, an unknown key) and 9 only the semantic checks find.
FIFTEEN = """
[deployment]
name = "sandbox"
location = "westeurop"
subscription_id = "not-a-guid"
environment = "staging"

[azure]
endpoint = "simulator"
credential = "simulator"

[hub.subnets]
firewal = "10.0.0.0/26"
bastion = "10.0.0.64/27"

[[spokes]]
name = "aks"
address_space = "10.1.0.0/16"

[spokes.subnets]
system_nodes = "10.1.0.0/24"
user_nodes = "10.1.1.0/24"
api_server = "10.1.2.0/28"
jumpbox = "10.1.3.1/24"

[firewall]
tier = "Standard"
public_ip_count = "2"

[aks]
kubernetes_version = "v1.30"
dns_service_ip = "10.9.0.10"

[aks.system_pool]
max_pods = 30.5
min_count = 1
max_count = 2
count = 1

[jumpbox]
admin_username = "admin"
ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGv/eLRcO9o5/un7Jbya6YDolCfOoZge+2yh8Kpnu0oR x"

[bastion]
enabled = "yes"

[acr]
sku = "Standard"

[keyvault]
soft_delete_retention_days = 3
"""

TYPE_PATHS = {
    "deployment.environment",
    "hub.subnets.firewal",
    "spokes[0].address_space",
    "firewall.public_ip_count",
    "aks.system_pool.max_pods",
    "bastion.enabled",
}
SEMANTIC_PATHS = {
    "deployment.location",
    "deployment.subscription_id",
    "hub.subnets.bastion",
    "spokes[0].subnets.jumpbox",
    "aks.kubernetes_version",
    "aks.dns_service_ip",
    "jumpbox.admin_username",
    "acr.sku",
    "keyvault.soft_delete_retention_days",
}


def sandbox() -> dict[str, Any]:
    with (EXAMPLES / "sandbox.toml").open("rb") as fh:
        return tomllib.load(fh)


def errors_of(data: dict[str, Any], env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config_dict(data, env=env or {})
    return info.value.problems


def test_fifteen_problems_of_mixed_kinds_are_reported_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "hubspoke.toml"
    path.write_text(FIFTEEN, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    paths = [p.path for p in info.value.problems]
    assert len(TYPE_PATHS | SEMANTIC_PATHS) == 15
    for key in sorted(TYPE_PATHS | SEMANTIC_PATHS):
        assert key in paths, key
    assert len(paths) == 15, paths  # nothing about the stand-ins of the refused values
    text = str(info.value)
    assert text.startswith(f"15 problem(s) in {path}")
    assert "did you mean 'westeurope'?" in text


def test_a_wrong_type_does_not_hide_the_semantic_errors_elsewhere() -> None:
    data = sandbox()
    data["firewall"]["public_ip_count"] = "2"  # type error
    data["acr"] = {"sku": "Basic"}  # semantic
    data["monitoring"] = {"retention_days": 7}  # semantic
    paths = {p.path for p in errors_of(data)}
    assert paths == {"firewall.public_ip_count", "acr.sku", "monitoring.retention_days"}


def test_missing_sections_and_keys_still_let_the_rest_be_checked() -> None:
    data = sandbox()
    del data["deployment"]
    del data["spokes"]
    data["acr"] = {"sku": "Standard"}
    problems = errors_of(data)
    paths = {p.path for p in problems}
    assert {"deployment", "spokes", "acr.sku"} <= paths
    # nothing reported about the placeholder deployment or the empty spoke list
    assert not any(p.startswith(("deployment.", "spokes[", "aks.")) for p in paths), paths


def test_a_table_of_the_wrong_type_inside_an_array_is_survived() -> None:
    data = sandbox()
    data["spokes"].append("not a table")
    data["keyvault"]["soft_delete_retention_days"] = 100
    paths = {p.path for p in errors_of(data)}
    assert "spokes[1]" in paths and "keyvault.soft_delete_retention_days" in paths


def test_a_replaced_value_is_not_reported_twice() -> None:
    data = sandbox()
    data["deployment"]["subscription_id"] = 42  # the stand-in is not a GUID: no second problem about it
    problems = errors_of(data)
    assert [p.path for p in problems] == ["deployment.subscription_id"]
    assert "expected a string" in problems[0].message


# --------------------------------------------------------------------------- regions


def test_westeurop_is_refused_with_a_suggestion() -> None:
    data = sandbox()
    data["deployment"]["location"] = "westeurop"
    (problem,) = errors_of(data)
    assert problem.path == "deployment.location"
    assert "'westeurop' is not an Azure region" in problem.message
    assert "did you mean 'westeurope'?" in problem.message
    assert problem.fix == 'location = "westeurope".'


def test_display_names_are_normalised_and_accepted() -> None:
    data = sandbox()
    data["deployment"]["location"] = "Sweden Central"
    assert load_config_dict(data, env={}).location == "swedencentral"


def test_a_region_unknown_to_this_release_only_warns() -> None:
    data = sandbox()
    data["deployment"]["location"] = "atlantisnorth"
    assert closest_region("atlantisnorth", REGIONS["public"]) is None
    cfg = load_config_dict(data, env={})
    (warning,) = [w for w in cfg.warnings if w.path == "deployment.location"]
    assert "not an Azure region" in warning.message and "plan and up check it" in warning.fix


def test_each_cloud_has_its_own_region_names() -> None:
    data = sandbox()
    data["azure"] = {"endpoint": "usgovernment", "credential": "cli"}
    data["deployment"]["location"] = "usgovvirgina"
    (problem,) = errors_of(data)
    assert "did you mean 'usgovvirginia'?" in problem.message
    # a custom ARM URL (Azure Stack Hub) names its own regions: no table
    assert regions_for("https://management.local.azurestack.external") is None
    data["azure"] = {"endpoint": "https://management.local.azurestack.external", "credential": "cli"}
    data["deployment"]["location"] = "local"
    assert load_config_dict(data, env={}).location == "local"


# --------------------------------------------------------------------------- ignored values


def test_count_under_autoscaling_is_a_warning_not_an_error() -> None:
    data = sandbox()
    data["aks"]["user_pool"].update({"count": 2, "min_count": 1, "max_count": 3, "autoscaling": True})
    cfg = load_config_dict(data, env={})
    (warning,) = [w for w in cfg.warnings if w.path == "aks.user_pool.count"]
    assert warning.severity == "warning"
    assert "count = 2 is ignored while autoscaling is on" in warning.message
    assert "min_count" in warning.fix


def test_count_equal_to_min_count_under_autoscaling_draws_no_warning() -> None:
    cfg = load_config_dict(sandbox(), env={})  # the example: count = min_count = 1
    assert cfg.warnings == ()


def test_other_ignored_keys_are_warned_about() -> None:
    data = sandbox()
    data["aks"]["system_pool"] = {"autoscaling": False, "count": 2, "min_count": 1}
    data["bastion"] = {"enabled": False, "sku": "Premium"}
    data["state"]["lease_seconds"] = 30
    cfg = load_config_dict(data, env={})
    by_path = {w.path: w.message for w in cfg.warnings}
    assert "ignored while autoscaling is off" in by_path["aks.system_pool.min_count"]
    assert "sku is ignored" in by_path["bastion.sku"]
    assert "only used by the blob backend" in by_path["state.lease_seconds"]
