"""PaaS services of the spoke, reached only over private endpoints (issue 6).

Storage account (jump box boot diagnostics), Azure Container Registry and Key
Vault, each with public network access disabled; the three privatelink DNS
zones linked to the hub and every spoke; private endpoints in the cluster
spoke's endpoint subnet, each with a DNS zone group. This fixes what the
article's Terraform sample leaves open (public access on, ACR admin user on).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.clients import to_json
from hubspoke_deploy.orchestrator.step import Outputs, Spec, StepContext
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.base import arm_id, out, props, ref
from hubspoke_deploy.steps.identity import ID_CONTROL_PLANE, PlatformStep
from hubspoke_deploy.steps.network import subnet_id

# --------------------------------------------------------------------------- keys

STORAGE = "st"
ACR = "acr"
KEYVAULT = "kv"

# Private endpoint targets: service -> (step key of the target, private link group id).
# Group ids: https://learn.microsoft.com/azure/private-link/private-endpoint-overview#private-link-resource
ENDPOINT_GROUPS: dict[str, tuple[str, str]] = {
    "acr": (ACR, "registry"),
    "kv": (KEYVAULT, "vault"),
    "blob": (STORAGE, "blob"),
}

# Private DNS zone of each group id, per cloud:
# https://learn.microsoft.com/azure/private-link/private-endpoint-dns
PRIVATE_DNS_ZONES: dict[str, dict[str, str]] = {
    "public": {
        "registry": "privatelink.azurecr.io",
        "vault": "privatelink.vaultcore.azure.net",
        "blob": "privatelink.blob.core.windows.net",
    },
    "usgovernment": {
        "registry": "privatelink.azurecr.us",
        "vault": "privatelink.vaultcore.usgovcloudapi.net",
        "blob": "privatelink.blob.core.usgovcloudapi.net",
    },
    "china": {
        "registry": "privatelink.azurecr.cn",
        "vault": "privatelink.vaultcore.azure.cn",
        "blob": "privatelink.blob.core.chinacloudapi.cn",
    },
}


# Private DNS zone of a private AKS API server, per cloud ({region} is the cluster's):
# https://learn.microsoft.com/azure/aks/private-clusters#configure-a-private-dns-zone
AKS_DNS_ZONES: dict[str, str] = {
    "public": "privatelink.{region}.azmk8s.io",
    "usgovernment": "privatelink.{region}.cx.aks.containerservice.azure.us",
    "china": "privatelink.{region}.cx.prod.service.azk8s.cn",
}


def aks_dns_zone(cfg: DeploymentConfig) -> str | None:
    """The deployment's own API server zone (private cluster, ``private_dns_zone = "custom"``)."""
    if not (cfg.aks.private_cluster and cfg.aks.private_dns_zone == "custom"):
        return None
    template = AKS_DNS_ZONES.get(cfg.azure.endpoint, AKS_DNS_ZONES["public"])
    return template.format(region=cfg.location.replace(" ", "").lower())


def dns_zones(cfg: DeploymentConfig) -> dict[str, str]:
    """group id -> private DNS zone name (public cloud names for the simulator and custom endpoints)."""
    return dict(PRIVATE_DNS_ZONES.get(cfg.azure.endpoint, PRIVATE_DNS_ZONES["public"]))


def dns_zone_key(zone: str) -> str:
    return f"dns.{zone}"


def dns_link_key(zone: str, vnet_owner: str) -> str:
    return f"dns.{zone}.link.{vnet_owner}"


def endpoint_key(service: str) -> str:
    return f"pe.{service}"


def zone_group_key(service: str) -> str:
    return f"pe.{service}.dns"


def storage_id(cfg: DeploymentConfig) -> str:
    return arm_id(cfg, "Microsoft.Storage/storageAccounts", cfg.storage_account_name)


def acr_id(cfg: DeploymentConfig) -> str:
    return arm_id(cfg, "Microsoft.ContainerRegistry/registries", cfg.acr_name)


def keyvault_id(cfg: DeploymentConfig) -> str:
    return arm_id(cfg, "Microsoft.KeyVault/vaults", cfg.keyvault_name)


def dns_zone_id(cfg: DeploymentConfig, zone: str) -> str:
    return arm_id(cfg, "Microsoft.Network/privateDnsZones", zone)


def endpoint_name(cfg: DeploymentConfig, service: str) -> str:
    target = {"acr": cfg.acr_name, "kv": cfg.keyvault_name, "blob": cfg.storage_account_name}[service]
    # region #2+ (config/regions.py) has its own endpoint to the shared service
    suffix = f"-{cfg._region}" if cfg._region else ""
    return f"pe-{target}-{ENDPOINT_GROUPS[service][1]}{suffix}"


