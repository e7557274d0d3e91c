"""Microsoft.Network/ddosProtectionPlans and the VNet side of DDoS Network Protection.

https://learn.microsoft.com/rest/api/virtualnetwork/ddos-protection-plans/create-or-update,
https://learn.microsoft.com/azure/ddos-protection/manage-ddos-protection

* A plan is a top-level resource (LRO); its ``virtualNetworks`` are read-only back-references
  computed from the VNets that reference it.
* A VNet with ``enableDdosProtection: true`` needs ``ddosProtectionPlan`` ("It requires a DDoS
  protection plan associated with the resource", VirtualNetworkPropertiesFormat in
  https://learn.microsoft.com/rest/api/virtualnetwork/virtual-networks/create-or-update)
  -> 400 ``DdosProtectionPlanRequired`` (the simulator's code; the rule is Azure's); a VNet shows
  ``enableDdosProtection: false`` when it has none, as Azure does.
* A plan still referenced by a VNet cannot be deleted -> 400 ``InUseDdosProtectionPlanCannotBeDeleted``
  (the simulator's code, after the other ``InUse...CannotBeDeleted`` errors of Microsoft.Network).
"""

from __future__ import annotations

from hubspoke_deploy.simulator.providers.base import (
    JSON,
    DeleteContext,
    DeleteRule,
    ResourceType,
    Store,
    WriteContext,
    WriteRule,
    deep_get,
    register,
    register_rule,
    register_view_hook,
)

DDOS_TYPE = "Microsoft.Network/ddosProtectionPlans"
VNET_TYPE = "Microsoft.Network/virtualNetworks"
_DOC = "https://learn.microsoft.com/rest/api/virtualnetwork/virtual-networks/create-or-update"


def _vnets_of(store: Store, plan_id: str) -> list[str]:
    return sorted({
        str(ref.owner_id) for ref in store.referrers(plan_id)
        if str(ref.resource.get("type", "")).lower() == VNET_TYPE.lower()
    })


@register
class DdosProtectionPlans(ResourceType):
    type_name = DDOS_TYPE
    create_latency_s = 20.0
    requires_location = True

    def on_read(self, store: Store, view: JSON) -> None:
        vnets = _vnets_of(store, str(view["id"]))
        view.setdefault("properties", {})["virtualNetworks"] = [{"id": v} for v in vnets]


def _plan_required(ctx: WriteContext) -> str | None:
    if ctx.props.get("enableDdosProtection") is True and not deep_get(ctx.props, "ddosProtectionPlan.id"):
        return "enableDdosProtection requires a DDoS protection plan (properties.ddosProtectionPlan.id)."
    return None


def _plan_in_use(ctx: DeleteContext) -> str | None:
    vnets = _vnets_of(ctx.store, ctx.rid.id)
    if vnets:
        return f"DDoS protection plan {ctx.rid.name} is in use by {', '.join(vnets)} and cannot be deleted."
    return None


def _vnet_view(store: Store, view: JSON) -> None:
    view.setdefault("properties", {}).setdefault("enableDdosProtection", False)


register_rule(WriteRule(
    id="vnet-ddos-plan-required", resource_type=VNET_TYPE, check=_plan_required,
    status=400, code="DdosProtectionPlanRequired", citation=_DOC,
))
register_rule(DeleteRule(
    id="ddos-plan-in-use", resource_type=DDOS_TYPE, check=_plan_in_use,
    status=400, code="InUseDdosProtectionPlanCannotBeDeleted",
    citation="https://learn.microsoft.com/azure/ddos-protection/manage-ddos-protection#disable-for-a-virtual-network",
))
register_view_hook("ddos-vnet-default", VNET_TYPE, _vnet_view)
