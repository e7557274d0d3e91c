"""Microsoft.OperationalInsights/workspaces.

* Server-assigned ``customerId`` (the workspace id, a GUID, stable for the workspace's life).
  https://learn.microsoft.com/rest/api/loganalytics/workspaces/create-or-update
* ``retentionInDays``: 30-730 (7 only on the legacy Free tier) -> 400 ``BadRequest``
  "The value provided for retention is invalid" (see hashicorp/terraform-provider-azurerm#2949).
  https://learn.microsoft.com/azure/azure-monitor/logs/data-retention-configure
* Create is a long-running operation (~20 s).
"""

from __future__ import annotations

from hubspoke_deploy.simulator.providers.base import (
    ResourceType,
    WriteContext,
    WriteRule,
    deep_get,
    register,
    register_rule,
)

WORKSPACE_TYPE = "Microsoft.OperationalInsights/workspaces"


def _check_retention(ctx: WriteContext) -> str | None:
    days = ctx.props.get("retentionInDays")
    if days is None:
        return None
    sku = str(deep_get(ctx.resource, "properties.sku.name", "") or "").lower()
    if isinstance(days, int) and not isinstance(days, bool) and (30 <= days <= 730 or (days == 7 and sku == "free")):
        return None
    return "The value provided for retention is invalid"


register_rule(
    WriteRule(
        id="law-retention",
        resource_type=WORKSPACE_TYPE,
        check=_check_retention,
        status=400,
        code="BadRequest",
        citation="https://learn.microsoft.com/azure/azure-monitor/logs/data-retention-configure",
    )
)


@register
class Workspaces(ResourceType):
    type_name = WORKSPACE_TYPE
    create_latency_s = 20.0
    update_latency_s = 5.0
    long_running = True
    requires_location = True
    schema = {"properties.retentionInDays": "int", "properties.sku": "object"}

    def on_write(self, ctx: WriteContext) -> None:
        props = ctx.props
        old = (ctx.existing or {}).get("properties", {}) if ctx.existing else {}
        props["customerId"] = old.get("customerId") or ctx.store.new_guid()
        props["createdDate"] = old.get("createdDate") or "2026-01-01T00:00:00.0000000Z"
        props.setdefault("retentionInDays", 30)
        props.setdefault("sku", {"name": "PerGB2018"})
        props.setdefault("publicNetworkAccessForIngestion", "Enabled")
        props.setdefault("publicNetworkAccessForQuery", "Enabled")