def endpoint_id(cfg: DeploymentConfig, service: str) -> str:
    return arm_id(cfg, "Microsoft.Network/privateEndpoints", endpoint_name(cfg, service))


# --------------------------------------------------------------------------- storage


class StorageAccountStep(PlatformStep):
    """StorageV2 for boot diagnostics: HTTPS only, TLS 1.2, no public network access."""

    client = "storage"
    operations = "storage_accounts"
    get_method = "get_properties"
    # A create on an existing account updates its properties
    # (https://learn.microsoft.com/rest/api/storagerp/storage-accounts/create).
    put_method = "begin_create"
    delete_method = "delete"
    delete_is_lro = False
    resource_type = "Microsoft.Storage/storageAccounts"
    immutable = ("location", "kind")

    def names(self) -> tuple[str, ...]:
        return (self.cfg.storage_account_name,)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        properties = {
            "supportsHttpsTrafficOnly": True,
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False,
            # Shared key stays on: boot diagnostics into a custom account is read
            # with the account key (listKeys), see
            # https://learn.microsoft.com/azure/virtual-machines/boot-diagnostics
            # ("Prerequisites for using a custom storage account").
            "allowSharedKeyAccess": True,
            "defaultToOAuthAuthentication": True,
            "allowCrossTenantReplication": False,
            "publicNetworkAccess": "Disabled",
            # The platform writes boot diagnostics as a trusted Azure service.
            "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
            "accessTier": "Hot",
        }
        # Standard_LRS: boot diagnostics does not support premium or ZRS accounts
        # (https://learn.microsoft.com/azure/virtual-machines/boot-diagnostics#limitations).
        return self.top(config, properties, sku={"name": "Standard_LRS"}, kind="StorageV2")

    def outputs(self, observed: Spec) -> Outputs:
        endpoints = props(observed).get("primaryEndpoints") or {}
        blob = endpoints.get("blob") if isinstance(endpoints, Mapping) else None
        return out(observed, blob_endpoint=blob or f"https://{self.cfg.storage_account_name}.blob.core.windows.net/")


# --------------------------------------------------------------------------- container registry


class ContainerRegistryStep(PlatformStep):
    """Premium registry (private endpoints need Premium), no admin user, no public access."""

    client = "containerregistry"
    operations = "registries"
    put_method = "begin_create"
    resource_type = "Microsoft.ContainerRegistry/registries"
    # Zone redundancy is set at creation only
    # (https://learn.microsoft.com/azure/container-registry/zone-redundancy).
    immutable = ("location", "properties.zoneRedundancy")

    def names(self) -> tuple[str, ...]:
        return (self.cfg.acr_name,)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        properties = {
            "adminUserEnabled": False,
            "publicNetworkAccess": "Disabled",
            "anonymousPullEnabled": False,
            "networkRuleBypassOptions": "AzureServices",
            "zoneRedundancy": "Enabled" if config.acr.zone_redundancy else "Disabled",
        }
        return self.top(config, properties, sku={"name": config.acr.sku})

    def outputs(self, observed: Spec) -> Outputs:
        login = props(observed).get("loginServer") or f"{self.cfg.acr_name.lower()}.azurecr.io"
        return out(observed, login_server=login)


# --------------------------------------------------------------------------- key vault


