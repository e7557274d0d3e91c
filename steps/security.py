"""Defender for Containers, the Kubernetes policy initiative, DDoS Network Protection and TLS
inspection (issue 17).

* ``[aks] defender``: ``securityProfile.defender`` with the workspace and
  ``securityMonitoring.enabled`` on the cluster
  (https://learn.microsoft.com/azure/defender-for-cloud/defender-for-containers-enable,
  https://learn.microsoft.com/rest/api/aks/managed-clusters/create-or-update#managedclustersecurityprofiledefender).
* ``[aks] policy_initiative``: a policy assignment at the cluster's scope
  (azure-mgmt-resource-policy ``PolicyClient.policy_assignments``, api-version 2026-06-01;
  https://learn.microsoft.com/azure/aks/use-azure-policy). The built-in pod security initiatives
  are audit/deny only, so they need no identity; ``policy_identity`` adds a system-assigned one
  (with the location Azure then requires) for initiatives with deployIfNotExists/modify effects
  (https://learn.microsoft.com/azure/governance/policy/how-to/remediate-resources#how-remediation-access-control-works).
* ``[hub] ddos_protection``: a DDoS protection plan (or an existing one) on the hub VNet, which holds
  the public endpoints (https://learn.microsoft.com/azure/ddos-protection/manage-ddos-protection).
* ``[firewall.tls_inspection]``: a user-assigned identity on the firewall policy with *Key Vault
  Secrets User* on the vault holding the intermediate CA, and
  ``transportSecurity.certificateAuthority`` on the policy
  (https://learn.microsoft.com/azure/firewall/premium-certificates#azure-key-vault: the identity needs
  Get/List on secrets, which the RBAC role *Key Vault Secrets User* grants on an RBAC vault).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.config.ops import POLICY_INITIATIVES
from hubspoke_deploy.orchestrator.step import ArmStep, Outputs, Spec, Step
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.base import DeploymentStep, arm_id, out, props
from hubspoke_deploy.steps.identity import RoleAssignmentStep, UserAssignedIdentityStep, identity_id, role_key

__all__ = [
    "DDOS_PLAN",
    "KEY_VAULT_SECRETS_USER",
    "POLICY_ASSIGNMENT",
    "DdosPlanStep",
    "PolicyAssignmentStep",
    "ddos_plan_id",
    "ddos_vnet_properties",
    "defender_profile",
    "security_steps",
    "tls_inspection_body",
]

DDOS_PLAN = "ddos"
POLICY_ASSIGNMENT = "aks.policy"
ID_FW_POLICY = "id.fwpolicy"
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security#key-vault-secrets-user
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


# --------------------------------------------------------------------------- Defender


def defender_profile(config: DeploymentConfig, upstream: Mapping[str, Outputs]) -> dict[str, Any]:
    """What the cluster's ``securityProfile`` gets (empty when Defender is off: the cluster's
    sensor is then left as Azure has it, since the subscription's Defender plan may manage it)."""
    if not config.aks.defender:
        return {}
    return {
        "defender": {
            "logAnalyticsWorkspaceResourceId": upstream[keys.WORKSPACE]["id"],
            "securityMonitoring": {"enabled": True},
        }
    }


# --------------------------------------------------------------------------- policy


def policy_definition_id(cfg: DeploymentConfig) -> str | None:
    value = cfg.aks.policy_initiative
    if value == "none" or not cfg.aks.azure_policy:
        return None  # without the add-on nothing in the cluster would enforce it
    return POLICY_INITIATIVES.get(value, value)


def policy_assignment_name(cfg: DeploymentConfig) -> str:
    """Named after the initiative: another initiative is another assignment (the old one is an orphan)."""
    value = cfg.aks.policy_initiative
    slug = value if value in POLICY_INITIATIVES else value.rstrip("/").rsplit("/", 1)[-1]
    return f"{cfg.name}-{slug}"[:64]


class PolicyAssignmentStep(ArmStep):
    """A policy assignment: extension resource
    ``{scope}/providers/Microsoft.Authorization/policyAssignments/{name}``."""

    client = "policy"
    operations = "policy_assignments"
    put_method = "create"
    put_is_lro = False
    delete_method = "delete"
    delete_is_lro = False
    resource_type = "Microsoft.Authorization/policyAssignments"
    taggable: ClassVar[bool | None] = False
    owns: ClassVar[Mapping[str, Any]] = {"identity": None, "properties.parameters": None}

    def __init__(self, key: str, cfg: DeploymentConfig, scope: str, requires: tuple[str, ...]) -> None:
        super().__init__(key, requires)
        self.cfg = cfg
        self.scope = scope

    def args(self) -> tuple[str, ...]:
        return (self.scope, policy_assignment_name(self.cfg))

    def resource_id(self) -> str:
        return f"{self.scope}/providers/Microsoft.Authorization/policyAssignments/{policy_assignment_name(self.cfg)}"

    def display_name(self) -> str:
        return f"{policy_assignment_name(self.cfg)} on {self.scope.rsplit('/', 1)[-1]}"

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        aks = config.aks
        properties: dict[str, Any] = {
            "displayName": f"{aks.policy_initiative} on {config.aks_name} ({config.name})",
            "policyDefinitionId": policy_definition_id(config),
            "enforcementMode": "Default",
        }
        if aks.policy_initiative in POLICY_INITIATIVES:
            properties["parameters"] = {"effect": {"value": aks.policy_effect}}
        body: Spec = {"properties": properties}
        if aks.policy_identity:
            body["identity"] = {"type": "SystemAssigned"}
            body["location"] = config.location
        return body

    def outputs(self, observed: Spec) -> Outputs:
        identity = observed.get("identity")
        principal = identity.get("principalId") if isinstance(identity, Mapping) else None
        return out(observed, principal_id=principal)


