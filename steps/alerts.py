"""``[alerts]``: an action group and the alert rules that page it (issue 17).

Owned resources like any other step: a rule removed from ``alerts.rules`` (or ``enabled = false``)
is an orphan that ``up`` deletes, ``down`` deletes them all.

* Action group (``Microsoft.Insights/actionGroups``, location ``Global``; azure-mgmt-monitor
  6.0.2 ``action_groups``, api-version 2023-01-01):
  https://learn.microsoft.com/rest/api/monitor/action-groups/create-or-update
* Metric alerts (``Microsoft.Insights/metricAlerts``, location ``global``; ``metric_alerts``,
  api-version 2018-03-01): https://learn.microsoft.com/rest/api/monitor/metric-alerts/create-or-update
* ACR has no availability metric (its metrics are pull/push counts, storage and run time:
  https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-containerregistry-registries-metrics),
  so its availability is a Resource Health activity log alert (``Microsoft.Insights/activityLogAlerts``,
  ``activity_log_alerts``, api-version 2020-10-01):
  https://learn.microsoft.com/azure/service-health/resource-health-alert-monitor-guide
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.step import Outputs, Spec, Step
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.base import DeploymentStep, arm_id

__all__ = [
    "ACTION_GROUP",
    "METRIC_RULES",
    "ActionGroupStep",
    "ActivityLogAlertStep",
    "MetricAlertStep",
    "MetricRule",
    "action_group_id",
    "alert_key",
    "alert_steps",
]

ACTION_GROUP = "alerts.ag"
_SINGLE = "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"


def alert_key(rule: str) -> str:
    return f"alerts.{rule}"


def action_group_name(cfg: DeploymentConfig) -> str:
    return f"ag-{cfg.name}"


def action_group_id(cfg: DeploymentConfig) -> str:
    return arm_id(cfg, "Microsoft.Insights/actionGroups", action_group_name(cfg))


def alert_name(cfg: DeploymentConfig, rule: str) -> str:
    return f"alert-{cfg.name}-{rule}"


@dataclass(frozen=True)
class MetricRule:
    """One metric alert: the target step, its type, the metric and how it is compared."""

    target_key: str
    target_type: str
    metric: str
    operator: str
    aggregation: str
    threshold: Callable[[DeploymentConfig], float]
    severity: int
    window: str
    description: str
    citation: str
    dimensions: tuple[tuple[str, tuple[str, ...]], ...] = ()


_METRICS = "https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/"

#: rule name (``alerts.rules``) -> the metric alert
METRIC_RULES: dict[str, MetricRule] = {
    # The article: "monitor SNAT port usage" (SNATPortUtilization, percent).
    "firewall-snat-ports": MetricRule(
        keys.FIREWALL, "Microsoft.Network/azureFirewalls", "SNATPortUtilization", "GreaterThan", "Average",
        lambda c: c.alerts.thresholds.firewall_snat_port_utilization, 2, "PT5M",
        "Firewall SNAT port utilization is high: add public IPs or a NAT gateway",
        _METRICS + "microsoft-network-azurefirewalls-metrics",
    ),
    "firewall-health": MetricRule(
        keys.FIREWALL, "Microsoft.Network/azureFirewalls", "FirewallHealth", "LessThan", "Average",
        lambda c: c.alerts.thresholds.firewall_health, 1, "PT5M",
        "Firewall health state is degraded",
        _METRICS + "microsoft-network-azurefirewalls-metrics",
    ),
    # Platform metric kube_node_status_condition (dimensions condition, status, status2, node).
    "aks-nodes-not-ready": MetricRule(
        "aks", "Microsoft.ContainerService/managedClusters", "kube_node_status_condition", "GreaterThan", "Average",
        lambda c: float(c.alerts.thresholds.aks_nodes_not_ready), 1, "PT15M",
        "AKS nodes report NotReady (condition Ready is false or unknown)",
        _METRICS + "microsoft-containerservice-managedclusters-metrics",
        dimensions=(("condition", ("Ready",)), ("status", ("false", "unknown"))),
    ),
    "keyvault-availability": MetricRule(
        "kv", "Microsoft.KeyVault/vaults", "Availability", "LessThan", "Average",
        lambda c: c.alerts.thresholds.keyvault_availability, 1, "PT5M",
        "Key Vault availability of requests is low",
        _METRICS + "microsoft-keyvault-vaults-metrics",
    ),
}
ACR_RULE = "acr-availability"


class _AlertStep(DeploymentStep):
    client = "monitor"
    put_method = "create_or_update"
    put_is_lro = False
    delete_method = "delete"
    delete_is_lro = False
    immutable = ("location",)
    target_id: str = ""

    def lock_keys(self) -> tuple[str, ...]:
        # A rule references its target: Azure refuses the write (ReferencedResourceNotProvisioned)
        # while a child of the target (a cluster's agent pool) is written, so share its lock.
        return (self.target_id.lower(),) if self.target_id else ()

    def _body(self, config: Any, properties: Mapping[str, Any], location: str) -> Spec:
        return {"location": location, "tags": dict(config.tags), "properties": dict(properties)}


class ActionGroupStep(_AlertStep):
    operations = "action_groups"
    resource_type = "Microsoft.Insights/actionGroups"
    # receivers the config no longer has are removed (a PUT replaces the lists)
    owns: ClassVar[Mapping[str, Any]] = {"properties.webhookReceivers": [], "properties.emailReceivers": []}

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG,))

    def names(self) -> tuple[str, ...]:
        return (action_group_name(self.cfg),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        alerts = config.alerts
        properties: dict[str, Any] = {
            "groupShortName": alerts.action_group_short_name or config.name[:12],
            "enabled": True,
            "emailReceivers": [
                {"name": f"email-{i:02d}", "emailAddress": address, "useCommonAlertSchema": True}
                for i, address in enumerate(alerts.emails, start=1)
            ],
            "webhookReceivers": (
                [{"name": "webhook", "serviceUri": alerts.webhook_url, "useCommonAlertSchema": True}]
                if alerts.webhook_url else []
            ),
        }
        # Action groups are global resources ("Global"), unless pinned to a region for data residency.
        return self._body(config, properties, "Global")


class MetricAlertStep(_AlertStep):
    operations = "metric_alerts"
    resource_type = "Microsoft.Insights/metricAlerts"

    def __init__(self, key: str, cfg: DeploymentConfig, rule_name: str, rule: MetricRule, target_id: str) -> None:
        super().__init__(key, cfg, (rule.target_key, ACTION_GROUP))
        self.rule_name = rule_name
        self.rule = rule
        self.target_id = target_id

    def names(self) -> tuple[str, ...]:
        return (alert_name(self.cfg, self.rule_name),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        rule = self.rule
        criterion: dict[str, Any] = {
            "criterionType": "StaticThresholdCriterion",
            "name": rule.metric,
            "metricName": rule.metric,
            "metricNamespace": rule.target_type,
            "operator": rule.operator,
            "timeAggregation": rule.aggregation,
            "threshold": float(rule.threshold(config)),
        }
        if rule.dimensions:
            criterion["dimensions"] = [
                {"name": name, "operator": "Include", "values": list(values)} for name, values in rule.dimensions
            ]
        properties = {
            "description": rule.description,
            "severity": rule.severity,
            "enabled": True,
            "scopes": [self.target_id],
            "evaluationFrequency": "PT1M",
            "windowSize": rule.window,
            "targetResourceType": rule.target_type,
            "criteria": {"odata.type": _SINGLE, "allOf": [criterion]},
            "autoMitigate": True,
            "actions": [{"actionGroupId": upstream[ACTION_GROUP]["id"]}],
        }
        # Metric alert rules are global resources.
        return self._body(config, properties, "global")


class ActivityLogAlertStep(_AlertStep):
    """Resource Health alert: the target became Unavailable or Degraded."""

    operations = "activity_log_alerts"
    resource_type = "Microsoft.Insights/activityLogAlerts"

    def __init__(self, key: str, cfg: DeploymentConfig, rule_name: str, target_key: str, target_id: str) -> None:
        super().__init__(key, cfg, (target_key, ACTION_GROUP))
        self.rule_name = rule_name
        self.target_id = target_id

    def names(self) -> tuple[str, ...]:
        return (alert_name(self.cfg, self.rule_name),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        properties = {
            "description": "Container registry is unavailable or degraded (Resource Health)",
            "enabled": True,
            "scopes": [self.target_id],
            "condition": {
                "allOf": [
                    {"field": "category", "equals": "ResourceHealth"},
                    {
                        "anyOf": [
                            {"field": "properties.currentHealthStatus", "equals": "Unavailable"},
                            {"field": "properties.currentHealthStatus", "equals": "Degraded"},
                        ]
                    },
                ]
            },
            "actions": {"actionGroups": [{"actionGroupId": upstream[ACTION_GROUP]["id"]}]},
        }
        return self._body(config, properties, "Global")


def alert_steps(cfg: DeploymentConfig, steps: list[Step]) -> list[Step]:
    """The action group and one step per rule of ``alerts.rules`` (targets taken from ``steps``)."""
    if not cfg.alerts.enabled:
        return []
    by_key = {s.key: s for s in steps}
    result: list[Step] = [ActionGroupStep(ACTION_GROUP, cfg)]
    for name in cfg.alerts.rules:
        if name == ACR_RULE:
            acr = by_key.get("acr")
            if acr is not None:
                result.append(ActivityLogAlertStep(alert_key(name), cfg, name, acr.key, acr.resource_id()))
            continue
        rule = METRIC_RULES[name]
        target = by_key.get(rule.target_key)
        if target is not None:
            result.append(MetricAlertStep(alert_key(name), cfg, name, rule, target.resource_id()))
    return result
