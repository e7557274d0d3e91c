"""Microsoft.KeyVault/vaults and the soft-deleted vaults
(``/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}``).

* Name: 3-24 characters, letters, digits and hyphens; starts with a letter, ends with a
  letter or digit, no consecutive hyphens -> 400 ``VaultNameNotValid``.
  https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftkeyvault
* Names are global (DNS: ``https://{name}.vault.azure.net/``) -> 409 ``VaultAlreadyExists``.
  https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#vault-name-and-object-name
* Soft delete: a deleted vault is kept as a deletedVaults resource (GET / list / purge);
  while it exists the name cannot be reused unless ``createMode: recover``
  (409 ``ConflictError``, "...either recover or purge...").
  https://learn.microsoft.com/azure/key-vault/general/key-vault-recovery
* Purge protection cannot be turned off once on, and blocks purge.
  https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview#purge-protection
"""

from __future__ import annotations

import copy
import re

from hubspoke_deploy.simulator.providers.base import (
    JSON,
    ActionContext,
    ActionResult,
    ArmError,
    DeleteContext,
    ResourceType,
    Store,
    WriteContext,
    WriteRule,
    deep_get,
    register,
    register_rule,
)
from hubspoke_deploy.simulator.providers.identity import assign_system_identity

VAULT_TYPE = "Microsoft.KeyVault/vaults"
DELETED_TYPE = "Microsoft.KeyVault/locations/deletedVaults"
# The subscription-wide list (vaults.list_deleted) is a collection of this type; the
# simulator keeps an index entry per deleted vault under it (see DeletedVaultIndex).
DELETED_INDEX_TYPE = "Microsoft.KeyVault/deletedVaults"

_NAME_RE = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
_ORIGINAL = "properties.simOriginal"

_RECOVERY_DOC = "https://learn.microsoft.com/azure/key-vault/general/key-vault-recovery"


def deleted_id(subscription: str, location: str, name: str) -> str:
    return f"/subscriptions/{subscription}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}"


def index_id(subscription: str, name: str) -> str:
    return f"/subscriptions/{subscription}/providers/{DELETED_INDEX_TYPE}/{name}"


def find_deleted(store: Store, name: str) -> JSON | None:
    for res in store.find(DELETED_TYPE):
        if str(res.get("name", "")).lower() == name.lower():
            return res
    return None


def _check_name(ctx: WriteContext) -> str | None:
    if _NAME_RE.match(ctx.rid.name):
        return None
    return (
        f"The vault name '{ctx.rid.name}' is invalid. A vault's name must be between 3-24 alphanumeric "
        "characters. The name must begin with a letter, end with a letter or digit, and not contain "
        "consecutive hyphens. Follow this link for more information: https://go.microsoft.com/fwlink/?linkid=2147742"
    )


def _check_global_name(ctx: WriteContext) -> str | None:
    if not ctx.is_create:
        return None
    for other in ctx.store.find(VAULT_TYPE):
        if (
            str(other.get("name", "")).lower() == ctx.rid.name.lower()
            and str(other.get("id", "")).lower() != ctx.rid.key
        ):
            return (
                f"The vault name '{ctx.rid.name}' is already in use. Vault names are globally unique so it is "
                "possible that the name is already taken. For more information on soft delete and purging a "
                "vault follow this link https://go.microsoft.com/fwlink/?linkid=2147740."
            )
    return None


def _check_soft_deleted(ctx: WriteContext) -> str | None:
    if not ctx.is_create:
        return None
    if str(ctx.props.get("createMode", "default")).lower() == "recover":
        return None
    if find_deleted(ctx.store, ctx.rid.name) is None:
        return None
    # Azure's message (see e.g. dotnetpower/elb-dashboard "ConflictError: A vault with the same
    # name already exists in deleted state").
    return (
        "A vault with the same name already exists in deleted state. You need to either recover or purge "
        "existing key vault. Follow this link https://go.microsoft.com/fwlink/?linkid=2149745 for more "
        "information on soft delete."
    )


def _check_purge_protection(ctx: WriteContext) -> str | None:
    old = deep_get(ctx.existing, "properties.enablePurgeProtection") if ctx.existing else None
    new = ctx.props.get("enablePurgeProtection")
    if old is True and new is False:
        # "Enabling this functionality is irreversible - that is, the property does not accept
        # false as its value." (VaultProperties.enablePurgeProtection)
        return (
            'The property "enablePurgeProtection" cannot be set to false. Enabling the purge protection '
            "for a vault is an irreversible action."
        )
    return None


def _check_retention(ctx: WriteContext) -> str | None:
    days = ctx.props.get("softDeleteRetentionInDays")
    if days is None or (isinstance(days, int) and 7 <= days <= 90):
        return None
    return f"The softDeleteRetentionInDays value {days} is invalid. It must be between 7 and 90."


for _rule in (
    WriteRule(
        "kv-name",
        VAULT_TYPE,
        _check_name,
        400,
        "VaultNameNotValid",
        "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftkeyvault",
    ),
    WriteRule("kv-soft-deleted", VAULT_TYPE, _check_soft_deleted, 409, "ConflictError", _RECOVERY_DOC),
    WriteRule(
        "kv-name-global",
        VAULT_TYPE,
        _check_global_name,
        409,
        "VaultAlreadyExists",
        "https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#vault-name-and-object-name",
    ),
    WriteRule(
        "kv-purge-protection",
        VAULT_TYPE,
        _check_purge_protection,
        400,
        "BadRequest",
        "https://learn.microsoft.com/rest/api/keyvault/keyvault/vaults/create-or-update#vaultproperties",
    ),
    WriteRule(
        "kv-retention",
        VAULT_TYPE,
        _check_retention,
        400,
        "BadRequest",
        "https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview",
    ),
):
    register_rule(_rule)


