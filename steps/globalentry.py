"""``[global_entry]``: Azure Front Door Premium with a WAF policy, or Traffic Manager, in front of the
regional ingress endpoints (issue 18).

The origins are :class:`IngressEndpoint` values: today the firewall public IPs and ports that
``[[firewall.dnat_rules]]`` publish (:func:`ingress_endpoints`); a multi-region deployment passes
one list covering every region to :func:`global_entry_steps`.

Front Door (azure-mgmt-cdn 14.1, api-version 2026-10-01; the WAF policy through azure-mgmt-frontdoor
2.0, api-version 2025-10-01):

* profile ``Microsoft.Cdn/profiles`` sku ``Premium_AzureFrontDoor`` (managed WAF rule sets need
  Premium), location ``Global``: https://learn.microsoft.com/azure/frontdoor/create-front-door-bicep
* endpoint ``profiles/afdEndpoints`` (host ``<name>-<hash>.z01.azurefd.net``);
* origin group ``profiles/originGroups`` with health probe and load balancing settings
  (https://learn.microsoft.com/azure/frontdoor/health-probes), one origin per ingress endpoint
  (``profiles/originGroups/origins``; priority and weight:
  https://learn.microsoft.com/azure/frontdoor/routing-methods);
* route ``profiles/afdEndpoints/routes`` to the origin group;
* WAF policy ``Microsoft.Network/FrontDoorWebApplicationFirewallPolicies`` (sku
  ``Premium_AzureFrontDoor``, managed rule sets of ``config.global_entry.WAF_MANAGED_RULE_SETS``)
  linked to the endpoint by a security policy ``profiles/securityPolicies``:
  https://learn.microsoft.com/azure/web-application-firewall/afds/waf-front-door-create-portal

Traffic Manager (azure-mgmt-trafficmanager 2.0, api-version 2026-09-01, synchronous PUT/DELETE):
one ``Microsoft.Network/trafficmanagerprofiles`` (location ``global``) with its monitor config and
one external endpoint per ingress endpoint, written inline in the profile (a PUT of the profile
replaces its endpoint list, so an endpoint that left the config goes with the same write):
https://learn.microsoft.com/rest/api/trafficmanager/profiles/create-or-update
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.config.global_entry import WAF_MANAGED_RULE_SETS, global_entry_dns_name, selected_dnat_rules
from hubspoke_deploy.orchestrator.diff import UNKNOWN
from hubspoke_deploy.orchestrator.step import Outputs, OwnedIds, Spec, Step, StepContext
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.base import DeploymentStep, arm_id, out, props, ref

__all__ = [
    "AFD_ENDPOINT",
    "AFD_ORIGIN_GROUP",
    "AFD_PROFILE",
    "AFD_ROUTE",
    "AFD_SECURITY_POLICY",
    "TRAFFIC_MANAGER",
    "WAF_POLICY",
    "AfdEndpointStep",
    "FrontDoorProfileStep",
    "IngressEndpoint",
    "OriginGroupStep",
    "OriginStep",
    "RouteStep",
    "SecurityPolicyStep",
    "TrafficManagerProfileStep",
    "WafPolicyStep",
    "afd_origin_key",
    "global_entry_orphan_handlers",
    "global_entry_outputs",
    "global_entry_steps",
    "ingress_endpoints",
    "waf_policy_blockers",
]

AFD_PROFILE = "ge.afd"
AFD_ENDPOINT = "ge.afd.endpoint"
AFD_ORIGIN_GROUP = "ge.afd.origin-group"
AFD_ROUTE = "ge.afd.route"
AFD_SECURITY_POLICY = "ge.afd.security-policy"
WAF_POLICY = "ge.waf"
TRAFFIC_MANAGER = "ge.tm"

CDN_PROFILE_TYPE = "Microsoft.Cdn/profiles"
WAF_POLICY_TYPE = "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies"
PREMIUM = "Premium_AzureFrontDoor"
ORIGIN_GROUP_NAME = "og-ingress"
ROUTE_NAME = "route-default"
SECURITY_POLICY_NAME = "sp-waf"
# Origin group load balancing: Front Door's own defaults (4 samples, 3 successful, 50 ms latency band):
# https://learn.microsoft.com/azure/frontdoor/routing-methods#latency
LOAD_BALANCING = {"sampleSize": 4, "successfulSamplesRequired": 3, "additionalLatencyInMilliseconds": 50}
# Equal weights among origins of one priority ("weight 1-1000, default 50"):
# https://learn.microsoft.com/azure/frontdoor/routing-methods#weighted
ORIGIN_WEIGHT = 1000
_SAFE = re.compile(r"[^A-Za-z0-9-]+")


@dataclass(frozen=True)
class IngressEndpoint:
    """One regional public ingress endpoint: the origin / external endpoint of the global entry.

    ``address_key`` is the step whose outputs carry the address (``ip_address`` of a public IP,
    or ``fqdn``); ``host`` a fixed address instead (an endpoint outside this deployment)."""

    name: str
    region: str
    port: int
    address_key: str = ""
    host: str | None = None

    def address(self, upstream: Mapping[str, Outputs]) -> Any:
        if self.host:
            return self.host
        outputs = upstream.get(self.address_key) or {}
        value = outputs.get("ip_address") or outputs.get("fqdn")
        return UNKNOWN if value is None or value == UNKNOWN else value


def _label(value: str, limit: int = 50) -> str:
    return _SAFE.sub("-", value).strip("-")[:limit].strip("-") or "ingress"


def ingress_endpoints(cfg: DeploymentConfig, steps: Sequence[Step] = ()) -> list[IngressEndpoint]:
    """The deployment's public ingress endpoints: one per firewall public IP and port published by the
    selected DNAT rules (``global_entry.dnat_rules``), in the config's order. With ``steps``, only
    those whose public IP step is in the deployment."""
    from hubspoke_deploy.steps.firewall import dedicated_pip_key

    present = {s.key for s in steps}
    result: list[IngressEndpoint] = []
    seen: set[tuple[str, int]] = set()
    for rule in selected_dnat_rules(cfg):
        pip_key = dedicated_pip_key(rule.name) if rule.dedicated_public_ip else keys.firewall_pip(1)
        if (steps and pip_key not in present) or (pip_key, rule.public_port) in seen:
            continue
        seen.add((pip_key, rule.public_port))
        result.append(IngressEndpoint(_label(f"{cfg.location}-{rule.name}"), cfg.location, rule.public_port, pip_key))
    return result


# --------------------------------------------------------------------------- names


def _profile_name(cfg: DeploymentConfig, prefix: str) -> str:
    ge = cfg.global_entry
    return ge.name if ge is not None and ge.name else f"{prefix}-{cfg.name}"


def afd_profile_name(cfg: DeploymentConfig) -> str:
    return _profile_name(cfg, "afd")


def tm_profile_name(cfg: DeploymentConfig) -> str:
    return _profile_name(cfg, "tm")


def waf_policy_name(cfg: DeploymentConfig) -> str:
    """Letters and digits only, starting with a letter (1-128):
    https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftnetwork"""
    return "waf" + re.sub(r"[^A-Za-z0-9]", "", cfg.name)


def afd_origin_key(endpoint: IngressEndpoint) -> str:
    return f"ge.afd.origin.{endpoint.name}"


# --------------------------------------------------------------------------- Front Door


class _GlobalStep(DeploymentStep):
    typical: ClassVar[float] = 30.0

    def typical_seconds(self) -> float:
        return self.typical


class WafPolicyStep(_GlobalStep):
    client = "frontdoor"
    operations = "policies"
    resource_type = WAF_POLICY_TYPE
    immutable = ("location", "sku")
    typical = 20.0

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG,))

    def names(self) -> tuple[str, ...]:
        return (waf_policy_name(self.cfg),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        ge = config.global_entry
        rule_sets: list[dict[str, Any]] = []
        for rule_set, version, action in WAF_MANAGED_RULE_SETS:
            item: dict[str, Any] = {"ruleSetType": rule_set, "ruleSetVersion": version}
            if action:
                item["ruleSetAction"] = action
            rule_sets.append(item)
        properties = {
            "policySettings": {"enabledState": "Enabled", "mode": ge.waf_mode, "requestBodyCheck": "Enabled"},
            "managedRules": {"managedRuleSets": rule_sets},
        }
        # Front Door WAF policies are global resources; the sku must be the profile's tier.
        return self.top(config, properties, location="Global", sku={"name": PREMIUM})

    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return waf_policy_blockers(ctx, observed, owned)

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed)


class FrontDoorProfileStep(_GlobalStep):
    client = "cdn"
    operations = "profiles"
    put_method = "begin_create"
    resource_type = CDN_PROFILE_TYPE
    immutable = ("location", "sku")
    typical = 60.0

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG,))

    def names(self) -> tuple[str, ...]:
        return (afd_profile_name(self.cfg),)

    def lock_keys(self) -> tuple[str, ...]:
        return (self.resource_id().lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return self.top(config, {"originResponseTimeoutSeconds": 60}, location="Global", sku={"name": PREMIUM})


class _ProfileChild(_GlobalStep):
    client = "cdn"
    put_method = "begin_create"
    taggable = False

    def profile_id(self) -> str:
        return arm_id(self.cfg, CDN_PROFILE_TYPE, afd_profile_name(self.cfg))

    def lock_keys(self) -> tuple[str, ...]:
        # Azure serialises the writes of one profile's tree (the simulator answers 409
        # AnotherOperationInProgress, as for subnets of a VNet).
        return (self.profile_id().lower(),)


class AfdEndpointStep(_ProfileChild):
    operations = "afd_endpoints"
    resource_type = "Microsoft.Cdn/profiles/afdEndpoints"
    immutable = ("location", "properties.autoGeneratedDomainNameLabelScope")
    typical = 60.0

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (AFD_PROFILE,))

    def names(self) -> tuple[str, ...]:
        return (afd_profile_name(self.cfg), global_entry_dns_name(self.cfg))

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        # TenantReuse: the same name in the same tenant gets the same host name back after a re-create.
        properties = {"enabledState": "Enabled", "autoGeneratedDomainNameLabelScope": "TenantReuse"}
        return {"location": "Global", "tags": dict(config.tags), "properties": properties}

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed, host_name=props(observed).get("hostName"))


class OriginGroupStep(_ProfileChild):
    operations = "afd_origin_groups"
    resource_type = "Microsoft.Cdn/profiles/originGroups"

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (AFD_PROFILE,))

    def names(self) -> tuple[str, ...]:
        return (afd_profile_name(self.cfg), ORIGIN_GROUP_NAME)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        ge = config.global_entry
        probe = {
            "probePath": ge.probe_path,
            "probeRequestType": ge.probe_method,
            "probeProtocol": "Https" if ge.effective_protocol == "https" else "Http",
            "probeIntervalInSeconds": ge.probe_interval_seconds,
        }
        properties = {
            "loadBalancingSettings": dict(LOAD_BALANCING),
            "healthProbeSettings": probe,
            "sessionAffinityState": "Disabled",
        }
        return {"properties": properties}


class OriginStep(_ProfileChild):
    operations = "afd_origins"
    resource_type = "Microsoft.Cdn/profiles/originGroups/origins"

    def __init__(self, key: str, cfg: DeploymentConfig, endpoint: IngressEndpoint, priority: int) -> None:
        requires = (AFD_ORIGIN_GROUP, *((endpoint.address_key,) if endpoint.address_key else ()))
        super().__init__(key, cfg, requires)
        self.endpoint = endpoint
        self.priority = priority

    def names(self) -> tuple[str, ...]:
        return (afd_profile_name(self.cfg), ORIGIN_GROUP_NAME, self.endpoint.name)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        ge = config.global_entry
        https = ge.effective_protocol == "https"
        properties: dict[str, Any] = {
            "hostName": self.endpoint.address(upstream),
            "httpPort": 80 if https else self.endpoint.port,
            "httpsPort": self.endpoint.port if https else 443,
            "priority": self.priority,
            "weight": ORIGIN_WEIGHT,
            "enabledState": "Enabled",
            "enforceCertificateNameCheck": True,
        }
        if ge.origin_host_header:
            properties["originHostHeader"] = ge.origin_host_header
        return {"properties": properties}

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed, host_name=props(observed).get("hostName"))


class RouteStep(_ProfileChild):
    operations = "routes"
    resource_type = "Microsoft.Cdn/profiles/afdEndpoints/routes"
    typical = 60.0

    def __init__(self, key: str, cfg: DeploymentConfig, origin_keys: Sequence[str]) -> None:
        # after the origins: the route sends traffic as soon as it exists
        super().__init__(key, cfg, (AFD_ENDPOINT, AFD_ORIGIN_GROUP, *origin_keys))

    def names(self) -> tuple[str, ...]:
        return (afd_profile_name(self.cfg), global_entry_dns_name(self.cfg), ROUTE_NAME)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        https = config.global_entry.effective_protocol == "https"
        properties = {
            "originGroup": ref(upstream[AFD_ORIGIN_GROUP]["id"]),
            "supportedProtocols": ["Http", "Https"],
            "patternsToMatch": ["/*"],
            "forwardingProtocol": "HttpsOnly" if https else "HttpOnly",
            "httpsRedirect": "Enabled",
            "linkToDefaultDomain": "Enabled",
            "enabledState": "Enabled",
        }
        return {"properties": properties}


class SecurityPolicyStep(_ProfileChild):
    operations = "security_policies"
    resource_type = "Microsoft.Cdn/profiles/securityPolicies"

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (AFD_ENDPOINT, WAF_POLICY))

    def names(self) -> tuple[str, ...]:
        return (afd_profile_name(self.cfg), SECURITY_POLICY_NAME)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        parameters = {
            "type": "WebApplicationFirewall",
            "wafPolicy": ref(upstream[WAF_POLICY]["id"]),
            "associations": [{"domains": [ref(upstream[AFD_ENDPOINT]["id"])], "patternsToMatch": ["/*"]}],
        }
        return {"properties": {"parameters": parameters}}


# --------------------------------------------------------------------------- Traffic Manager


class TrafficManagerProfileStep(_GlobalStep):
    client = "trafficmanager"
    operations = "profiles"
    put_method = "create_or_update"
    put_is_lro = False
    delete_method = "delete"
    delete_is_lro = False
    resource_type = "Microsoft.Network/trafficmanagerprofiles"
    # the relative DNS name cannot change once the profile exists
    immutable = ("location", "properties.dnsConfig.relativeName")
    typical = 10.0

    def __init__(self, key: str, cfg: DeploymentConfig, endpoints: Sequence[IngressEndpoint]) -> None:
        super().__init__(key, cfg, (keys.RG, *dict.fromkeys(e.address_key for e in endpoints if e.address_key)))
        self.endpoints = list(endpoints)

    def names(self) -> tuple[str, ...]:
        return (tm_profile_name(self.cfg),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        ge = config.global_entry
        https = ge.effective_protocol == "https"
        performance = ge.routing == "performance"
        endpoints = []
        for priority, endpoint in enumerate(self.endpoints, start=1):
            endpoints.append({
                "name": endpoint.name,
                "type": "Microsoft.Network/trafficManagerProfiles/externalEndpoints",
                "properties": {
                    "target": endpoint.address(upstream),
                    "endpointStatus": "Enabled",
                    # Performance routing needs every external endpoint's location.
                    "endpointLocation": endpoint.region,
                    "priority": priority,
                    "weight": 1,
                },
            })
        port = self.endpoints[0].port if self.endpoints else (443 if https else 80)
        properties = {
            "profileStatus": "Enabled",
            "trafficRoutingMethod": "Performance" if performance else "Priority",
            # 60 s: the DNS TTL clients cache an answer for (how fast a failover reaches them)
            "dnsConfig": {"relativeName": global_entry_dns_name(self.cfg), "ttl": 60},
            "monitorConfig": {
                "protocol": "HTTPS" if https else "HTTP",
                "port": port,
                "path": ge.probe_path,
                "intervalInSeconds": ge.probe_interval_seconds,
                "timeoutInSeconds": ge.probe_timeout_seconds,
                "toleratedNumberOfFailures": ge.tolerated_failures,
            },
            "endpoints": endpoints,
            "trafficViewEnrollmentStatus": "Disabled",
        }
        # Traffic Manager profiles are global resources.
        return self.top(config, properties, location="global")

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed, fqdn=(props(observed).get("dnsConfig") or {}).get("fqdn"))


# --------------------------------------------------------------------------- assembly


def global_entry_steps(
    cfg: DeploymentConfig, steps: Sequence[Step], endpoints: Sequence[IngressEndpoint] | None = None
) -> list[Step]:
    """The steps of ``[global_entry]`` (none when absent), in front of ``endpoints`` (default: the
    deployment's own, :func:`ingress_endpoints`)."""
    ge = cfg.global_entry
    if ge is None:
        return []
    targets = list(ingress_endpoints(cfg, steps) if endpoints is None else endpoints)
    if ge.kind == "traffic-manager":
        return [TrafficManagerProfileStep(TRAFFIC_MANAGER, cfg, targets)]
    result: list[Step] = [
        WafPolicyStep(WAF_POLICY, cfg),
        FrontDoorProfileStep(AFD_PROFILE, cfg),
        AfdEndpointStep(AFD_ENDPOINT, cfg),
        OriginGroupStep(AFD_ORIGIN_GROUP, cfg),
    ]
    origin_keys: list[str] = []
    for index, endpoint in enumerate(targets, start=1):
        # priority routing: the first region serves, the next ones wait (1 is the highest priority)
        priority = index if ge.routing == "priority" else 1
        origin_keys.append(afd_origin_key(endpoint))
        result.append(OriginStep(afd_origin_key(endpoint), cfg, endpoint, priority))
    result.append(RouteStep(AFD_ROUTE, cfg, origin_keys))
    result.append(SecurityPolicyStep(AFD_SECURITY_POLICY, cfg))
    return result


def global_entry_outputs(cfg: DeploymentConfig, step_outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``global_entry_hostname``: the name clients use (Front Door endpoint host / Traffic Manager FQDN)."""
    ge = cfg.global_entry
    if ge is None:
        return {}
    if ge.kind == "front-door":
        host = (step_outputs.get(AFD_ENDPOINT) or {}).get("host_name")
    else:
        host = (step_outputs.get(TRAFFIC_MANAGER) or {}).get("fqdn")
    if not isinstance(host, str) or host == UNKNOWN:
        return {}
    return {"global_entry_kind": ge.kind, "global_entry_hostname": host}


# --------------------------------------------------------------------------- teardown


def waf_policy_blockers(ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
    """Security policies this deployment does not own that still link the WAF policy (Azure refuses
    to delete a linked policy; the policy lists them in ``securityPolicyLinks``)."""
    links = [str(link.get("id", "")) for link in props(observed).get("securityPolicyLinks") or []
             if isinstance(link, Mapping)]
    return [link for link in links if link and not owned.owns(link)]


@dataclass(frozen=True)
class _WafHandler:
    def blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return waf_policy_blockers(ctx, observed, owned)

    def prepare(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> None:
        return None

    def note(self, observed: Spec) -> str | None:
        return None


def global_entry_orphan_handlers() -> dict[str, Any]:
    """Orphan handlers by lower-cased type (``steps.orphans``): a WAF policy another profile still links
    is kept."""
    return {WAF_POLICY_TYPE.lower(): _WafHandler()}
