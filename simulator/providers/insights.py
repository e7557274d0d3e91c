"""Microsoft.Insights/diagnosticSettings (extension resource on any resource).

``{resourceUri}/providers/Microsoft.Insights/diagnosticSettings/{name}``, written
synchronously (azure-mgmt-monitor 6.0.2 ``diagnostic_settings.create_or_update``,
api-version 2021-05-01-preview).
https://learn.microsoft.com/rest/api/monitor/diagnostic-settings/create-or-update

* ``workspaceId`` must exist (the core checks every nested id) and the target resource too.
* ``logAnalyticsDestinationType``: ``Dedicated`` (resource-specific tables) or null
  (AzureDiagnostics). https://learn.microsoft.com/azure/azure-monitor/essentials/resource-logs#resource-specific
* Log / metric categories are validated per resource type; an unknown one is
  400 ``BadRequest`` "Category 'X' is not supported, supported ones are: ..." (same shape as
  "CategoryGroup: 'allLogs' is not supported, supported ones are: ''", Azure/avdaccelerator#685).
  Tables: https://learn.microsoft.com/azure/azure-monitor/reference/supported-logs/logs-index
"""

from __future__ import annotations

from typing import Any

from hubspoke_deploy.simulator.providers.base import (
    JSON,
    ArmError,
    ResourceId,
    ResourceType,
    WriteContext,
    register,
)

DIAG_TYPE = "Microsoft.Insights/diagnosticSettings"

# https://learn.microsoft.com/azure/azure-monitor/reference/supported-logs/microsoft-network-azurefirewalls-logs
_FIREWALL_LOGS = (
    "AZFWApplicationRule",
    "AZFWNetworkRule",
    "AZFWNatRule",
    "AZFWThreatIntel",
    "AZFWIdpsSignature",
    "AZFWDnsQuery",
    "AZFWFqdnResolveFailure",
    "AZFWFatFlow",
    "AZFWFlowTrace",
    "AZFWApplicationRuleAggregation",
    "AZFWNetworkRuleAggregation",
    "AZFWNatRuleAggregation",
    # legacy AzureDiagnostics categories
    "AzureFirewallApplicationRule",
    "AzureFirewallNetworkRule",
    "AzureFirewallDnsProxy",
)
# https://learn.microsoft.com/azure/azure-monitor/reference/supported-logs/microsoft-containerservice-managedclusters-logs
_AKS_LOGS = (
    "kube-apiserver",
    "kube-audit",
    "kube-audit-admin",
    "kube-controller-manager",
    "kube-scheduler",
    "cluster-autoscaler",
    "guard",
    "cloud-controller-manager",
    "csi-azuredisk-controller",
    "csi-azurefile-controller",
    "csi-snapshot-controller",
    "fleet-member-agent",
    "fleet-member-net-controller-manager",
    "fleet-mcs-controller-manager",
)

#: resource type (lower case) -> (log categories, category groups, metric categories)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "microsoft.network/azurefirewalls": (_FIREWALL_LOGS, ("allLogs",), ("AllMetrics",)),
    "microsoft.containerservice/managedclusters": (_AKS_LOGS, ("allLogs", "audit"), ("AllMetrics",)),
    "microsoft.keyvault/vaults": (
        ("AuditEvent", "AzurePolicyEvaluationDetails"),
        ("allLogs", "audit"),
        ("AllMetrics",),
    ),
    "microsoft.containerregistry/registries": (
        ("ContainerRegistryRepositoryEvents", "ContainerRegistryLoginEvents"),
        ("allLogs", "audit"),
        ("AllMetrics",),
    ),
    "microsoft.operationalinsights/workspaces": (("Audit", "SummaryLogs"), ("allLogs", "audit"), ("AllMetrics",)),
    "microsoft.network/networksecuritygroups": (
        ("NetworkSecurityGroupEvent", "NetworkSecurityGroupRuleCounter"),
        ("allLogs",),
        (),
    ),
    "microsoft.network/publicipaddresses": (
        ("DDoSProtectionNotifications", "DDoSMitigationFlowLogs", "DDoSMitigationReports"),
        ("allLogs", "audit"),
        ("AllMetrics",),
    ),
    "microsoft.network/virtualnetworks": (("VMProtectionAlerts",), ("allLogs",), ("AllMetrics",)),
    "microsoft.network/bastionhosts": (("BastionAuditLogs",), ("allLogs",), ("AllMetrics",)),
    # https://learn.microsoft.com/azure/azure-monitor/reference/supported-logs/microsoft-network-applicationgateways-logs
    "microsoft.network/applicationgateways": (
        ("ApplicationGatewayAccessLog", "ApplicationGatewayPerformanceLog", "ApplicationGatewayFirewallLog"),
        ("allLogs",),
        ("AllMetrics",),
    ),
    # https://learn.microsoft.com/azure/application-gateway/for-containers/diagnostics
    "microsoft.servicenetworking/trafficcontrollers": (("TrafficControllerAccessLog",), ("allLogs",), ("AllMetrics",)),
    "microsoft.storage/storageaccounts": ((), (), ("Transaction", "Capacity")),
    # https://learn.microsoft.com/azure/azure-monitor/reference/supported-logs/microsoft-storage-storageaccounts-blobservices-logs
    "microsoft.storage/storageaccounts/blobservices": (
        ("StorageRead", "StorageWrite", "StorageDelete"),
        ("allLogs", "audit"),
        ("Transaction", "Capacity"),
    ),
}