@register
class Vaults(ResourceType):
    type_name = VAULT_TYPE
    create_latency_s = 20.0
    update_latency_s = 5.0
    # vaults.delete is synchronous in the SDK (200/204) while create is an LRO.
    delete_latency_s = 0.0
    long_running = True
    delete_long_running = False

    requires_location = True
    secret_paths = ("identity.simPrincipalCreatedAt",)
    schema = {"properties.tenantId": "str", "properties.sku": "object", "properties.accessPolicies": "list[object]"}

    def validate(self, ctx: WriteContext) -> None:
        mode = str(ctx.props.get("createMode", "default")).lower()
        if mode == "recover" and ctx.is_create and find_deleted(ctx.store, ctx.rid.name) is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"No deleted vault named '{ctx.rid.name}' was found to recover.",
            )

    def on_write(self, ctx: WriteContext) -> None:
        props = ctx.props
        mode = str(props.pop("createMode", "default")).lower()
        if mode == "recover" and ctx.is_create:
            deleted = find_deleted(ctx.store, ctx.rid.name)
            if deleted is not None:
                original = deep_get(deleted, _ORIGINAL) or {}
                restored = copy.deepcopy(original)
                restored.update({k: v for k, v in props.items() if k not in ("provisioningState",)})
                # purge protection stays on when it was on
                if original.get("enablePurgeProtection") is True:
                    restored["enablePurgeProtection"] = True
                ctx.resource["properties"] = restored
                props = ctx.props
                self._forget_deleted(ctx.store, deleted)
        old = (ctx.existing or {}).get("properties", {}) if ctx.existing else {}
        if old.get("enablePurgeProtection") is True:
            props["enablePurgeProtection"] = True
        props["vaultUri"] = f"https://{ctx.rid.name.lower()}.vault.azure.net/"
        props.setdefault("enableSoftDelete", True)
        props.setdefault("softDeleteRetentionInDays", 90)
        props.setdefault("enableRbacAuthorization", False)
        props.setdefault("accessPolicies", [])
        props.setdefault("publicNetworkAccess", "Enabled")
        assign_system_identity(ctx)

    @staticmethod
    def _forget_deleted(store: Store, deleted: JSON) -> None:
        store.delete(str(deleted["id"]))
        sub = str(deleted["id"]).split("/")[2]
        store.delete(index_id(sub, str(deleted.get("name"))))

    def on_delete(self, ctx: DeleteContext) -> None:
        res = ctx.resource
        props = res.get("properties", {})
        if props.get("enableSoftDelete") is False:
            return
        sub = ctx.rid.subscription or ""
        loc = str(res.get("location", "")).replace(" ", "").lower()
        days = int(props.get("softDeleteRetentionInDays") or 90)
        record: JSON = {
            "id": deleted_id(sub, loc, ctx.rid.name),
            "location": loc,
            "properties": {
                "vaultId": res.get("id"),
                "location": loc,
                "deletionDate": "2026-01-01T00:00:00Z",
                "scheduledPurgeDate": f"2026-{1 + days // 31:02d}-01T00:00:00Z",
                "tags": copy.deepcopy(res.get("tags") or {}),
                "purgeProtectionEnabled": bool(props.get("enablePurgeProtection")),
                "provisioningState": "Succeeded",
                "simOriginal": copy.deepcopy({k: v for k, v in props.items() if k != "provisioningState"}),
            },
        }
        ctx.store.put(record)
        index = {k: copy.deepcopy(v) for k, v in record.items() if k not in ("name", "type", "etag")}
        index["id"] = index_id(sub, ctx.rid.name)
        ctx.store.put(index)


class _DeletedBase(ResourceType):
    create_latency_s = 0.0
    long_running = False
    secret_paths = (_ORIGINAL,)

    def validate(self, ctx: WriteContext) -> None:
        raise ArmError(
            405,
            "MethodNotAllowed",
            "Deleted vaults are created by deleting a vault; they cannot be written.",
        )

    def on_read(self, store: Store, view: JSON) -> None:
        # A deleted vault always shows its location-scoped id.
        props = view.get("properties", {})
        sub = str(view.get("id", "")).split("/")[2] if str(view.get("id", "")).count("/") > 2 else ""
        view["id"] = deleted_id(sub, str(props.get("location", view.get("location", ""))), str(view.get("name")))
        view["type"] = DELETED_TYPE
        view.pop("location", None)
        props.pop("provisioningState", None)


@register
class DeletedVaults(_DeletedBase):
    type_name = DELETED_TYPE

    def action_purge(self, ctx: ActionContext) -> ActionResult:
        res = ctx.resource
        if res is None:
            raise ArmError(404, "ResourceNotFound", f"The deleted vault '{ctx.rid.name}' was not found.")
        if deep_get(res, "properties.purgeProtectionEnabled") is True:
            # Purge protection: "a vault or an object in the deleted state cannot be purged until
            # the retention period has passed."
            # https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview#purge-protection
            raise ArmError(
                409,
                "Conflict",
                f"Operation 'DeleteVault' is not allowed. The vault '{ctx.rid.name}' has purge protection "
                "enabled and cannot be purged before its scheduled purge date.",
            )
        Vaults._forget_deleted(ctx.store, res)
        return ActionResult(status=200, body=None, latency_s=5.0)


@register
class DeletedVaultIndex(_DeletedBase):
    """Index entries behind ``GET /subscriptions/{s}/providers/Microsoft.KeyVault/deletedVaults``."""

    type_name = DELETED_INDEX_TYPE
