"""[ingress] (issue 17): the default kind per region, each kind's subnet and its size rules, and the
steps each kind builds (distinct keys, so switching kinds leaves the old gateway as orphans)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hubspoke_deploy.config as config_pkg
import pytest
from hubspoke_deploy.config import DeploymentConfig, load_config_dict, validate_config
from hubspoke_deploy.config.ingress import AGC, AGC_REGIONS, APPGW, DNAT, effective_kind, managed_ingress
from hubspoke_deploy.errors import ConfigError
from hubspoke_deploy.steps.architecture import build_steps
from hubspoke_deploy.steps.network import UNROUTED_SUBNETS

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

EXAMPLES = Path(config_pkg.__file__).parent / "examples"


def example(name: str, **ingress: Any) -> dict[str, Any]:
    data = tomllib.loads((EXAMPLES / f"{name}.toml").read_text())
    data.setdefault("ingress", {}).update(ingress)
    return data


def load(data: dict[str, Any]) -> DeploymentConfig:
    return load_config_dict(data, env={})


def errors(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(data)
    return {p.path: f"{p.message} Fix: {p.fix}" for p in info.value.problems if p.severity == "error"}


def warnings(cfg: DeploymentConfig) -> dict[str, str]:
    return {p.path: p.message for p in validate_config(cfg) if p.severity == "warning"}


def test_the_default_kind_is_agc_where_the_region_offers_it() -> None:
    assert "westeurope" in AGC_REGIONS and "japaneast" not in AGC_REGIONS
    data = example("prod")
    del data["ingress"]
    assert effective_kind(load(data)) == AGC
    data["deployment"]["location"] = "japaneast"
    cfg = load(data)
    assert effective_kind(cfg) == APPGW
    assert managed_ingress(cfg) == APPGW  # the prod example has the App Gateway subnet too


def test_a_default_kind_without_its_subnet_deploys_no_gateway_and_production_is_warned() -> None:
    sandbox = load(example("sandbox"))
    assert managed_ingress(sandbox) is None
    assert not [s for s in build_steps(sandbox) if s.key.startswith("ingress.")]
    assert "spokes[0].subnets.app_gateway_for_containers" not in warnings(sandbox)
    data = example("prod")
    del data["ingress"]
    del data["spokes"][0]["subnets"]["app_gateway_for_containers"]
    assert "no managed ingress" in warnings(load(data))["spokes[0].subnets.app_gateway_for_containers"]


def test_an_explicit_kind_needs_its_subnet_and_its_region() -> None:
    found = errors(example("sandbox", kind=AGC))
    assert "needs its own subnet" in found["spokes[0].subnets.app_gateway_for_containers"]
    assert 'kind = "firewall-dnat"' in found["spokes[0].subnets.app_gateway_for_containers"]
    assert "spokes[0].subnets.app_gateway" in errors(example("sandbox", kind=APPGW))
    data = example("prod", kind=AGC)
    data["deployment"]["location"] = "japaneast"
    assert "not offered in japaneast" in errors(data)["ingress.kind"]


@pytest.mark.parametrize(("prefix", "message"), [
    ("10.1.11.0/25", "needs at least 250 addresses"),
    ("10.1.12.0/23", "exactly a /24"),  # Azure CNI Overlay
])
def test_the_agc_subnet_is_a_24(prefix: str, message: str) -> None:
    data = example("prod")
    data["spokes"][0]["subnets"]["app_gateway_for_containers"] = prefix
    assert message in errors(data)["spokes[0].subnets.app_gateway_for_containers"]


def test_agc_needs_workload_identity_for_its_controller() -> None:
    data = example("prod")
    data["aks"]["workload_identity"] = False
    assert "workload identity" in errors(data)["aks.workload_identity"]


def test_application_gateway_checks() -> None:
    assert "not a usable address" in errors(example("prod", kind=APPGW, private_ip="10.1.10.255"))["ingress.private_ip"]
    assert "(got 5..3)" in errors(example("prod", kind=APPGW, min_capacity=5, max_capacity=3))["ingress.max_capacity"]
    small = example("prod", kind=APPGW, max_capacity=125)
    small["spokes"][0]["subnets"]["app_gateway"] = "10.1.10.0/26"
    assert "needs 131" in errors(small)["spokes[0].subnets.app_gateway"]
    ok = example("prod", kind=APPGW, waf_mode="Detection")
    assert "only logs" in warnings(load(ok))["ingress.waf_mode"]


def test_each_kind_builds_its_own_steps_and_the_ingress_subnets_keep_no_route() -> None:
    keys = {kind: {s.key for s in build_steps(load(example("prod", kind=kind))) if s.key.startswith("ingress.")}
            for kind in (AGC, APPGW, DNAT)}
    assert keys[DNAT] == set()
    assert keys[AGC] and keys[APPGW] and not keys[AGC] & keys[APPGW]
    steps = {s.key: s for s in build_steps(load(example("prod")))}
    agc_subnet = steps["subnet.aks.app_gateway_for_containers"].desired(load(example("prod")), {})
    assert agc_subnet["properties"]["delegations"][0]["properties"]["serviceName"] == \
        "Microsoft.ServiceNetworking/trafficControllers"
    assert "routeTable" not in agc_subnet["properties"]
    assert {"snet-agc", "snet-appgw"} <= set(UNROUTED_SUBNETS)
