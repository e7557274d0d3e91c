"""Microsoft.Insights/actionGroups, metricAlerts and activityLogAlerts (azure-mgmt-monitor 6.0.2,
synchronous PUT/DELETE).

Action groups (api-version 2023-01-01,
https://learn.microsoft.com/rest/api/monitor/action-groups/create-or-update):

* ``groupShortName`` required, at most 12 characters -> 400 ``BadRequest``
  (REST spec: ``groupShortName`` maxLength 12);
* location ``Global`` or one of the regions that keep action groups in-region
  (https://learn.microsoft.com/azure/azure-monitor/alerts/action-groups#create-an-action-group-in-the-azure-portal)
  -> 400 ``LocationNotAvailableForResourceType``;
* receiver names unique within the group; e-mail addresses well formed -> 400 ``BadRequest``.

Metric alerts (api-version 2018-03-01, https://learn.microsoft.com/rest/api/monitor/metric-alerts/create-or-update):

* location ``global`` -> 400 ``LocationNotAvailableForResourceType``;
* ``criteria.odata.type`` one of the three criteria kinds; a single-resource criteria needs exactly
  one scope and 1-5 criteria, each with ``name``, ``metricName``, ``operator`` (Equals, GreaterThan,
  GreaterThanOrEqual, LessThan, LessThanOrEqual), ``timeAggregation`` (Average, Count, Minimum,
  Maximum, Total) and a numeric ``threshold`` -> 400 ``BadRequest``;
* ``severity`` 0-4, ``windowSize`` / ``evaluationFrequency`` among the allowed ISO durations;
* the metric must exist for the target type (tables below, for the types the deployment alerts on;
  other types are not modelled) -> 400 ``BadRequest`` "Couldn't find a metric named ...";
* ``scopes`` and ``actions[].actionGroupId`` must exist (the core checks every nested id).

Activity log alerts (api-version 2020-10-01,
https://learn.microsoft.com/rest/api/monitor/activity-log-alerts/create-or-update): location
``Global``, at least one scope, ``condition.allOf`` with a ``category`` leaf -> 400 ``BadRequest``.
"""

from __future__ import annotations

import re
from typing import Any

from hubspoke_deploy.simulator.providers.base import JSON, ArmError, ResourceType, WriteContext, register

ACTION_GROUP_TYPE = "Microsoft.Insights/actionGroups"
METRIC_ALERT_TYPE = "Microsoft.Insights/metricAlerts"
ACTIVITY_ALERT_TYPE = "Microsoft.Insights/activityLogAlerts"

ACTION_GROUP_LOCATIONS = frozenset(
    {"global", "swedencentral", "germanywestcentral", "northcentralus", "southcentralus"}
)
SHORT_NAME_MAX = 12
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

SINGLE = "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"
MULTI = "Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria"
WEBTEST = "Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria"
OPERATORS = frozenset({"Equals", "GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"})
AGGREGATIONS = frozenset({"Average", "Count", "Minimum", "Maximum", "Total"})
WINDOWS = frozenset({"PT1M", "PT5M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D"})
FREQUENCIES = frozenset({"PT1M", "PT5M", "PT15M", "PT30M", "PT1H"})

_M = "https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/"
#: lower-cased type -> metric names in the REST API (platform metrics)
METRICS: dict[str, frozenset[str]] = {
    # _M + "microsoft-network-azurefirewalls-metrics"
    "microsoft.network/azurefirewalls": frozenset({
        "ApplicationRuleHit", "DataProcessed", "FirewallHealth", "FirewallLatencyPng", "NetworkRuleHit",
        "SNATPortUtilization", "Throughput", "ObservedCapacity",
    }),
    # _M + "microsoft-containerservice-managedclusters-metrics"
    "microsoft.containerservice/managedclusters": frozenset({
        "apiserver_current_inflight_requests", "cluster_autoscaler_cluster_safe_to_autoscale",
        "kube_node_status_allocatable_cpu_cores", "kube_node_status_allocatable_memory_bytes",
        "kube_node_status_condition", "kube_pod_status_phase", "kube_pod_status_ready",
        "node_cpu_usage_percentage", "node_memory_working_set_percentage", "node_disk_usage_percentage",
    }),
    # _M + "microsoft-keyvault-vaults-metrics"
    "microsoft.keyvault/vaults": frozenset({
        "Availability", "SaturationShoebox", "ServiceApiHit", "ServiceApiLatency", "ServiceApiResult",
    }),
    # _M + "microsoft-containerregistry-registries-metrics" (no availability metric)
    "microsoft.containerregistry/registries": frozenset({
        "AgentPoolCPUTime", "RunDuration", "StorageUsed", "SuccessfulPullCount", "SuccessfulPushCount",
        "TotalPullCount", "TotalPushCount",
    }),
}


def _bad(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)


def _location(ctx: WriteContext, allowed: frozenset[str], type_name: str) -> None:
    location = str(ctx.resource.get("location") or "").replace(" ", "").lower()
    if location not in allowed:
        raise ArmError(
            400,
            "LocationNotAvailableForResourceType",
            f"The provided location '{ctx.resource.get('location')}' is not available for resource type "
            f"'{type_name}'. List of available regions for the resource type is '{','.join(sorted(allowed))}'.",
        )


