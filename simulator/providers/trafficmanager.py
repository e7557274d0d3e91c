"""Traffic Manager profiles (``Microsoft.Network/trafficmanagerprofiles``), as azure-mgmt-trafficmanager 2.0
(api-version 2026-09-01) reaches them: a synchronous PUT and DELETE
(https://learn.microsoft.com/rest/api/trafficmanager/profiles/create-or-update), endpoints written inline
in ``properties.endpoints``.

Rules (each cites where Azure documents it):

* location ``global``;
* ``dnsConfig.relativeName``: a DNS label, unique across Azure (the profile is
  ``<relativeName>.trafficmanager.net``), and fixed once the profile exists;
* ``trafficRoutingMethod`` one of :data:`ROUTING_METHODS`;
* ``monitorConfig``: protocol HTTP/HTTPS/TCP, port 1-65535, a path starting with ``/`` for HTTP(S)
  and none for TCP, interval 10 or 30 s, timeout 5-10 s and below the interval (5-9 s with 10 s
  probing), tolerated failures 0-9;
* endpoints: type external / azure / nested; names unique; external endpoints need a ``target``
  (and ``endpointLocation`` with Performance routing), Azure and nested ones a ``targetResourceId``;
  priority 1-1000 and unique with Priority routing; weight 1-1000.
"""

from __future__ import annotations

import re
from typing import Any

from hubspoke_deploy.simulator.providers.base import (
    JSON,
    ArmError,
    ResourceType,
    WriteContext,
    WriteRule,
    deep_get,
    register,
    register_rule,
)

PROFILE = "Microsoft.Network/trafficmanagerprofiles"
_MON = "https://learn.microsoft.com/azure/traffic-manager/traffic-manager-monitoring#configure-endpoint-monitoring"
_EP = "https://learn.microsoft.com/azure/traffic-manager/traffic-manager-endpoint-types"
_REST = "https://learn.microsoft.com/rest/api/trafficmanager/profiles/create-or-update"

ROUTING_METHODS = frozenset({"Performance", "Priority", "Weighted", "Geographic", "MultiValue", "Subnet"})
EXTERNAL = "microsoft.network/trafficmanagerprofiles/externalendpoints"
AZURE = "microsoft.network/trafficmanagerprofiles/azureendpoints"
NESTED = "microsoft.network/trafficmanagerprofiles/nestedendpoints"
ENDPOINT_TYPES = {EXTERNAL: "externalEndpoints", AZURE: "azureEndpoints", NESTED: "nestedEndpoints"}
INTERVALS = (10, 30)
TIMEOUT = (5, 10)
TOLERATED = (0, 9)
LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9_])?$")


def _endpoints(ctx: WriteContext) -> list[JSON]:
    value = ctx.props.get("endpoints") or []
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def _location(ctx: WriteContext) -> str | None:
    if str(ctx.resource.get("location") or "").lower() != "global":
        return (f"The provided location '{ctx.resource.get('location')}' is not available for resource type "
                f"'{PROFILE}'. List of available regions for the resource type is 'global'.")
    return None