def _entries(value: Any) -> list[dict[str, Any]]:
    return [e for e in value or [] if isinstance(e, dict)] if isinstance(value, list) else []


@register
class DiagnosticSettings(ResourceType):
    type_name = DIAG_TYPE
    create_latency_s = 0.0
    long_running = False
    create_status = 200
    requires_location = False
    schema = {"properties.logs": "list[object]", "properties.metrics": "list[object]"}

    def validate(self, ctx: WriteContext) -> None:
        scope = ctx.rid.scope
        try:
            target = ResourceId.parse(scope)
        except ArmError:
            target = None
        if target is None or ctx.store.get(target.id) is None:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{scope}' was not found.")
        props = ctx.props
        if not any(
            props.get(k)
            for k in ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId", "marketplacePartnerId")
        ):
            # https://learn.microsoft.com/azure/azure-monitor/essentials/diagnostic-settings#destinations
            raise ArmError(
                400,
                "BadRequest",
                "At least one destination must be specified: workspaceId, "
                "storageAccountId, eventHubAuthorizationRuleId or marketplacePartnerId.",
            )
        dest = props.get("logAnalyticsDestinationType")
        if dest is not None and str(dest) not in ("Dedicated", "AzureDiagnostics"):
            raise ArmError(
                400,
                "BadRequest",
                f"The logAnalyticsDestinationType '{dest}' is not supported, "
                "supported ones are: 'Dedicated', 'AzureDiagnostics'.",
            )
        self._check_categories(target.type, props)

    @staticmethod
    def _check_categories(target_type: str, props: JSON) -> None:
        table = CATEGORIES.get(target_type.lower())
        if table is None:
            return  # categories of other types are not modelled: accept them
        logs, groups, metrics = table
        for entry in _entries(props.get("logs")):
            cat = entry.get("category")
            grp = entry.get("categoryGroup")
            if cat is not None and str(cat) not in logs:
                raise ArmError(
                    400, "BadRequest", f"Category '{cat}' is not supported, supported ones are: '{','.join(logs)}'"
                )
            if grp is not None and str(grp) not in groups:
                raise ArmError(
                    400,
                    "BadRequest",
                    f"CategoryGroup: '{grp}' is not supported, supported ones are: '{','.join(groups)}'",
                )
        for entry in _entries(props.get("metrics")):
            cat = entry.get("category")
            if cat is not None and str(cat) not in metrics:
                # e.g. "Metric category 'Gateway Requests' is not supported, supported categories are:
                # 'AllMetrics'" (TaoYang-Cloud/azurepolicy#19)
                raise ArmError(
                    400,
                    "BadRequest",
                    f"Metric category '{cat}' is not supported, supported categories are: '{','.join(metrics)}'",
                )

    def on_write(self, ctx: WriteContext) -> None:
        # Azure returns the destination type as sent (null when not set).
        ctx.props.setdefault("logAnalyticsDestinationType", None)
