"""Microsoft.ManagedIdentity/userAssignedIdentities.

A user-assigned identity is created synchronously: ARM answers the PUT with 200/201
and the server-assigned ``principalId`` / ``clientId`` / ``tenantId`` right away
(https://learn.microsoft.com/rest/api/managedidentity/user-assigned-identities/create-or-update).
The simulator also records when each principal was created, so the
``PrincipalNotFound`` replication-lag rule of ``authorization.py`` can tell a
brand-new principal from an old one.

This module also holds the principal directory helpers shared by
``authorization.py`` and ``containerservice.py``.
"""

from __future__ import annotations

from hubspoke_deploy.simulator.providers.base import (
    JSON,
    ResourceType,
    Store,
    WriteContext,
    deep_get,
    register,
)

IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"

#: The tenant every simulated principal lives in (stable, like a real tenant id).
SIM_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"

#: Where the creation time (``store.now()``) of a principal is kept on the stored
#: resource. It is listed in ``secret_paths`` so no response ever shows it.
CREATED_AT = "properties.simPrincipalCreatedAt"


def new_principal(store: Store) -> JSON:
    """A fresh service principal: ``{"principalId", "clientId", "tenantId"}``."""
    return {"principalId": store.new_guid(), "clientId": store.new_guid(), "tenantId": SIM_TENANT_ID}


def _principal_entries(resource: JSON) -> list[tuple[str, float | None]]:
    """``(principalId, created_at)`` for every principal a stored resource carries:
    a user-assigned identity, a system-assigned identity (``identity.principalId``),
    and AKS ``identityProfile`` identities (``objectId``)."""
    out: list[tuple[str, float | None]] = []
    created = deep_get(resource, CREATED_AT)
    created_f = float(created) if isinstance(created, (int, float)) else None
    if str(resource.get("type", "")).lower() == IDENTITY_TYPE.lower():
        pid = deep_get(resource, "properties.principalId")
        if isinstance(pid, str):
            out.append((pid, created_f))
    ident = resource.get("identity")
    if isinstance(ident, dict) and isinstance(ident.get("principalId"), str):
        sys_created = ident.get("simPrincipalCreatedAt")
        out.append((ident["principalId"], float(sys_created) if isinstance(sys_created, (int, float)) else created_f))
    profile = deep_get(resource, "properties.identityProfile")
    if isinstance(profile, dict):
        for entry in profile.values():
            if isinstance(entry, dict) and isinstance(entry.get("objectId"), str):
                out.append((entry["objectId"], created_f))
    return out


def find_principal(store: Store, principal_id: str) -> tuple[bool, float | None]:
    """Is ``principal_id`` a principal the simulator knows, and when was it created?

    Scans identities and every resource type that carries a system-assigned or
    AKS profile identity. Returns ``(found, created_at_or_None)``.
    """
    want = principal_id.lower()
    for res in store.find(IDENTITY_TYPE):
        for pid, created in _principal_entries(res):
            if pid.lower() == want:
                return True, created
    for type_name in _PRINCIPAL_CARRIERS:
        for res in store.find(type_name):
            for pid, created in _principal_entries(res):
                if pid.lower() == want:
                    return True, created
    # principals the simulator did not create: ``Simulator(known_principals=...)``
    if want in store.settings.known_principals:
        return True, None
    return False, None


#: Types (other than identities) whose resources may carry a principal.
_PRINCIPAL_CARRIERS: tuple[str, ...] = (
    "Microsoft.ContainerService/managedClusters",
    "Microsoft.Compute/virtualMachines",
    "Microsoft.ContainerRegistry/registries",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.KeyVault/vaults",
)


def assign_system_identity(ctx: WriteContext) -> None:
    """Fill ``identity.principalId``/``tenantId`` when a resource asks for a
    SystemAssigned identity (stable across updates), and the ``principalId`` /
    ``clientId`` of every user-assigned identity it references.

    https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/overview
    """
    ident = ctx.resource.get("identity")
    if not isinstance(ident, dict):
        return
    kind = str(ident.get("type", "")).lower()
    old = ctx.existing.get("identity") if ctx.existing else None
    if "systemassigned" in kind:
        if isinstance(old, dict) and isinstance(old.get("principalId"), str):
            ident["principalId"] = old["principalId"]
            ident["tenantId"] = old.get("tenantId", SIM_TENANT_ID)
            if "simPrincipalCreatedAt" in old:
                ident["simPrincipalCreatedAt"] = old["simPrincipalCreatedAt"]
        else:
            ident["principalId"] = ctx.store.new_guid()
            ident["tenantId"] = SIM_TENANT_ID
            ident["simPrincipalCreatedAt"] = ctx.store.now()
    else:
        ident.pop("principalId", None)
        ident.pop("tenantId", None)
        ident.pop("simPrincipalCreatedAt", None)
    uais = ident.get("userAssignedIdentities")
    if isinstance(uais, dict):
        for uai_id in list(uais):
            target = ctx.store.get(uai_id)
            if target is not None:
                uais[uai_id] = {
                    "principalId": deep_get(target, "properties.principalId"),
                    "clientId": deep_get(target, "properties.clientId"),
                }


@register
class UserAssignedIdentities(ResourceType):
    type_name = IDENTITY_TYPE
    # Identities are created synchronously by ARM (200/201, no LRO).
    create_latency_s = 0.0
    long_running = False
    requires_location = True
    secret_paths = (CREATED_AT,)
    schema = {"tags": "object"}

    def on_write(self, ctx: WriteContext) -> None:
        props = ctx.props
        # principalId / clientId / tenantId are read-only and stable for the
        # identity's lifetime; a client cannot set them.
        old = (ctx.existing or {}).get("properties", {}) if ctx.existing else {}
        if old.get("principalId"):
            for key in ("principalId", "clientId", "tenantId", "simPrincipalCreatedAt"):
                if key in old:
                    props[key] = old[key]
        else:
            props.update(new_principal(ctx.store))
            props["simPrincipalCreatedAt"] = ctx.store.now()