class KeyVaultStep(PlatformStep):
    """RBAC-authorised vault, soft delete + purge protection, no public network access.

    A soft-deleted vault of the same name (left by an earlier teardown; with purge
    protection the name stays reserved for the retention period) is recovered
    with ``createMode: recover`` instead of failing the create:
    https://learn.microsoft.com/azure/key-vault/general/key-vault-recovery
    """

    client = "keyvault"
    operations = "vaults"
    delete_method = "delete"
    delete_is_lro = False
    resource_type = "Microsoft.KeyVault/vaults"
    # The retention period cannot change after creation
    # (https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview).
    immutable = ("location", "properties.softDeleteRetentionInDays")

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG, ID_CONTROL_PLANE))

    def names(self) -> tuple[str, ...]:
        return (self.cfg.keyvault_name,)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        # The tenant: explicit config, else the one the identities live in.
        tenant = config.azure.tenant_id or upstream[ID_CONTROL_PLANE]["tenant_id"]
        properties: dict[str, Any] = {
            "tenantId": tenant,
            "sku": {"family": "A", "name": config.keyvault.sku},
            "enableRbacAuthorization": True,
            "enableSoftDelete": True,
            "softDeleteRetentionInDays": config.keyvault.soft_delete_retention_days,
            "publicNetworkAccess": "Disabled",
            "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"},
            "enabledForDeployment": False,
            "enabledForTemplateDeployment": False,
            "enabledForDiskEncryption": False,
        }
        if config.keyvault.purge_protection:
            # Only "true" may be sent: purge protection cannot be turned off once on.
            properties["enablePurgeProtection"] = True
        return self.top(config, properties)

    def apply(self, ctx: StepContext, spec: Spec, observed: Spec | None) -> Spec:
        if observed is None and self._soft_deleted(ctx):
            recover: Spec = {
                "location": spec["location"],
                "tags": spec.get("tags", {}),
                "properties": {
                    "tenantId": spec["properties"]["tenantId"],
                    "sku": spec["properties"]["sku"],
                    "createMode": "recover",
                },
            }
            method = self.ops(ctx).begin_create_or_update
            ctx.lro.run(
                lambda **kw: method(*self.args(), recover, **kw),
                kind="put",
                resource_type=self.resource_type,
                reread=lambda: self.read(ctx),
            )
            # Then converge the recovered vault to the desired properties.
            observed = self.read(ctx)
        return super().apply(ctx, spec, observed)

    def _soft_deleted(self, ctx: StepContext) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            deleted = self.ops(ctx).get_deleted(self.cfg.keyvault_name, self.cfg.location)
        except ResourceNotFoundError:
            return False
        return deleted is not None

    def after_delete(self, ctx: StepContext) -> str | None:
        """A deleted vault stays soft-deleted for its retention period: say until when, and
        whether it can be purged before that (not with purge protection)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            deleted = to_json(self.ops(ctx).get_deleted(self.cfg.keyvault_name, self.cfg.location))
        except ResourceNotFoundError:
            return None
        if not deleted:
            return None
        p = deleted.get("properties") or {}
        protected = p.get("purgeProtectionEnabled")
        if protected is None:
            protected = self.cfg.keyvault.purge_protection
        until = _purge_date(p, self.cfg.keyvault.soft_delete_retention_days)
        name = self.cfg.keyvault_name
        if protected:
            return (f"Key Vault {name} is soft-deleted with purge protection: it cannot be purged and its name "
                    f"stays reserved until {until}; the next `up` recovers it")
        return (f"Key Vault {name} is soft-deleted (no purge protection): its name stays reserved until {until} "
                f"unless purged (`az keyvault purge --name {name}`); the next `up` recovers it")

    def outputs(self, observed: Spec) -> Outputs:
        uri = props(observed).get("vaultUri") or f"https://{self.cfg.keyvault_name}.vault.azure.net/"
        return out(observed, vault_uri=uri)


def _purge_date(deleted_props: Mapping[str, Any], retention_days: int) -> str:
    """When the soft-deleted vault is purged: Azure's ``scheduledPurgeDate`` when it belongs to
    this deletion (its ``deletionDate`` is within a day of now), else now + the retention."""
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)

    def parse(value: Any) -> dt.datetime | None:
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)

    deleted_at = parse(deleted_props.get("deletionDate"))
    scheduled = parse(deleted_props.get("scheduledPurgeDate"))
    if scheduled is not None and deleted_at is not None and abs(now - deleted_at) < dt.timedelta(days=1):
        when = scheduled
    else:
        when = now + dt.timedelta(days=retention_days)
    return when.strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- private DNS


class PrivateDnsZoneStep(PlatformStep):
    client = "privatedns"
    operations = "private_zones"
    resource_type = "Microsoft.Network/privateDnsZones"

    def __init__(self, key: str, cfg: DeploymentConfig, zone: str) -> None:
        super().__init__(key, cfg, (keys.RG,))
        self.zone = zone

    def names(self) -> tuple[str, ...]:
        return (self.zone,)

    def lock_keys(self) -> tuple[str, ...]:
        return (self.resource_id().lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        # Private DNS zones are global resources.
        return {"location": "global", "tags": dict(config.tags)}


class PrivateDnsLinkStep(PlatformStep):
    """Link of a private DNS zone to a VNet; auto-registration off (the zone holds only endpoint records)."""

    client = "privatedns"
    operations = "virtual_network_links"
    list_method = "list"  # the plan reads all of them in one request
    resource_type = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
    taggable: ClassVar[bool | None] = True  # links are tracked resources with tags
    immutable = ("properties.virtualNetwork",)

    def __init__(self, key: str, cfg: DeploymentConfig, zone: str, vnet: str, vnet_key: str) -> None:
        super().__init__(key, cfg, (dns_zone_key(zone), vnet_key))
        self.zone = zone
        self.vnet = vnet

    def names(self) -> tuple[str, ...]:
        return (self.zone, f"link-{self.vnet}")

    def lock_keys(self) -> tuple[str, ...]:
        # Writes under one zone are serialised by Azure. The link also references the VNet,
        # which Azure shows Updating while one of its subnets or peerings is written; a link
        # PUT then is refused (400 ReferencedResourceNotProvisioned, "... is not in Succeeded
        # state ... PutSubnetOperation": https://github.com/Azure-Samples/azuresandbox/issues/25).
        # Holding the VNet's key too serialises the link with the VNet's children.
        return (
            dns_zone_id(self.cfg, self.zone).lower(),
            arm_id(self.cfg, "Microsoft.Network/virtualNetworks", self.vnet).lower(),
        )

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return {
            "location": "global",
            "tags": dict(config.tags),
            "properties": {
                "virtualNetwork": ref(arm_id(config, "Microsoft.Network/virtualNetworks", self.vnet)),
                "registrationEnabled": False,
            },
        }


# --------------------------------------------------------------------------- private endpoints


class PrivateEndpointStep(PlatformStep):
    client = "network"
    operations = "private_endpoints"
    resource_type = "Microsoft.Network/privateEndpoints"
    immutable = ("location", "properties.subnet", "properties.customNetworkInterfaceName")

    def __init__(self, key: str, cfg: DeploymentConfig, service: str) -> None:
        target_key, _group = ENDPOINT_GROUPS[service]
        subnet_key = keys.subnet(cfg.cluster_spoke_name, "jumpbox")
        super().__init__(key, cfg, (keys.RG, target_key, subnet_key))
        self.service = service
        self.target_key = target_key

    def names(self) -> tuple[str, ...]:
        return (endpoint_name(self.cfg, self.service),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        name = endpoint_name(config, self.service)
        group = ENDPOINT_GROUPS[self.service][1]
        properties = {
            "subnet": ref(subnet_id(config, config.cluster_spoke_name, "jumpbox")),
            "customNetworkInterfaceName": f"nic-{name}",
            "privateLinkServiceConnections": [
                {
                    "name": f"plsc-{group}",
                    "properties": {"privateLinkServiceId": upstream[self.target_key]["id"], "groupIds": [group]},
                }
            ],
        }
        return self.top(config, properties)


class PrivateDnsZoneGroupStep(PlatformStep):
    """DNS zone group of a private endpoint: Azure writes the endpoint's A records into the zone."""

    client = "network"
    operations = "private_dns_zone_groups"
    resource_type = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"

    def __init__(self, key: str, cfg: DeploymentConfig, service: str, zone: str) -> None:
        super().__init__(key, cfg, (endpoint_key(service), dns_zone_key(zone)))
        self.service = service
        self.zone = zone

    def names(self) -> tuple[str, ...]:
        return (endpoint_name(self.cfg, self.service), "default")

    def lock_keys(self) -> tuple[str, ...]:
        # The group references the zone, which is Updating while one of its VNet links is
        # written (a child operation shows the parent Updating, as for a VNet's subnets): the
        # group's PUT would be refused with ReferencedResourceNotProvisioned. Holding the zone's
        # key serialises the group with the zone's links.
        return (endpoint_id(self.cfg, self.service).lower(), dns_zone_id(self.cfg, self.zone).lower())

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return {
            "name": "default",
            "properties": {
                "privateDnsZoneConfigs": [
                    {
                        "name": self.zone.replace(".", "-"),
                        "properties": {"privateDnsZoneId": upstream[dns_zone_key(self.zone)]["id"]},
                    }
                ]
            },
        }


