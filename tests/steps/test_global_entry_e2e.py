"""``[global_entry]`` end to end on the ARM simulator (issue 18): the sandbox example with DNAT rules and
Front Door Premium deploys its profile, endpoint, origin group with health probe, one origin per DNAT
endpoint, route, WAF policy in Prevention mode and the security policy linking it; the Traffic Manager
variant deploys its monitor config and endpoints; a second ``up`` writes nothing; switching kind deletes
the old entry and creates the new one; ``down`` removes it all."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy import outputs
from hubspoke_deploy.config import DeploymentConfig, load_config_dict
from hubspoke_deploy.orchestrator.engine import RunResult, RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import Simulator

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "examples" / "sandbox.toml"
DNAT = [
    {"name": "web-https", "public_port": 443, "translated_address": "10.1.1.250", "translated_port": 443,
     "dedicated_public_ip": True},
    {"name": "api-https", "public_port": 443, "translated_address": "10.1.1.251", "translated_port": 8443},
    # plain HTTP: not an origin of an HTTPS global entry
    {"name": "web-http", "public_port": 80, "translated_address": "10.1.1.250", "translated_port": 80,
     "dedicated_public_ip": True},
]
GLOBAL_TYPES = (
    "microsoft.cdn/profiles",
    "microsoft.cdn/profiles/afdendpoints",
    "microsoft.cdn/profiles/afdendpoints/routes",
    "microsoft.cdn/profiles/origingroups",
    "microsoft.cdn/profiles/origingroups/origins",
    "microsoft.cdn/profiles/securitypolicies",
    "microsoft.network/frontdoorwebapplicationfirewallpolicies",
    "microsoft.network/trafficmanagerprofiles",
)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.0005, seed=18) as simulator:
        mp = pytest.MonkeyPatch()
        mp.setenv("REQUESTS_CA_BUNDLE", simulator.ca_path)
        yield simulator
        mp.undo()


@pytest.fixture
def env(sim: Simulator, tmp_path: Path) -> dict[str, str]:
    sim.reset()
    return {
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json"),
    }


def data(kind: str, **extra: Any) -> dict[str, Any]:
    with SANDBOX.open("rb") as fh:
        result = copy.deepcopy(tomllib.load(fh))
    result["firewall"]["dnat_rules"] = copy.deepcopy(DNAT)
    result["global_entry"] = {"kind": kind, "origin_host_header": "app.contoso.com", "probe_path": "/healthz",
                              **extra}
    return result


def load(raw: dict[str, Any], env: dict[str, str]) -> DeploymentConfig:
    return load_config_dict(raw, env=env, source=str(SANDBOX))


def run(cfg: DeploymentConfig, env: dict[str, str], command: str = "up") -> RunResult:
    with open_session(cfg, command=command, env=env) as session:
        result = session.engine.up() if command == "up" else session.engine.down()
    failed = [f"{o.key}: {o.status} {getattr(o, 'error', '')}" for o in result.outcomes.values()
              if o.status not in ("succeeded", "deleted")]
    assert result.status == RunStatus.SUCCEEDED, failed
    return result


def by_type(sim: Simulator) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {}
    for r in sim.resources():
        result.setdefault(str(r["type"]).lower(), []).append(r)
    return result


def writes(sim: Simulator) -> dict[str, int]:
    methods = sim.stats()["methods"]
    return {m: int(methods.get(m, 0)) for m in ("PUT", "PATCH", "DELETE") if methods.get(m)}


def dnat_ips(types: dict[str, list[dict[str, Any]]], cfg: DeploymentConfig) -> dict[str, str]:
    """Public IP address by name, for the two HTTPS DNAT endpoints (the dedicated one and the first SNAT IP)."""
    ips = {str(p["name"]): str(p["properties"]["ipAddress"]) for p in types["microsoft.network/publicipaddresses"]}
    return {"web-https": ips[f"pip-fw-{cfg.name}-dnat-web-https"], "api-https": ips[f"pip-fw-{cfg.name}-01"]}


def test_front_door_premium_with_waf_in_front_of_the_dnat_endpoints(sim: Simulator, env: dict[str, str]) -> None:
    cfg = load(data("front-door"), env)
    run(cfg, env)
    types = by_type(sim)

    (profile,) = types["microsoft.cdn/profiles"]
    assert profile["sku"]["name"] == "Premium_AzureFrontDoor" and profile["location"].lower() == "global"
    assert profile["name"] == "afd-sandbox"
    (endpoint,) = types["microsoft.cdn/profiles/afdendpoints"]
    host = endpoint["properties"]["hostName"]
    assert host.startswith(f"sandbox-{cfg.name_hash}-") and host.endswith(".z01.azurefd.net")

    (group,) = types["microsoft.cdn/profiles/origingroups"]
    assert group["properties"]["healthProbeSettings"] == {
        "probePath": "/healthz", "probeRequestType": "HEAD", "probeProtocol": "Https", "probeIntervalInSeconds": 30,
    }
    assert group["properties"]["loadBalancingSettings"]["successfulSamplesRequired"] == 3

    # one origin per HTTPS DNAT endpoint (the port-80 rule is not one), at the firewall's public IPs
    origins = {str(o["name"]): o["properties"] for o in types["microsoft.cdn/profiles/origingroups/origins"]}
    ips = dnat_ips(types, cfg)
    assert {name: (p["hostName"], p["httpsPort"], p["originHostHeader"], p["priority"])
            for name, p in origins.items()} == {
        "westeurope-web-https": (ips["web-https"], 443, "app.contoso.com", 1),
        "westeurope-api-https": (ips["api-https"], 443, "app.contoso.com", 1),
    }
    for origin in types["microsoft.cdn/profiles/origingroups/origins"]:
        assert str(origin["id"]).lower().startswith(str(group["id"]).lower() + "/origins/")

    (route,) = types["microsoft.cdn/profiles/afdendpoints/routes"]
    assert route["properties"]["originGroup"]["id"].lower() == str(group["id"]).lower()
    assert route["properties"]["forwardingProtocol"] == "HttpsOnly"
    assert str(route["id"]).lower().startswith(str(endpoint["id"]).lower() + "/routes/")

    (waf,) = types["microsoft.network/frontdoorwebapplicationfirewallpolicies"]
    assert waf["sku"]["name"] == "Premium_AzureFrontDoor"
    assert waf["properties"]["policySettings"]["mode"] == "Prevention"
    assert [(r["ruleSetType"], r["ruleSetVersion"]) for r in waf["properties"]["managedRules"]["managedRuleSets"]] == [
        ("Microsoft_DefaultRuleSet", "2.1"), ("Microsoft_BotManagerRuleSet", "1.1"),
    ]
    (policy,) = types["microsoft.cdn/profiles/securitypolicies"]
    params = policy["properties"]["parameters"]
    assert params["wafPolicy"]["id"].lower() == str(waf["id"]).lower()
    assert [d["id"].lower() for d in params["associations"][0]["domains"]] == [str(endpoint["id"]).lower()]
    assert [link["id"].lower() for link in waf["properties"]["securityPolicyLinks"]] == [str(policy["id"]).lower()]

    # outputs: the endpoint's host name
    assert outputs(cfg)["global_entry_hostname"] == host

    # a second up writes nothing
    sim.reset_stats()
    again = run(cfg, env)
    assert writes(sim) == {}
    assert not [o.key for o in again.outcomes.values() if o.changed]

    # down removes all of it
    run(cfg, env, "down")
    remaining = by_type(sim)
    assert not [t for t in GLOBAL_TYPES if remaining.get(t)]


def test_traffic_manager_then_switch_to_front_door_and_down(sim: Simulator, env: dict[str, str]) -> None:
    cfg = load(data("traffic-manager", routing="priority", tolerated_failures=2), env)
    run(cfg, env)
    types = by_type(sim)
    assert not [t for t in GLOBAL_TYPES[:-1] if types.get(t)]
    (tm,) = types["microsoft.network/trafficmanagerprofiles"]
    props = tm["properties"]
    assert tm["location"] == "global" and props["trafficRoutingMethod"] == "Priority"
    assert props["dnsConfig"]["fqdn"] == f"sandbox-{cfg.name_hash}.trafficmanager.net"
    monitor = props["monitorConfig"]
    assert (monitor["protocol"], monitor["port"], monitor["path"], monitor["intervalInSeconds"],
            monitor["timeoutInSeconds"], monitor["toleratedNumberOfFailures"]) == ("HTTPS", 443, "/healthz", 30, 10, 2)
    ips = dnat_ips(types, cfg)
    endpoints = {e["name"]: e["properties"] for e in props["endpoints"]}
    assert {n: (p["target"], p["endpointLocation"], p["priority"]) for n, p in endpoints.items()} == {
        "westeurope-web-https": (ips["web-https"], "westeurope", 1),
        "westeurope-api-https": (ips["api-https"], "westeurope", 2),
    }
    assert {e["type"] for e in props["endpoints"]} == {"Microsoft.Network/trafficManagerProfiles/externalEndpoints"}
    assert outputs(cfg)["global_entry_hostname"] == props["dnsConfig"]["fqdn"]

    sim.reset_stats()
    run(cfg, env)
    assert writes(sim) == {}

    # traffic-manager -> front-door: the new entry is created, the old profile deleted (an orphan)
    switched = load(data("front-door"), env)
    sim.reset_stats()
    run(switched, env)
    types = by_type(sim)
    assert "microsoft.network/trafficmanagerprofiles" not in types
    assert len(types["microsoft.cdn/profiles"]) == 1
    assert len(types["microsoft.cdn/profiles/origingroups/origins"]) == 2
    assert writes(sim)["DELETE"] == 1

    # and back: front-door -> traffic-manager deletes the whole Front Door (WAF policy included)
    run(cfg, env)
    types = by_type(sim)
    assert not [t for t in GLOBAL_TYPES[:-1] if types.get(t)]
    assert len(types["microsoft.network/trafficmanagerprofiles"]) == 1

    run(cfg, env, "down")
    assert not [t for t in GLOBAL_TYPES if by_type(sim).get(t)]


def test_a_waf_policy_another_profile_links_is_kept(sim: Simulator, env: dict[str, str]) -> None:
    """Switching away from Front Door deletes what the deployment owns, but not a WAF policy that a
    security policy of someone else's profile still links (Azure would refuse the delete)."""
    from azure.mgmt.cdn import CdnManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from hubspoke_deploy.simulator import SimulatorCredential

    cfg = load(data("front-door"), env)
    run(cfg, env)
    (waf,) = by_type(sim)["microsoft.network/frontdoorwebapplicationfirewallpolicies"]
    opts: dict[str, Any] = {"base_url": sim.endpoint, "credential_scopes": ["https://management.azure.com/.default"],
                            "connection_verify": sim.ca_path, "polling_interval": 0.01}
    ResourceManagementClient(SimulatorCredential(), cfg.subscription_id, **opts).resource_groups.create_or_update(
        "rg-other", {"location": "westeurope"})
    cdn = CdnManagementClient(SimulatorCredential(), cfg.subscription_id, **opts)
    cdn.profiles.begin_create("rg-other", "afd-other", {"location": "Global", "sku": {"name": "Premium_AzureFrontDoor"}}
                              ).result()
    endpoint = cdn.afd_endpoints.begin_create("rg-other", "afd-other", "other", {"location": "Global"}).result()
    cdn.security_policies.begin_create("rg-other", "afd-other", "sp", {"properties": {"parameters": {
        "type": "WebApplicationFirewall", "wafPolicy": {"id": waf["id"]},
        "associations": [{"domains": [{"id": endpoint.id}], "patternsToMatch": ["/*"]}]}}}).result()

    result = run(load(data("traffic-manager"), env), env)
    types = by_type(sim)
    assert [w["id"] for w in types["microsoft.network/frontdoorwebapplicationfirewallpolicies"]] == [waf["id"]]
    assert [p["name"] for p in types["microsoft.cdn/profiles"]] == ["afd-other"]  # ours is gone
    kept = [o for o in result.outcomes.values() if o.status == "kept"]
    assert [o.resource_id for o in kept] == [waf["id"]]
