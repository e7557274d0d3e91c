"""Microsoft.Authorization/roleAssignments and the built-in roleDefinitions.

Role assignments are extension resources at any scope
(``{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}``), written
synchronously (``role_assignments.create(scope, name, parameters)`` answers 201).
REST: https://learn.microsoft.com/rest/api/authorization/role-assignments/create

Principal replication lag: a principal created moments ago may not yet be visible
to ARM; a role assignment to it fails with ``PrincipalNotFound`` unless
``principalType`` is set, which makes ARM skip the directory lookup.
https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template#new-service-principal

The simulator's lag is ``settings.principal_delay_s`` **real-world seconds**,
multiplied by ``settings.time_scale`` like every other latency (so at the test
time scale of 0.0005, the default 20 s window is 10 ms of wall time).
"""

from __future__ import annotations

import re

from hubspoke_deploy.simulator.providers.base import (
    JSON,
    ArmError,
    ResourceId,
    ResourceType,
    Store,
    WriteContext,
    WriteRule,
    deep_get,
    register,
    register_rule,
    register_seed,
)
from hubspoke_deploy.simulator.providers.identity import SIM_TENANT_ID, find_principal

ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"
DEFINITION_TYPE = "Microsoft.Authorization/roleDefinitions"

# Built-in role ids are the same in every tenant:
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
BUILTIN_ROLES: dict[str, str] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "4d97b98b-1d4f-4787-a291-c67834d212e7": "Network Contributor",
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": "AcrPull",
    "8311e382-0749-4cb8-b61a-304f252e45ec": "AcrPush",
    "b12aa53e-6015-4669-85d0-8515ebb3ae7f": "Private DNS Zone Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "4abbcc35-e782-43d8-92c5-2d3f1bd2253f": "Azure Kubernetes Service Cluster User Role",
    "0ab0b1a8-8aac-4efd-b8c2-3ee1fb270be8": "Azure Kubernetes Service Cluster Admin Role",
    "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b": "Azure Kubernetes Service RBAC Cluster Admin",
    "fbc52c3f-28ad-4303-a892-8a056630b8f1": "AppGw for Containers Configuration Manager",
}

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ROLE_ID_RE = re.compile(r"/providers/Microsoft\.Authorization/roleDefinitions/([^/]+)$", re.IGNORECASE)

_RA_DOC = "https://learn.microsoft.com/rest/api/authorization/role-assignments/create"
_RA_TROUBLESHOOT = "https://learn.microsoft.com/azure/role-based-access-control/troubleshooting"


def role_guid(role_definition_id: str) -> str | None:
    m = _ROLE_ID_RE.search(role_definition_id or "")
    return m.group(1).lower() if m else None


def role_definition_view(scope: str, guid: str) -> JSON:
    """A built-in role definition as ``GET .../roleDefinitions/{guid}`` returns it."""
    name = BUILTIN_ROLES[guid]
    return {
        "id": f"{scope}/providers/{DEFINITION_TYPE}/{guid}",
        "name": guid,
        "type": DEFINITION_TYPE,
        "properties": {
            "roleName": name,
            "type": "BuiltInRole",
            "description": f"{name} (built-in role, simulated)",
            "assignableScopes": ["/"],
            "permissions": [{"actions": [], "notActions": [], "dataActions": [], "notDataActions": []}],
        },
    }


def seed_role_definitions(store: Store, subscription: str | None) -> None:
    """Store the built-in role definitions (tenant- and subscription-scoped ids) so
    ``role_definitions.get(scope, guid)`` and ``get_by_id`` answer like Azure.
    Idempotent; registered as a seeding hook (start-up and each new subscription)."""
    scopes = [""] + ([f"/subscriptions/{subscription}"] if subscription else [])
    if store.get(f"{scopes[-1]}/providers/{DEFINITION_TYPE}/{next(iter(BUILTIN_ROLES))}") is not None:
        return
    for scope in scopes:
        for guid in BUILTIN_ROLES:
            rid = f"{scope}/providers/{DEFINITION_TYPE}/{guid}"
            if store.get(rid) is None:
                view = role_definition_view(scope, guid)
                view["properties"]["provisioningState"] = "Succeeded"
                store.put(view)


def _scope_exists(store: Store, scope: str) -> bool:
    if not scope or scope == "/":
        return True  # tenant root
    try:
        parsed = ResourceId.parse(scope)
    except ArmError:
        # "/subscriptions/{id}" (or a management group): the simulator serves every subscription
        return scope.lower().startswith("/subscriptions/") or "managementgroups" in scope.lower()
    return store.get(parsed.id) is not None


# --------------------------------------------------------------------------- rules


def _check_name(ctx: WriteContext) -> str | None:
    # The role assignment name must be a GUID:
    # https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template#name
    if _GUID_RE.match(ctx.rid.name):
        return None
    return f"The role assignment ID '{ctx.rid.name}' is not valid. The role assignment ID must be a GUID."


def _check_role(ctx: WriteContext) -> str | None:
    rd = deep_get(ctx.resource, "properties.roleDefinitionId")
    guid = role_guid(rd) if isinstance(rd, str) else None
    if guid is not None and guid in BUILTIN_ROLES:
        return None
    return f"The specified role definition with ID '{guid or rd}' does not exist."


