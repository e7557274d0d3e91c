"""The deployment configuration model: one TOML file describes one deployment.

Every model is frozen and forbids unknown keys. Defaults follow Microsoft's
article "Use Azure Firewall to help protect an AKS cluster"
(https://learn.microsoft.com/en-us/azure/architecture/guide/aks/aks-firewall),
not the older Terraform sample; the reasons are in each field's description,
which is also what ``config_reference_markdown()`` prints.

Names that are derived from other keys (resource group, VNet names, globally
unique ACR/Key Vault/storage names...) are properties of
:class:`DeploymentConfig` so the steps never re-derive them.

Keys whose article default depends on the firewall or Bastion tier
(``firewall.threat_intel_mode``, ``firewall.idps_mode``, ``firewall.dns_proxy``,
``bastion.tunneling``) follow a fixed rule: left unset, they adapt to the tier
(the ``effective_*`` properties); set explicitly to something the tier cannot
do, they are a configuration error.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from hubspoke_deploy.config.constraints import add_constraints
from hubspoke_deploy.config.global_entry import GlobalEntryConfig
from hubspoke_deploy.config.ingress import IngressConfig
from hubspoke_deploy.config.ops import AlertsConfig, TlsInspectionConfig
from hubspoke_deploy.errors import Problem
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

__all__ = [
    "AcrConfig",
    "AksConfig",
    "ApplicationRule",
    "AzureConfig",
    "BastionConfig",
    "DeploymentConfig",
    "DeploymentSection",
    "DnatRule",
    "FirewallConfig",
    "HubConfig",
    "HubSubnets",
    "IngressConfig",
    "JumpboxConfig",
    "JumpboxImage",
    "KeyVaultConfig",
    "MonitoringConfig",
    "NetworkRule",
    "NodePool",
    "RegionConfig",
    "SpokeConfig",
    "SpokeSubnets",
    "StateConfig",
    "StorageConfig",
    "SystemPool",
    "UserPool",
]

Environment = Literal["sandbox", "production"]
Credential = Literal["default", "cli", "managed-identity", "workload-identity", "simulator"]
FirewallTier = Literal["Basic", "Standard", "Premium"]
ThreatMode = Literal["Off", "Alert", "Deny"]
Zone = str

# ARM endpoint and token scope of the named clouds, as azure-mgmt-core defines them:
# https://github.com/Azure/azure-sdk-for-python/blob/main/sdk/core/azure-mgmt-core/azure/mgmt/core/tools.py
# (get_arm_endpoints).
CLOUD_ENDPOINTS: dict[str, tuple[str, str]] = {
    "public": ("https://management.azure.com/", "https://management.azure.com/.default"),
    "usgovernment": (
        "https://management.usgovcloudapi.net/",
        "https://management.core.usgovcloudapi.net/.default",
    ),
    "china": ("https://management.chinacloudapi.cn/", "https://management.chinacloudapi.cn/.default"),
}

MANAGED_BY = "hubspoke-deploy"


class _Model(BaseModel):
    """Base of every config section: frozen, strict types, unknown keys refused."""

    # json_schema_extra: the value constraints of the JSON Schema (config/constraints.py)
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, json_schema_extra=add_constraints)


# --------------------------------------------------------------------------- deployment


class DeploymentSection(_Model):
    """[deployment]: what is deployed where."""

    name: str = Field(
        description=(
            "Deployment name, 3-16 characters: lowercase letters, digits and single hyphens, starting with a "
            "letter and not ending with a hyphen. It is part of every resource name, of the `deployment` tag "
            "and of the state key, so it cannot change after the first run."
        ),
    )
    location: str = Field(
        description=(
            "Azure region, for example `westeurope` or `West Europe`. Normalised to the ARM form "
            "(lowercase, no spaces). Pick a region with availability zones: the article spreads the firewall "
            "and the node pools over three zones."
        ),
    )
    subscription_id: str = Field(description="Target subscription id (a GUID).")
    resource_group: str | None = Field(
        default=None,
        description="Resource group that receives every resource of the deployment.",
        json_schema_extra={"x-default": "rg-{deployment.name}"},
    )
    environment: Environment = Field(
        default="production",
        description=(
            "`production` turns on the article's recommendations as warnings (20+ firewall public IPs or a "
            "NAT "
            "gateway, Premium firewall, API server VNet integration, zone redundancy...). `sandbox` keeps "
            "the "
            "hard rules only, for cheap test deployments."
        ),
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Extra tags put on every resource. `deployment` and `managed-by` are always added (they mark "
            "what "
            "this tool owns and may change or delete) and cannot be overridden."
        ),
    )

    @field_validator("location", mode="before")
    @classmethod
    def _normalise_location(cls, value: Any) -> Any:
        if isinstance(value, str):
            return "".join(value.split()).lower()
        return value


class AzureConfig(_Model):
    """[azure]: which cloud and which credential. Every key can be overridden by HUBSPOKE_AZURE_<KEY>."""

    endpoint: str = Field(
        default="public",
        description=(
            "Azure cloud: `public`, `usgovernment`, `china`, `simulator` (the project's local ARM simulator) "
            "or the `https://` URL of a Resource Manager endpoint."
        ),
    )
    credential: Credential = Field(
        default="default",
        description=(
            "How to authenticate: `default` (azure-identity DefaultAzureCredential), `cli` (Azure CLI "
            "login), "
            "`managed-identity`, `workload-identity` (federated token, e.g. in a pipeline) or `simulator` "
            "(only accepted with the simulator endpoint or an https URL on loopback)."
        ),
    )
    managed_identity_client_id: str | None = Field(
        default=None,
        description="Client id (GUID) of a user-assigned managed identity, for `managed-identity` and `default`.",
    )
    tenant_id: str | None = Field(default=None, description="Microsoft Entra tenant id (GUID), if not the default one.")


class StateConfig(_Model):
    """[state]: where the checkpoint lives. Every key can be overridden by HUBSPOKE_STATE_<KEY>."""

    backend: Literal["file", "blob"] = Field(
        default="file",
        description="`file` (a local JSON file, for a single operator) or `blob` (an Azure blob with a lease lock).",
    )
    path: str | None = Field(
        default=None,
        description="File backend: path of the state file, relative to the working directory.",
        json_schema_extra={"x-default": ".hubspoke/{deployment.name}.state.json"},
    )
    account_url: str | None = Field(
        default=None,
        description="Blob backend: the storage account's blob endpoint, `https://<account>.blob.core.windows.net`.",
    )
    container: str = Field(default="hubspoke-state", description="Blob backend: container of the state blob.")
    blob: str | None = Field(
        default=None,
        description="Blob backend: name of the state blob.",
        json_schema_extra={"x-default": "{deployment.name}.state.json"},
    )
    connection_string_env: str | None = Field(
        default=None,
        description=(
            "Blob backend: NAME of an environment variable that holds a storage connection string (for "
            "Azurite). "
            "The connection string itself never goes in this file."
        ),
    )
    lease_seconds: int = Field(
        default=60,
        ge=15,
        le=60,
        description=(
            "Blob backend: duration of the lease that locks the state (Azure allows 15-60 s). It is renewed "
            "while a run lives; a killed run's lease frees the state after at most this long."
        ),
    )


# --------------------------------------------------------------------------- network


class HubSubnets(_Model):
    """[hub.subnets]: subnets of the hub VNet (Azure fixes their names)."""

    firewall: str = Field(
        default="10.0.0.0/26",
        description="AzureFirewallSubnet. Azure requires /26 or larger so the firewall can scale out.",
    )
    bastion: str | None = Field(
        default="10.0.0.64/26",
        description="AzureBastionSubnet, /26 or larger. Required when `[bastion] enabled = true`.",
    )
    firewall_management: str | None = Field(
        default=None,
        description=(
            "AzureFirewallManagementSubnet, /26 or larger. Required by the Basic tier (its management "
            "traffic "
            "uses a separate IP configuration); optional otherwise."
        ),
    )


class HubConfig(_Model):
    """[hub]: the hub VNet with Azure Firewall and Azure Bastion."""

    name: str | None = Field(
        default=None,
        description="Hub VNet name.",
        json_schema_extra={"x-default": "vnet-hub-{deployment.name}"},
    )
    address_space: list[str] = Field(
        default_factory=lambda: ["10.0.0.0/22"],
        description="Hub address space (CIDRs). Must not overlap any spoke: peering refuses overlapping ranges.",
    )
    subnets: HubSubnets = Field(default_factory=HubSubnets, description="Hub subnets.")
    ddos_protection: bool = Field(
        default=False,
        description=(
            "Azure DDoS Network Protection on the hub VNet (it holds the public endpoints: the firewall's and "
            "Bastion's IPs), as the article's security section recommends. A plan has a significant fixed "
            "monthly cost: one plan can cover the VNets of many subscriptions."
        ),
    )
    ddos_protection_plan_id: str | None = Field(
        default=None,
        description=(
            "ARM id of an existing DDoS protection plan to use; unset with `ddos_protection = true`, the "
            "deployment creates `ddos-{deployment.name}`."
        ),
    )


class SpokeSubnets(_Model):
    """[spokes.subnets]: subnets of a spoke VNet; the cluster spoke needs node, API server, jump box ones."""

    system_nodes: str | None = Field(default=None, description="System node pool subnet (cluster spoke).")
    user_nodes: str | None = Field(default=None, description="User node pool subnet (cluster spoke).")
    pods: str | None = Field(
        default=None,
        description=(
            "Pod subnet for Azure CNI with dynamic IP allocation. Only when `aks.network_plugin_mode` is not "
            "`overlay` (overlay pods take their addresses from `aks.pod_cidr`)."
        ),
    )
    api_server: str | None = Field(
        default=None,
        description=("Subnet delegated to the API server when `aks.api_server_vnet_integration` is on; /28 or larger."),
    )
    jumpbox: str | None = Field(
        default=None,
        description="Subnet of the jump box VM and of the private endpoints (ACR, Key Vault, storage).",
    )
    app_gateway: str | None = Field(
        default=None,
        description="Subnet of Application Gateway WAF_v2 (`[ingress] kind = \"application-gateway-waf\"`); a /24 "
        "is recommended. It keeps no route to the firewall (v2 does not support a 0.0.0.0/0 route to an appliance).",
    )
    app_gateway_for_containers: str | None = Field(
        default=None,
        description="Subnet of the Application Gateway for Containers association, delegated to "
        "`Microsoft.ServiceNetworking/trafficControllers`; a /24 (exactly /24 with Azure CNI Overlay).",
    )


class SpokeConfig(_Model):
    """[[spokes]]: a spoke VNet peered with the hub."""

    name: str = Field(
        description=(
            "Short spoke name (1-12 lowercase letters, digits, hyphens), e.g. `aks`. The VNet is named "
            "`vnet-{deployment.name}-{spoke}`."
        ),
    )
    address_space: list[str] = Field(description="Spoke address space (CIDRs).")
    subnets: SpokeSubnets = Field(default_factory=SpokeSubnets, description="Spoke subnets.")
    use_remote_gateways: bool = Field(
        default=False,
        description="Peering option: use the hub's VPN/ExpressRoute gateway. The hub must have one.",
    )


# --------------------------------------------------------------------------- firewall


class ApplicationRule(_Model):
    """[[firewall.application_rules]]: allow HTTP(S) egress to FQDNs."""

    name: str = Field(description="Rule name, unique among application rules.")
    fqdns: list[str] = Field(default_factory=list, description="Target FQDNs; `*.` wildcards allowed.")
    fqdn_tags: list[str] = Field(
        default_factory=list,
        description="FQDN tags, e.g. `AzureKubernetesService` (the AKS egress allowlist is added by the steps).",
    )
    protocols: list[str] = Field(
        default_factory=lambda: ["Https:443"],
        description="`Http:<port>`, `Https:<port>` or `Mssql:<port>` entries.",
    )
    source_addresses: list[str] | None = Field(
        default=None,
        description="Source CIDRs/IPs.",
        json_schema_extra={"x-default": "the node pool subnets of the cluster spoke"},
    )


class NetworkRule(_Model):
    """[[firewall.network_rules]]: allow L3/L4 egress."""

    name: str = Field(description="Rule name, unique among network rules.")
    protocols: list[Literal["TCP", "UDP", "ICMP", "Any"]] = Field(description="IP protocols.")
    destination_addresses: list[str] = Field(
        default_factory=list, description="Destination CIDRs/IPs or service tags (one of these or FQDNs)."
    )
    destination_fqdns: list[str] = Field(
        default_factory=list,
        description="Destination FQDNs; needs the firewall DNS proxy for reliable resolution (article).",
    )
    destination_ports: list[str] = Field(description="Ports: `443`, `1000-2000` or `*`.")
    source_addresses: list[str] | None = Field(
        default=None,
        description="Source CIDRs/IPs.",
        json_schema_extra={"x-default": "the node pool subnets of the cluster spoke"},
    )


class DnatRule(_Model):
    """[[firewall.dnat_rules]]: publish a private endpoint through a firewall public IP."""

    name: str = Field(description="Rule name, unique among DNAT rules.")
    protocol: Literal["TCP", "UDP"] = Field(default="TCP", description="Protocol.")
    public_port: int = Field(description="Port on the firewall public IP (1-65535).")
    translated_address: str = Field(description="Private IP the traffic is translated to (e.g. an internal LB).")
    translated_port: int = Field(description="Port on the translated address (1-65535).")
    source_addresses: list[str] = Field(default_factory=lambda: ["*"], description="Allowed source CIDRs/IPs.")
    dedicated_public_ip: bool = Field(
        default=False,
        description=(
            "Give this rule its own public IP and IP configuration, as the article does for each published "
            "workload, so its ingress address is independent of the SNAT pool. These IPs come on top of "
            "`public_ip_count`."
        ),
    )


class FirewallConfig(_Model):
    """[firewall]: Azure Firewall in the hub."""

    tier: FirewallTier = Field(
        default="Premium",
        description="Firewall SKU tier. The article strongly recommends Premium (IDPS, TLS inspection).",
    )
    zones: list[Zone] = Field(
        default_factory=lambda: ["1", "2", "3"],
        description="Availability zones; the article spans all three for the higher SLA (no extra cost).",
    )
    threat_intel_mode: ThreatMode = Field(
        default="Deny",
        description=(
            "Threat intelligence mode. `Deny` alerts and blocks known-malicious IPs/FQDNs. Basic supports "
            "alert "
            "mode only: left unset on Basic it becomes `Alert`."
        ),
    )
    dns_proxy: bool = Field(
        default=True,
        description=(
            "Firewall DNS proxy; the article calls it required for reliable FQDN filtering in network rules. "
            "Not available on Basic: left unset on Basic it is off."
        ),
    )
    idps_mode: ThreatMode = Field(
        default="Deny",
        description="IDPS mode (Premium only). Left unset on Standard/Basic it is `Off`.",
    )
    public_ip_count: int = Field(
        default=20,
        description=(
            "Public IPs for SNAT. The article recommends at least 20 for production to avoid SNAT port "
            "exhaustion (about 2,496 ports per IP per instance), unless a NAT gateway or a public IP prefix "
            "is used. Azure allows at most 250 per firewall (DNAT destinations count too)."
        ),
    )
    public_ip_prefix_length: int | None = Field(
        default=None,
        description="Allocate the public IPs from a public IP prefix of this length (/28 to /31).",
    )
    nat_gateway: bool = Field(
        default=False,
        description=(
            "Attach a NAT gateway to AzureFirewallSubnet for egress SNAT; the article's preferred option for "
            "high-concurrency egress."
        ),
    )
    container_registries: list[str] = Field(
        default_factory=lambda: ["mcr.microsoft.com", "*.data.mcr.microsoft.com"],
        description=(
            "Registry FQDNs the nodes may pull from. The deployment's own ACR is added by the steps (it is "
            "reached over its private endpoint)."
        ),
    )
    application_rules: list[ApplicationRule] = Field(default_factory=list, description="Extra application rules.")
    network_rules: list[NetworkRule] = Field(default_factory=list, description="Extra network rules.")
    dnat_rules: list[DnatRule] = Field(default_factory=list, description="DNAT rules (inbound publishing).")
    tls_inspection: TlsInspectionConfig | None = Field(
        default=None, description="TLS inspection (Premium only): the intermediate CA certificate in Key Vault."
    )

    @property
    def effective_threat_intel_mode(self) -> str:
        """Threat intel mode after the tier rule (Basic: alert only)."""
        if self.tier == "Basic" and "threat_intel_mode" not in self.model_fields_set:
            return "Alert"
        return self.threat_intel_mode

    @property
    def effective_idps_mode(self) -> str:
        """IDPS mode after the tier rule (Premium only)."""
        if self.tier != "Premium" and "idps_mode" not in self.model_fields_set:
            return "Off"
        return self.idps_mode

    @property
    def effective_dns_proxy(self) -> bool:
        """DNS proxy after the tier rule (not on Basic)."""
        if self.tier == "Basic" and "dns_proxy" not in self.model_fields_set:
            return False
        return self.dns_proxy

    @property
    def dedicated_ip_count(self) -> int:
        """Number of public IPs used by DNAT rules with ``dedicated_public_ip``."""
        return sum(1 for rule in self.dnat_rules if rule.dedicated_public_ip)


# --------------------------------------------------------------------------- AKS


class NodePool(_Model):
    """[aks.system_pool] / [aks.user_pool]."""

    name: str = Field(description="Pool name: 1-12 lowercase letters and digits, starting with a letter.")
    vm_size: str = Field(default="Standard_D4ds_v5", description="VM size of the nodes.")
    count: int = Field(default=3, description="Initial node count (fixed count when autoscaling is off).")
    min_count: int = Field(default=3, description="Autoscaler minimum.")
    max_count: int = Field(default=5, description="Autoscaler maximum; sizes the node subnet check.")
    autoscaling: bool = Field(default=True, description="Cluster autoscaler on the pool.")
    zones: list[Zone] = Field(
        default_factory=lambda: ["1", "2", "3"],
        description="Availability zones; the article spreads node pools over all three.",
    )
    max_pods: int = Field(default=110, description="Maximum pods per node (10-250).")
    os_disk_type: Literal["Managed", "Ephemeral"] = Field(
        default="Managed",
        description="OS disk type. Ephemeral needs a VM size with a large enough cache/temp disk.",
    )
    os_disk_size_gb: int = Field(default=128, description="OS disk size in GB (30-2048).")

    @property
    def max_nodes(self) -> int:
        """The largest node count this pool can reach."""
        return self.max_count if self.autoscaling else self.count


class SystemPool(NodePool):
    """[aks.system_pool]: the system node pool."""

    name: str = Field(default="system", description="Pool name: 1-12 lowercase letters and digits.")


class UserPool(NodePool):
    """[aks.user_pool]: the user node pool."""

    enabled: bool = Field(
        default=True,
        description="Deploy the user pool. `false`: workloads run on the system pool, which then carries "
        "no `CriticalAddonsOnly` taint; switching it off deletes the pool.",
    )
    name: str = Field(default="user", description="Pool name: 1-12 lowercase letters and digits.")
    max_count: int = Field(default=10, description="Autoscaler maximum; sizes the node subnet check.")


class AksConfig(_Model):
    """[aks]: the private cluster."""

    name: str | None = Field(
        default=None, description="Cluster name.", json_schema_extra={"x-default": "aks-{deployment.name}"}
    )
    spoke: str | None = Field(
        default=None,
        description="Name of the spoke that hosts the cluster.",
        json_schema_extra={"x-default": "the first spoke"},
    )
    dns_prefix: str | None = Field(
        default=None,
        description="DNS prefix: 1-54 letters, digits and hyphens, starting and ending with a letter or digit.",
        json_schema_extra={"x-default": "{deployment.name}"},
    )
    kubernetes_version: str | None = Field(
        default=None, description="`1.33` or `1.33.2`; unset means the region's default version."
    )
    tier: Literal["Free", "Standard", "Premium"] = Field(
        default="Standard",
        description="Pricing tier; Standard and Premium carry the financially backed API server SLA (article).",
    )
    private_cluster: bool = Field(default=True, description="No public API server endpoint (article).")
    private_dns_zone: Literal["custom", "system"] = Field(
        default="custom",
        description=(
            "Private DNS zone of a private cluster's API server. `custom`: the deployment's own "
            "`privatelink.<region>.azmk8s.io`, linked to the hub and every spoke (resolvable through the "
            "firewall's DNS proxy; the cluster identity gets Private DNS Zone Contributor on it). `system`: "
            "AKS's zone, linked to the cluster VNet only (a spoke resolving through the hub cannot reach the "
            "API server). Fixed at creation."
        ),
    )
    api_server_vnet_integration: bool = Field(
        default=True,
        description=(
            "Project the API server into a delegated subnet so node-to-API traffic stays private and does "
            "not "
            "cross the firewall; the article's recommended approach for new private clusters."
        ),
    )
    network_plugin: Literal["azure"] = Field(default="azure", description="Azure CNI.")
    network_plugin_mode: Literal["overlay", "none"] = Field(
        default="overlay",
        description=(
            "`overlay`: pods get addresses from `pod_cidr`, not from the VNet (article default). `none`: "
            "classic "
            "Azure CNI, pods take VNet addresses (from `spokes.subnets.pods` or the node subnets)."
        ),
    )
    network_dataplane: Literal["cilium", "azure"] = Field(
        default="cilium", description="Azure CNI Powered by Cilium, as the article recommends."
    )
    network_policy: Literal["cilium", "calico", "azure", "none"] = Field(
        default="cilium", description="Network policy engine; must be `cilium` with the Cilium dataplane."
    )
    pod_cidr: str = Field(default="192.168.0.0/16", description="Overlay pod CIDR; must not overlap any VNet.")
    service_cidr: str = Field(default="172.16.0.0/16", description="Kubernetes service CIDR; overlaps no VNet.")
    dns_service_ip: str = Field(
        default="172.16.0.10", description="CoreDNS service IP, inside `service_cidr` and not its .0 or .1."
    )
    oidc_issuer: bool = Field(default=True, description="OIDC issuer (needed by workload identity).")
    workload_identity: bool = Field(default=True, description="Microsoft Entra Workload ID for pods (article).")
    key_vault_secrets_provider: bool = Field(
        default=True, description="Secrets Store CSI driver for Key Vault (article)."
    )
    secret_rotation: bool = Field(default=True, description="Rotate secrets mounted by the CSI driver.")
    azure_policy: bool = Field(default=True, description="Azure Policy add-on.")
    monitoring: bool = Field(default=True, description="Container insights to the Log Analytics workspace.")
    local_accounts_disabled: bool = Field(
        default=True, description="No static kubeconfig credentials; Microsoft Entra only."
    )
    azure_rbac: bool = Field(default=True, description="Microsoft Entra integration with Azure RBAC for Kubernetes.")
    admin_group_object_ids: list[str] = Field(
        default_factory=list, description="Microsoft Entra groups (GUIDs) made cluster admins."
    )
    upgrade_channel: Literal["none", "patch", "stable", "rapid", "node-image"] = Field(
        default="patch", description="Cluster auto-upgrade channel."
    )
    node_os_upgrade_channel: Literal["None", "Unmanaged", "NodeImage", "SecurityPatch"] = Field(
        default="NodeImage", description="Node OS auto-upgrade channel."
    )
    system_pool: SystemPool = Field(
        default_factory=SystemPool,
        description=(
            "System node pool. It is always tainted `CriticalAddonsOnly=true:NoSchedule` so it hosts only "
            "critical system pods, as in the article (fixed behaviour, not configurable)."
        ),
    )
    user_pool: UserPool = Field(default_factory=UserPool, description="User node pool for workloads.")
    defender: bool = Field(
        default=False,
        description=(
            "Microsoft Defender for Containers sensor (`securityProfile.defender`) reporting to the Log Analytics "
            "workspace. The subscription's Defender for Containers plan is billed per vCore."
        ),
    )
    policy_initiative: str = Field(
        default="pod-security-baseline",
        description=(
            "Azure Policy initiative assigned to the cluster (the add-on enforces nothing without one): "
            "`pod-security-baseline`, `pod-security-restricted`, the id of another policy set definition, or "
            "`none`. Assigned only with `azure_policy = true`."
        ),
    )
    policy_effect: Literal["audit", "deny"] = Field(
        default="deny",
        description=(
            "`effect` parameter of the built-in pod security initiatives: `deny` blocks non-compliant pods, "
            "`audit` only reports them (the initiatives' own default)."
        ),
    )
    policy_identity: bool = Field(
        default=False,
        description=(
            "Give the assignment a system-assigned identity, which initiatives with deployIfNotExists or modify "
            "effects need (the pod security initiatives are audit/deny only). Its role assignments are the "
            "initiative's own and are not granted by the deployment."
        ),
    )

    @property
    def overlay(self) -> bool:
        """Azure CNI Overlay is in use."""
        return self.network_plugin_mode == "overlay"


# --------------------------------------------------------------------------- other resources


class JumpboxImage(_Model):
    """[jumpbox.image]: marketplace image of the jump box."""

    publisher: str = Field(default="Canonical", description="Image publisher.")
    offer: str = Field(default="ubuntu-24_04-lts", description="Image offer (Ubuntu 24.04 LTS).")
    sku: str = Field(default="server", description="Image SKU.")
    version: str = Field(default="latest", description="Image version.")


class JumpboxConfig(_Model):
    """[jumpbox]: the admin VM in the cluster spoke, reached through Bastion. SSH keys only."""

    enabled: bool = Field(default=True, description="Deploy the jump box (needed to reach a private cluster).")
    vm_size: str = Field(default="Standard_B2s", description="VM size.")
    image: JumpboxImage = Field(default_factory=JumpboxImage, description="Marketplace image.")
    admin_username: str = Field(default="azureuser", description="Admin user name.")
    ssh_public_key: str | None = Field(
        default=None, description="SSH public key, inline (`ssh-ed25519 AAAA... comment`)."
    )
    ssh_public_key_path: str | None = Field(
        default=None,
        description="Path of an SSH public key file, relative to the config file's folder; read at load time.",
    )


class BastionConfig(_Model):
    """[bastion]: Azure Bastion in the hub."""

    enabled: bool = Field(default=True, description="Deploy Azure Bastion (article: no public IP on the jump box).")
    sku: Literal["Basic", "Standard", "Premium"] = Field(default="Standard", description="Bastion SKU.")
    tunneling: bool = Field(
        default=True,
        description="Native client (`az network bastion ssh`) support; needs Standard or Premium (unset on "
        "Basic: off).",
    )

    @property
    def effective_tunneling(self) -> bool:
        """Tunneling after the SKU rule."""
        if self.sku == "Basic" and "tunneling" not in self.model_fields_set:
            return False
        return self.tunneling


class AcrConfig(_Model):
    """[acr]: Azure Container Registry, reached over a private endpoint."""

    name: str | None = Field(
        default=None,
        description="Registry name, globally unique, 5-50 letters and digits.",
        json_schema_extra={"x-default": "acr{deployment.name without hyphens}{6-char hash}"},
    )
    sku: Literal["Basic", "Standard", "Premium"] = Field(
        default="Premium", description="Premium: private endpoints and zone redundancy need it."
    )
    zone_redundancy: bool = Field(default=True, description="Zone redundancy (article: intraregion resiliency).")


class KeyVaultConfig(_Model):
    """[keyvault]: Key Vault for workload secrets, reached over a private endpoint."""

    name: str | None = Field(
        default=None,
        description="Vault name, globally unique, 3-24 letters/digits/hyphens, starts with a letter, no `--`.",
        json_schema_extra={"x-default": "kv-{deployment.name}-{hash}"},
    )
    sku: Literal["standard", "premium"] = Field(default="standard", description="Vault SKU.")
    soft_delete_retention_days: int = Field(default=90, description="Soft-delete retention, 7-90 days.")
    purge_protection: bool = Field(default=True, description="Purge protection (cannot be turned off later).")


class StorageConfig(_Model):
    """[storage]: storage account behind a private endpoint (blob); the jump box uses managed boot diagnostics."""

    name: str | None = Field(
        default=None,
        description="Account name, globally unique, 3-24 lowercase letters and digits.",
        json_schema_extra={"x-default": "st{deployment.name without hyphens}{6-char hash}"},
    )


class MonitoringConfig(_Model):
    """[monitoring]: Log Analytics workspace for diagnostics of every resource."""

    workspace_name: str | None = Field(
        default=None, description="Workspace name.", json_schema_extra={"x-default": "log-{deployment.name}"}
    )
    retention_days: int = Field(default=30, description="Retention, 30-730 days.")
    sku: Literal["PerGB2018", "CapacityReservation"] = Field(default="PerGB2018", description="Workspace SKU.")


# --------------------------------------------------------------------------- regions


class RegionConfig(_Model):
    """[[regions]]: one more region (the top-level sections are region #1); see config/regions.py."""

    name: str | None = Field(
        default=None,
        description=(
            "Short region name (1-12 lowercase letters and digits), e.g. `ne`: the suffix of the region's "
            "resource names (`afw-{deployment.name}-{name}`) and the prefix of its step keys. Cannot change "
            "after the first run."
        ),
        json_schema_extra={"x-default": "the location"},
    )
    location: str = Field(description="Azure region of this hub, its spokes and its cluster, e.g. `northeurope`.")
    hub: HubConfig = Field(description="This region's hub VNet; its address space must not overlap any other region's.")
    spokes: list[SpokeConfig] = Field(description="This region's spoke VNets.")
    firewall: FirewallConfig | None = Field(
        default=None,
        description=(
            "This region's firewall options and regional rules. Unset: the top-level `[firewall]` options "
            "without its rules (those are organisation-wide: they live in the parent policy)."
        ),
    )
    aks: AksConfig | None = Field(
        default=None,
        description="This region's cluster. Unset: the top-level `[aks]` (its name and DNS prefix derived).",
    )

    @field_validator("location", mode="before")
    @classmethod
    def _normalise_location(cls, value: Any) -> Any:
        if isinstance(value, str):
            return "".join(value.split()).lower()
        return value

    @property
    def key(self) -> str:
        """The region's name: ``name``, else the location."""
        return self.name or self.location


# --------------------------------------------------------------------------- root


class DeploymentConfig(_Model):
    """One deployment of the private-AKS-behind-Azure-Firewall hub-spoke architecture."""

    deployment: DeploymentSection = Field(description="What is deployed where.")
    azure: AzureConfig = Field(default_factory=AzureConfig, description="Cloud and credential.")
    state: StateConfig = Field(default_factory=StateConfig, description="Checkpoint location.")
    hub: HubConfig = Field(default_factory=HubConfig, description="Hub VNet.")
    spokes: list[SpokeConfig] = Field(description="Spoke VNets (one or more).")
    firewall: FirewallConfig = Field(default_factory=FirewallConfig, description="Azure Firewall.")
    aks: AksConfig = Field(default_factory=AksConfig, description="AKS cluster.")
    jumpbox: JumpboxConfig = Field(default_factory=JumpboxConfig, description="Jump box VM.")
    bastion: BastionConfig = Field(default_factory=BastionConfig, description="Azure Bastion.")
    acr: AcrConfig = Field(default_factory=AcrConfig, description="Container registry.")
    keyvault: KeyVaultConfig = Field(default_factory=KeyVaultConfig, description="Key Vault.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Storage account (private endpoint).")
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig, description="Log Analytics.")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Alert rules and who they tell.")
    global_entry: GlobalEntryConfig | None = Field(default=None, description="Global load balancer (none if absent).")
    regions: list[RegionConfig] = Field(
        default_factory=list,
        description=(
            "More regions (issue 18): each with its hub, spokes, firewall and cluster; the top-level sections are "
            "region #1. Shared by all: resource group, registry (replicated to every region), Key Vault, storage, "
            "private DNS zones, Log Analytics workspace, parent firewall policy (config/regions.py)."
        ),
    )
    ingress: IngressConfig = Field(
        default_factory=IngressConfig, description="Ingress with a web application firewall."
    )

    _region: str | None = PrivateAttr(default=None)
    _excluded_regions: frozenset[str] = PrivateAttr(default=frozenset())
    _warnings: tuple[Problem, ...] = PrivateAttr(default=())
    _source: str | None = PrivateAttr(default=None)

    # -- load-time metadata --------------------------------------------------------
    @property
    def warnings(self) -> tuple[Problem, ...]:
        """Warnings found when the config was loaded (``validate_config`` recomputes them)."""
        return self._warnings

    @property
    def source(self) -> str | None:
        """File (or ``<dict>``) the config was loaded from."""
        return self._source

    # -- shortcuts -----------------------------------------------------------------
    @property
    def name(self) -> str:
        """The deployment name; in a region view (config/regions.py) of region #2+, ``{name}-{region}``."""
        return self.deployment.name if self._region is None else f"{self.deployment.name}-{self._region}"

    @property
    def location(self) -> str:
        return self.deployment.location

    @property
    def subscription_id(self) -> str:
        return self.deployment.subscription_id

    @property
    def is_production(self) -> bool:
        return self.deployment.environment == "production"

    @property
    def name_hash(self) -> str:
        """6 hex chars from subscription + name: makes global names unique yet stable across runs."""
        seed = f"{self.deployment.subscription_id.lower()}/{self.deployment.name}"
        return hashlib.sha256(seed.encode()).hexdigest()[:6]

    @property
    def tags(self) -> dict[str, str]:
        """Full tag set: extra tags + ``deployment`` + ``managed-by`` (the ownership marks win)."""
        tags = dict(self.deployment.tags)
        tags["deployment"] = self.deployment.name
        tags["managed-by"] = MANAGED_BY
        return tags

    # -- azure ---------------------------------------------------------------------
    @property
    def resource_manager_url(self) -> str | None:
        """ARM base URL (trailing slash). ``None`` for ``simulator``: its URL is known only when it starts."""
        endpoint = self.azure.endpoint
        if endpoint in CLOUD_ENDPOINTS:
            return CLOUD_ENDPOINTS[endpoint][0]
        if endpoint == "simulator":
            return None
        return endpoint.rstrip("/") + "/"

    @property
    def credential_scope(self) -> str | None:
        """Token scope for ARM (``None`` for ``simulator``)."""
        endpoint = self.azure.endpoint
        if endpoint in CLOUD_ENDPOINTS:
            return CLOUD_ENDPOINTS[endpoint][1]
        if endpoint == "simulator":
            return None
        return endpoint.rstrip("/") + "/.default"

    # -- state ---------------------------------------------------------------------
    @property
    def state_path(self) -> str:
        return self.state.path or f".hubspoke/{self.deployment.name}.state.json"

    @property
    def state_blob(self) -> str:
        return self.state.blob or f"{self.deployment.name}.state.json"

    # -- derived names -------------------------------------------------------------
    @property
    def resource_group(self) -> str:
        return self.deployment.resource_group or f"rg-{self.deployment.name}"

    @property
    def hub_vnet_name(self) -> str:
        return self.hub.name or f"vnet-hub-{self.name}"

    def spoke_vnet_name(self, spoke: SpokeConfig | str) -> str:
        """VNet name of a spoke: ``vnet-{deployment}-{spoke}``."""
        spoke_name = spoke if isinstance(spoke, str) else spoke.name
        return f"vnet-{self.name}-{spoke_name}"

    @property
    def cluster_spoke_name(self) -> str:
        if self.aks.spoke:
            return self.aks.spoke
        return self.spokes[0].name if self.spokes else ""

    @property
    def cluster_spoke(self) -> SpokeConfig:
        """The spoke that hosts the cluster (``aks.spoke``, default the first spoke)."""
        for spoke in self.spokes:
            if spoke.name == self.cluster_spoke_name:
                return spoke
        raise LookupError(f"no spoke named {self.cluster_spoke_name!r}")

    @property
    def aks_name(self) -> str:
        return self.aks.name or f"aks-{self.name}"

    @property
    def dns_prefix(self) -> str:
        return self.aks.dns_prefix or self.name

    @property
    def acr_name(self) -> str:
        return self.acr.name or f"acr{self.deployment.name.replace('-', '')}{self.name_hash}"

    @property
    def keyvault_name(self) -> str:
        if self.keyvault.name:
            return self.keyvault.name
        prefix = f"kv-{self.deployment.name}-"
        return prefix + self.name_hash[: max(1, min(6, 24 - len(prefix)))]

    @property
    def storage_account_name(self) -> str:
        return self.storage.name or f"st{self.deployment.name.replace('-', '')}{self.name_hash}"

    @property
    def workspace_name(self) -> str:
        return self.monitoring.workspace_name or f"log-{self.deployment.name}"

    @property
    def ssh_public_key(self) -> str | None:
        """The jump box key (inline, or read from ``ssh_public_key_path`` at load time)."""
        return self.jumpbox.ssh_public_key
