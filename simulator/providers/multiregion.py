"""What a multi-region deployment (issue 18) relies on: firewall policy inheritance and registry
geo-replications. Global VNet peering needs nothing of its own: a peering's remote VNet may be in any
region of the cloud (https://learn.microsoft.com/azure/virtual-network/virtual-network-peering-overview:
"Global virtual network peering: connects virtual networks across Azure regions"), which the peering
type in network.py already allows; tests/simulator/test_multiregion_providers.py holds it to that.

Firewall policy inheritance (``properties.basePolicy``,
https://learn.microsoft.com/azure/firewall-manager/policy-overview, "Hierarchical policies"):

* the parent must be a firewall policy (another type -> 400 ``InvalidResourceReference``; a missing
  one is refused by the core);
* a Premium child needs a Premium parent: a Premium policy inherits the Premium features (IDPS, TLS
  inspection) and cannot have a Standard or Basic parent -> 400 ``FirewallPolicyParentTierMismatch``
  (code chosen here: Azure's own code is not in its public documentation);
* the parent lists its children in the read-only ``properties.childPolicies``
  (https://learn.microsoft.com/rest/api/virtualnetwork/firewall-policies/get, FirewallPolicy
  ``childPolicies``: "List of references to Child Firewall Policies");
* a parent cannot be deleted while a child references it -> 400
  ``FirewallPolicyIsReferencedByChildPolicies`` (Azure refuses it, hashicorp/terraform-provider-azurerm#21641
  "Failure to delete the parent Azure Firewall Policy"; code chosen here);
* a policy cannot be its own parent.

Registry replications (``Microsoft.ContainerRegistry/registries/replications``,
https://learn.microsoft.com/azure/container-registry/container-registry-geo-replication):

* Premium only: a replication of a Basic or Standard registry -> 400 ``RegistrySkuNotSupported``
  ("Geo-replication is a feature of the Premium service tier"; code chosen here);
* zone redundancy of a replica (``properties.zoneRedundancy``) is fixed at creation
  (https://learn.microsoft.com/azure/container-registry/zone-redundancy) -> 400 ``CannotUpdateZoneRedundancy``;
* a replication in the registry's home region is accepted and changes nothing (ARM templates that
  declare it deploy: mspnp/reference-architectures#318), as Azure keeps the home replica itself.
"""

from __future__ import annotations

from typing import ClassVar

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

FW_POLICY = "Microsoft.Network/firewallPolicies"
REGISTRY = "Microsoft.ContainerRegistry/registries"
REPLICATION = "Microsoft.ContainerRegistry/registries/replications"
_POLICY_DOC = "https://learn.microsoft.com/azure/firewall-manager/policy-overview"
_GEO_DOC = "https://learn.microsoft.com/azure/container-registry/container-registry-geo-replication"


def _tier(policy: JSON | None) -> str:
    return str(deep_get(policy or {}, "properties.sku.tier", "Standard") or "Standard")


def _base_id(resource: JSON) -> str | None:
    value = deep_get(resource, "properties.basePolicy.id")
    return value if isinstance(value, str) and value else None


def _base_policy_type(ctx: WriteContext) -> str | None:
    base = _base_id(ctx.resource)
    if base is None:
        return None
    if base.lower().rstrip("/") == ctx.rid.key.rstrip("/"):
        return f"Firewall policy '{ctx.rid.name}' cannot be its own base policy."
    if "/providers/microsoft.network/firewallpolicies/" not in base.lower() or base.lower().count("/") != 8:
        return f"basePolicy '{base}' of firewall policy '{ctx.rid.name}' is not a firewall policy."
    return None


def _base_policy_tier(ctx: WriteContext) -> str | None:
    base = _base_id(ctx.resource)
    parent = ctx.store.get(base) if base else None
    if parent is None:
        return None  # the core answers a missing reference
    child_tier, parent_tier = _tier(ctx.resource), _tier(parent)
    if child_tier == "Premium" and parent_tier != "Premium":
        return (
            f"Firewall policy '{ctx.rid.name}' of tier Premium cannot inherit from '{parent.get('name')}' of tier "
            f"{parent_tier}: a Premium policy needs a Premium parent policy."
        )
    return None


