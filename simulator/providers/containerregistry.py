"""Microsoft.ContainerRegistry/registries.

* Name: 5-50 alphanumerics, globally unique (DNS ``{name}.azurecr.io``).
  https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftcontainerregistry
  https://learn.microsoft.com/rest/api/containerregistry/registries/check-name-availability
* Server-assigned ``loginServer`` ``{name}.azurecr.io`` (lower case).
* Premium-only features: private endpoints, disabling public network access, zone redundancy,
  network rules. https://learn.microsoft.com/azure/container-registry/container-registry-skus
  Disabling public access on Basic/Standard -> 400 ``DisablingPublicNetworkAccessNotSupported``
  ("Disabling public network access is not supported for the SKU Basic."), see
  hashicorp/terraform-provider-azurerm#26054.
  A private endpoint to a non-Premium registry is refused (cross-type rule on
  Microsoft.Network/privateEndpoints): https://learn.microsoft.com/azure/container-registry/container-registry-private-link
"""

from __future__ import annotations

import re

from hubspoke_deploy.simulator.providers.base import (
    ResourceType,
    WriteContext,
    WriteRule,
    deep_get,
    register,
    register_rule,
)
from hubspoke_deploy.simulator.providers.identity import assign_system_identity

REGISTRY_TYPE = "Microsoft.ContainerRegistry/registries"
PRIVATE_ENDPOINT_TYPE = "Microsoft.Network/privateEndpoints"
_NAME_RE = re.compile(r"^[a-zA-Z0-9]{5,50}$")
_SKU_DOC = "https://learn.microsoft.com/azure/container-registry/container-registry-skus"


def _sku(ctx: WriteContext) -> str:
    return str(deep_get(ctx.resource, "sku.name", "") or "")


def _check_name(ctx: WriteContext) -> str | None:
    if _NAME_RE.match(ctx.rid.name):
        return None
    return (
        f"The registry name '{ctx.rid.name}' is invalid. The name must contain only alphanumeric "
        "characters and be between 5 and 50 characters in length."
    )


def _check_global_name(ctx: WriteContext) -> str | None:
    if not ctx.is_create:
        return None
    for other in ctx.store.find(REGISTRY_TYPE):
        if (
            str(other.get("name", "")).lower() == ctx.rid.name.lower()
            and str(other.get("id", "")).lower() != ctx.rid.key
        ):
            return f"The registry {ctx.rid.name} is already in use."
    return None


def _check_public_access(ctx: WriteContext) -> str | None:
    sku = _sku(ctx)
    if str(ctx.props.get("publicNetworkAccess", "Enabled")).lower() == "disabled" and sku.lower() != "premium":
        return (
            f"Disabling public network access is not supported for the SKU {sku}. For more information, "
            "please visit https://aka.ms/acr/private-link."
        )
    return None


def _check_zone_redundancy(ctx: WriteContext) -> str | None:
    sku = _sku(ctx)
    if str(ctx.props.get("zoneRedundancy", "Disabled")).lower() == "enabled" and sku.lower() != "premium":
        return f"Zone redundancy is not supported for the SKU {sku}. It is only supported for the Premium SKU."
    return None


def _check_network_rules(ctx: WriteContext) -> str | None:
    sku = _sku(ctx)
    rules = ctx.props.get("networkRuleSet")
    if isinstance(rules, dict) and sku.lower() != "premium":
        restrictive = str(rules.get("defaultAction", "Allow")).lower() == "deny" or rules.get("ipRules")
        if restrictive:
            return f"Network rules are not supported for the SKU {sku}. They are only supported for the Premium SKU."
    return None


def _registry_targets(ctx: WriteContext) -> list[str]:
    out: list[str] = []
    for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
        for conn in ctx.props.get(key) or []:
            if not isinstance(conn, dict):
                continue
            target = deep_get(conn, "properties.privateLinkServiceId") or conn.get("privateLinkServiceId")
            if isinstance(target, str) and "/providers/microsoft.containerregistry/registries/" in target.lower():
                out.append(target)
    return out


def _check_pe_premium(ctx: WriteContext) -> str | None:
    for target in _registry_targets(ctx):
        reg = ctx.store.get(target)
        if reg is None:
            continue  # the core reports missing references
        sku = str(deep_get(reg, "sku.name", "") or "")
        if sku.lower() != "premium":
            return (
                f"Private endpoint connections are not supported for the SKU {sku} of registry "
                f"'{reg.get('name')}'. Private link requires the Premium SKU. For more information, please "
                "visit https://aka.ms/acr/private-link."
            )
    return None


for _rule in (
    WriteRule(
        "acr-name",
        REGISTRY_TYPE,
        _check_name,
        400,
        "RegistryNameInvalid",
        "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftcontainerregistry",
    ),
    WriteRule(
        "acr-name-global",
        REGISTRY_TYPE,
        _check_global_name,
        409,
        "AlreadyInUse",
        "https://learn.microsoft.com/rest/api/containerregistry/registries/check-name-availability",
    ),
    WriteRule(
        "acr-public-access-premium",
        REGISTRY_TYPE,
        _check_public_access,
        400,
        "DisablingPublicNetworkAccessNotSupported",
        "https://learn.microsoft.com/azure/container-registry/container-registry-private-link",
    ),
    WriteRule(
        "acr-zone-redundancy-premium",
        REGISTRY_TYPE,
        _check_zone_redundancy,
        400,
        "ZoneRedundancyNotSupported",
        "https://learn.microsoft.com/azure/container-registry/zone-redundancy",
    ),
    WriteRule(
        "acr-network-rules-premium", REGISTRY_TYPE, _check_network_rules, 400, "NetworkRuleNotSupported", _SKU_DOC
    ),
    WriteRule(
        "acr-private-endpoint-premium",
        PRIVATE_ENDPOINT_TYPE,
        _check_pe_premium,
        400,
        "PrivateEndpointNotSupportedForSku",
        "https://learn.microsoft.com/azure/container-registry/container-registry-private-link",
    ),
):
    register_rule(_rule)


@register
class Registries(ResourceType):
    type_name = REGISTRY_TYPE
    create_latency_s = 30.0
    update_latency_s = 10.0
    long_running = True
    requires_location = True
    secret_paths = ("identity.simPrincipalCreatedAt",)
    schema = {"sku": "object", "sku.name": "str"}

    def on_write(self, ctx: WriteContext) -> None:
        props = ctx.props
        props["loginServer"] = f"{ctx.rid.name.lower()}.azurecr.io"
        old = (ctx.existing or {}).get("properties", {}) if ctx.existing else {}
        props["creationDate"] = old.get("creationDate") or "2026-01-01T00:00:00.0000000Z"
        props.setdefault("adminUserEnabled", False)
        props.setdefault("publicNetworkAccess", "Enabled")
        props.setdefault("zoneRedundancy", "Disabled")
        props.setdefault("dataEndpointEnabled", False)
        sku = ctx.resource.get("sku")
        if isinstance(sku, dict) and "name" in sku:
            sku["tier"] = sku["name"]
        assign_system_identity(ctx)
