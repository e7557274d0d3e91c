"""Config sections of operations and security (issue 17): alerts, Defender, policy, DDoS and
TLS inspection. Kept apart from ``config/model.py``, which only gains one field per section.

Facts are data with their source:

* built-in Kubernetes initiatives (``POLICY_INITIATIVES``),
* the alert rules an operator gets and their default thresholds (``ALERT_RULES``; the rules
  themselves, metric names included, are in ``steps/alerts.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ALERT_RULES",
    "POLICY_INITIATIVES",
    "AlertThresholds",
    "AlertsConfig",
    "TlsInspectionConfig",
]

# Built-in initiatives (policy set definitions) for AKS, identical in every tenant. Both are
# audit/deny only (parameter ``effect``: audit | deny | disabled, default Audit), so their
# assignment needs no managed identity:
# https://github.com/Azure/azure-policy/blob/master/built-in-policies/policySetDefinitions/Kubernetes/PSPBaselineStandard.json
# https://github.com/Azure/azure-policy/blob/master/built-in-policies/policySetDefinitions/Kubernetes/PSPRestrictedStandard.json
# https://learn.microsoft.com/azure/aks/use-azure-policy
_SETS = "/providers/Microsoft.Authorization/policySetDefinitions/"
POLICY_INITIATIVES: dict[str, str] = {
    "pod-security-baseline": _SETS + "a8640138-9b0a-4a28-b8cb-1666c838647d",
    "pod-security-restricted": _SETS + "42b8ef37-b724-4e24-bbc8-7a7708edfe00",
}

AlertRule = Literal[
    "firewall-snat-ports", "firewall-health", "aks-nodes-not-ready", "keyvault-availability", "acr-availability"
]
ALERT_RULES: tuple[AlertRule, ...] = (
    "firewall-snat-ports",
    "firewall-health",
    "aks-nodes-not-ready",
    "keyvault-availability",
    "acr-availability",
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class AlertThresholds(_Model):
    """[alerts.thresholds]: the value each metric alert compares with."""

    firewall_snat_port_utilization: float = Field(
        default=80.0,
        description=(
            "Percent: alert when the firewall's `SNATPortUtilization` (average over 5 minutes) is above it. The "
            "article asks to monitor SNAT port usage; add public IPs or a NAT gateway before it reaches 100."
        ),
    )
    firewall_health: float = Field(
        default=90.0,
        description="Percent: alert when the firewall's `FirewallHealth` (average over 5 minutes) is below it.",
    )
    aks_nodes_not_ready: int = Field(
        default=0,
        description=(
            "Alert when more than this many nodes report condition Ready as false or unknown "
            "(`kube_node_status_condition`, over 15 minutes)."
        ),
    )
    keyvault_availability: float = Field(
        default=99.0,
        description="Percent: alert when Key Vault's `Availability` of requests (average over 5 minutes) is below it.",
    )


class AlertsConfig(_Model):
    """[alerts]: an action group and the alert rules that page it (owned resources: a rule removed from
    `rules` is deleted by the next `up`)."""

    enabled: bool = Field(default=False, description="Create the action group and the alert rules.")
    action_group_short_name: str | None = Field(
        default=None,
        description="Short name of the action group (1-12 characters), shown in e-mails and SMS.",
        json_schema_extra={"x-default": "{deployment.name, first 12 characters}"},
    )
    emails: list[str] = Field(
        default_factory=list, description="E-mail addresses told when an alert fires (at least one, or a webhook)."
    )
    webhook_url: str | None = Field(
        default=None,
        description=(
            "An `https://` URL the action group posts the common alert schema to. It is stored in Azure and shown "
            "by `plan`: do not put a secret in it."
        ),
    )
    rules: list[AlertRule] = Field(
        default_factory=lambda: list(ALERT_RULES),
        description=(
            "Alert rules: `firewall-snat-ports`, `firewall-health`, `aks-nodes-not-ready`, "
            "`keyvault-availability` (metric alerts) and `acr-availability` (Resource Health, as ACR has no "
            "availability metric)."
        ),
    )
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds, description="Thresholds.")


class TlsInspectionConfig(_Model):
    """[firewall.tls_inspection]: TLS inspection on a Premium firewall, with an intermediate CA certificate
    kept in Key Vault."""

    key_vault_secret_id: str = Field(
        description=(
            "Secret identifier of the intermediate CA certificate (PFX with its private key) in Key Vault: "
            "`https://<vault>.vault.azure.net/secrets/<name>[/<version>]`. The certificate must exist."
        ),
    )
    key_vault_id: str | None = Field(
        default=None,
        description=(
            "ARM id of the vault holding it; the policy identity gets Key Vault Secrets User on it. Leave unset "
            "when the certificate is in the deployment's own vault."
        ),
        json_schema_extra={"x-default": "the deployment's Key Vault"},
    )
    certificate_name: str = Field(default="intermediate-ca", description="Name of the CA in the firewall policy.")