def _children(store: Store, policy_id: str) -> list[JSON]:
    out: list[JSON] = []
    for ref in store.referrers(policy_id):
        if (
            str(ref.resource.get("type", "")).lower() == FW_POLICY.lower()
            and ref.path == "properties.basePolicy.id"
            and ref.resource.get("id")
        ):
            out.append({"id": ref.resource["id"]})
    return out


def _parent_in_use(ctx: DeleteContext) -> str | None:
    children = _children(ctx.store, str(ctx.resource.get("id", "")))
    if not children:
        return None
    names = ", ".join(str(c["id"]).rsplit("/", 1)[-1] for c in children)
    return (
        f"Firewall policy '{ctx.rid.name}' cannot be deleted: it is the base policy of the child policies {names}. "
        "Remove the basePolicy reference from the child policies (or delete them) first."
    )


def _policy_view(store: Store, view: JSON) -> None:
    children = _children(store, str(view.get("id", "")))
    if children:
        view.setdefault("properties", {})["childPolicies"] = children


def _registry_of(ctx: WriteContext) -> JSON | None:
    return ctx.store.get(str(ctx.rid.key).rsplit("/replications/", 1)[0])


def _replication_premium(ctx: WriteContext) -> str | None:
    registry = _registry_of(ctx)
    if registry is None:
        return None  # the core answers ParentResourceNotFound
    sku = str(deep_get(registry, "sku.name", "") or "")
    if sku.lower() != "premium":
        return (
            f"Geo-replication is not supported for the SKU {sku} of registry '{registry.get('name')}'. It is a feature "
            "of the Premium SKU."
        )
    return None


def _replication_zone_redundancy(ctx: WriteContext) -> str | None:
    if ctx.existing is None:
        return None
    old = str(deep_get(ctx.existing, "properties.zoneRedundancy", "Disabled") or "Disabled")
    new = str(ctx.props.get("zoneRedundancy", old) or old)
    if old.lower() != new.lower():
        return f"The zone redundancy of replication '{ctx.rid.name}' cannot be changed after it is created ({old})."
    return None


for _rule in (
    WriteRule("fw-policy-base-type", FW_POLICY, _base_policy_type, 400, "InvalidResourceReference", _POLICY_DOC),
    WriteRule(
        "fw-policy-base-tier", FW_POLICY, _base_policy_tier, 400, "FirewallPolicyParentTierMismatch", _POLICY_DOC
    ),
    DeleteRule(
        "fw-policy-parent-in-use",
        FW_POLICY,
        _parent_in_use,
        400,
        "FirewallPolicyIsReferencedByChildPolicies",
        "https://github.com/hashicorp/terraform-provider-azurerm/issues/21641",
    ),
    WriteRule("acr-replication-premium", REPLICATION, _replication_premium, 400, "RegistrySkuNotSupported", _GEO_DOC),
    WriteRule(
        "acr-replication-zone-redundancy",
        REPLICATION,
        _replication_zone_redundancy,
        400,
        "CannotUpdateZoneRedundancy",
        "https://learn.microsoft.com/azure/container-registry/zone-redundancy",
    ),
):
    register_rule(_rule)

register_view_hook("multiregion-fw-policy-children", FW_POLICY, _policy_view)


@register
class Replications(ResourceType):
    type_name = REPLICATION
    # a replica is created in minutes (the registry's content is copied in the background)
    create_latency_s: ClassVar[float] = 60.0
    update_latency_s: ClassVar[float | None] = 10.0
    long_running = True
    requires_location = True
    schema: ClassVar[dict[str, str]] = {
        "properties.zoneRedundancy": "str",
        "properties.regionEndpointEnabled": "bool",
    }

    def on_write(self, ctx: WriteContext) -> None:
        props = ctx.props
        props.setdefault("zoneRedundancy", "Disabled")
        props.setdefault("regionEndpointEnabled", True)
        props["status"] = {"displayStatus": "Ready", "message": None, "timestamp": "2026-01-01T00:00:00Z"}