def _name(ctx: WriteContext) -> str | None:
    # trafficmanagerprofiles: 1-63 alphanumerics, hyphens and periods, starting and ending with an alphanumeric
    # https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftnetwork
    if re.match(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$", ctx.rid.name):
        return None
    return f"The profile name '{ctx.rid.name}' is invalid."


def _relative_name(ctx: WriteContext) -> str | None:
    name = str(deep_get(ctx.props, "dnsConfig.relativeName") or "")
    if not LABEL_RE.match(name):
        return f"The relative DNS name '{name}' is invalid: it must be a DNS label (1-63 letters, digits, hyphens)."
    return None


def _relative_name_fixed(ctx: WriteContext) -> str | None:
    if ctx.existing is None:
        return None
    old = str(deep_get(ctx.existing, "properties.dnsConfig.relativeName") or "")
    new = str(deep_get(ctx.props, "dnsConfig.relativeName") or "")
    if old and old.lower() != new.lower():
        return f"The relative DNS name of profile '{ctx.rid.name}' cannot be changed from '{old}' to '{new}'."
    return None


def _relative_name_unique(ctx: WriteContext) -> str | None:
    name = str(deep_get(ctx.props, "dnsConfig.relativeName") or "").lower()
    for other in ctx.store.find(PROFILE):
        if str(other.get("id", "")).lower() == ctx.rid.key:
            continue
        if str(deep_get(other, "properties.dnsConfig.relativeName") or "").lower() == name:
            return f"The domain name '{name}.trafficmanager.net' is already in use. Choose another relative DNS name."
    return None


def _routing(ctx: WriteContext) -> str | None:
    method = ctx.props.get("trafficRoutingMethod")
    if method not in ROUTING_METHODS:
        return f"The traffic routing method '{method}' is invalid. Allowed: {', '.join(sorted(ROUTING_METHODS))}."
    return None


def _monitor(ctx: WriteContext) -> str | None:
    raw = ctx.props.get("monitorConfig")
    mon: dict[str, Any] = raw if isinstance(raw, dict) else {}
    protocol = str(mon.get("protocol") or "HTTP").upper()
    if protocol not in ("HTTP", "HTTPS", "TCP"):
        return f"The monitor protocol '{mon.get('protocol')}' is invalid: use HTTP, HTTPS or TCP."
    port = mon.get("port")
    if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
        return f"The monitor port {port} is invalid: use 1 to 65535."
    path = mon.get("path")
    if protocol == "TCP" and path:
        return "A path cannot be set with the TCP monitor protocol."
    if protocol != "TCP" and not str(path or "").startswith("/"):
        return f"The monitor path '{path}' is invalid: HTTP(S) monitoring needs a path starting with '/'."
    interval = mon.get("intervalInSeconds", 30)
    if interval not in INTERVALS:
        return f"The monitor interval {interval} is invalid. Allowed values: 10 or 30 seconds."
    timeout = mon.get("timeoutInSeconds")
    upper = TIMEOUT[1] if interval == 30 else 9
    if timeout is not None and (not isinstance(timeout, int) or not TIMEOUT[0] <= timeout <= upper):
        return f"The monitor timeout {timeout} is invalid: use {TIMEOUT[0]} to {upper} seconds with a {interval} s " \
               "interval."
    tolerated = mon.get("toleratedNumberOfFailures")
    if tolerated is not None and (not isinstance(tolerated, int) or not TOLERATED[0] <= tolerated <= TOLERATED[1]):
        return f"The tolerated number of failures {tolerated} is invalid: use {TOLERATED[0]} to {TOLERATED[1]}."
    return None


def _endpoint_rules(ctx: WriteContext) -> str | None:
    method = ctx.props.get("trafficRoutingMethod")
    names: set[str] = set()
    priorities: set[int] = set()
    for endpoint in _endpoints(ctx):
        name = str(endpoint.get("name") or "")
        if not NAME_RE.match(name) or name.lower() in names:
            return f"The endpoint name '{name}' is missing, invalid or not unique in the profile."
        names.add(name.lower())
        etype = str(endpoint.get("type") or "").lower()
        if etype not in ENDPOINT_TYPES:
            return (f"The endpoint type '{endpoint.get('type')}' is invalid: use "
                    "Microsoft.Network/trafficManagerProfiles/externalEndpoints, azureEndpoints or nestedEndpoints.")
        props = endpoint.get("properties") if isinstance(endpoint.get("properties"), dict) else {}
        assert isinstance(props, dict)
        if etype == EXTERNAL and not props.get("target"):
            return f"External endpoint '{name}' needs a target (an FQDN or an IP address)."
        if etype != EXTERNAL and not props.get("targetResourceId"):
            return f"Endpoint '{name}' needs a targetResourceId."
        if method == "Performance" and etype == EXTERNAL and not props.get("endpointLocation"):
            return f"External endpoint '{name}' needs an endpointLocation with Performance routing."
        priority = props.get("priority")
        if priority is not None:
            if not isinstance(priority, int) or not 1 <= priority <= 1000:
                return f"The priority {priority} of endpoint '{name}' is invalid: use 1 to 1000."
            if method == "Priority" and priority in priorities:
                return f"The priority {priority} of endpoint '{name}' is used by another endpoint of the profile."
            priorities.add(priority)
        weight = props.get("weight")
        if weight is not None and (not isinstance(weight, int) or not 1 <= weight <= 1000):
            return f"The weight {weight} of endpoint '{name}' is invalid: use 1 to 1000."
    return None


WRITE_RULES = [
    WriteRule("tm-location", PROFILE, _location, 400, "LocationNotAvailableForResourceType", _REST),
    WriteRule("tm-name", PROFILE, _name, 400, "BadRequest",
              "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules"),
    WriteRule("tm-relative-name", PROFILE, _relative_name, 400, "BadRequest",
              "https://learn.microsoft.com/azure/traffic-manager/quickstart-create-traffic-manager-profile"),
    WriteRule("tm-relative-name-fixed", PROFILE, _relative_name_fixed, 400, "BadRequest",
              "https://learn.microsoft.com/azure/traffic-manager/traffic-manager-manage-profiles"),
    # Uniqueness across Azure (checkTrafficManagerNameAvailability); the simulator answers 409 Conflict.
    WriteRule("tm-relative-name-unique", PROFILE, _relative_name_unique, 409, "Conflict",
              "https://learn.microsoft.com/rest/api/trafficmanager/profiles/check-traffic-manager-relative-dns-name-availability"),
    WriteRule("tm-routing", PROFILE, _routing, 400, "BadRequest",
              "https://learn.microsoft.com/azure/traffic-manager/traffic-manager-routing-methods"),
    WriteRule("tm-monitor", PROFILE, _monitor, 400, "BadRequest", _MON),
    WriteRule("tm-endpoints", PROFILE, _endpoint_rules, 400, "BadRequest", _EP),
]
for _rule in WRITE_RULES:
    register_rule(_rule)


@register
class TrafficManagerProfiles(ResourceType):
    type_name = PROFILE
    create_latency_s = 0.0
    long_running = False
    requires_location = True
    schema = {"properties.dnsConfig": "object", "properties.monitorConfig": "object",
              "properties.endpoints": "list[object]", "properties.trafficRoutingMethod": "str"}

    def validate(self, ctx: WriteContext) -> None:
        if not isinstance(ctx.props.get("dnsConfig"), dict):
            raise ArmError(400, "BadRequest", "dnsConfig is required.")

    def on_write(self, ctx: WriteContext) -> None:
        dns: Any = ctx.props["dnsConfig"]
        dns["fqdn"] = f"{str(dns.get('relativeName', '')).lower()}.trafficmanager.net"
        dns.setdefault("ttl", 300)
        monitor: Any = ctx.props.setdefault("monitorConfig", {})
        monitor.setdefault("intervalInSeconds", 30)
        monitor.setdefault("timeoutInSeconds", 10)
        monitor.setdefault("toleratedNumberOfFailures", 3)
        monitor["profileMonitorStatus"] = "CheckingEndpoints" if _endpoints(ctx) else "Inactive"
        ctx.props.setdefault("profileStatus", "Enabled")
        for endpoint in _endpoints(ctx):
            segment = ENDPOINT_TYPES[str(endpoint.get("type")).lower()]
            endpoint["id"] = f"{ctx.rid.id}/{segment}/{endpoint.get('name')}"
            props: Any = endpoint.setdefault("properties", {})
            props.setdefault("endpointStatus", "Enabled")
            props["endpointMonitorStatus"] = "CheckingEndpoint"

    def delete_result(self, view: JSON) -> Any:
        # 200 with a DeleteOperationResult (its read-only "boolean" operationResult):
        # https://learn.microsoft.com/rest/api/trafficmanager/profiles/delete
        return {"boolean": True}