def _check_scope(ctx: WriteContext) -> str | None:
    if _scope_exists(ctx.store, ctx.rid.scope):
        return None
    return f"The scope '{ctx.rid.scope}' cannot perform write operation because the resource was not found."


register_rule(
    WriteRule(
        id="ra-name-guid",
        resource_type=ASSIGNMENT_TYPE,
        check=_check_name,
        status=400,
        code="InvalidRoleAssignmentId",
        citation="https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template#name",
    )
)
register_rule(
    WriteRule(
        id="ra-role-exists",
        resource_type=ASSIGNMENT_TYPE,
        check=_check_role,
        status=400,
        code="RoleDefinitionDoesNotExist",
        citation=_RA_TROUBLESHOOT,
    )
)
register_rule(
    WriteRule(
        id="ra-scope-exists",
        resource_type=ASSIGNMENT_TYPE,
        check=_check_scope,
        status=404,
        code="ResourceNotFound",
        citation=_RA_DOC,
    )
)


# The built-in role definitions exist in every tenant and subscription before anything is
# deployed (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles): the
# core's seeding hook stores the tenant-scoped ones at start and the subscription-scoped ones
# before the first request that names a subscription.
register_seed("authz-builtin-role-definitions", seed_role_definitions)


def _principal_not_found(principal_id: str) -> ArmError:
    # Message as Azure returns it (e.g. Azure/HubAndSpokeResearchEnclave#50).
    return ArmError(
        400,
        "PrincipalNotFound",
        f"Principal {principal_id.replace('-', '')} does not exist in the directory {SIM_TENANT_ID}. "
        "Check that you have the correct principal ID. If you are creating this principal and then "
        "immediately assigning a role, this error might be related to a replication delay. In this "
        "case, set the role assignment principalType property to a value, such as ServicePrincipal, "
        "User, or Group.  See https://aka.ms/docs-principaltype",
    )


@register
class RoleAssignments(ResourceType):
    type_name = ASSIGNMENT_TYPE
    create_latency_s = 0.0
    long_running = False
    requires_location = False
    schema = {"properties.principalId": "str", "properties.roleDefinitionId": "str"}
    # roleDefinitionId is checked by the RoleDefinitionDoesNotExist rule, with Azure's code.
    unchecked_reference_paths = ("properties.roleDefinitionId",)

    def validate(self, ctx: WriteContext) -> None:
        props = ctx.props
        principal = str(props.get("principalId") or "")
        ptype = str(props.get("principalType") or "")
        if not principal:
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid: principalId is required.")
        found, created = find_principal(ctx.store, principal)
        if not found:
            # Users and groups live in Entra ID, which the simulator does not model:
            # an explicit User/Group/ForeignGroup type is taken on trust. Service
            # principals must be identities the simulator created.
            if ptype.lower() not in ("user", "group", "foreigngroup"):
                raise _principal_not_found(principal)
        elif not ptype and created is not None:
            settings = ctx.store.settings
            window = float(getattr(settings, "principal_delay_s", 0.0)) * float(settings.time_scale)
            if ctx.store.now() - created < window:
                raise _principal_not_found(principal)
        # One assignment per (principal, role, scope): a second one under another
        # name is refused.
        # https://learn.microsoft.com/azure/role-based-access-control/troubleshooting#symptom---role-assignment-already-exists
        want_role = role_guid(str(props.get("roleDefinitionId", "")))
        for other in ctx.store.find(ASSIGNMENT_TYPE):
            if str(other.get("id", "")).lower() == ctx.rid.key:
                continue
            oprops = other.get("properties", {})
            if (
                str(oprops.get("principalId", "")).lower() == principal.lower()
                and role_guid(str(oprops.get("roleDefinitionId", ""))) == want_role
                and str(oprops.get("scope", "")).lower() == ctx.rid.scope.lower()
            ):
                raise ArmError(409, "RoleAssignmentExists", "The role assignment already exists.")
        if ctx.existing is not None:
            # Role assignments cannot be updated in place.
            # https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template
            old = ctx.existing.get("properties", {})
            if (
                str(old.get("principalId", "")).lower() != principal.lower()
                or role_guid(str(old.get("roleDefinitionId", ""))) != want_role
            ):
                raise ArmError(
                    400,
                    "RoleAssignmentUpdateNotPermitted",
                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                )

    def on_write(self, ctx: WriteContext) -> None:
        props = ctx.props
        props["scope"] = ctx.rid.scope or "/"
        props.setdefault("principalType", props.get("principalType") or "ServicePrincipal")
        old = (ctx.existing or {}).get("properties", {}) if ctx.existing else {}
        props["createdOn"] = old.get("createdOn") or "2026-01-01T00:00:00.0000000Z"


@register
class RoleDefinitions(ResourceType):
    """Built-in role definitions (read-only in the simulator)."""

    type_name = DEFINITION_TYPE
    create_latency_s = 0.0
    long_running = False

    def validate(self, ctx: WriteContext) -> None:
        raise ArmError(
            403,
            "AuthorizationFailed",
            "The simulator only serves Azure's built-in role definitions; custom roles are not modelled.",
        )
