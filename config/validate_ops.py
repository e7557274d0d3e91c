"""Offline checks of the operations and security sections (issue 17): ``[alerts]``, Defender and policy
(``[aks]``), DDoS protection (``[hub]``), TLS inspection (``[firewall.tls_inspection]``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol

from hubspoke_deploy.config.ops import POLICY_INITIATIVES

if TYPE_CHECKING:
    from hubspoke_deploy.config.model import DeploymentConfig

__all__ = ["ACTION_GROUP_SHORT_NAME_MAX", "check_ops", "keyvault_name_of_secret_id"]

# "The short name ... maximum of 12 characters":
# https://learn.microsoft.com/rest/api/monitor/action-groups/create-or-update (groupShortName, maxLength 12)
ACTION_GROUP_SHORT_NAME_MAX = 12
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Key Vault secret identifiers: https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#object-identifiers
# (vault names: 3-24 letters, digits and hyphens; object names: 1-127 letters, digits and hyphens).
SECRET_ID_RE = re.compile(
    r"^https://(?P<vault>[A-Za-z0-9-]{3,24})\.vault\.(azure\.net|usgovcloudapi\.net|azure\.cn)"
    r"/secrets/[A-Za-z0-9-]{1,127}(/[0-9a-fA-F]{32})?/?$"
)
VAULT_ID_RE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[A-Za-z0-9-]{3,24}$",
    re.IGNORECASE,
)
DDOS_PLAN_ID_RE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/ddosProtectionPlans/[^/]+$",
    re.IGNORECASE,
)
POLICY_SET_ID_RE = re.compile(
    r"^(/subscriptions/[^/]+|/providers/Microsoft\.Management/managementGroups/[^/]+)?"
    r"/providers/Microsoft\.Authorization/policySetDefinitions/[^/]+$",
    re.IGNORECASE,
)


class Collector(Protocol):
    def error(self, path: str, message: str, fix: str = "") -> None: ...

    def warn(self, path: str, message: str, fix: str = "") -> None: ...


def keyvault_name_of_secret_id(secret_id: str) -> str | None:
    match = SECRET_ID_RE.match(secret_id)
    return match.group("vault").lower() if match else None


def check_ops(cfg: DeploymentConfig, c: Collector) -> None:
    _check_alerts(cfg, c)
    _check_policy(cfg, c)
    _check_ddos(cfg, c)
    _check_tls(cfg, c)


def _check_alerts(cfg: DeploymentConfig, c: Collector) -> None:
    alerts = cfg.alerts
    short = alerts.action_group_short_name
    if short is not None and not 1 <= len(short) <= ACTION_GROUP_SHORT_NAME_MAX:
        c.error(
            "alerts.action_group_short_name",
            f"'{short}' has {len(short)} characters; Azure allows 1-{ACTION_GROUP_SHORT_NAME_MAX}.",
            "shorten it, or remove it to use the first 12 characters of deployment.name.",
        )
    for index, email in enumerate(alerts.emails):
        if not EMAIL_RE.match(email):
            c.error(f"alerts.emails[{index}]", f"'{email}' is not an e-mail address.", "write it as name@domain.")
    if alerts.webhook_url is not None and not alerts.webhook_url.startswith("https://"):
        c.error("alerts.webhook_url", "the webhook URL must use https.", "write it as https://host/path.")
    if len(set(alerts.rules)) != len(alerts.rules):
        c.error("alerts.rules", "a rule is listed twice.", "list each rule once.")
    if alerts.enabled and not alerts.emails and not alerts.webhook_url:
        c.error(
            "alerts.emails",
            "alerts are enabled but nobody is told: the action group has no receiver.",
            "add an address to alerts.emails or set alerts.webhook_url.",
        )
    t = alerts.thresholds
    for key, value in (("firewall_snat_port_utilization", t.firewall_snat_port_utilization),
                       ("firewall_health", t.firewall_health), ("keyvault_availability", t.keyvault_availability)):
        if not 0 <= value <= 100:
            c.error(f"alerts.thresholds.{key}", f"{value} is not a percentage.", "use a value from 0 to 100.")
    if t.aks_nodes_not_ready < 0:
        c.error("alerts.thresholds.aks_nodes_not_ready", "a node count cannot be negative.", "use 0 or more.")


def _check_policy(cfg: DeploymentConfig, c: Collector) -> None:
    initiative = cfg.aks.policy_initiative
    if initiative == "none":
        return
    if initiative not in POLICY_INITIATIVES and not POLICY_SET_ID_RE.match(initiative):
        c.error(
            "aks.policy_initiative",
            f"'{initiative}' is neither a known initiative nor a policy set definition id.",
            f"use one of {', '.join(sorted(POLICY_INITIATIVES))}, 'none', or "
            "/providers/Microsoft.Authorization/policySetDefinitions/<id>.",
        )
    if not cfg.aks.azure_policy and "policy_initiative" in cfg.aks.model_fields_set:
        c.error(
            "aks.policy_initiative",
            "an initiative is assigned but the Azure Policy add-on is off, so nothing in the cluster enforces it.",
            "set aks.azure_policy = true, or aks.policy_initiative = \"none\".",
        )


def _check_ddos(cfg: DeploymentConfig, c: Collector) -> None:
    plan = cfg.hub.ddos_protection_plan_id
    if plan is None:
        return
    if not DDOS_PLAN_ID_RE.match(plan):
        c.error(
            "hub.ddos_protection_plan_id",
            f"'{plan}' is not the id of a DDoS protection plan.",
            "use /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Network/ddosProtectionPlans/<name>.",
        )
    if not cfg.hub.ddos_protection:
        c.error(
            "hub.ddos_protection_plan_id",
            "a plan is named but DDoS protection is off.",
            "set hub.ddos_protection = true, or remove hub.ddos_protection_plan_id.",
        )


def _check_tls(cfg: DeploymentConfig, c: Collector) -> None:
    tls = cfg.firewall.tls_inspection
    if tls is None:
        return
    if cfg.firewall.tier != "Premium":
        # https://learn.microsoft.com/azure/firewall/premium-features#tls-inspection
        c.error(
            "firewall.tls_inspection",
            f"TLS inspection is a Premium feature; firewall.tier is {cfg.firewall.tier}.",
            'set firewall.tier = "Premium", or remove [firewall.tls_inspection].',
        )
    vault = keyvault_name_of_secret_id(tls.key_vault_secret_id)
    if vault is None:
        c.error(
            "firewall.tls_inspection.key_vault_secret_id",
            f"'{tls.key_vault_secret_id}' is not a Key Vault secret identifier.",
            "use https://<vault>.vault.azure.net/secrets/<name> (the certificate's secret id).",
        )
    if tls.key_vault_id is not None:
        if not VAULT_ID_RE.match(tls.key_vault_id):
            c.error(
                "firewall.tls_inspection.key_vault_id",
                f"'{tls.key_vault_id}' is not the ARM id of a key vault.",
                "use /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>.",
            )
        elif vault is not None and tls.key_vault_id.rstrip("/").rsplit("/", 1)[-1].lower() != vault:
            c.error(
                "firewall.tls_inspection.key_vault_id",
                f"the vault id names another vault than the secret id ('{vault}').",
                "name the vault that holds the certificate.",
            )
    elif vault is not None and vault != cfg.keyvault_name.lower():
        c.error(
            "firewall.tls_inspection.key_vault_id",
            f"the certificate is in vault '{vault}', not in the deployment's ('{cfg.keyvault_name}').",
            "set firewall.tls_inspection.key_vault_id to that vault's ARM id.",
        )