def _list(value: Any) -> list[JSON]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@register
class ActionGroups(ResourceType):
    type_name = ACTION_GROUP_TYPE
    create_latency_s = 0.0
    long_running = False
    requires_location = True
    schema = {"properties.groupShortName": "str", "properties.enabled": "bool",
              "properties.emailReceivers": "list[object]", "properties.webhookReceivers": "list[object]"}

    def validate(self, ctx: WriteContext) -> None:
        _location(ctx, ACTION_GROUP_LOCATIONS, ACTION_GROUP_TYPE)
        short = ctx.props.get("groupShortName")
        if not isinstance(short, str) or not 1 <= len(short) <= SHORT_NAME_MAX:
            raise _bad(f"The groupShortName '{short}' is invalid: it is required and at most {SHORT_NAME_MAX} "
                       "characters long.")
        names: set[str] = set()
        for field in ("emailReceivers", "smsReceivers", "webhookReceivers", "azureAppPushReceivers"):
            for receiver in _list(ctx.props.get(field)):
                name = str(receiver.get("name") or "")
                if not name or name.lower() in names:
                    raise _bad(f"Receiver name '{name}' is missing or not unique within the action group.")
                names.add(name.lower())
        for receiver in _list(ctx.props.get("emailReceivers")):
            if not _EMAIL_RE.match(str(receiver.get("emailAddress") or "")):
                raise _bad(f"The email address '{receiver.get('emailAddress')}' is invalid.")
        for receiver in _list(ctx.props.get("webhookReceivers")):
            if not str(receiver.get("serviceUri") or "").startswith(("https://", "http://")):
                raise _bad(f"The webhook serviceUri '{receiver.get('serviceUri')}' is not a URL.")

    def on_write(self, ctx: WriteContext) -> None:
        for receiver in _list(ctx.props.get("emailReceivers")):
            receiver.setdefault("status", "Enabled")


@register
class MetricAlerts(ResourceType):
    type_name = METRIC_ALERT_TYPE
    create_latency_s = 0.0
    long_running = False
    # the REST spec (and the SDK) list only 200 for a create
    create_status = 200
    requires_location = True
    schema = {"properties.severity": "int", "properties.enabled": "bool", "properties.scopes": "list[str]",
              "properties.criteria": "object", "properties.actions": "list[object]"}

    def validate(self, ctx: WriteContext) -> None:
        _location(ctx, frozenset({"global"}), METRIC_ALERT_TYPE)
        props = ctx.props
        severity = props.get("severity")
        if not isinstance(severity, int) or not 0 <= severity <= 4:
            raise _bad(f"The severity '{severity}' is invalid: use 0 to 4.")
        if props.get("windowSize") not in WINDOWS:
            raise _bad(f"The windowSize '{props.get('windowSize')}' is invalid; allowed: {', '.join(sorted(WINDOWS))}.")
        if props.get("evaluationFrequency") not in FREQUENCIES:
            raise _bad(f"The evaluationFrequency '{props.get('evaluationFrequency')}' is invalid; allowed: "
                       f"{', '.join(sorted(FREQUENCIES))}.")
        scopes = [s for s in props.get("scopes") or [] if isinstance(s, str)]
        if not scopes:
            raise _bad("Scopes cannot be empty.")
        raw = props.get("criteria")
        criteria: JSON = raw if isinstance(raw, dict) else {}
        kind = criteria.get("odata.type")
        if kind not in (SINGLE, MULTI, WEBTEST):
            raise _bad(f"The criteria odata.type '{kind}' is not supported.")
        all_of = _list(criteria.get("allOf"))
        if kind == SINGLE and (len(scopes) != 1 or not 1 <= len(all_of) <= 5):
            raise _bad("SingleResourceMultipleMetricCriteria needs exactly one scope and 1 to 5 criteria.")
        target_type = str(props.get("targetResourceType") or "") or _type_of(scopes[0])
        known = METRICS.get(target_type.lower())
        for criterion in all_of:
            for field in ("name", "metricName"):
                if not criterion.get(field):
                    raise _bad(f"Criterion field '{field}' is required.")
            if criterion.get("operator") not in OPERATORS:
                raise _bad(f"The operator '{criterion.get('operator')}' is not supported.")
            if criterion.get("timeAggregation") not in AGGREGATIONS:
                raise _bad(f"The timeAggregation '{criterion.get('timeAggregation')}' is not supported.")
            threshold = criterion.get("threshold")
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
                raise _bad("A static threshold criterion needs a numeric threshold.")
            metric = str(criterion.get("metricName"))
            if known is not None and metric not in known:
                raise _bad(f"Couldn't find a metric named {metric}. Make sure the name is correct.")
        for scope in scopes:
            if target_type and _type_of(scope).lower() != target_type.lower():
                raise _bad(f"The scope '{scope}' is not of the targetResourceType '{target_type}'.")


def _type_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return ""
    start = len(lowered) - 1 - lowered[::-1].index("providers")
    return "/".join([parts[start + 1], *parts[start + 2:][0::2]])


@register
class ActivityLogAlerts(ResourceType):
    type_name = ACTIVITY_ALERT_TYPE
    create_latency_s = 0.0
    long_running = False
    requires_location = True
    schema = {"properties.scopes": "list[str]", "properties.condition": "object", "properties.actions": "object"}

    def validate(self, ctx: WriteContext) -> None:
        _location(ctx, frozenset({"global"}), ACTIVITY_ALERT_TYPE)
        if not ctx.props.get("scopes"):
            raise _bad("Scopes cannot be empty.")
        raw = ctx.props.get("condition")
        condition: JSON = raw if isinstance(raw, dict) else {}
        leaves = _list(condition.get("allOf"))
        if not any(str(leaf.get("field", "")).lower() == "category" for leaf in leaves):
            # "The condition must contain a leaf condition on the field 'category'"
            raise _bad("The activity log alert condition must have a condition on the field 'category'.")
