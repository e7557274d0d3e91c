"""Offline checks of ``[global_entry]``: each invalid config names the key and the fix; valid ones load."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import hubspoke_deploy.config as config_pkg
import pytest
from hubspoke_deploy.config import load_config_dict
from hubspoke_deploy.config.validate import validate_config
from hubspoke_deploy.errors import ConfigError, Problem
from hubspoke_deploy.steps.architecture import build_steps
from hubspoke_deploy.steps.globalentry import (
    AFD_ROUTE,
    TRAFFIC_MANAGER,
    IngressEndpoint,
    OriginStep,
    TrafficManagerProfileStep,
    global_entry_steps,
    ingress_endpoints,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

EXAMPLES = Path(config_pkg.__file__).parent / "examples"
HTTPS = {"name": "web-https", "public_port": 443, "translated_address": "10.1.1.250", "translated_port": 443,
         "dedicated_public_ip": True}
HTTP = {"name": "web-http", "public_port": 80, "translated_address": "10.1.1.250", "translated_port": 80,
        "dedicated_public_ip": True}


def sandbox(entry: dict[str, Any] | None, dnat: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    with (EXAMPLES / "sandbox.toml").open("rb") as fh:
        data = tomllib.load(fh)
    data["firewall"]["dnat_rules"] = copy.deepcopy([HTTPS, HTTP] if dnat is None else dnat)
    if entry is not None:
        data["global_entry"] = entry
    return data


def errors(entry: dict[str, Any], dnat: list[dict[str, Any]] | None = None) -> dict[str, Problem]:
    with pytest.raises(ConfigError) as info:
        load_config_dict(sandbox(entry, dnat), env={})
    return {p.path: p for p in info.value.problems if p.severity == "error"}


FD = {"kind": "front-door", "origin_host_header": "app.contoso.com"}
TM = {"kind": "traffic-manager"}


@pytest.mark.parametrize(("entry", "dnat", "path", "words"), [
    # Front Door forwards HTTPS unless HTTP is chosen explicitly: a port-80 origin needs protocol = "http"
    ({**FD, "dnat_rules": ["web-http"]}, None, "global_entry.protocol", "forwarding protocol"),
    ({**TM, "dnat_rules": ["web-http"]}, None, "global_entry.protocol", "not HTTPS"),
    ({**FD, "dnat_rules": ["web-https"], "protocol": "http"}, None, "global_entry.protocol", "not HTTP"),
    # no HTTPS DNAT endpoint: no origin at all
    (FD, [HTTP], "global_entry.dnat_rules", "public_port = 443"),
    ({**FD, "dnat_rules": ["nope"]}, None, "global_entry.dnat_rules[0]", "web-https"),
    ({**FD, "dnat_rules": ["udp"]}, [HTTPS, {**HTTP, "name": "udp", "protocol": "UDP", "public_port": 53}],
     "global_entry.dnat_rules[0]", "TCP"),
    # probe path must start with "/"
    ({**FD, "probe_path": "healthz"}, None, "global_entry.probe_path", "/healthz"),
    ({**FD, "probe_interval_seconds": 300}, None, "global_entry.probe_interval_seconds", "1-255"),
    ({**FD, "origin_host_header": "not a host"}, None, "global_entry.origin_host_header", "host name"),
    ({**FD, "dns_name": "x" * 51}, None, "global_entry.dns_name", "1-50"),
    # Traffic Manager: relative name is a DNS label (globally unique), intervals 10/30, timeout, failures 0-9
    ({**TM, "dns_name": "bad_name"}, None, "global_entry.dns_name", "trafficmanager.net"),
    ({**TM, "probe_interval_seconds": 20}, None, "global_entry.probe_interval_seconds", "10 or 30"),
    ({**TM, "probe_interval_seconds": 10, "probe_timeout_seconds": 10}, None, "global_entry.probe_timeout_seconds",
     "5-9"),
    ({**TM, "tolerated_failures": 10}, None, "global_entry.tolerated_failures", "0-9"),
    ({**TM, "dnat_rules": ["web-https", "alt"]}, [HTTPS, {**HTTPS, "name": "alt", "public_port": 8443}],
     "global_entry.dnat_rules", "one port"),
    ({**FD, "name": "-afd"}, None, "global_entry.name", "letters"),
])
def test_invalid_global_entry(entry: dict[str, Any], dnat: list[dict[str, Any]] | None, path: str,
                              words: str) -> None:
    found = errors(entry, dnat)
    assert path in found, sorted(found)
    problem = found[path]
    assert words in f"{problem.message} {problem.fix}", problem
    assert problem.fix


def test_kind_must_be_known() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_dict(sandbox({"kind": "cdn"}), env={})
    assert any(p.path.startswith("global_entry.kind") for p in info.value.problems)


def test_valid_entries_and_their_warnings() -> None:
    cfg = load_config_dict(sandbox({"kind": "front-door"}), env={})
    assert cfg.global_entry is not None and cfg.global_entry.effective_protocol == "https"
    warned = {p.path for p in validate_config(cfg) if p.severity == "warning"}
    assert "global_entry.origin_host_header" in warned  # IP origins with HTTPS: the name check needs a host
    http = load_config_dict(sandbox({"kind": "front-door", "protocol": "http"}), env={})
    assert [e.port for e in ingress_endpoints(http)] == [80]
    assert load_config_dict(sandbox(None), env={}).global_entry is None


def test_steps_take_the_dnat_endpoints_and_accept_a_list_of_regions() -> None:
    cfg = load_config_dict(sandbox(FD), env={})
    steps = build_steps(cfg)
    keys = {s.key for s in steps}
    assert {"ge.waf", "ge.afd", "ge.afd.endpoint", "ge.afd.origin-group", AFD_ROUTE, "ge.afd.security-policy",
            "ge.afd.origin.westeurope-web-https"} <= keys
    assert "ge.afd.origin.westeurope-web-http" not in keys  # plain HTTP is not an HTTPS origin
    # a multi-region deployment passes one endpoint per region: one origin each, priorities in order
    regional = [IngressEndpoint("weu", "westeurope", 443, "fw.pip.dnat.web-https"),
                IngressEndpoint("neu", "northeurope", 443, host="20.50.1.2")]
    prio = load_config_dict(sandbox({**FD, "routing": "priority"}), env={})
    origins = [s for s in global_entry_steps(prio, steps, regional) if isinstance(s, OriginStep)]
    upstream = {"fw.pip.dnat.web-https": {"ip_address": "20.0.0.9"}}
    assert [(o.key, o.priority, o.desired(prio, upstream)["properties"]["hostName"]) for o in origins] == [
        ("ge.afd.origin.weu", 1, "20.0.0.9"), ("ge.afd.origin.neu", 2, "20.50.1.2"),
    ]
    tm_cfg = load_config_dict(sandbox(TM), env={})
    (tm,) = global_entry_steps(tm_cfg, steps, regional)
    assert isinstance(tm, TrafficManagerProfileStep) and tm.key == TRAFFIC_MANAGER
    body = tm.desired(tm_cfg, upstream)
    assert [(e["name"], e["properties"]["endpointLocation"], e["properties"]["target"])
            for e in body["properties"]["endpoints"]] == [
        ("weu", "westeurope", "20.0.0.9"), ("neu", "northeurope", "20.50.1.2"),
    ]
    assert body["properties"]["trafficRoutingMethod"] == "Performance"
