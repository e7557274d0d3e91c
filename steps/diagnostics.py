"""Diagnostic settings on every service of the deployment, from one table (issue 17).

Each row of :data:`DIAGNOSTIC_TABLE` says, for one resource type, which log categories go to the
Log Analytics workspace, whether they land in resource-specific tables
(``logAnalyticsDestinationType: Dedicated``) or in ``AzureDiagnostics`` (types without
resource-specific tables), which metric categories, and the sub-resource that carries the
setting when it is not the resource itself (a storage account's blob logs are a setting of
``{account}/blobServices/default``). :func:`diagnostic_steps` adds one
:class:`~hubspoke_deploy.steps.firewall.DiagnosticSettingStep` for every step of the graph whose
resource type has a row and that has no diagnostic setting yet (the firewall's and the
cluster's keep their own steps, ``fw.diag`` and ``aks.diag``).

Adding a type is one row: for example the ingress engineer's Application Gateway::

    "microsoft.network/applicationgateways": DiagnosticRow(
        logs=("ApplicationGatewayAccessLog", "ApplicationGatewayPerformanceLog", "ApplicationGatewayFirewallLog"),
        citation="https://learn.microsoft.com/azure/azure-monitor/reference/supported-logs/"
        "microsoft-network-applicationgateways-logs",
    ),

and the same categories in the simulator's ``simulator/providers/insights.py`` ``CATEGORIES``
(which refuses a category the type does not have, as Azure does).
"""

from __future__ import annotations

from dataclasses import dataclass

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.steps import keys

__all__ = ["DIAGNOSTIC_TABLE", "DiagnosticRow", "diagnostic_key", "diagnostic_steps"]

_LOGS = "https://learn.microsoft.com/azure/azure-monitor/reference/supported-logs/"


@dataclass(frozen=True)
class DiagnosticRow:
    logs: tuple[str, ...]
    citation: str
    #: resource-specific tables (the "Log table" column of the supported-logs page is not AzureDiagnostics)
    dedicated: bool = True
    metrics: tuple[str, ...] = ("AllMetrics",)
    #: path under the resource that carries the setting ("" = the resource itself)
    sub_resource: str = ""


#: lower-cased resource type -> what its diagnostic setting sends
DIAGNOSTIC_TABLE: dict[str, DiagnosticRow] = {
    # ContainerRegistryRepositoryEvents / ContainerRegistryLoginEvents tables
    "microsoft.containerregistry/registries": DiagnosticRow(
        logs=("ContainerRegistryRepositoryEvents", "ContainerRegistryLoginEvents"),
        citation=_LOGS + "microsoft-containerregistry-registries-logs",
    ),
    # AZKVAuditLogs / AZKVPolicyEvaluationDetailsLogs tables
    "microsoft.keyvault/vaults": DiagnosticRow(
        logs=("AuditEvent", "AzurePolicyEvaluationDetails"),
        citation=_LOGS + "microsoft-keyvault-vaults-logs",
    ),
    # StorageBlobLogs table; blob logs are a setting of the blob service, not of the account
    # (https://learn.microsoft.com/azure/storage/blobs/monitor-blob-storage#collection-and-routing)
    "microsoft.storage/storageaccounts": DiagnosticRow(
        logs=("StorageRead", "StorageWrite", "StorageDelete"),
        citation=_LOGS + "microsoft-storage-storageaccounts-blobservices-logs",
        metrics=("Transaction",),
        sub_resource="blobServices/default",
    ),
    # MicrosoftAzureBastionAuditLogs table
    "microsoft.network/bastionhosts": DiagnosticRow(
        logs=("BastionAuditLogs",),
        citation=_LOGS + "microsoft-network-bastionhosts-logs",
    ),
    # AGWAccessLogs / AGWPerformanceLogs / AGWFirewallLogs tables (the ingress, [ingress])
    "microsoft.network/applicationgateways": DiagnosticRow(
        logs=("ApplicationGatewayAccessLog", "ApplicationGatewayPerformanceLog", "ApplicationGatewayFirewallLog"),
        citation=_LOGS + "microsoft-network-applicationgateways-logs",
    ),
    # AGCAccessLogs table: Application Gateway for Containers' access log
    # (https://learn.microsoft.com/azure/application-gateway/for-containers/diagnostics)
    "microsoft.servicenetworking/trafficcontrollers": DiagnosticRow(
        logs=("TrafficControllerAccessLog",),
        citation=_LOGS + "microsoft-servicenetworking-trafficcontrollers-logs",
    ),
    # AzureDiagnostics only (no resource-specific table), no metrics
    "microsoft.network/networksecuritygroups": DiagnosticRow(
        logs=("NetworkSecurityGroupEvent", "NetworkSecurityGroupRuleCounter"),
        citation=_LOGS + "microsoft-network-networksecuritygroups-logs",
        dedicated=False,
        metrics=(),
    ),
}


def diagnostic_key(step_key: str) -> str:
    return f"{step_key}.diag"


def diagnostic_steps(cfg: DeploymentConfig, steps: list[Step]) -> list[Step]:
    """One diagnostic setting per step whose type has a row and no setting yet."""
    from hubspoke_deploy.steps.firewall import DiagnosticSettingStep

    covered = {s.target_id.lower() for s in steps if isinstance(s, DiagnosticSettingStep)}
    result: list[Step] = []
    for step in steps:
        row = DIAGNOSTIC_TABLE.get(step.resource_type.lower())
        if row is None:
            continue
        target = step.resource_id() + (f"/{row.sub_resource}" if row.sub_resource else "")
        if target.lower() in covered:
            continue
        covered.add(target.lower())
        result.append(
            DiagnosticSettingStep(
                diagnostic_key(step.key), cfg, target, f"diag-{cfg.workspace_name}", row.logs,
                (step.key, keys.WORKSPACE), dedicated=row.dedicated, metrics=row.metrics,
            )
        )
    return result
