"""Identities of the cluster and their least-privilege role assignments (issue 6).

Two user-assigned identities: one for the AKS control plane, one for the kubelet.
Role assignments are scoped to exactly what each identity needs (subnets, route
table, registry, kubelet identity), never to the resource group, and carry
``principalType`` so ARM skips the Entra lookup that fails right after an
identity is created (PrincipalNotFound; the engine's retry layer retries it too):
https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template#new-service-principal
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.step import ArmStep, Outputs, Spec
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.base import DeploymentStep, arm_id, out, props

# --------------------------------------------------------------------------- keys

ID_CONTROL_PLANE = "id.aks"
ID_KUBELET = "id.kubelet"


def role_key(identity_key: str, role: str, target: str) -> str:
    """``ra.<identity>.<role>.<target>``: one step per (identity, role, scope)."""
    return f"ra.{identity_key.split('.', 1)[-1]}.{role}.{target}"


# --------------------------------------------------------------------------- built-in roles
# Ids of Azure built-in roles (identical in every tenant):
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
PRIVATE_DNS_ZONE_CONTRIBUTOR = "b12aa53e-6015-4669-85d0-8515ebb3ae7f"
# "Managed Identity Operator": the control-plane identity must hold it on a
# pre-created kubelet identity, or AKS refuses the cluster
# (https://learn.microsoft.com/azure/aks/use-managed-identity#pre-created-kubelet-managed-identity,
# the CLI grants it before create: azure-cli aks `_ensure_cluster_identity_permission_on_kubelet_identity`).
MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"

ROLE_NAMES = {
    NETWORK_CONTRIBUTOR: "network-contributor",
    ACR_PULL: "acrpull",
    PRIVATE_DNS_ZONE_CONTRIBUTOR: "private-dns-zone-contributor",
    MANAGED_IDENTITY_OPERATOR: "managed-identity-operator",
}

# Namespace of the deterministic role assignment names (any fixed UUID works;
# changing it would orphan every existing assignment).
ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("8f8a2f0e-2b5c-4c3e-9a59-6b0d4c1f7e21")


def role_definition_id(cfg: DeploymentConfig, role: str) -> str:
    return f"/subscriptions/{cfg.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


def role_assignment_name(scope: str, role: str, principal: str) -> str:
    """uuid5 of (scope, role, principal), case-insensitive: a re-run finds the same assignment.

    ``principal`` is the ARM id of the user-assigned identity (known from config,
    unlike its principal id, so plan can show the assignment's id before create)."""
    seed = f"{scope.lower()}|{role.lower()}|{principal.lower()}"
    return str(uuid.uuid5(ROLE_ASSIGNMENT_NAMESPACE, seed))


def strip_none(value: Any) -> Any:
    """Drop ``None`` values: the spec uses them as "must be absent" markers for the diff,
    the PUT body simply leaves such properties out."""
    if isinstance(value, Mapping):
        return {k: strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_none(v) for v in value]
    return value


class PlatformStep(DeploymentStep):
    """A deployment-RG step whose PUT body leaves out the spec's ``None`` markers."""

    def body(self, spec: Spec, observed: Spec | None) -> Spec:
        result: Spec = strip_none(spec)
        return result


# --------------------------------------------------------------------------- identities


def identity_name(cfg: DeploymentConfig, role: str) -> str:
    return f"id-{cfg.name}-{role}"


def identity_id(cfg: DeploymentConfig, role: str) -> str:
    return arm_id(cfg, "Microsoft.ManagedIdentity/userAssignedIdentities", identity_name(cfg, role))


class UserAssignedIdentityStep(PlatformStep):
    """User-assigned managed identity (created synchronously: PUT answers 200/201)."""

    client = "msi"
    operations = "user_assigned_identities"
    put_method = "create_or_update"
    put_is_lro = False
    delete_method = "delete"
    delete_is_lro = False
    resource_type = "Microsoft.ManagedIdentity/userAssignedIdentities"
    immutable = ("location",)

    def __init__(self, key: str, cfg: DeploymentConfig, role: str) -> None:
        super().__init__(key, cfg, (keys.RG,))
        self.role = role

    def names(self) -> tuple[str, ...]:
        return (identity_name(self.cfg, self.role),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return {"location": config.location, "tags": dict(config.tags)}

    def outputs(self, observed: Spec) -> Outputs:
        p = props(observed)
        return out(
            observed,
            principal_id=p.get("principalId"),
            client_id=p.get("clientId"),
            tenant_id=p.get("tenantId"),
        )


# --------------------------------------------------------------------------- role assignments


class RoleAssignmentStep(ArmStep):
    """A role assignment (extension resource ``{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}``).

    Every property of a role assignment is immutable in Azure (a PUT that changes
    one fails with RoleAssignmentUpdateNotPermitted), hence the ``immutable`` paths:
    a new principal (identity re-created) is a replacement.
    """

    client = "authorization"
    operations = "role_assignments"
    put_method = "create"
    put_is_lro = False
    delete_method = "delete"
    delete_is_lro = False
    resource_type = "Microsoft.Authorization/roleAssignments"
    taggable: ClassVar[bool | None] = False
    immutable = ("properties.roleDefinitionId", "properties.principalId", "properties.principalType")

    def __init__(
        self,
        key: str,
        cfg: DeploymentConfig,
        *,
        scope: str,
        role: str,
        identity_key: str,
        identity_resource_id: str,
        requires: tuple[str, ...],
        scope_key: str | None = None,
    ) -> None:
        deps = tuple(dict.fromkeys((identity_key, *requires)))
        super().__init__(key, deps)
        self.cfg = cfg
        self.scope = scope
        self.role = role
        self.identity_key = identity_key
        self.identity_resource_id = identity_resource_id
        self.scope_key = scope_key

    @property
    def assignment_name(self) -> str:
        return role_assignment_name(self.scope, self.role, self.identity_resource_id)

    def args(self) -> tuple[str, ...]:
        return (self.scope, self.assignment_name)

    def resource_id(self) -> str:
        return f"{self.scope}/providers/Microsoft.Authorization/roleAssignments/{self.assignment_name}"

    def display_name(self) -> str:
        role = ROLE_NAMES.get(self.role, self.role)
        return f"{role} for {self.identity_resource_id.rsplit('/', 1)[-1]} on {self.scope.rsplit('/', 1)[-1]}"

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        if self.scope_key is not None:
            # The scope is computed from config (the id must be known before create);
            # make sure it is the resource the upstream step really owns.
            actual = upstream.get(self.scope_key, {}).get("id")
            known = isinstance(actual, str) and actual.startswith("/subscriptions/")
            if known and str(actual).lower() != self.scope.lower():
                raise ValueError(
                    f"{self.key}: role assignment scope {self.scope} does not match {self.scope_key}'s id {actual}"
                )
        return {
            "properties": {
                "roleDefinitionId": role_definition_id(config, self.role),
                "principalId": upstream[self.identity_key]["principal_id"],
                "principalType": "ServicePrincipal",
            }
        }

    def outputs(self, observed: Spec) -> Outputs:
        return {"id": observed.get("id") or self.resource_id(), "name": observed.get("name")}