def paas_steps(cfg: DeploymentConfig) -> list[PlatformStep]:
    result: list[PlatformStep] = [
        StorageAccountStep(STORAGE, cfg, (keys.RG,)),
        ContainerRegistryStep(ACR, cfg, (keys.RG,)),
        KeyVaultStep(KEYVAULT, cfg),
    ]
    zones = dns_zones(cfg)
    vnets = [(keys.HUB, cfg.hub_vnet_name)] + [(s.name, cfg.spoke_vnet_name(s)) for s in cfg.spokes]
    aks_zone = aks_dns_zone(cfg)
    # Every zone is linked to the hub (the firewall's DNS proxy resolves there) and every spoke.
    for zone in [*zones.values(), *([aks_zone] if aks_zone else [])]:
        result.append(PrivateDnsZoneStep(dns_zone_key(zone), cfg, zone))
        for owner, vnet in vnets:
            result.append(PrivateDnsLinkStep(dns_link_key(zone, owner), cfg, zone, vnet, keys.vnet(owner)))
    for service, (_target, group) in ENDPOINT_GROUPS.items():
        result.append(PrivateEndpointStep(endpoint_key(service), cfg, service))
        result.append(PrivateDnsZoneGroupStep(zone_group_key(service), cfg, service, zones[group]))
    return result
