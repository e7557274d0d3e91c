"""Microsoft.Storage/storageAccounts.

* Name: 3-24 characters, lowercase letters and digits only -> 400 ``AccountNameInvalid``
  https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftstorage
* Names are globally unique (they are DNS names) -> 409 ``StorageAccountAlreadyTaken``
  https://learn.microsoft.com/azure/storage/common/storage-account-overview#storage-account-name
* PUT is a long-running operation (``storage_accounts.begin_create``), ~25 s.
  https://learn.microsoft.com/rest/api/storagerp/storage-accounts/create
* Server-assigned ``primaryEndpoints`` (``https://{name}.blob.core.windows.net/`` ...).
  https://learn.microsoft.com/azure/storage/common/storage-account-overview#standard-endpoints
* Every account has its blob service ``{account}/blobServices/default`` (the only name Azure
  accepts), which carries the blob logs' diagnostic setting.
  https://learn.microsoft.com/rest/api/storagerp/blob-services/get-service-properties
"""

from __future__ import annotations

import re

from hubspoke_deploy.simulator.providers.base import (
    JSON,
    ArmError,
    ResourceType,
    Store,
    WriteContext,
    WriteRule,
    register,
    register_rule,
)
from hubspoke_deploy.simulator.providers.identity import assign_system_identity

STORAGE_TYPE = "Microsoft.Storage/storageAccounts"
BLOB_SERVICE_TYPE = "Microsoft.Storage/storageAccounts/blobServices"
_NAME_RE = re.compile(r"^[a-z0-9]{3,24}$")


def _check_name(ctx: WriteContext) -> str | None:
    if _NAME_RE.match(ctx.rid.name):
        return None
    # Azure's message, e.g. Azure/AzureMonitorStarterPacks#171
    return (
        f"{ctx.rid.name} is not a valid storage account name. Storage account name must be between 3 "
        "and 24 characters in length and use numbers and lower-case letters only."
    )


def _check_unique(ctx: WriteContext) -> str | None:
    if not ctx.is_create:
        return None
    for other in ctx.store.find(STORAGE_TYPE):
        if (
            str(other.get("name", "")).lower() == ctx.rid.name.lower()
            and str(other.get("id", "")).lower() != ctx.rid.key
        ):
            return f"The storage account named {ctx.rid.name} is already taken."
    return None


register_rule(
    WriteRule(
        id="storage-name",
        resource_type=STORAGE_TYPE,
        check=_check_name,
        status=400,
        code="AccountNameInvalid",
        citation="https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftstorage",
    )
)
register_rule(
    WriteRule(
        id="storage-name-taken",
        resource_type=STORAGE_TYPE,
        check=_check_unique,
        status=409,
        code="StorageAccountAlreadyTaken",
        citation="https://learn.microsoft.com/azure/storage/common/storage-account-overview#storage-account-name",
    )
)


def endpoints(name: str) -> dict[str, str]:
    return {
        "blob": f"https://{name}.blob.core.windows.net/",
        "queue": f"https://{name}.queue.core.windows.net/",
        "table": f"https://{name}.table.core.windows.net/",
        "file": f"https://{name}.file.core.windows.net/",
        "web": f"https://{name}.z6.web.core.windows.net/",
        "dfs": f"https://{name}.dfs.core.windows.net/",
    }


@register
class StorageAccounts(ResourceType):
    type_name = STORAGE_TYPE
    create_latency_s = 25.0
    update_latency_s = 5.0
    # Azure answers a storage account create with 202 Accepted and no body; azure-mgmt-storage's
    # begin_create accepts only 200/202. https://learn.microsoft.com/rest/api/storagerp/storage-accounts/create
    create_status = 202
    # storage_accounts.delete is synchronous in the SDK (200/204) while create is an LRO.
    delete_latency_s = 0.0
    long_running = True
    delete_long_running = False

    requires_location = True
    secret_paths = ("identity.simPrincipalCreatedAt",)
    schema = {"sku": "object", "kind": "str"}

    def on_write(self, ctx: WriteContext) -> None:
        props = ctx.props
        props["primaryEndpoints"] = endpoints(ctx.rid.name)
        props["primaryLocation"] = ctx.resource.get("location")
        props["statusOfPrimary"] = "available"
        old = (ctx.existing or {}).get("properties", {}) if ctx.existing else {}
        props["creationTime"] = old.get("creationTime") or "2026-01-01T00:00:00.0000000Z"
        props.setdefault("minimumTlsVersion", "TLS1_0")
        props.setdefault("allowBlobPublicAccess", False)
        props.setdefault("supportsHttpsTrafficOnly", True)
        assign_system_identity(ctx)

    def on_provisioned(self, store: Store, resource: JSON) -> None:
        blob = f"{resource['id']}/blobServices/default"
        if store.get(blob) is None:
            store.put({"id": blob, "properties": {"provisioningState": "Succeeded"}})


@register
class BlobServices(ResourceType):
    """``{account}/blobServices/default``: created with the account, written synchronously."""

    type_name = BLOB_SERVICE_TYPE
    create_latency_s = 0.0
    long_running = False
    create_status = 200

    def validate(self, ctx: WriteContext) -> None:
        if ctx.rid.name != "default":
            # https://learn.microsoft.com/rest/api/storagerp/blob-services/set-service-properties
            # (BlobServicesName: "default" is the only allowed value)
            raise ArmError(400, "InvalidResourceName", f"The blob service name '{ctx.rid.name}' must be 'default'.")
