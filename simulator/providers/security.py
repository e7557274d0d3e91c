"""Cross-type rules of Defender for Containers and TLS inspection.

* AKS ``securityProfile.defender.securityMonitoring.enabled`` needs
  ``logAnalyticsWorkspaceResourceId`` -> 400 ``InvalidParameter``
  (https://learn.microsoft.com/rest/api/aks/managed-clusters/create-or-update#managedclustersecurityprofiledefender:
  "Must be set when securityMonitoring.enabled is true").
* Firewall policy ``transportSecurity`` (TLS inspection) only on the Premium tier
  (https://learn.microsoft.com/azure/firewall/premium-features#tls-inspection), and it needs a
  user-assigned identity that reads the CA certificate from Key Vault
  (https://learn.microsoft.com/azure/firewall/premium-certificates#azure-key-vault)
  -> 400 ``FirewallPolicyTransportSecurityInvalid`` (the simulator's code; the rules are Azure's).
"""

from __future__ import annotations

from hubspoke_deploy.simulator.providers.base import WriteContext, WriteRule, deep_get, register_rule

CLUSTER_TYPE = "Microsoft.ContainerService/managedClusters"
FW_POLICY_TYPE = "Microsoft.Network/firewallPolicies"


def _defender_workspace(ctx: WriteContext) -> str | None:
    defender = deep_get(ctx.props, "securityProfile.defender")
    if not isinstance(defender, dict):
        return None
    if deep_get(defender, "securityMonitoring.enabled") is True and not defender.get("logAnalyticsWorkspaceResourceId"):
        return ("securityProfile.defender.logAnalyticsWorkspaceResourceId must be set when "
                "securityProfile.defender.securityMonitoring.enabled is true.")
    return None


def _tls_premium(ctx: WriteContext) -> str | None:
    ca = deep_get(ctx.props, "transportSecurity.certificateAuthority")
    if not ca:
        return None
    tier = deep_get(ctx.props, "sku.tier")
    if tier != "Premium":
        return f"TLS inspection (transportSecurity) is only supported by Premium firewall policies, not {tier}."
    if not isinstance(ca, dict) or not ca.get("keyVaultSecretId") or not ca.get("name"):
        return "transportSecurity.certificateAuthority needs a name and a keyVaultSecretId."
    identity = ctx.resource.get("identity")
    users = identity.get("userAssignedIdentities") if isinstance(identity, dict) else None
    if not isinstance(users, dict) or not users:
        return "TLS inspection needs a user-assigned identity on the firewall policy to read the CA from Key Vault."
    return None


register_rule(WriteRule(
    id="aks-defender-workspace", resource_type=CLUSTER_TYPE, check=_defender_workspace,
    status=400, code="InvalidParameter",
    citation="https://learn.microsoft.com/rest/api/aks/managed-clusters/create-or-update",
))
register_rule(WriteRule(
    id="fw-policy-tls-premium", resource_type=FW_POLICY_TYPE, check=_tls_premium,
    status=400, code="FirewallPolicyTransportSecurityInvalid",
    citation="https://learn.microsoft.com/azure/firewall/premium-features#tls-inspection",
))