# --------------------------------------------------------------------------- DDoS


def ddos_plan_id(cfg: DeploymentConfig) -> str | None:
    if not cfg.hub.ddos_protection:
        return None
    return cfg.hub.ddos_protection_plan_id or arm_id(cfg, "Microsoft.Network/ddosProtectionPlans", f"ddos-{cfg.name}")


def ddos_vnet_properties(config: DeploymentConfig, vnet_key: str) -> dict[str, Any]:
    """Properties of a VNet with DDoS protection (only the hub's: it holds the public endpoints)."""
    plan = ddos_plan_id(config)
    if plan is None or vnet_key != keys.vnet(keys.HUB):
        return {}
    return {"enableDdosProtection": True, "ddosProtectionPlan": {"id": plan}}


class DdosPlanStep(DeploymentStep):
    client = "network"
    operations = "ddos_protection_plans"
    resource_type = "Microsoft.Network/ddosProtectionPlans"
    immutable = ("location",)

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG,))

    def names(self) -> tuple[str, ...]:
        return (f"ddos-{self.cfg.name}",)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return self.top(config, {})

    def outputs(self, observed: Spec) -> Outputs:
        vnets = props(observed).get("virtualNetworks") or []
        return out(observed, virtual_networks=[v.get("id") for v in vnets if isinstance(v, Mapping)])


# --------------------------------------------------------------------------- TLS inspection


def tls_inspection_body(config: DeploymentConfig, body: Spec) -> Spec:
    """The firewall policy body with its identity and CA certificate when TLS inspection is on."""
    tls = config.firewall.tls_inspection
    if tls is None:
        return body
    result = dict(body)
    result["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {identity_id(config, "fwpolicy"): {}}}
    properties = dict(result.get("properties") or {})
    properties["transportSecurity"] = {
        "certificateAuthority": {"name": tls.certificate_name, "keyVaultSecretId": tls.key_vault_secret_id}
    }
    result["properties"] = properties
    return result


def _tls_steps(cfg: DeploymentConfig) -> list[Step]:
    from hubspoke_deploy.steps.paas import KEYVAULT, keyvault_id

    tls = cfg.firewall.tls_inspection
    if tls is None:
        return []
    own = tls.key_vault_id is None
    vault = keyvault_id(cfg) if own else str(tls.key_vault_id)
    return [
        UserAssignedIdentityStep(ID_FW_POLICY, cfg, "fwpolicy"),
        RoleAssignmentStep(
            role_key(ID_FW_POLICY, "kv-secrets-user", "kv"), cfg,
            scope=vault, role=KEY_VAULT_SECRETS_USER,
            identity_key=ID_FW_POLICY, identity_resource_id=identity_id(cfg, "fwpolicy"),
            requires=(KEYVAULT,) if own else (), scope_key=KEYVAULT if own else None,
        ),
    ]


# --------------------------------------------------------------------------- assembly


def _add_requires(step: Step, *extra: str) -> None:
    step.requires = tuple(dict.fromkeys((*step.requires, *extra)))


def security_steps(cfg: DeploymentConfig, steps: list[Step]) -> list[Step]:
    """DDoS plan, policy assignment and TLS inspection steps; wires the steps that use them
    (hub VNet -> plan, firewall policy -> the identity's role on the vault) into ``steps``."""
    from hubspoke_deploy.steps.aks import CLUSTER

    by_key = {s.key: s for s in steps}
    result: list[Step] = []
    if cfg.hub.ddos_protection and cfg.hub.ddos_protection_plan_id is None:
        result.append(DdosPlanStep(DDOS_PLAN, cfg))
        hub = by_key.get(keys.vnet(keys.HUB))
        if hub is not None:
            _add_requires(hub, DDOS_PLAN)
    tls = _tls_steps(cfg)
    if tls:
        result += tls
        policy = by_key.get(keys.FIREWALL_POLICY)
        if policy is not None:
            _add_requires(policy, *(s.key for s in tls))
    cluster = by_key.get(CLUSTER)
    if policy_definition_id(cfg) is not None and cluster is not None:
        result.append(PolicyAssignmentStep(POLICY_ASSIGNMENT, cfg, cluster.resource_id(), (CLUSTER,)))
    return result
